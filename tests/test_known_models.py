"""The hand-set model of tests/known_models.py does what its docstring says, at the threshold too.

Issue 34 item 13: it said road where red > 90 but labelled road only where red >= 102 (class 0's
constant score had to be beaten by a margin above the threshold); tests passed because their
scenes skipped reds 61-119."""

from __future__ import annotations

import numpy as np
import pytest

from fcn_studio.data.labelset import load_preset
from fcn_studio.inference.predictor import Predictor
from known_models import RED_THRESHOLD, expected_labels, red_threshold_model

pytestmark = pytest.mark.usefixtures("torch_one_thread")  # see conftest.py

REDS = [0, 89, 90, 91, 95, 100, 101, 102, 119, 255]


@pytest.mark.parametrize("refine_edges", [False, True])
def test_road_exactly_where_red_is_above_the_threshold(refine_edges):
    assert RED_THRESHOLD == 90
    band = 48
    rgb = np.zeros((96, band * len(REDS) + band, 3), np.uint8)
    for i, red in enumerate(REDS):
        rgb[:, i * band : (i + 1) * band, 0] = red
    predictor = Predictor(red_threshold_model(2), load_preset("road"), device="cpu")
    pred = predictor.predict(rgb, refine_edges=refine_edges)
    want, sure = expected_labels(rgb)
    np.testing.assert_array_equal(pred.labels[sure], want[sure])
    middle = rgb.shape[0] // 3
    got = {red: int(pred.labels[middle, i * band + band // 2]) for i, red in enumerate(REDS)}
    assert got == {red: int(red > 90) for red in REDS}  # 91 and 100 are road, 90 is not


def test_the_rule_holds_for_every_class_count_of_the_real_label_sets():
    rgb = np.zeros((64, 96, 3), np.uint8)
    rgb[:, :48, 0] = 91
    for k in (2, 11, 19):
        pred = Predictor(red_threshold_model(k), load_preset({2: "road", 11: "camvid11", 19: "cityscapes19"}[k]),
                         device="cpu").predict(rgb)
        assert pred.probs.shape[0] == k
        want, sure = expected_labels(rgb)
        np.testing.assert_array_equal(pred.labels[sure], want[sure])
