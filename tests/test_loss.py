"""The training losses on small tensors with answers worked out by hand."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from fcn_studio.errors import TrainingError
from fcn_studio.training.config import TrainConfig
from fcn_studio.training.dataset import IGNORE
from fcn_studio.training.loss import lovasz_softmax, masked_cross_entropy, ohem_cross_entropy, segmentation_loss


def _one_hot_probs(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    return F.one_hot(labels, num_classes).permute(0, 3, 1, 2).float()


def test_lovasz_at_one_hot_probabilities_is_one_minus_iou_per_present_class() -> None:
    target = torch.tensor([[[0, 0, 1, 1], [0, 2, 2, IGNORE]]])
    predicted = torch.tensor([[[0, 1, 1, 1], [0, 2, 0, 1]]])
    # class 0: true {0,1,4}, predicted {0,4,6} -> IoU 2/4; class 1: true {2,3}, predicted
    # {1,2,3} -> 2/3; class 2: true {5,6}, predicted {5} -> 1/2 (pixel 7 is ignored).
    expected = ((1 - 2 / 4) + (1 - 2 / 3) + (1 - 1 / 2)) / 3
    got = lovasz_softmax(_one_hot_probs(predicted, 3), target)
    assert got.item() == pytest.approx(expected, abs=1e-6)


def test_lovasz_is_zero_for_a_perfect_prediction_and_ignores_absent_classes() -> None:
    target = torch.tensor([[[0, 1], [1, 0]]])
    assert lovasz_softmax(_one_hot_probs(target, 5), target).item() == pytest.approx(0.0, abs=1e-7)


def test_lovasz_counts_a_small_class_as_much_as_a_big_one() -> None:
    # 99 pixels of class 0, 1 of class 1, and the network misses the small one: cross-entropy
    # barely moves, Lovász loses half (class 1's IoU is 0, class 0's 99/100).
    target = torch.zeros(1, 10, 10, dtype=torch.long)
    target[0, 0, 0] = 1
    probs = _one_hot_probs(torch.zeros_like(target), 2)
    assert lovasz_softmax(probs, target).item() == pytest.approx((1 + (1 - 99 / 100)) / 2, abs=1e-6)


def test_lovasz_gradient_flows_and_nothing_painted_gives_zero() -> None:
    logits = torch.randn(1, 3, 4, 4, requires_grad=True)
    target = torch.randint(0, 3, (1, 4, 4))
    lovasz_softmax(torch.softmax(logits, 1), target).backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0
    empty = torch.full((1, 4, 4), IGNORE, dtype=torch.long)
    assert lovasz_softmax(torch.softmax(logits, 1), empty).item() == 0.0


def test_ohem_averages_only_the_hard_pixels() -> None:
    # Four pixels, two classes. Pixels 0-2 are easy (p_true = 0.95), pixel 3 hard (p_true = 0.2).
    easy, hard = math.log(0.95 / 0.05), math.log(0.2 / 0.8)
    logits = torch.tensor([[[[easy, easy, easy, hard]], [[0.0, 0.0, 0.0, 0.0]]]])
    target = torch.zeros(1, 1, 4, dtype=torch.long)
    got = ohem_cross_entropy(logits, target, None, thresh=0.7, min_kept=0.25)
    assert got.item() == pytest.approx(-math.log(0.2), rel=1e-5)
    # Plain cross-entropy is the mean of all four.
    plain = masked_cross_entropy(logits, target, None)
    assert plain.item() == pytest.approx((3 * -math.log(0.95) - math.log(0.2)) / 4, rel=1e-5)


def test_ohem_keeps_the_worst_share_when_everything_is_easy() -> None:
    p = torch.tensor([0.99, 0.98, 0.97, 0.96])
    logits = torch.stack([torch.log(p / (1 - p)), torch.zeros(4)]).view(1, 2, 1, 4)
    target = torch.zeros(1, 1, 4, dtype=torch.long)
    got = ohem_cross_entropy(logits, target, None, thresh=0.7, min_kept=0.5)
    assert got.item() == pytest.approx((-math.log(0.97) - math.log(0.96)) / 2, rel=1e-5)


def test_ohem_applies_class_weights_and_ignores_unpainted_pixels() -> None:
    logits = torch.zeros(1, 2, 1, 3)  # p = 0.5 everywhere: every pixel is hard
    target = torch.tensor([[[0, 1, IGNORE]]])
    weight = torch.tensor([1.0, 3.0])
    got = ohem_cross_entropy(logits, target, weight)
    assert got.item() == pytest.approx(math.log(2), rel=1e-6)  # equal losses: any weighting averages to log 2
    assert ohem_cross_entropy(logits, torch.full_like(target, IGNORE), weight).item() == 0.0


def test_segmentation_loss_dispatches_and_config_refuses_unknown_kinds() -> None:
    logits = torch.randn(2, 3, 5, 5)
    target = torch.randint(0, 3, (2, 5, 5))
    ce = masked_cross_entropy(logits, target, None)
    assert segmentation_loss(logits, target, None, "ce").item() == pytest.approx(ce.item())
    both = segmentation_loss(logits, target, None, "ce+lovasz").item()
    assert both == pytest.approx(ce.item() + lovasz_softmax(torch.softmax(logits, 1), target).item(), rel=1e-6)
    with pytest.raises(TrainingError):
        segmentation_loss(logits, target, None, "dice")
    with pytest.raises(TrainingError, match="loss"):
        TrainConfig(loss="dice").validate()


def test_auto_loss_settings_follow_the_mask_kind() -> None:
    auto = TrainConfig()
    assert auto.loss_class_weights(dense=True) == "balanced"
    assert auto.loss_class_weights(dense=False) is None
    assert auto.loss_kind(dense=False) == "ce"
    assert auto.loss_kind(dense=True) == "ohem"
    assert TrainConfig(class_weights="none").loss_class_weights(dense=True) is None
    assert TrainConfig(class_weights=[1.0, 2.0]).loss_class_weights(dense=False) == [1.0, 2.0]
    assert TrainConfig(loss="ohem").loss_kind(dense=True) == "ohem"
    with pytest.raises(TrainingError, match="class weights"):
        TrainConfig(class_weights="inverse").validate()
