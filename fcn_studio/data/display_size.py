"""Probabilities at the size a screen shows them, so a 24-megapixel prediction stays light.

Why: a 6000x4000 photo's probabilities are 11 x 24 M float16 values (528 MB). Sent through a
pipe and unpickled in the window's process they held its interpreter 0.5-0.7 s per prediction
(issue 34: two ~1 s freezes per arrival), and the window kept them only to draw heatmaps a
screen cannot show at that size anyway. An FCN's probabilities are an upsampled field (output
stride 4-32), so an area-averaged copy of at most :data:`DISPLAY_MAX_PIXELS` pixels loses
nothing the eye or the model had. The labels stay at the image's size: they become masks.
Numpy and OpenCV only (the window and both child processes call it).
"""

from __future__ import annotations

import math

import numpy as np

#: The most pixels a drawn probability map has: about a 4K screen (3840x2160 is 8.3 M; a fitted
#: image on it rarely covers more than half). Smaller images keep their own size.
DISPLAY_MAX_PIXELS = 2560 * 1600


def display_shape(height: int, width: int, max_pixels: int | None = None) -> tuple[int, int]:
    """(h, w) with the aspect of ``height`` x ``width`` and at most ``max_pixels`` pixels (never
    larger; None: :data:`DISPLAY_MAX_PIXELS`, read at each call)."""
    max_pixels = DISPLAY_MAX_PIXELS if max_pixels is None else max_pixels
    if height * width <= max_pixels:
        return height, width
    f = math.sqrt(max_pixels / (height * width))
    return max(1, int(height * f)), max(1, int(width * f))


def shrink_probs(probs: np.ndarray, max_pixels: int | None = None) -> np.ndarray:
    """``K x H x W`` probabilities area-averaged to at most ``max_pixels`` per plane (same dtype);
    returned as they are when already that small."""
    k, h, w = probs.shape
    th, tw = display_shape(h, w, max_pixels)
    if (th, tw) == (h, w):
        return probs
    import cv2

    out = np.empty((k, th, tw), probs.dtype)
    for c in range(k):  # one plane at a time: cv2 has no float16, and a float32 copy of all is 1 GB
        out[c] = cv2.resize(probs[c].astype(np.float32), (tw, th), interpolation=cv2.INTER_AREA)
    return out
