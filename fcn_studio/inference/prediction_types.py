"""What a prediction returns: plain numpy arrays (no torch), so any process can hold one."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Prediction:
    """One image's prediction at its own size.

    ``probs`` ``K x H x W`` (float16 or float32; None when not asked for), ``labels`` HxW
    uint8 class ids, ``confidence`` HxW float32 (the winning class's probability).

    The rule for labels and stored probabilities: ``labels`` and ``confidence`` are the
    argmax and max of the float32 probabilities, computed before ``probs`` is rounded to its
    storage type. It holds on both paths: snapped to image edges
    (:func:`~fcn_studio.inference.refine.edge_refine`) the refined probabilities are float32
    too, and the labels are taken from them after their renormalisation. So ``labels == probs.argmax(0)`` holds exactly for float32 ``probs``; for
    float16 two classes closer than float16's step can round to the same value, and argmax
    then picks the lower id where ``labels`` may hold the other. What always holds is that the
    label's stored probability is the largest stored one (rounding to nearest never reverses an
    order, it can only make a tie): ``np.take_along_axis(probs, labels[None], 0)[0] ==
    probs.max(0)``. Compare labels with float16 probabilities that way, never by argmax.
    """

    labels: np.ndarray
    confidence: np.ndarray
    probs: np.ndarray | None = None

    def entropy(self) -> np.ndarray:
        """HxW per-pixel entropy in nats (needs ``probs``): high where the model hesitates."""
        if self.probs is None:
            raise ValueError("entropy needs the probabilities; predict with want_probs=True")
        return entropy(self.probs)


def entropy(probs: np.ndarray, *, normalized: bool = False) -> np.ndarray:
    """HxW per-pixel entropy of ``K x H x W`` probabilities, in nats; ``normalized``: divided by
    ``log K``, so 0 is sure and 1 undecided (the window's uncertainty layer and Worst-first score).

    The one entropy of the app (numpy only: the window calls it without torch).
    """
    # one class plane at a time: a few HxW float32 planes, not four KxHxW temporaries (3.6 GB
    # for 19 classes of a 12 MP photo, in the window's process during Predict all)
    ent = np.zeros(probs.shape[1:], np.float32)
    p = np.empty(probs.shape[1:], np.float32)
    log = np.empty(probs.shape[1:], np.float32)
    for plane in probs:
        np.copyto(p, plane)
        np.clip(p, 1e-12, 1, out=log)
        np.log(log, out=log)
        np.multiply(p, log, out=log)
        ent -= log
    return ent / max(float(np.log(probs.shape[0])), 1e-6) if normalized else ent
