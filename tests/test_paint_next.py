"""Paint next's score and choice (issue 26): unsure, unpainted images first."""

from __future__ import annotations

import numpy as np

from fcn_studio.inference.paint_next import paint_next_score, pick_next, score_from_probs


def test_painted_pixels_count_as_settled_at_any_mask_size():
    u = np.full((4, 6), 0.8, np.float32)
    assert paint_next_score(u) == np.float32(0.8)
    painted = np.zeros((8, 12), bool)
    painted[:, :6] = True  # half the image, at twice the uncertainty's size
    assert abs(paint_next_score(u, painted) - 0.4) < 1e-6


def test_an_undecided_prediction_outscores_a_sure_one_and_the_pick_skips_opened_images():
    k, h, w = 3, 5, 5
    sure = np.zeros((k, h, w), np.float32)
    sure[0] = 1.0
    undecided = np.full((k, h, w), 1 / k, np.float32)
    scores = {"sure.png": score_from_probs(sure), "undecided.png": score_from_probs(undecided)}
    assert scores["sure.png"] < 1e-3 and abs(scores["undecided.png"] - 1.0) < 1e-3
    assert pick_next(scores) == "undecided.png"
    assert pick_next(scores, {"undecided.png"}) == "sure.png"
    assert pick_next(scores, {"undecided.png", "sure.png"}) is None
