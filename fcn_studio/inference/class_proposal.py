"""Which class a cut-out object is, by the project's own model: numpy only (the window calls it).

The click-to-segment tool cuts an object; this names it with the class the model predicts
most inside the mask, so a click gives a labelled object and the person only corrects what is
wrong. Works from a label map (argmax) or from class probabilities (summed, so a hesitant
model's second choice still counts).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ClassProposal:
    """The proposed class and its share of the mask; the runner-up (-1 when none) and its share."""

    class_id: int
    share: float
    runner_up: int = -1
    runner_up_share: float = 0.0


def propose_class(mask: np.ndarray, labels: np.ndarray | None = None, probs: np.ndarray | None = None,
                  *, allowed: set[int] | None = None) -> ClassProposal | None:
    """The class most predicted inside ``mask`` (bool HxW), from ``labels`` (HxW ids) or ``probs``
    (KxHxW); ``allowed``: only these ids may be proposed (the label set's trainable classes).
    None when the mask is empty or no model output is given.

    ``labels`` or ``probs`` of another size than the mask are sampled at the mask's pixels
    (nearest), so a prediction at a working scale serves a full-size photo.
    """
    if not mask.any() or (labels is None and probs is None):
        return None
    ys, xs = np.nonzero(mask)
    if len(ys) > 200_000:  # a share needs no more: an evenly spread subset of the pixels
        step = len(ys) // 200_000 + 1
        ys, xs = ys[::step], xs[::step]
    H, W = mask.shape
    if probs is not None:
        K, h, w = probs.shape
        py, px = (ys * h) // H, (xs * w) // W
        totals = probs[:, py, px].astype(np.float64).sum(1)
    else:
        assert labels is not None
        h, w = labels.shape
        py, px = (ys * h) // H, (xs * w) // W
        totals = np.bincount(labels[py, px].astype(np.int64).ravel(), minlength=1).astype(np.float64)
    if allowed is not None:
        keep = np.zeros(len(totals), bool)
        keep[[c for c in allowed if 0 <= c < len(totals)]] = True
        totals = np.where(keep, totals, 0.0)
    total = totals.sum()
    if total <= 0:
        return None
    order = np.argsort(-totals, kind="stable")
    first = int(order[0])
    second = int(order[1]) if len(order) > 1 and totals[order[1]] > 0 else -1
    return ClassProposal(first, float(totals[first] / total), second, float(totals[second] / total) if second >= 0 else 0.0)
