"""Click-to-segment with MobileSAM, headless: embed an image once, then a mask per click in ~0.1 s.

Used by the prediction process (the window's tool, :mod:`fcn_studio.inference.prediction_process`),
by ``bench/click_segment.py`` and by anything else that wants an object from a few clicks.
Qt-free; torch is imported here, so the window never imports this module.

Why these choices:

* The architecture is ``mobilesam-mirror``'s (``mobile_sam``: TinyViT-5M encoder, SAM's prompt
  encoder and mask decoder), built without weights and filled strictly from the verified file
  with ``torch.load(weights_only=True)`` (:mod:`fcn_studio.models.sam_weights`). Its predictor
  class is not used: it keeps one image's state, upsamples all three masks to the image's full
  size as float32 (a 6000x4000 image: 290 MB per click) and cannot take the project's model into
  account. Here the mask is chosen on SAM's 256x256 logits first and only the chosen one is
  brought to full resolution, inside its own box.
* Embeddings are kept per image key in a least-recently-used cache with a byte bound (4 MB
  each), so returning to an image, or to the next one computed ahead, costs nothing.
* ``guide`` (the project model's label map at any resolution) lets the model decide among
  SAM's three masks for a single click (the one that agrees with the model's region under the
  click), and optionally adds that region's box as a prompt; the bench measures both.
"""

from __future__ import annotations

import threading
import time
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from fcn_studio.inference.sam_input import SIDE, working_copy
from fcn_studio.models.sam_weights import verified_weights

#: SAM's logits' grid (4x smaller than its working size, :data:`SIDE`).
GRID = 256
PIXEL_MEAN = np.array([123.675, 116.28, 103.53], np.float32)
PIXEL_STD = np.array([58.395, 57.12, 57.375], np.float32)
#: Default memory bound of the embedding cache (one embedding: 256x64x64 float32 = 4 MB).
CACHE_BYTES = 128 * 2**20
#: How a single click's mask is chosen among SAM's three (see :meth:`ClickSegmenter.segment`).
CHOICES = ("score", "model", "model_box", "model_points")
#: The model's region decides among SAM's masks only when one of them matches it at least this
#: well (IoU on the logit grid); below, SAM's own score decides. 0: always the model (within
#: MAX_SCORE_DROP). Chosen on the tuning protocol (bench/click_segment.py --protocol tune-drive:
#: clicks on 12 frames of drive 0006R0, 197 regions): 0.516 after one click guarded, 0.498 free,
#: 0.499 for SAM's score alone; never chosen on val's drive.
MIN_AGREEMENT = 0.0
#: The model chooses only among the masks SAM scores within this of its best one: where the
#: model is wrong under the click (a vehicle it takes for road), it cannot pull SAM to the road.
#: On the tuning protocol it is the best of the three (above); on val, its one confirmation,
#: 0.629 against 0.593 for SAM alone (docs/benchmarks.md).
MAX_SCORE_DROP = 0.05
#: ``model_points``: at most this many prompts added from the model's region after the first click.
VIRTUAL_CLICKS = 2


def build_mobile_sam(weights: str | Path | None = None) -> torch.nn.Module:
    """MobileSAM in eval mode, every tensor from the verified weight file (strict, weights_only)."""
    with warnings.catch_warnings():  # timm's deprecated import paths and registry overwrites, not ours to fix
        warnings.simplefilter("ignore")
        from mobile_sam.build_sam import build_sam_vit_t

        model = build_sam_vit_t(checkpoint=None)
    path = Path(weights) if weights is not None else verified_weights()
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    return model.eval()


@dataclass(frozen=True)
class Embedding:
    """One image's SAM features and the geometry needed to map clicks and masks back to it."""

    key: str
    features: torch.Tensor  # 1x256x64x64
    image_size: tuple[int, int]  # (H, W) of the original image
    input_size: tuple[int, int]  # (h, w) after resizing the longest side to SIDE
    seconds: float = 0.0

    @property
    def nbytes(self) -> int:
        return self.features.numel() * self.features.element_size()


@dataclass
class Segment:
    """A click's answer: the full-resolution mask and what the next click refines from."""

    mask: np.ndarray  # bool HxW, the image's own size
    score: float  # SAM's predicted IoU of the chosen mask
    logits: np.ndarray  # float32 GRIDxGRID, the chosen mask's low-resolution logits
    index: int = 0  # which of SAM's masks was chosen (0 with a single output)
    box: tuple[int, int, int, int] | None = None  # (y0, x0, y1, x1) of the mask's pixels, None when empty
    timings: dict[str, float] = field(default_factory=dict)


class ClickSegmenter:
    """MobileSAM with an embedding cache. Thread-safe (one lock around the model)."""

    def __init__(self, weights: str | Path | None = None, *, device: str = "cpu", cache_bytes: int = CACHE_BYTES):
        self.device = torch.device(device)
        self.model = build_mobile_sam(weights).to(self.device)
        self.cache_bytes = int(cache_bytes)
        self._cache: OrderedDict[str, Embedding] = OrderedDict()
        self._lock = threading.Lock()

    # -- embeddings -----------------------------------------------------------------------------
    def cached(self, key: str) -> Embedding | None:
        with self._lock:
            emb = self._cache.get(key)
            if emb is not None:
                self._cache.move_to_end(key)
            return emb

    def embed(self, image: np.ndarray, key: str | None = None, *, image_size: tuple[int, int] | None = None) -> Embedding:
        """The embedding of an HxWx3 uint8 RGB image of any size (cached under ``key`` when given).

        ``image_size``: the original (H, W) when ``image`` is already its
        :func:`~fcn_studio.inference.sam_input.working_copy` (masks then come at that size).
        """
        size = tuple(image_size) if image_size is not None else tuple(image.shape[:2])
        if key is not None:
            hit = self.cached(key)
            if hit is not None and hit.image_size == size:
                return hit
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8 or min(image.shape[:2]) < 1:
            raise ValueError(f"expected an HxWx3 uint8 image, got {image.shape} {image.dtype}")
        start = time.perf_counter()
        tensor, input_size = _prepare(image)
        with self._lock, torch.inference_mode():
            features = self.model.image_encoder(tensor.to(self.device))
        emb = Embedding(key or "", features, size, input_size, time.perf_counter() - start)
        if key is not None:
            self._remember(emb)
        return emb

    def _remember(self, emb: Embedding) -> None:
        with self._lock:
            self._cache[emb.key] = emb
            self._cache.move_to_end(emb.key)
            while len(self._cache) > 1 and sum(e.nbytes for e in self._cache.values()) > self.cache_bytes:
                self._cache.popitem(last=False)

    def forget(self, key: str | None = None) -> None:
        """Drop one cached embedding, or all of them."""
        with self._lock:
            if key is None:
                self._cache.clear()
            else:
                self._cache.pop(key, None)

    # -- masks ----------------------------------------------------------------------------------
    def segment(
        self,
        emb: Embedding,
        points: Sequence[tuple[float, float]] = (),
        labels: Sequence[int] = (),
        *,
        box: tuple[float, float, float, float] | None = None,
        multimask: bool | None = None,
        previous: np.ndarray | None = None,
        guide: np.ndarray | None = None,
        choose: str = "score",
        min_agreement: float = MIN_AGREEMENT,
        max_score_drop: float = MAX_SCORE_DROP,
        pick: int | None = None,
    ) -> Segment:
        """The mask for clicks ``points`` (x, y image pixels; ``labels`` 1 positive, 0 negative)
        and/or ``box`` (x0, y0, x1, y1), as a bool array of the image's full size.

        ``multimask`` (default: only for a single point without a box, where a click is ambiguous)
        asks SAM for three masks; ``choose`` picks one: ``"score"`` SAM's own predicted IoU,
        ``"model"`` the one that best matches ``guide``'s region under the first positive click
        (``guide``: the project model's label map, any resolution) when one matches it at least
        ``min_agreement``, ``"model_box"`` the same and the region's box as an extra prompt,
        ``"model_points"`` the same and then up to :data:`VIRTUAL_CLICKS` corrections made
        against the model's region as a person would make them against the truth (each kept
        only when it brings the mask closer to the region), so SAM's edges meet the model's extent.
        ``pick`` takes SAM's mask of that index instead (the person cycling through the three). ``previous`` (a :attr:`Segment.logits`) is fed back
        as SAM's mask prompt, so a correction refines the mask the person sees.
        """
        if choose not in CHOICES:
            raise ValueError(f"choose must be one of {CHOICES}")
        timings: dict[str, float] = {}
        start = time.perf_counter()
        pts = np.asarray(points, np.float32).reshape(-1, 2)
        lab = np.asarray(labels, np.int64).reshape(-1)
        if len(pts) != len(lab):
            raise ValueError("points and labels differ in length")
        if not len(pts) and box is None:
            raise ValueError("segment needs a point or a box")
        region = None
        if guide is not None and choose != "score":
            region = _guide_region(guide, pts, lab, emb)
        if choose == "model_box" and box is None and region is not None and len(pts) == 1:
            box = _region_box(region, emb)
        if multimask is None:
            multimask = len(pts) == 1 and box is None and previous is None
        logits, scores = self.decode(emb, pts, lab, box=box, previous=previous, multimask=bool(multimask))
        timings["decoder"] = time.perf_counter() - start
        index = int(np.argmax(scores))
        if region is not None and len(logits) > 1:
            index = _agreeing_mask(logits, scores, region, min_agreement, max_score_drop)
        if pick is not None and len(logits) > 1:
            index = int(pick) % len(logits)
        chosen = logits[index]
        if choose == "model_points" and pick is None and region is not None and len(pts) == 1 and previous is None:
            chosen = self._follow_region(emb, pts, lab, chosen, region)
        t1 = time.perf_counter()
        mask, mbox = upsample_mask(chosen, emb.input_size, emb.image_size)
        timings["upsample"] = time.perf_counter() - t1
        return Segment(mask, float(scores[index]), chosen, index, mbox, timings)

    def _follow_region(self, emb: Embedding, pts: np.ndarray, lab: np.ndarray, logits: np.ndarray,
                       region: np.ndarray) -> np.ndarray:
        """Corrections against the model's region (see ``model_points``): logits closer to it."""
        gh, gw = region.shape
        H, W = emb.image_size
        best = _grid_iou(logits, region)
        for _ in range(VIRTUAL_CLICKS):
            if best >= 0.85:
                break
            m = logits[:gh, :gw] > 0
            mx, my, md = _deepest_cell(region & ~m)
            sx_, sy_, sd = _deepest_cell(m & ~region)
            if max(md, sd) < 2:  # nothing wider than two cells (8 working pixels) to correct
                break
            x, y, positive = (mx, my, 1) if md >= sd else (sx_, sy_, 0)
            point = np.array([[(x + 0.5) * W / gw, (y + 0.5) * H / gh]], np.float32)
            new, _ = self.decode(emb, np.concatenate([pts, point]), np.append(lab, positive), previous=logits, multimask=False)
            agreement = _grid_iou(new[0], region)
            if agreement <= best:
                break
            pts, lab, logits, best = np.concatenate([pts, point]), np.append(lab, positive), new[0], agreement
        return logits

    def decode(self, emb: Embedding, points: np.ndarray, labels: np.ndarray, *, box=None,  # noqa: ANN001
               previous: np.ndarray | None = None, multimask: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """SAM's raw answer: (n x GRID x GRID logits, n predicted IoUs), n = 3 with ``multimask``
        else 1. Points and box in image pixels. :meth:`segment` is what callers want; this is
        for benches that look at all three masks."""
        H, W = emb.image_size
        h, w = emb.input_size
        sx, sy = w / W, h / H
        pts = np.asarray(points, np.float32).reshape(-1, 2)
        lab = np.asarray(labels, np.int64).reshape(-1)
        point_arg = None
        if len(pts):
            coords = torch.from_numpy(pts * np.array([sx, sy], np.float32))[None]
            point_arg = (coords.to(self.device), torch.from_numpy(lab)[None].to(self.device))
        box_arg = None
        if box is not None:
            b = np.array(box, np.float32) * np.array([sx, sy, sx, sy], np.float32)
            box_arg = torch.from_numpy(b)[None].to(self.device)
        mask_arg = None
        if previous is not None:
            mask_arg = torch.from_numpy(np.ascontiguousarray(previous, np.float32))[None, None].to(self.device)
        with self._lock, torch.inference_mode():
            sam = self.model
            sparse, dense = sam.prompt_encoder(points=point_arg, boxes=box_arg, masks=mask_arg)
            low, iou = sam.mask_decoder(
                image_embeddings=emb.features, image_pe=sam.prompt_encoder.get_dense_pe(),
                sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense, multimask_output=bool(multimask),
            )
        return low[0].float().cpu().numpy(), iou[0].float().cpu().numpy()


def _prepare(image: np.ndarray) -> tuple[torch.Tensor, tuple[int, int]]:
    """The image resized (longest side SIDE), normalised and padded to SIDE x SIDE, as 1x3xSxS."""
    resized = working_copy(image)
    h, w = resized.shape[:2]
    x = (resized.astype(np.float32) - PIXEL_MEAN) / PIXEL_STD
    padded = np.zeros((SIDE, SIDE, 3), np.float32)
    padded[:h, :w] = x
    return torch.from_numpy(padded).permute(2, 0, 1)[None].contiguous(), (h, w)


def upsample_mask(logits: np.ndarray, input_size: tuple[int, int], image_size: tuple[int, int]) -> tuple[np.ndarray, tuple | None]:
    """SAM's GRIDxGRID logits -> bool mask of ``image_size``, in one bilinear step.

    The same sampling as SAM's two steps (to SIDE, crop the padding, to the image; both
    ``align_corners=False``) composed into one affine map, and evaluated only inside the box
    where the low-resolution logits come near zero: a 6000x4000 image costs what the object does.
    Returns the mask and its box (y0, x0, y1, x1), None when empty.
    """
    H, W = image_size
    h, w = input_size
    # grid coordinate of full-resolution pixel X: (X + 0.5) * w / (4 W) - 0.5
    ax, ay = w / (4.0 * W), h / (4.0 * H)
    gh, gw = min(GRID, -(-h // 4)), min(GRID, -(-w // 4))
    near = logits[:gh, :gw] > -1.0  # a bilinear mix can only cross zero next to such a cell
    mask = np.zeros((H, W), bool)
    if not near.any():
        return mask, None
    ys, xs = np.nonzero(near)
    gy0, gy1, gx0, gx1 = ys.min() - 1, ys.max() + 2, xs.min() - 1, xs.max() + 2
    # full-resolution pixels whose sample point falls in [g0, g1]
    y0 = max(0, int(np.floor((gy0 + 0.5) / ay - 0.5)))
    y1 = min(H, int(np.ceil((gy1 + 0.5) / ay - 0.5)) + 1)
    x0 = max(0, int(np.floor((gx0 + 0.5) / ax - 0.5)))
    x1 = min(W, int(np.ceil((gx1 + 0.5) / ax - 0.5)) + 1)
    if y1 <= y0 or x1 <= x0:
        return mask, None
    src = np.ascontiguousarray(logits[:gh, :gw], np.float32)
    # dst (x, y) in the box -> src: ((x + x0) + 0.5) * ax - 0.5
    m = np.array([[ax, 0, (x0 + 0.5) * ax - 0.5], [0, ay, (y0 + 0.5) * ay - 0.5]], np.float64)
    part = cv2.warpAffine(src, m, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)
    inside = part > 0.0
    mask[y0:y1, x0:x1] = inside
    if not inside.any():
        return mask, None
    rows, cols = np.nonzero(inside.any(1))[0], np.nonzero(inside.any(0))[0]
    return mask, (y0 + int(rows[0]), x0 + int(cols[0]), y0 + int(rows[-1]) + 1, x0 + int(cols[-1]) + 1)


# -- the project's model as a guide ----------------------------------------------------------------
def _guide_on_grid(guide: np.ndarray, emb: Embedding) -> np.ndarray:
    """``guide`` (a label map covering the image) sampled on SAM's logit grid (nearest), valid part only."""
    h, w = emb.input_size
    gh, gw = min(GRID, -(-h // 4)), min(GRID, -(-w // 4))
    return cv2.resize(np.ascontiguousarray(guide, np.uint8), (gw, gh), interpolation=cv2.INTER_NEAREST)


def _guide_region(guide: np.ndarray, pts: np.ndarray, lab: np.ndarray, emb: Embedding) -> np.ndarray | None:
    """The model's connected region (on the logit grid) of the class under the first positive click."""
    positive = pts[lab == 1]
    if not len(positive):
        return None
    grid = _guide_on_grid(guide, emb)
    gh, gw = grid.shape
    H, W = emb.image_size
    x = min(gw - 1, max(0, int(positive[0, 0] * gw / W)))
    y = min(gh - 1, max(0, int(positive[0, 1] * gh / H)))
    same = (grid == grid[y, x]).astype(np.uint8)
    _, comp = cv2.connectedComponents(same, connectivity=4)
    return comp == comp[y, x]


def _region_box(region: np.ndarray, emb: Embedding) -> tuple[float, float, float, float]:
    """The box of a grid region in image pixels (x0, y0, x1, y1)."""
    ys, xs = np.nonzero(region)
    gh, gw = region.shape
    H, W = emb.image_size
    return (xs.min() * W / gw, ys.min() * H / gh, (xs.max() + 1) * W / gw, (ys.max() + 1) * H / gh)


def _grid_iou(logits: np.ndarray, region: np.ndarray) -> float:
    gh, gw = region.shape
    m = logits[:gh, :gw] > 0
    union = np.logical_or(m, region).sum()
    return float(np.logical_and(m, region).sum() / union) if union else 0.0


def _agreeing_mask(logits: np.ndarray, scores: np.ndarray, region: np.ndarray, min_agreement: float,
                   max_score_drop: float = 1e9) -> int:
    """Among SAM's masks scored within ``max_score_drop`` of its best, the one with the best IoU
    with the model's region (SAM's score breaks ties); SAM's best-scored one when none reaches
    ``min_agreement``."""
    agreement = np.array([_grid_iou(lg, region) for lg in logits])
    eligible = scores >= scores.max() - max_score_drop
    if not eligible.any() or agreement[eligible].max() < min_agreement:
        return int(np.argmax(scores))
    return int(np.argmax(np.where(eligible, agreement + 0.1 * scores, -np.inf)))


def _deepest_cell(mask: np.ndarray) -> tuple[int, int, float]:
    """(x, y, depth) of the cell of ``mask`` farthest from its edge, in grid cells."""
    dist = cv2.distanceTransform(np.pad(mask.astype(np.uint8), 1), cv2.DIST_L2, 3)[1:-1, 1:-1]
    y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
    return int(x), int(y), float(dist[y, x])
