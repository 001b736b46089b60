"""How training reports progress: plain dataclasses passed to overridable no-op methods.

Every report holds Python numbers and detached CPU numpy arrays only, never tensors (least
of all GPU tensors) and never Qt objects, so a GUI worker can forward a report across threads
as it is, and a slow receiver cannot keep GPU memory alive. Callbacks run on the training
thread: they must return quickly (copy what they need, emit a signal, return).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np


@dataclass(frozen=True)
class StepReport:
    """One optimisation step. ``phase`` is ``"fast"`` (heads on cached features) or ``"full"``.

    ``eta_s`` is the estimated time left (None while unknown, e.g. in an open-ended run);
    ``images_per_s`` is a smoothed rate over recent steps (per process under DDP x world size).
    """

    step: int
    epoch: int
    loss: float
    lr: float
    images_per_s: float
    eta_s: float | None
    elapsed_s: float
    phase: str = "full"
    batch_size: int = 0
    #: What the phase learns from, in words (e.g. "learning from 8 painted + 350 unpainted images").
    detail: str = ""
    #: Painted images the trainer read at its last refresh (trained on or held out): masks saved
    #: during a run join at the next epoch, and this is where that shows.
    painted_images: int = 0


@dataclass(frozen=True)
class EpochReport:
    """Validation metrics after an epoch (or after the fast phase).

    ``per_class_iou`` has one entry per trainable class, NaN where the class appears in
    neither the validation masks nor the predictions. ``on`` says what was scored:
    ``"validation"`` (held-out images) or ``"training"`` (no validation images: the metrics
    then measure fit, not generalisation). ``improved`` is True when a new best checkpoint was
    written.
    """

    epoch: int
    step: int
    miou: float
    pixel_acc: float
    per_class_iou: np.ndarray
    train_loss: float
    elapsed_s: float
    on: str = "validation"
    improved: bool = False
    phase: str = "full"
    images: int = 0


@dataclass(frozen=True)
class PredictionReport:
    """The current model's view of one image, for live heatmaps.

    ``probs`` is ``C x h x w`` float16 (softmax probabilities at the image's own size, or
    area-averaged to at most ``data.display_size.DISPLAY_MAX_PIXELS`` for a larger one),
    ``labels`` the HxW uint8 argmax at the image's size.
    """

    image_id: str
    step: int
    probs: np.ndarray
    labels: np.ndarray


class TrainCallbacks:
    """Subclass and override what you need; every method defaults to doing nothing."""

    def on_step(self, report: StepReport) -> None:
        """After each optimisation step."""

    def on_epoch_end(self, report: EpochReport) -> None:
        """After each validation (every epoch, and once after the fast phase)."""

    def on_prediction(self, report: PredictionReport) -> None:
        """A fresh prediction of the chosen preview image."""

    def on_notice(self, message: str) -> None:
        """Something the user should know (batch halved after out-of-memory, validation split...)."""

    def on_checkpoint(self, path: Path, metrics: dict) -> None:
        """A checkpoint was written to ``path`` (the best so far, or the last on cancel)."""


@dataclass
class CallbackList(TrainCallbacks):
    """Fan a report out to several callbacks, in order."""

    items: list[TrainCallbacks] = field(default_factory=list)

    @classmethod
    def of(cls, callbacks: TrainCallbacks | Iterable[TrainCallbacks] | None) -> "CallbackList":
        if callbacks is None:
            return cls([])
        if isinstance(callbacks, TrainCallbacks):
            return cls([callbacks])
        return cls(list(callbacks))

    def on_step(self, report: StepReport) -> None:
        for c in self.items:
            c.on_step(report)

    def on_epoch_end(self, report: EpochReport) -> None:
        for c in self.items:
            c.on_epoch_end(report)

    def on_prediction(self, report: PredictionReport) -> None:
        for c in self.items:
            c.on_prediction(report)

    def on_notice(self, message: str) -> None:
        for c in self.items:
            c.on_notice(message)

    def on_checkpoint(self, path: Path, metrics: dict) -> None:
        for c in self.items:
            c.on_checkpoint(path, metrics)
