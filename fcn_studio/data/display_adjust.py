"""Brightness, contrast and gamma for looking at an image: a 256-entry table, never the data.

Dark street frames are hard to paint on. The adjustment changes only what the canvas shows
(the image item draws a table-mapped copy); masks, training and exports see the file's
pixels. One lookup table per setting makes it cheap: ``cv2.LUT`` maps a 4000x3000 image in
a few tens of milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class DisplayAdjust:
    """``brightness`` in -1..1 (added, in units of full scale), ``contrast`` > 0 (a gain about
    mid-grey), ``gamma`` > 0 (applied last: below 1 lifts the shadows)."""

    brightness: float = 0.0
    contrast: float = 1.0
    gamma: float = 1.0

    @property
    def is_identity(self) -> bool:
        return self.brightness == 0.0 and self.contrast == 1.0 and self.gamma == 1.0

    def table(self) -> np.ndarray:
        """The 256-entry uint8 lookup table of this setting."""
        x = np.arange(256, dtype=np.float64) / 255.0
        y = (x - 0.5) * max(self.contrast, 1e-3) + 0.5 + self.brightness
        y = np.clip(y, 0.0, 1.0) ** (1.0 / max(self.gamma, 1e-3))
        return np.clip(np.round(y * 255.0), 0, 255).astype(np.uint8)

    def apply(self, image: np.ndarray) -> np.ndarray:
        """``image`` (uint8, any channels) as this setting shows it; the array itself when identity."""
        if self.is_identity:
            return image
        return np.ascontiguousarray(cv2.LUT(image, self.table()))
