"""How the window blends class colours over an image, as numpy: one definition for screen and files.

The canvas draws a mask or a prediction as an indexed raster (colour table: each class colour
opaque, the ignore class at :data:`IGNORE_ALPHA`, everything else clear) and lets the layer's
opacity do the blending, which is Qt's source-over compositing:

    out = image + (colour - image) * (alpha / 255) * opacity

:func:`class_rgba` is that colour table (the GUI builds its Qt table from it) and :func:`blend`
computes the same pixels without Qt, so ``fcn-studio predict --format overlay`` writes what the
window shows at :data:`PREDICTION_OPACITY`. No Qt, no torch.
"""

from __future__ import annotations

import numpy as np

from fcn_studio.data.labelset import LabelSet

#: Opacity of the prediction layer when the window opens.
PREDICTION_OPACITY = 0.45
#: Opacity of the painted mask layer when the window opens.
MASK_OPACITY = 0.5
#: Alpha (of 255) the ignore class is drawn with: painted on purpose, but not a class.
IGNORE_ALPHA = 140


def class_rgba(labelset: LabelSet) -> np.ndarray:
    """256 x 4 uint8 RGBA per mask value: class colours (ignore class at :data:`IGNORE_ALPHA`), the rest clear."""
    table = np.zeros((256, 4), np.uint8)
    for c in labelset.classes:
        table[c.id, :3] = c.color
        table[c.id, 3] = IGNORE_ALPHA if c.id == labelset.ignore_index else 255
    return table


def blend(image_rgb: np.ndarray, labels: np.ndarray, labelset: LabelSet, opacity: float = PREDICTION_OPACITY) -> np.ndarray:
    """HxWx3 uint8: ``labels`` (HxW class ids, 255 unpainted) over ``image_rgb`` as the canvas draws it."""
    image_rgb = np.asarray(image_rgb)
    labels = np.asarray(labels)
    if image_rgb.dtype != np.uint8 or image_rgb.ndim != 3 or image_rgb.shape[2] != 3:
        raise ValueError(f"blend needs an HxWx3 uint8 image, got {image_rgb.shape} {image_rgb.dtype}")
    if labels.dtype != np.uint8 or image_rgb.shape[:2] != labels.shape:
        raise ValueError(f"labels must be HxW uint8 of the image's size, got {labels.shape} {labels.dtype}")
    if not 0.0 <= opacity <= 1.0:
        raise ValueError(f"opacity must be within 0..1, got {opacity}")
    rgba = class_rgba(labelset)[labels]
    weight = rgba[..., 3:].astype(np.float32) * (float(opacity) / 255.0)
    image = image_rgb.astype(np.float32)
    return np.rint(image + (rgba[..., :3].astype(np.float32) - image) * weight).astype(np.uint8)
