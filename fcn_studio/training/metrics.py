"""Segmentation metrics from one confusion matrix: per-class IoU, mIoU, pixel accuracy.

Pixels whose target is :data:`~fcn_studio.training.dataset.IGNORE` (unpainted, or the label
set's ignore id) are not counted. mIoU averages over classes that occur in the targets or the
predictions (a class absent from both has no IoU, reported as NaN), which is the usual
definition (torchvision's references, the CamVid/SegNet papers).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

IGNORE = 255


class ConfusionMatrix:
    """Accumulates ``target x prediction`` counts on the device of the first update."""

    def __init__(self, num_classes: int) -> None:
        self.num_classes = int(num_classes)
        self.mat: torch.Tensor | None = None

    def update(self, target: torch.Tensor, pred: torch.Tensor) -> None:
        """Add a batch: ``target`` and ``pred`` of equal shape, integer class ids."""
        k = self.num_classes
        t = target.reshape(-1).long()
        p = pred.reshape(-1).long()
        keep = t != IGNORE
        idx = t[keep] * k + p[keep]
        counts = torch.bincount(idx, minlength=k * k).reshape(k, k)
        self.mat = counts if self.mat is None else self.mat + counts.to(self.mat.device)

    def reduce_(self, all_reduce) -> None:  # noqa: ANN001 - torch.distributed.all_reduce or similar
        """Sum over processes (DDP); ``all_reduce`` is called in place on the matrix."""
        if self.mat is None:
            self.mat = torch.zeros(self.num_classes, self.num_classes, dtype=torch.int64)
        all_reduce(self.mat)

    def numpy(self) -> np.ndarray:
        if self.mat is None:
            return np.zeros((self.num_classes, self.num_classes), dtype=np.int64)
        return self.mat.detach().cpu().numpy().astype(np.int64)

    def compute(self) -> "Scores":
        return scores_from_confusion(self.numpy())


@dataclass(frozen=True)
class Scores:
    """What a confusion matrix says; plain numbers and a numpy array."""

    per_class_iou: np.ndarray
    miou: float
    pixel_acc: float
    pixels: int

    def to_json(self, class_names: list[str] | None = None) -> dict:
        ious = [None if np.isnan(v) else round(float(v), 6) for v in self.per_class_iou]
        per_class: dict | list = dict(zip(class_names, ious)) if class_names else ious
        return {"miou": round(self.miou, 6), "pixel_acc": round(self.pixel_acc, 6), "per_class_iou": per_class, "pixels": self.pixels}


def scores_from_confusion(mat: np.ndarray) -> Scores:
    """Per-class IoU = TP / (TP + FP + FN); mIoU over classes seen in target or prediction."""
    mat = np.asarray(mat, dtype=np.float64)
    tp = np.diag(mat)
    union = mat.sum(0) + mat.sum(1) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, tp / union, np.nan)
    total = mat.sum()
    miou = float(np.nanmean(iou)) if np.isfinite(iou).any() else 0.0
    acc = float(tp.sum() / total) if total > 0 else 0.0
    return Scores(per_class_iou=iou.astype(np.float64), miou=miou, pixel_acc=acc, pixels=int(total))


def score_arrays(target: np.ndarray, pred: np.ndarray, num_classes: int) -> Scores:
    """Scores of numpy label maps (targets with IGNORE where not scored)."""
    cm = ConfusionMatrix(num_classes)
    cm.update(torch.from_numpy(np.asarray(target)), torch.from_numpy(np.asarray(pred)))
    return cm.compute()
