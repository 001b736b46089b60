"""Training augmentation on uint8 numpy arrays: random scale, crop, flip, light colour jitter.

Everything stays uint8 until the batch reaches the device (normalisation happens there), so
worker processes ship 4x fewer bytes and a GPU does the float math. Randomness comes from a
``numpy.random.Generator`` the caller derives from (seed, epoch, index), so a sample's
augmentation does not depend on which worker process draws it: seeded runs repeat.

Crops are *label-aware*: each crop is placed to contain a randomly chosen painted pixel. With
dense masks this is nearly a uniform random crop; with sparse scribbles (2 % of the pixels)
it keeps crops from landing on nothing but unpainted pixels, which would be wasted steps.
"""

from __future__ import annotations

import cv2
import numpy as np

from fcn_studio.data.labelset import UNPAINTED
from fcn_studio.data.working_size import resize_pair

#: Fill for padded image pixels: the ImageNet mean colour, which normalises to zero.
PAD_RGB = (124, 116, 104)


def random_crop(
    image: np.ndarray, mask: np.ndarray, crop_hw: tuple[int, int], rng: np.random.Generator, *, label_aware: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """A ``crop_hw`` window containing a random painted pixel (uniform without ``label_aware``);
    pads (image mean, mask 255) if small."""
    ch, cw = crop_hw
    h, w = mask.shape
    if h < ch or w < cw:
        ph, pw = max(0, ch - h), max(0, cw - w)
        image = cv2.copyMakeBorder(image, 0, ph, 0, pw, cv2.BORDER_CONSTANT, value=PAD_RGB)
        mask = cv2.copyMakeBorder(mask, 0, ph, 0, pw, cv2.BORDER_CONSTANT, value=UNPAINTED)
        h, w = mask.shape
    painted = np.flatnonzero(mask.reshape(-1) != UNPAINTED) if label_aware else np.empty(0, np.int64)
    if painted.size:
        py, px = divmod(int(painted[rng.integers(painted.size)]), w)
        y0 = int(rng.integers(max(0, py - ch + 1), min(py, h - ch) + 1))
        x0 = int(rng.integers(max(0, px - cw + 1), min(px, w - cw) + 1))
    else:
        y0, x0 = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    return image[y0 : y0 + ch, x0 : x0 + cw], mask[y0 : y0 + ch, x0 : x0 + cw]


def color_jitter(image: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """Random brightness, contrast and saturation, each a factor in ``1 +- strength``."""
    if strength <= 0:
        return image
    b, c, s = rng.uniform(1 - strength, 1 + strength, size=3)
    x = image.astype(np.float32)
    gray = x @ np.array([0.299, 0.587, 0.114], np.float32)
    x = gray[..., None] + (x - gray[..., None]) * s  # saturation
    mean = float(gray.mean())
    x = ((x - mean) * c + mean) * b  # contrast around the mean, then brightness
    return np.clip(x, 0, 255).astype(np.uint8)


def augment(
    image: np.ndarray,
    mask: np.ndarray,
    *,
    rng: np.random.Generator,
    base_scale: float,
    scale_range: tuple[float, float],
    crop_hw: tuple[int, int],
    hflip: bool,
    jitter: float,
    label_aware: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """One training view of (image, mask): uint8 ``crop_hw`` x 3 image and ``crop_hw`` mask.

    The random scale is log-uniform in ``scale_range`` (so 0.5x and 2x are equally likely)
    and multiplies ``base_scale``, the working resolution.
    """
    lo, hi = scale_range
    factor = float(np.exp(rng.uniform(np.log(lo), np.log(hi)))) if hi > lo else lo
    image, mask2 = resize_pair(image, mask, base_scale * factor)
    assert mask2 is not None
    image, mask2 = random_crop(image, mask2, crop_hw, rng, label_aware=label_aware)
    if hflip and rng.random() < 0.5:
        image, mask2 = image[:, ::-1], mask2[:, ::-1]
    image = color_jitter(np.ascontiguousarray(image), jitter, rng)
    return np.ascontiguousarray(image), np.ascontiguousarray(mask2)
