"""The scale a model sees images at, for projects whose images differ in size.

A model learns objects at the size they had in its training images at working resolution
(``input_scale``, 0.5 on a CPU). Scaling every image by ``input_scale`` of *its own* size shows
a 6000x4000 photo of a street at 12.5x the scale the model learned on 480x360 frames (facades
came out as road). So a checkpoint records the training images' working size as a pixel
count (:func:`working_pixels`), and each image, in training and in prediction, is scaled to
about that many pixels (:func:`scale_for`). Images of the training size get exactly
``input_scale``; without a recorded size (older checkpoints) every image gets ``input_scale``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import cv2
import numpy as np


def working_pixels(sizes: Iterable[tuple[int, int]], input_scale: float) -> int | None:
    """Pixels of the median training image at working resolution (None without sizes)."""
    areas = sorted(int(h) * int(w) for h, w in sizes if h and w)
    if not areas:
        return None
    mid = len(areas) // 2
    median = areas[mid] if len(areas) % 2 else (areas[mid - 1] + areas[mid]) / 2
    return max(1, round(median * input_scale * input_scale))


def scale_for(hw: tuple[int, int], input_scale: float, pixels: int | None) -> float:
    """The resize factor that brings an image of size ``hw`` to about ``pixels`` pixels.

    Exactly ``input_scale`` when ``pixels`` is None or the image is the median training size
    (within rounding), so projects of same-sized images train and predict as before.
    """
    h, w = int(hw[0]), int(hw[1])
    if not pixels or h <= 0 or w <= 0:
        return float(input_scale)
    scale = math.sqrt(pixels / (h * w))
    return float(input_scale) if abs(scale - input_scale) <= 1e-3 * input_scale + 0.5 / max(h, w) else scale


def resize_pair(image: np.ndarray, mask: np.ndarray | None, scale: float) -> tuple[np.ndarray, np.ndarray | None]:
    """Resize image (area filter when shrinking, bilinear when growing) and mask (nearest) by ``scale``.

    The one resize to working resolution, shared by training (its datasets) and inference (the
    predictor) so both see an image alike; here, below both, so neither imports the other.
    """
    if abs(scale - 1.0) < 1e-6:
        return image, mask
    h, w = image.shape[:2]
    size = (max(1, int(round(w * scale))), max(1, int(round(h * scale))))  # cv2 wants (w, h)
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    image = cv2.resize(image, size, interpolation=interp)
    if mask is not None:
        mask = cv2.resize(mask, size, interpolation=cv2.INTER_NEAREST)
    return image, mask
