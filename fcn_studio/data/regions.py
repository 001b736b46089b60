"""Colour regions of an image: what the region brush fills and what stroke growing grows into.

An image is cut into Felzenszwalb-Huttenlocher regions (scikit-image's graph-based
segmentation: regions uniform inside that differ from their neighbours). Two users share one
cut so they agree on what "a region" is: the trainer grows scribbles into the regions they
touch (``training.stroke_growing``), and the window's *region brush* fills the regions a
stroke touches (``fill_touched``), so one stroke along a road labels the road's patch.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

#: Region segmentation runs on a copy of at most this many pixels on its longer side, so a
#: 4000x3000 photo costs about what a 1000x750 one does; ``scale`` is in those pixels.
REGION_MAX_SIDE = 1000
#: Felzenszwalb's smallest region, in pixels of that copy.
REGION_MIN_SIZE = 20
#: The region brush's default scale: the one stroke growing uses on scribbles
#: (``training.config.AUTO_GROW_REGIONS``), measured on CamVid strokes.
BRUSH_REGION_SCALE = 100.0


def rgb8(image: np.ndarray) -> np.ndarray:
    """The image's first three channels as contiguous uint8, what OpenCV and scikit-image take."""
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    rgb = np.ascontiguousarray(image[..., :3])
    return rgb if rgb.dtype == np.uint8 else np.clip(rgb, 0, 255).astype(np.uint8)


@functools.cache
def region_segmentation_available() -> bool:
    """Whether scikit-image (the region segmentation) imports."""
    try:
        import skimage.segmentation  # noqa: F401
    except ImportError:
        return False
    return True


def image_regions(image: np.ndarray, scale: float = BRUSH_REGION_SCALE) -> np.ndarray:
    """HxW int32 region ids of ``image`` (Felzenszwalb-Huttenlocher, on a copy of at most
    :data:`REGION_MAX_SIDE` pixels, ids scaled back to full size by nearest neighbour)."""
    from skimage.segmentation import felzenszwalb  # imported here: only painting and training need it

    rgb = rgb8(image)
    h, w = rgb.shape[:2]
    f = min(1.0, REGION_MAX_SIDE / max(h, w))
    small = rgb if f == 1.0 else cv2.resize(rgb, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
    regions = felzenszwalb(small, scale=float(scale), sigma=0.8, min_size=REGION_MIN_SIZE).astype(np.int32)
    if f != 1.0:
        regions = cv2.resize(regions, (w, h), interpolation=cv2.INTER_NEAREST)
    return regions


def fill_touched(regions: np.ndarray, stroke: np.ndarray, box: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """Boolean HxW: every pixel of each region that ``stroke`` touches. ``stroke`` is boolean,
    the size of ``regions``, or of ``box`` (y0, x0, y1, x1) when given (a brush stroke's box)."""
    window = regions if box is None else regions[box[0] : box[2], box[1] : box[3]]
    touched = np.zeros(int(regions.max()) + 1, bool)
    touched[window[stroke]] = True
    return touched[regions]
