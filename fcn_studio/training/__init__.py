"""Training engine (torch, no Qt): datasets, trainer, fast mode, semi-supervised parts.

Inference (the predictor, tiling, refinement, the prediction process) is its room,
:mod:`fcn_studio.inference`; ``Predictor`` is still importable from here.

Importing this package is cheap: torch loads on first use of a name that needs it (PEP 562
lazy attributes), so :mod:`fcn_studio.cli` can register the ``train``/``predict``/``evaluate``
sub-commands, and the GUI can build a :class:`TrainConfig`, before torch is imported.

    from fcn_studio.training import TrainConfig, train, Predictor
    result = train(TrainConfig(backbone="resnet18", epochs=5, out="model.fcnckpt"), source)
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from fcn_studio.training.callbacks import (
    CallbackList,
    EpochReport,
    PredictionReport,
    StepReport,
    TrainCallbacks,
)
from fcn_studio.training.config import TrainConfig
from fcn_studio.training.samples import FolderSource, ProjectSource, Sample, SampleSource

# name -> submodule that defines it (imported on first access; these import torch).
_LAZY: dict[str, str] = {
    "Trainer": "trainer",
    "TrainResult": "trainer",
    "train": "trainer",
    "SegmentationDataset": "dataset",
    "Predictor": "fcn_studio.inference.predictor",
    "Prediction": "fcn_studio.inference.predictor",
    "pick_device": "fcn_studio.models.device",
    "ConfusionMatrix": "metrics",
}

__all__ = [
    "CallbackList",
    "EpochReport",
    "FolderSource",
    "PredictionReport",
    "ProjectSource",
    "Sample",
    "SampleSource",
    "StepReport",
    "TrainCallbacks",
    "TrainConfig",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(module if "." in module else f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from fcn_studio.training.dataset import SegmentationDataset
    from fcn_studio.models.device import pick_device
    from fcn_studio.training.metrics import ConfusionMatrix
    from fcn_studio.inference.predictor import Prediction, Predictor
    from fcn_studio.training.trainer import Trainer, TrainResult, train
