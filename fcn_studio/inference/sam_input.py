"""SAM's working copy of an image, without torch: the window shrinks a photo before sending it.

MobileSAM sees every image with its longest side at :data:`SIDE` pixels. Shrinking a 6000x4000
photo to that in the window's background thread (OpenCV lets go of the GIL while it works)
sends 2 MB to the prediction process instead of 72 MB, whose pickling held the GIL, and so
the window's event loop, for over 100 ms. The masks still come back at the photo's full size:
the embedding keeps the original size (:class:`fcn_studio.inference.click_segment.Embedding`).
"""

from __future__ import annotations

import cv2
import numpy as np

#: SAM's working size: the longest image side is resized to this.
SIDE = 1024


def working_size(height: int, width: int) -> tuple[int, int]:
    """(h, w) of an image of ``height`` x ``width`` with its longest side at :data:`SIDE`."""
    scale = SIDE / max(height, width)
    return max(1, int(height * scale + 0.5)), max(1, int(width * scale + 0.5))


def working_copy(image: np.ndarray) -> np.ndarray:
    """``image`` (HxWx3 uint8) resized so its longest side is :data:`SIDE` (area averaging when
    shrinking, so a 6000 px photo is not aliased); returned as is when already that size."""
    h, w = working_size(*image.shape[:2])
    if (h, w) == tuple(image.shape[:2]):
        return image
    shrinking = h < image.shape[0]
    return cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
