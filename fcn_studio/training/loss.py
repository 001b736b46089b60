"""The training loss: per-pixel softmax cross-entropy over painted pixels, optionally class-weighted."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from fcn_studio.errors import TrainingError
from fcn_studio.training.config import LOSS_KINDS
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


def segmentation_loss(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None, kind: str = "ce") -> torch.Tensor:
    """The training loss of ``TrainConfig.loss``: cross-entropy, alone or with a term for small classes.

    Plain cross-entropy is a sum over pixels, so a class that covers 0.5 % of the image (a
    pole, a sign) is 0.5 % of the signal. ``"ohem"`` keeps only the pixels the network still
    gets wrong; ``"ce+lovasz"`` adds the Lovász-softmax surrogate of the per-class Jaccard
    loss, in which every present class counts the same whatever its size.
    """
    if kind == "ce":
        return masked_cross_entropy(logits, target, weight)
    if kind == "ohem":
        return ohem_cross_entropy(logits, target, weight)
    if kind == "ce+lovasz":
        return masked_cross_entropy(logits, target, weight) + lovasz_softmax(torch.softmax(logits, 1), target)
    raise TrainingError(f"unknown loss {kind!r}; use one of {', '.join(LOSS_KINDS)}")


def ohem_cross_entropy(
    logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None, *, thresh: float = 0.7, min_kept: float = 0.25
) -> torch.Tensor:
    """Cross-entropy over the hard painted pixels only (online hard-example mining).

    A pixel is hard when the network gives its true class a probability below ``thresh``;
    at least the ``min_kept`` share of painted pixels with the largest losses is kept, so a
    batch the network already gets right still trains. Selection uses the unweighted loss,
    the value the (optionally class-weighted) one; exactly 0 when nothing is painted.
    """
    nll = F.cross_entropy(logits, target, ignore_index=IGNORE, reduction="none")
    valid = target != IGNORE
    losses = nll[valid]
    if losses.numel() == 0:
        return logits.sum() * 0.0
    k = max(1, int(min_kept * losses.numel()))
    kth = torch.topk(losses.detach(), k, sorted=False).values.min()
    cut = torch.minimum(kth, torch.tensor(-float(np.log(thresh)), device=losses.device))
    keep = losses.detach() >= cut
    w = weight[target[valid]] if weight is not None else torch.ones_like(losses)
    return (w[keep] * losses[keep]).sum() / w[keep].sum().clamp(min=1e-12)


def lovasz_softmax(probs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Lovász-softmax loss (Berman et al., 2018) over painted pixels: mean over present classes.

    The Lovász extension of each class's Jaccard loss, evaluated on the class's errors
    ``|1[y = c] - p_c|``; at one-hot probabilities it equals ``1 - IoU`` of that class exactly,
    which the tests check. 0 when nothing is painted.
    """
    num_classes = probs.shape[1]
    valid = target != IGNORE
    p = probs.permute(0, 2, 3, 1)[valid]  # (N, C)
    y = target[valid]
    if y.numel() == 0:
        return probs.sum() * 0.0
    terms = []
    for c in range(num_classes):
        fg = (y == c).float()
        if fg.sum() == 0:
            continue
        errors = (fg - p[:, c]).abs()
        errors_sorted, order = torch.sort(errors, descending=True)
        terms.append(torch.dot(errors_sorted, _lovasz_grad(fg[order])))
    return torch.stack(terms).mean()


def _lovasz_grad(fg_sorted: torch.Tensor) -> torch.Tensor:
    """Gradient of the Lovász extension of the Jaccard loss at errors sorted in decreasing order."""
    gts = fg_sorted.sum()
    intersection = gts - fg_sorted.cumsum(0)
    union = gts + (1.0 - fg_sorted).cumsum(0)
    jaccard = 1.0 - intersection / union
    jaccard[1:] = jaccard[1:] - jaccard[:-1].clone()
    return jaccard
