"""Learning from the images nobody painted: a mean teacher with confident, class-balanced pseudo-labels.

A project holds far more images than anyone paints, and even a painted image is mostly
unpainted when the user scribbles. Trained on the strokes alone, the network learns them by
heart (train loss near zero after a few hundred epochs over ten images) and generalises
poorly. This module adds the classic consistency recipe of semi-supervised segmentation
(Mean Teacher, Tarvainen & Valpola 2017; FixMatch-style confidence selection, Sohn et al.
2020; CutMix perturbations, French et al. 2020):

* a **teacher**, the exponential moving average of the student's weights (:class:`EmaTeacher`),
  predicts on a *weak* view of an unlabelled crop (scale, crop, flip);
* its **confident** pixels become targets (:class:`PseudoLabeller`), with a threshold per
  class: classes the teacher is less sure of overall (thin, rare ones) get a lower one, so
  sky and road do not take every pseudo-label, and the kept pixels are weighted by inverse
  square-root class frequency, as ``class_weights="balanced"`` weights painted pixels;
* the student sees a **strong** view of the same crop (colour jitter, greyscale, blur and
  CutMix between the batch's images, :func:`strong_view`) and learns to agree;
* the weight of that term ramps up over the first part of the run (:func:`ramp`), while
  the teacher is still poor.

Painted pixels inside an unlabelled crop keep their painted class (a pseudo-label never
overrides the user). Pseudo-labels live only in the training batch: nothing here writes a
mask.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from fcn_studio.training.dataset import IGNORE
from fcn_studio.training.samples import PaintSummary

#: Painted share (painted pixels over all pixels of the source's images) below which
#: ``unlabelled="auto"`` turns semi-supervised training on: scribbles, or a few painted
#: images among many unpainted ones.
AUTO_MAX_PAINTED_SHARE = 0.5


#: ``unlabelled="auto"`` leaves runs shorter than this (in minutes) to the strokes alone. The
#: teacher needs time to become better than the student it averages: in the 60 s demo
#: (bench/demo_first_model.py) learning from the unpainted images ended at road IoU 0.76
#: where the strokes alone reach 0.9; at 10 minutes it is level or ahead (bench/scribbles.py).
AUTO_MIN_MINUTES = 3.0


def wanted(setting: str, summary: PaintSummary | None, minutes: float | None = None) -> bool:
    """Whether a run with ``TrainConfig.unlabelled == setting`` learns from unpainted pixels.

    ``summary`` is None for a source that cannot list its unpainted images. ``"auto"`` needs
    scribbled masks (what it was measured on: a few densely painted images among many
    unpainted ones were not), at least one image nobody painted and a small painted share
    overall, so a project whose every image is painted trains exactly as it would without
    this module, and a time budget of at least ``AUTO_MIN_MINUTES`` (or none: open-ended).
    """
    if setting == "off" or summary is None:
        return False
    if setting == "on":
        return True
    long_enough = minutes is None or minutes >= AUTO_MIN_MINUTES
    return long_enough and not summary.dense and summary.unpainted_images > 0 and summary.share < AUTO_MAX_PAINTED_SHARE


def ramp(progress: float, end: float) -> float:
    """Sigmoid-shaped ramp from 0 to 1 reached at ``progress == end`` (Laine & Aila's exp(-5(1-t)^2))."""
    if end <= 0:
        return 1.0
    t = min(1.0, max(0.0, progress / end))
    return float(math.exp(-5.0 * (1.0 - t) ** 2))


class EmaTeacher:
    """A frozen copy of the student whose weights follow the student's as a moving average.

    The average starts fast (decay ``(1 + n) / (10 + n)`` after ``n`` updates, capped at
    ``decay``) so an early teacher is not stuck near the random initialisation. Buffers
    (BatchNorm statistics) are copied, not averaged: they already are running averages.
    """

    def __init__(self, student: nn.Module, decay: float = 0.99) -> None:
        self.model = copy.deepcopy(student)
        self.model.eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.decay = float(decay)
        self.updates = 0

    @torch.no_grad()
    def update(self, student: nn.Module) -> None:
        d = min(self.decay, (1.0 + self.updates) / (10.0 + self.updates))
        for t, s in zip(self.model.parameters(), student.parameters(), strict=True):
            t.mul_(d).add_(s.detach(), alpha=1.0 - d)
        for t, s in zip(self.model.buffers(), student.buffers(), strict=True):
            t.copy_(s)
        self.updates += 1

    @torch.no_grad()
    def probabilities(self, x: torch.Tensor) -> torch.Tensor:
        """Softmax of the teacher's logits (``N x K x H x W`` float32), in eval mode."""
        self.model.eval()
        return torch.softmax(self.model(x).float(), 1)


@dataclass
class Selection:
    """Pseudo-labels of one batch: targets (IGNORE where unused) and per-pixel loss weights."""

    target: torch.Tensor  # N x H x W long
    weight: torch.Tensor  # N x H x W float32, 0 where target is IGNORE
    kept: int  # confident pixels kept
    unlabelled: int  # pixels that had no painted label
    #: The teacher's argmax on every pixel without a painted label (IGNORE elsewhere), for agreement.
    guess: torch.Tensor | None = None


class PseudoLabeller:
    """Chooses which teacher predictions supervise the student, balanced across classes.

    Per class ``c`` the threshold is ``threshold * m_c / max(m)``, where ``m_c`` is a running
    mean of the teacher's confidence on pixels it assigns to ``c``, never below ``floor``:
    a class the teacher is generally less sure of (poles, people) gets a lower bar instead of
    none of its pixels passing a global 0.9. The kept pixels are then weighted per class by
    inverse square-root frequency (mean weight 1), so a batch with 40,000 road pixels and 300
    pole pixels does not become a road lesson.
    """

    def __init__(self, num_classes: int, *, threshold: float = 0.9, floor: float = 0.6, momentum: float = 0.9) -> None:
        self.num_classes = int(num_classes)
        self.threshold = float(threshold)
        self.floor = float(min(floor, threshold))
        self.momentum = float(momentum)
        self.class_confidence = torch.full((self.num_classes,), float("nan"))

    def thresholds(self) -> torch.Tensor:
        m = self.class_confidence
        known = ~torch.isnan(m)
        t = torch.full_like(m, self.threshold)
        if known.any():
            rel = m[known] / m[known].max().clamp(min=1e-6)
            t[known] = (self.threshold * rel).clamp(self.floor, self.threshold)
        return t

    @torch.no_grad()
    def select(self, probs: torch.Tensor, painted: torch.Tensor) -> Selection:
        """Pseudo-labels from teacher ``probs`` (N x K x H x W) where ``painted`` (N x H x W) is IGNORE.

        Painted pixels keep their class with weight 1; padding (all-zero probabilities) is skipped.
        """
        conf, pred = probs.max(1)
        free = (painted == IGNORE) & (conf > 0)
        k = self.num_classes
        flat_pred, flat_conf = pred[free], conf[free]
        if flat_pred.numel():
            sums = torch.zeros(k, device=probs.device).index_add_(0, flat_pred, flat_conf)
            counts = torch.bincount(flat_pred, minlength=k).float()
            seen = (counts > 0).cpu()
            means = (sums / counts.clamp(min=1)).cpu()
            old = self.class_confidence
            fresh = torch.isnan(old) & seen
            old[fresh] = means[fresh]
            upd = seen & ~fresh
            old[upd] = self.momentum * old[upd] + (1 - self.momentum) * means[upd]
        per_class = self.thresholds().to(probs.device)
        keep = free & (conf >= per_class[pred])
        target = torch.where(keep, pred, torch.full_like(pred, IGNORE))
        kept_counts = torch.bincount(pred[keep], minlength=k).double()
        weight = torch.zeros_like(conf)
        n_kept = int(kept_counts.sum())
        if n_kept:
            present = kept_counts > 0
            w = torch.zeros(k, dtype=torch.float64, device=probs.device)
            w[present] = 1.0 / torch.sqrt(kept_counts[present] / n_kept)
            w *= n_kept / (w[pred[keep]].sum())  # mean weight 1 over kept pixels
            weight[keep] = w.float()[pred[keep]]
        labelled = painted != IGNORE
        target = torch.where(labelled, painted, target)
        weight = torch.where(labelled, torch.ones_like(weight), weight)
        guess = torch.where(free, pred, torch.full_like(pred, IGNORE))
        return Selection(target=target, weight=weight, kept=n_kept, unlabelled=int(free.sum()), guess=guess)


def weighted_cross_entropy(logits: torch.Tensor, sel: Selection) -> torch.Tensor:
    """Sum of weighted per-pixel cross-entropy over the selection, divided by all its pixels.

    Dividing by every pixel, not only the kept ones (as FixMatch does), lets the term grow by
    itself as the teacher becomes confident on more of the image.
    """
    ce = F.cross_entropy(logits, sel.target, ignore_index=IGNORE, reduction="none")
    return (ce * sel.weight).sum() / max(1, sel.target.numel())


# -- the strong view ----------------------------------------------------------------------------
def strong_view(
    images: torch.Tensor, sel: Selection, generator: torch.Generator, *, jitter: float = 0.5, cutmix: float = 0.5
) -> tuple[torch.Tensor, Selection]:
    """A strongly perturbed copy of a uint8-valued float batch (N x 3 x H x W, 0..255) and its targets.

    Photometric changes (brightness, contrast, saturation, greyscale, blur) leave the
    targets as they are; CutMix pastes a box of another image of the batch (targets and
    weights travel with it), with probability ``cutmix`` per image.
    """
    x = images.clone()
    n = x.shape[0]

    def u(lo: float, hi: float, size: tuple[int, ...] = (n, 1, 1, 1)) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(size, generator=generator).to(x.device)

    gray = (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3])
    x = gray + (x - gray) * u(1 - jitter, 1 + jitter)  # saturation
    mean = gray.mean(dim=(1, 2, 3), keepdim=True)
    x = ((x - mean) * u(1 - jitter, 1 + jitter) + mean) * u(1 - jitter, 1 + jitter)  # contrast, brightness
    to_gray = (torch.rand((n, 1, 1, 1), generator=generator) < 0.2).to(x.device)
    gray = (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3])
    x = torch.where(to_gray, gray.expand_as(x), x)
    blur = torch.rand(n, generator=generator) < 0.5
    if blur.any():
        from torchvision.transforms.functional import gaussian_blur

        sigma = float(0.1 + 1.9 * torch.rand(1, generator=generator))
        idx = blur.nonzero().flatten().to(x.device)
        x[idx] = gaussian_blur(x[idx], kernel_size=[5, 5], sigma=[sigma, sigma])
    x = x.clamp(0, 255)
    target, weight = sel.target.clone(), sel.weight.clone()
    guess = None if sel.guess is None else sel.guess.clone()
    if n > 1 and cutmix > 0:
        h, w = x.shape[-2:]
        other = torch.roll(torch.arange(n), 1)
        src_x, src_t, src_w = x.clone(), target.clone(), weight.clone()
        src_g = None if guess is None else guess.clone()
        for i in range(n):
            if float(torch.rand(1, generator=generator)) >= cutmix:
                continue
            area = float(0.25 + 0.25 * torch.rand(1, generator=generator))
            ratio = math.exp(float(-0.7 + 1.4 * torch.rand(1, generator=generator)))
            bh = min(h, max(1, int(round(math.sqrt(area * h * w * ratio)))))
            bw = min(w, max(1, int(round(math.sqrt(area * h * w / ratio)))))
            y0 = int(torch.randint(0, h - bh + 1, (1,), generator=generator))
            x0 = int(torch.randint(0, w - bw + 1, (1,), generator=generator))
            j = int(other[i])
            x[i, :, y0 : y0 + bh, x0 : x0 + bw] = src_x[j, :, y0 : y0 + bh, x0 : x0 + bw]
            target[i, y0 : y0 + bh, x0 : x0 + bw] = src_t[j, y0 : y0 + bh, x0 : x0 + bw]
            weight[i, y0 : y0 + bh, x0 : x0 + bw] = src_w[j, y0 : y0 + bh, x0 : x0 + bw]
            if guess is not None and src_g is not None:
                guess[i, y0 : y0 + bh, x0 : x0 + bw] = src_g[j, y0 : y0 + bh, x0 : x0 + bw]
    return x, Selection(target=target, weight=weight, kept=sel.kept, unlabelled=sel.unlabelled, guess=guess)


@dataclass
class Agreement:
    """Running share of unpainted pixels where the student's argmax matches the teacher's.

    The run summary reports it beside how many pixels it was measured on: with no held-out
    images it is what says whether the two still learn something from each other.
    """

    value: float = math.nan
    pixels: int = 0

    def update(self, student_logits: torch.Tensor, guess: torch.Tensor | None) -> None:
        """``guess``: the teacher's argmax where nothing is painted, IGNORE elsewhere (Selection.guess)."""
        if guess is None:
            return
        free = guess != IGNORE
        n = int(free.sum())
        if not n:
            return
        same = (student_logits.argmax(1) == guess) & free
        v = float(same.sum()) / n
        self.value = v if math.isnan(self.value) else 0.95 * self.value + 0.05 * v
        self.pixels += n


def seeded_generator(seed: int, rank: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(int(np.uint32(seed * 7919 + 104_729 + rank)))
