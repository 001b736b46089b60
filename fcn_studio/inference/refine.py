"""Edge-aware refinement of predicted class probabilities: the segmentation follows image edges.

Why: an FCN scores a coarse grid (one score per 8 working-resolution pixels for FCN-8s,
16 image pixels at the CPU's working scale 0.5) and upsamples it, so its boundaries are
smooth curves that cut across the image's real edges, and objects come out as blobs. Early
in a run, trained on a few scribbles, that is most of its error. The classic fix is a CRF
after the network (DeepLab); this module uses the cheaper colour guided filter (He, Sun and
Tang, "Guided Image Filtering", 2013; the subsampled "fast" form, He and Sun 2015): within a
window, each class's probability is made an affine function of the pixel's colour, so
probability changes line up with colour changes and flat regions stay flat. Cost: a few box
filters per class, about 10-20 ms for a 360x480 image with 5 classes on one core.

It helps where the network has not been shown boundaries, i.e. after training on scribbles
(CamVid, 40 scribbled images: mIoU 0.417 -> 0.429; the demo's road IoU +0.06), and costs a
little where dense masks taught it thin objects (CamVid dense: 0.493 -> 0.478): the app turns
it on by default only when the painted masks are sparse (:func:`sparse_labels`).

Pure numpy + OpenCV, no torch: the GUI, the predictor and the training process all use it.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

#: Regulariser of the guided filter (0..1 colour units squared): lower follows weaker edges.
DEFAULT_EPS = 1e-3
#: The filter runs at most at this many pixels (larger images are subsampled, then its
#: linear coefficients are upsampled and applied at full resolution).
WORK_PIXELS = 600_000
#: Radius (in subsampled pixels) the filter works at; larger radii subsample the image.
LOW_RES_RADIUS = 4
#: OpenCV filters at most this many channels of one array at a time.
_MAX_CHANNELS = 256
#: OpenCV's area resize by a non-integer factor takes at most this many channels (OpenCV 5.1
#: asserts ``cn <= 4``): class probabilities are shrunk four channels at a time.
_MAX_AREA_CHANNELS = 4


#: Below this share of painted pixels (over the painted images) the labels count as scribbles.
SPARSE_BELOW = 0.5


def sparse_labels(painted_fractions: list[float]) -> bool:
    """Whether images painted this much (each a 0..1 share; unpainted images left out) are scribbles."""
    shares = [f for f in painted_fractions if f > 0]
    return bool(shares) and sum(shares) / len(shares) < SPARSE_BELOW


def refine_radius(output_stride: int, input_scale: float, cells: float = 1.0) -> int:
    """Window radius in image pixels: ``cells`` score-grid cells (``output_stride / input_scale`` px each).

    One cell (16 px for FCN-8s at the CPU's working scale 0.5) is the measured compromise:
    wider windows snap blobs to edges better (demo road IoU +0.06 at one cell, +0.10 at two)
    but erase thin objects more (CamVid pedestrians and cyclists; ``bench/refine_edges.py``).
    """
    return max(1, int(round(cells * output_stride / max(input_scale, 1e-6))))


def model_radius(model: object, input_scale: float) -> int:
    """:func:`refine_radius` of a model (its ``output_stride``, 8 when it does not say)."""
    return refine_radius(int(getattr(model, "output_stride", 8)), input_scale)


def _box(x: np.ndarray, r: int) -> np.ndarray:
    """Mean over a (2r+1)^2 window of every channel of an H x W (x C) float32 array."""
    k = (2 * r + 1, 2 * r + 1)
    if x.ndim == 2 or x.shape[2] <= _MAX_CHANNELS:
        out = cv2.boxFilter(x, -1, k, borderType=cv2.BORDER_REFLECT)
        return out.reshape(x.shape)
    return np.concatenate([_box(np.ascontiguousarray(x[..., i : i + _MAX_CHANNELS]), r) for i in range(0, x.shape[2], _MAX_CHANNELS)], 2)


def _resize(x: np.ndarray, hw: tuple[int, int], interpolation: int) -> np.ndarray:
    """``x`` (H x W or H x W x C) resized to ``hw``, in channel groups OpenCV accepts for ``interpolation``."""
    h, w = hw
    if x.shape[:2] == (h, w):
        return x
    most = _MAX_AREA_CHANNELS if interpolation == cv2.INTER_AREA else _MAX_CHANNELS
    if x.ndim == 2 or x.shape[2] <= most:
        return cv2.resize(x, (w, h), interpolation=interpolation).reshape((h, w) + x.shape[2:])
    parts = [_resize(np.ascontiguousarray(x[..., i : i + most]), hw, interpolation) for i in range(0, x.shape[2], most)]
    return np.concatenate(parts, 2)


def _coefficients(guide: np.ndarray, probs: np.ndarray, r: int, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """Window-averaged guided-filter coefficients: (A h x w x K x 3, B h x w x K)."""
    h, w, _ = guide.shape
    k = probs.shape[2]
    mean_i = _box(guide, r)
    pairs = [(0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2)]
    prod = np.stack([guide[..., i] * guide[..., j] for i, j in pairs], 2)
    cov = _box(prod, r) - np.stack([mean_i[..., i] * mean_i[..., j] for i, j in pairs], 2)
    s00, s01, s02, s11, s12, s22 = (cov[..., n] for n in range(6))
    s00, s11, s22 = s00 + eps, s11 + eps, s22 + eps
    # inverse of the symmetric 3x3 covariance by its adjugate
    i00 = s11 * s22 - s12 * s12
    i01 = s02 * s12 - s01 * s22
    i02 = s01 * s12 - s02 * s11
    i11 = s00 * s22 - s02 * s02
    i12 = s01 * s02 - s00 * s12
    i22 = s00 * s11 - s01 * s01
    det = s00 * i00 + s01 * i01 + s02 * i02
    inv = np.stack([i00, i01, i02, i01, i11, i12, i02, i12, i22], 2).reshape(h, w, 3, 3)
    inv /= det[..., None, None]

    mean_p = _box(probs, r)  # h x w x K
    ip = (guide[:, :, None, :] * probs[:, :, :, None]).reshape(h, w, 3 * k)
    cov_ip = _box(ip, r).reshape(h, w, k, 3) - mean_p[..., None] * mean_i[:, :, None, :]
    a = np.empty((h, w, k, 3), np.float32)
    for i in range(3):
        a[..., i] = inv[:, :, None, i, 0] * cov_ip[..., 0] + inv[:, :, None, i, 1] * cov_ip[..., 1] + inv[:, :, None, i, 2] * cov_ip[..., 2]
    b = mean_p - (a[..., 0] * mean_i[:, :, None, 0] + a[..., 1] * mean_i[:, :, None, 1] + a[..., 2] * mean_i[:, :, None, 2])
    mean_a = _box(np.ascontiguousarray(a.reshape(h, w, 3 * k)), r).reshape(h, w, k, 3)
    mean_b = _box(np.ascontiguousarray(b), r)
    return mean_a, mean_b


def edge_refine(
    image: np.ndarray,
    probs: np.ndarray,
    *,
    radius: int,
    eps: float = DEFAULT_EPS,
    want_probs: bool = False,
    work_pixels: int = WORK_PIXELS,
    overwrite: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Refine K x H x W class probabilities of an H x W x 3 uint8 image along its colour edges.

    Returns ``(labels H x W uint8, confidence H x W float32, probs K x H x W float32 or None)``;
    refined probabilities are clipped at 0 and renormalised per pixel, in float32, and with
    ``want_probs`` the labels and confidence are the argmax and max of exactly those returned
    values (the rule of :class:`~fcn_studio.inference.prediction_types.Prediction`; the caller
    rounds them to its storage type). ``overwrite``: write the refined probabilities over
    ``probs`` (a writable float32 array the caller no longer needs) instead of a new array.
    Memory stays a few H x W planes beyond the input and output: the full-resolution output
    is built one class at a time, and no H x W x K copy of the input is made.
    """
    if image.ndim != 3 or image.shape[2] != 3 or probs.ndim != 3 or probs.shape[1:] != image.shape[:2]:
        raise ValueError(f"need an H x W x 3 image and K x H x W probabilities of the same size, got {image.shape} and {probs.shape}")
    k, h, w = probs.shape
    # The coefficients are window means, smooth at the scale of the radius: computing them on
    # a grid a quarter of the radius apart loses little (He and Sun's "fast" guided filter).
    factor = max(1.0, math.sqrt(h * w / max(work_pixels, 1)), radius / LOW_RES_RADIUS)
    lh, lw = max(1, int(round(h / factor))), max(1, int(round(w / factor)))
    guide_full = image.astype(np.float32) / 255.0
    guide = _resize(guide_full, (lh, lw), cv2.INTER_AREA)
    # one class plane at a time: no transposed H x W x K copy (912 MB for 19 classes of a 12 MP photo)
    p = np.stack([_resize(np.asarray(probs[c], np.float32), (lh, lw), cv2.INTER_AREA) for c in range(k)], 2)
    r = max(1, int(round(radius / factor)))
    mean_a, mean_b = _coefficients(guide, p.reshape(lh, lw, k), r, eps)
    planes = [np.ascontiguousarray(guide_full[..., i]) for i in range(3)]
    del guide_full

    if not want_probs:
        out = None
    elif overwrite and probs.dtype == np.float32 and probs.flags.writeable and probs.flags.c_contiguous:
        out = probs
    else:
        out = np.empty((k, h, w), np.float32)
    best = np.full((h, w), -np.inf, np.float32)
    labels = np.zeros((h, w), np.uint8)
    total = np.zeros((h, w), np.float32)
    better = np.empty((h, w), bool)
    term = np.empty((h, w), np.float32)
    for c in range(k):
        q = _resize(np.ascontiguousarray(mean_b[:, :, c]), (h, w), cv2.INTER_LINEAR)
        for i in range(3):
            a = _resize(np.ascontiguousarray(mean_a[:, :, c, i]), (h, w), cv2.INTER_LINEAR)
            np.multiply(a, planes[i], out=term)
            q += term
        np.maximum(q, 0, out=q)
        total += q
        if out is not None:
            out[c] = q
        else:  # labels straight from the unnormalised scores: no probabilities are returned
            _keep_best(q, c, best, labels, better)
    np.maximum(total, 1e-6, out=total)
    if out is None:
        return labels, best / total, None
    # labels and confidence from the stored (normalised) values: argmax and max of what is returned
    for c in range(k):
        np.divide(out[c], total, out=out[c])
        _keep_best(out[c], c, best, labels, better)
    return labels, best, out


def _keep_best(q: np.ndarray, c: int, best: np.ndarray, labels: np.ndarray, better: np.ndarray) -> None:
    """Where ``q`` beats ``best`` (strictly: ties keep the lower class, like argmax), class ``c`` wins."""
    np.greater(q, best, out=better)
    np.copyto(labels, np.uint8(c), where=better)
    np.maximum(best, q, out=best)
