"""What a prediction returns: plain numpy arrays (no torch), so any process can hold one."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Prediction:
    """One image's prediction at its own size.

    ``probs`` ``K x H x W`` (float16 or float32; None when not asked for), ``labels`` HxW
    uint8 class ids, ``confidence`` HxW float32 (the winning class's probability).
    """

    labels: np.ndarray
    confidence: np.ndarray
    probs: np.ndarray | None = None

    def entropy(self) -> np.ndarray:
        """HxW per-pixel entropy in nats (needs ``probs``): high where the model hesitates."""
        if self.probs is None:
            raise ValueError("entropy needs the probabilities; predict with want_probs=True")
        p = self.probs.astype(np.float32)
        return -(p * np.log(np.clip(p, 1e-12, 1))).sum(0)
