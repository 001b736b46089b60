"""Models: FCN-32s/16s/8s (and 4s) on VGG16, ResNet, MobileNet and EfficientNet-Lite trunks, checkpoints and export.

Importing this package is cheap: torch and torchvision load on first use of a name that
needs them (PEP 562 lazy attributes), so the GUI can read :func:`list_models` first.

    from fcn_studio.models import build_model, list_models
    model = build_model("vgg16", "fcn8s", num_classes=12, weights="imagenet")
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from fcn_studio.models.registry import ModelInfo, get_model_info, list_models

# name -> submodule that defines it (imported on first access).
_LAZY: dict[str, str] = {
    "build_model": "builder",
    "convolutionalize": "fc_to_conv",
    "FCN": "fcn",
    "FCNHead": "fcn",
    "BilinearUpsample": "fcn",
    "TorchvisionSegmentation": "torchvision_seg",
    "save_checkpoint": "checkpoint",
    "load_checkpoint": "checkpoint",
    "read_checkpoint_meta": "checkpoint",
    "CheckpointMeta": "checkpoint",
    "export_torchscript": "export",
    "export_onnx": "export",
    "ImageNetHeatmap": "imagenet_heatmap",
    "ImageNetHeatmapper": "imagenet_heatmap",
    "imagenet_categories": "imagenet_heatmap",
    "is_cached": "weights",
}

__all__ = [
    "BilinearUpsample",
    "CheckpointMeta",
    "FCN",
    "FCNHead",
    "ImageNetHeatmap",
    "ImageNetHeatmapper",
    "ModelInfo",
    "TorchvisionSegmentation",
    "build_model",
    "convolutionalize",
    "export_onnx",
    "export_torchscript",
    "get_model_info",
    "imagenet_categories",
    "is_cached",
    "list_models",
    "load_checkpoint",
    "read_checkpoint_meta",
    "save_checkpoint",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from fcn_studio.models.builder import build_model
    from fcn_studio.models.checkpoint import (
        CheckpointMeta,
        load_checkpoint,
        read_checkpoint_meta,
        save_checkpoint,
    )
    from fcn_studio.models.export import export_onnx, export_torchscript
    from fcn_studio.models.fc_to_conv import convolutionalize
    from fcn_studio.models.fcn import FCN, BilinearUpsample, FCNHead
    from fcn_studio.models.imagenet_heatmap import ImageNetHeatmap, ImageNetHeatmapper, imagenet_categories
    from fcn_studio.models.torchvision_seg import TorchvisionSegmentation
    from fcn_studio.models.weights import is_cached
