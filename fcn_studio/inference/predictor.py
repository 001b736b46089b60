"""Inference: per-class probabilities, labels and confidence for one image or a folder.

The same code path serves the trainer's validation and live previews, the CLI's ``predict``
and ``evaluate``, and the GUI's "predict this image": the image is resized to the model's
working resolution (``input_scale`` from the checkpoint), run whole when it fits in
``max_pixels`` and in overlapping tiles otherwise (:mod:`fcn_studio.inference.tiling`), and the
logits are upsampled bilinearly to the image's own size before the softmax.
"""

from __future__ import annotations

from pathlib import Path
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from fcn_studio.data.working_size import resize_pair, scale_for
from fcn_studio.data.imageio import read_image
from fcn_studio.data.labelset import LabelSet
from fcn_studio.errors import ModelOutputError
from fcn_studio.models.device import Normalizer, autocast, pick_device
from fcn_studio.inference.prediction_types import Prediction
from fcn_studio.inference.refine import edge_refine, model_radius
from fcn_studio.inference.tiling import run_tiled

#: Largest working-resolution image run in one piece (CPU RAM / GPU memory stay modest).
DEFAULT_MAX_PIXELS = 2_000_000
DEFAULT_TILE = 1024
DEFAULT_MARGIN = 128
#: Backbones whose global pooling makes tiles differ from the whole image (see tiling.py).
GLOBAL_CONTEXT_BACKBONES = ("mobilenet_v3_large", "lraspp_mobilenet_v3_large")


def model_logits(
    model: nn.Module,
    image: np.ndarray,
    normalizer: Normalizer,
    *,
    scale: float,
    amp: bool = True,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    tile: int = DEFAULT_TILE,
    margin: int = DEFAULT_MARGIN,
    force_tiles: bool = False,
) -> torch.Tensor:
    """``1 x K x H x W`` float32 logits of an HxWx3 uint8 image (model in eval mode, no grad).

    Raises :class:`~fcn_studio.errors.ModelOutputError` when they are not all finite: such a
    prediction is reported (a status line, a skipped image), never drawn or written.

    Tiling is used when the working-resolution image has more than ``max_pixels`` pixels,
    or always with ``force_tiles``.
    """
    h, w = image.shape[:2]
    small, _ = resize_pair(image, None, scale)
    x = normalizer(torch.from_numpy(np.ascontiguousarray(small.transpose(2, 0, 1)))[None])
    device = normalizer.device
    k = int(getattr(model, "num_classes"))

    def run(t: torch.Tensor) -> torch.Tensor:
        with autocast(device, amp):
            return model(t)

    with torch.inference_mode():
        if force_tiles or x.shape[-1] * x.shape[-2] > max_pixels:
            logits = run_tiled(run, x, num_classes=k, tile=tile, margin=margin)
        else:
            logits = run(x).float()
        if not bool(torch.isfinite(logits).all()):  # at working resolution: cheap
            raise ModelOutputError(
                "the model's output is not a number (NaN or infinite) for this image: its weights are damaged "
                "or its training diverged; train it again or load another model"
            )
        # Class planes one after another (NCHW) before the upsampling: a channels_last model's
        # logits stayed channels_last at full size, where the softmax and the float16 copy of
        # 19 classes of a 4000x3000 photo took 15 s instead of 2 on one core.
        logits = logits.contiguous()
        if logits.shape[-2:] != (h, w):
            logits = F.interpolate(logits, size=(h, w), mode="bilinear", align_corners=False)
    return logits


def stored_probs(probs: torch.Tensor, dtype) -> np.ndarray:  # noqa: ANN001
    """``probs`` as a numpy array of ``dtype``, rounded by torch: numpy's float16 rounding of the
    many near-zero probabilities (float16 subnormals) took 11 s for 19 classes of a 12 MP photo."""
    dtype = np.dtype(dtype)
    if dtype == np.float16:
        return probs.to(torch.float16).cpu().numpy()
    return probs.cpu().numpy().astype(dtype, copy=False)


class Predictor:
    """A trained model ready to predict, with its label set and working resolution.

    Build from a checkpoint with :meth:`from_checkpoint`, or from a model in memory (the
    trainer's previews). ``tile`` / ``margin`` / ``max_pixels`` control tiling (see module doc).
    """

    def __init__(
        self,
        model: nn.Module,
        labelset: LabelSet,
        *,
        scale: float = 1.0,
        device: str | torch.device = "auto",
        amp: bool = True,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        tile: int = DEFAULT_TILE,
        margin: int = DEFAULT_MARGIN,
        refine_edges: bool = False,
        working_pixels: int | None = None,
    ) -> None:
        self.device = device if isinstance(device, torch.device) else pick_device(device)
        # channels_last: inference measured 15-29% faster on a CPU for every backbone here
        # (bench/memory_format.py), and it is what CUDA's convolutions prefer
        self.channels_last = self.device.type in ("cpu", "cuda")
        fmt = torch.channels_last if self.channels_last else torch.preserve_format
        self.model = model.to(self.device, memory_format=fmt).eval()
        self.labelset = labelset
        self.scale = float(scale)
        #: the training images' working size (data.working_size): images of other sizes are
        #: scaled to about this many pixels, the scale the model learned its objects at
        self.working_pixels = working_pixels
        self.amp = amp
        self.max_pixels, self.tile, self.margin = int(max_pixels), int(tile), int(margin)
        self.num_classes = labelset.num_classes
        self.normalizer = Normalizer(model.normalization, self.device, channels_last=self.channels_last)
        #: Move boundaries onto image edges (:mod:`.refine`); may be switched between calls.
        self.refine_edges = bool(refine_edges)
        self.refine_radius = model_radius(model, self.scale)

    @classmethod
    def from_checkpoint(cls, path: str | Path, *, device: str = "auto", **kwargs) -> "Predictor":  # noqa: ANN003
        """Load a checkpoint (``weights_only``, validated); its ``input_scale`` sets the scale."""
        from fcn_studio.models.checkpoint import load_checkpoint

        model, meta = load_checkpoint(path)
        kwargs.setdefault("scale", float(meta.summary.get("input_scale", 1.0)))
        pixels = meta.summary.get("working_pixels")
        if isinstance(pixels, (int, float)) and not isinstance(pixels, bool) and pixels > 0:
            kwargs.setdefault("working_pixels", int(pixels))
        predictor = cls(model, meta.labelset, device=device, **kwargs)
        predictor.meta = meta  # type: ignore[attr-defined]
        return predictor

    def scale_of(self, hw: tuple[int, int]) -> float:
        """The working scale of an image of size ``hw``: ``scale`` for the training images' size."""
        return scale_for(hw, self.scale, self.working_pixels)

    def logits(self, image: np.ndarray, *, force_tiles: bool = False) -> torch.Tensor:
        return model_logits(
            self.model, image, self.normalizer, scale=self.scale_of(image.shape[:2]), amp=self.amp,
            max_pixels=self.max_pixels, tile=self.tile, margin=self.margin, force_tiles=force_tiles,
        )

    def predict(
        self, image: np.ndarray, *, want_probs: bool = True, probs_dtype=np.float16, force_tiles: bool = False,  # noqa: ANN001
        refine_edges: bool | None = None,
    ) -> Prediction:
        """Predict an HxWx3 uint8 RGB image, refined along its edges if ``refine_edges`` (default: the attribute).

        Both paths keep :class:`Prediction`'s rule: labels and confidence are the argmax and max
        of the float32 probabilities, rounded to ``probs_dtype`` only afterwards.
        """
        probs_t = torch.softmax(self.logits(image, force_tiles=force_tiles), dim=1)[0]
        if self.refine_edges if refine_edges is None else refine_edges:
            radius = model_radius(self.model, self.scale_of(image.shape[:2]))
            # the softmax output is ours alone: the refined probabilities are written over it
            labels_np, conf_np, refined = edge_refine(image, probs_t.cpu().numpy(), radius=radius, want_probs=want_probs, overwrite=True)
            probs = None if refined is None else stored_probs(torch.from_numpy(refined), probs_dtype)
            return Prediction(labels=labels_np, confidence=conf_np, probs=probs)
        conf, labels = probs_t.max(0)
        return Prediction(
            labels=labels.to(torch.uint8).cpu().numpy(),
            confidence=conf.float().cpu().numpy(),
            probs=stored_probs(probs_t, probs_dtype) if want_probs else None,
        )

    def predict_file(self, path: str | Path, **kwargs) -> Prediction:  # noqa: ANN003
        return self.predict(read_image(path), **kwargs)

    def predict_folder(self, images: str | Path, out: str | Path, **kwargs) -> dict:  # noqa: ANN003
        """Predict every image in ``images`` into ``out``: see :func:`fcn_studio.inference.batch_predict.predict_folder`."""
        from fcn_studio.inference.batch_predict import predict_folder

        return predict_folder(self, images, out, **kwargs)
