"""Grow each painted stroke into the colour-homogeneous region around it, for training only.

Scribbles say nothing about where one class ends and the next begins. Before a mask is
used for training, its strokes are flooded outwards with OpenCV's marker-based watershed
(the strokes are the markers; the flood advances through low colour gradients first and
stops where two strokes' floods meet at an edge), and the result is kept only within
``radius`` pixels of a stroke: far from any stroke the flood is a guess, near it the colour
edge usually is the boundary. The grown mask exists only in the training batch; the user's
mask on disk is never changed.
"""

from __future__ import annotations

import cv2
import numpy as np

from fcn_studio.data.labelset import UNPAINTED


def grow_strokes(image: np.ndarray, target: np.ndarray, radius: float) -> np.ndarray:
    """``target`` (HxW uint8 class ids, 255 unpainted) with strokes grown up to ``radius`` pixels.

    Painted pixels are never changed; an image with nothing painted, or with everything
    painted, comes back as it is.
    """
    painted = target != UNPAINTED
    if radius <= 0 or not painted.any() or painted.all():
        return target
    markers = np.where(painted, target.astype(np.int32) + 1, 0).astype(np.int32)
    rgb = np.ascontiguousarray(image[..., :3])
    if rgb.dtype != np.uint8:
        rgb = np.clip(rgb, 0, 255).astype(np.uint8)
    flooded = cv2.watershed(rgb[..., ::-1].copy(), markers)  # BGR; -1 on the lines between floods
    near = cv2.distanceTransform((~painted).astype(np.uint8), cv2.DIST_L2, 3) <= radius
    grow = ~painted & near & (flooded > 0)
    out = target.copy()
    out[grow] = (flooded[grow] - 1).astype(np.uint8)
    return out
