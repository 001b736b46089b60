"""Tiny synthetic segmentation data (shapes on texture) for tests, self-checks and demos.

Three classes a small network learns in seconds: ``background`` (green texture), ``box``
(reddish rectangles) and ``disc`` (bluish discs), each with noise and a brightness change so
colour alone is close to, but not quite, enough. Exact truth comes with every image.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

CLASSES = {
    "name": "toy-shapes",
    "ignore_index": None,
    "classes": [
        {"id": 0, "name": "background", "color": [40, 160, 60]},
        {"id": 1, "name": "box", "color": [220, 60, 50]},
        {"id": 2, "name": "disc", "color": [50, 80, 220]},
    ],
}


def make_scene(rng: np.random.Generator, hw: tuple[int, int] = (64, 96)) -> tuple[np.ndarray, np.ndarray]:
    """One ``(rgb HxWx3 uint8, labels HxW uint8)`` scene with one box and one disc, large."""
    h, w = hw
    labels = np.zeros((h, w), np.uint8)
    bh, bw = int(rng.integers(h // 3, h // 2 + 1)), int(rng.integers(w // 4, w // 3 + 1))
    by, bx = int(rng.integers(0, h - bh)), int(rng.integers(0, w // 2 - bw // 2))
    labels[by : by + bh, bx : bx + bw] = 1
    r = int(rng.integers(min(h, w) // 6, min(h, w) // 4 + 1))
    cy, cx = int(rng.integers(r, h - r)), int(rng.integers(w // 2 + r // 2, w - r))
    yy, xx = np.mgrid[:h, :w]
    labels[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = 2
    base = np.array([c["color"] for c in CLASSES["classes"]], np.float32)
    rgb = base[labels] + rng.normal(0, 18, (h, w, 3)).astype(np.float32)
    rgb *= rng.uniform(0.8, 1.15)
    return np.clip(rgb, 0, 255).astype(np.uint8), labels


def make_scenes(n: int, hw: tuple[int, int] = (64, 96), seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [make_scene(rng, hw) for _ in range(n)]


def write_folder(root: str | Path, n: int = 4, hw: tuple[int, int] = (64, 96), seed: int = 0) -> tuple[Path, Path, Path]:
    """``root/images/*.png``, ``root/masks/*.png`` (8-bit ids) and ``root/classes.json``."""
    root = Path(root)
    images, masks = root / "images", root / "masks"
    images.mkdir(parents=True, exist_ok=True)
    masks.mkdir(parents=True, exist_ok=True)
    for i, (rgb, lab) in enumerate(make_scenes(n, hw, seed)):
        Image.fromarray(rgb).save(images / f"toy_{i:03d}.png")
        Image.fromarray(lab).save(masks / f"toy_{i:03d}.png")
    classes = root / "classes.json"
    classes.write_text(json.dumps(CLASSES))
    return images, masks, classes
