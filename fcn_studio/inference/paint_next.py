"""Which image to paint next: the one whose unpainted pixels the model is least sure of.

A person's strokes are worth most where the model hesitates and nothing is painted yet
(active learning by uncertainty sampling). The score of an image is the mean of the
per-pixel normalised entropy of its prediction (0 sure, 1 undecided) over the whole image,
with painted pixels counted as settled (0): an unpainted, confusing image scores highest, and
painting an image lowers its score at once, before any retraining. Numpy only, so the window
(which never imports torch) and the benchmarks share it.
"""

from __future__ import annotations

import numpy as np

from fcn_studio.inference.prediction_types import entropy

#: What the *Paint next* button says its choice is based on (its tooltip and status line).
REASON = ("the image whose unpainted pixels the last model is least sure of: mean uncertainty (normalised "
          "entropy, 0 sure to 1 undecided) with painted pixels counted as settled")


def paint_next_score(uncertainty: np.ndarray, painted: np.ndarray | None = None) -> float:
    """Mean of ``uncertainty`` (HxW, 0..1) with ``painted`` pixels (bool, any size) counted as 0."""
    u = np.asarray(uncertainty, np.float32)
    if painted is None or not painted.any():
        return float(u.mean())
    if painted.shape != u.shape:  # a mask at another size: nearest neighbour onto the uncertainty's grid
        ys = np.arange(u.shape[0]) * painted.shape[0] // u.shape[0]
        xs = np.arange(u.shape[1]) * painted.shape[1] // u.shape[1]
        painted = painted[ys][:, xs]
    return float(np.where(painted, 0.0, u).mean())


def score_from_probs(probs: np.ndarray, painted: np.ndarray | None = None) -> float:
    """:func:`paint_next_score` of a ``K x H x W`` prediction's normalised entropy."""
    return paint_next_score(entropy(probs, normalized=True), painted)


def pick_next(scores: dict[str, float], exclude: set[str] | frozenset[str] = frozenset()) -> str | None:
    """The id with the highest score (ties: the first in order), skipping ``exclude``; None if none."""
    best, best_score = None, -1.0
    for image_id, s in scores.items():
        if image_id not in exclude and s > best_score:
            best, best_score = image_id, s
    return best
