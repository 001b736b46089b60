"""The training loss: per-pixel softmax cross-entropy over painted pixels, optionally class-weighted."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from fcn_studio.errors import TrainingError
from fcn_studio.training.dataset import IGNORE, SegmentationDataset, balanced_weights, pixel_counts


def masked_cross_entropy(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
    """Mean cross-entropy over painted pixels; exactly 0 (with zero gradients) when none are painted.

    Pixels whose target is IGNORE contribute neither to the sum nor to the count, so sparse
    scribbles train exactly on what was painted. ``F.cross_entropy``'s own mean divides by
    zero, giving NaN, on a crop without painted pixels, which sparse scribbles make possible.
    """
    total = F.cross_entropy(logits, target, weight=weight, ignore_index=IGNORE, reduction="sum")
    valid = target != IGNORE
    denom = weight[target[valid]].sum() if weight is not None else valid.sum()
    return total / denom.clamp(min=1)


def class_weight_tensor(
    setting: str | list[float] | None, dataset: SegmentationDataset, num_classes: int, device: torch.device
) -> torch.Tensor | None:
    """The loss's class weights for a ``TrainConfig.class_weights`` setting (None: unweighted)."""
    if setting is None:
        return None
    if setting == "balanced":
        w = balanced_weights(pixel_counts(dataset, num_classes))
    else:
        w = np.asarray(setting, dtype=np.float32)
        if w.shape != (num_classes,) or not np.all(w >= 0):
            raise TrainingError(
                f"class weights need {num_classes} non-negative numbers (one per trainable class), got {list(setting)}"
            )
    return torch.as_tensor(w, dtype=torch.float32, device=device)
