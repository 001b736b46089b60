"""``build_model``: one entry point from (backbone, variant, classes, weights) to a model."""

from __future__ import annotations

from pathlib import Path
from typing import Union

import torch
from torch import nn

from fcn_studio.errors import CheckpointError
from fcn_studio.models.backbones import CLASSIFIERS, VARIANT_STRIDES, make_trunk
from fcn_studio.models.efficientnet_lite import LITE_NORMALIZATION
from fcn_studio.models.fcn import FCN, FCNHead
from fcn_studio.models.packaged_weights import PACKAGED_IMAGENET
from fcn_studio.models.registry import FCN_BACKBONES, IMAGENET_NORMALIZATION, normalize_variant, weights_from_name
from fcn_studio.models.torchvision_seg import TorchvisionSegmentation, build_torchvision_model
from fcn_studio.models.weights import fetch_state_dict, load_strict, named_weights, packaged_state_dict, read_state_dict

#: ``None`` (random), ``"imagenet"``, ``"coco"`` (torchvision segmentation models only), or a
#: path to a state-dict file. The string ``"none"`` means None, for command lines.
Weights = Union[None, str, Path]

FCNModel = Union[FCN, TorchvisionSegmentation]


def build_model(
    backbone: str,
    variant: str | None = "fcn8s",
    *,
    num_classes: int,
    weights: Weights = None,
    progress: bool = False,
) -> FCNModel:
    """Build an FCN (or a wrapped torchvision segmentation model) for ``num_classes`` classes.

    ``weights``:
      * ``None``/``"none"``: random initialisation (no file, no network);
      * ``"imagenet"``: ImageNet weights for the trunk: for ``efficientnet_lite0`` the file a
        pip dependency installs (never a download); for the others torchvision's, from the
        local cache or downloaded (:class:`WeightsUnavailableError` at once when offline and
        not cached);
      * ``"coco"``: torchvision's COCO-trained segmentation weights (``fcn_resnet50``,
        ``lraspp_mobilenet_v3_large`` only);
      * a path: for the FCN backbones, a torchvision *classification* state dict (keys like
        ``features.0.weight`` for vgg16, ``conv1.weight`` for resnets); for the torchvision
        segmentation models, their full state dict (e.g. trained on COCO) or a backbone
        classification state dict.

    The class-scoring layers are always new and zero-initialised, so the model starts by
    predicting every class with equal probability. The model expects input normalised with
    ``model.normalization`` and returns ``N x num_classes x H x W`` logits.
    """
    if int(num_classes) < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    variant = normalize_variant(backbone, variant)
    weights = weights_from_name(weights)
    if backbone in FCN_BACKBONES:
        return _build_fcn(backbone, variant, int(num_classes), weights, progress)
    return _build_torchvision(backbone, int(num_classes), weights, progress)


def _requested_state(backbone: str, weights: str | Path, progress: bool) -> tuple[dict, str]:
    """(state dict, description for error messages) of the weights asked for."""
    if isinstance(weights, str) and weights.lower() == "imagenet" and backbone in PACKAGED_IMAGENET:
        return packaged_state_dict(backbone)
    if isinstance(weights, str) and weights.lower() in ("imagenet", "coco"):
        name = weights.lower()
        entry = named_weights(backbone, name)
        label = f"{'COCO' if name == 'coco' else 'ImageNet'} weights for {backbone}"
        return fetch_state_dict(entry, label=label, progress=progress), f"{label} ({entry})"
    path = Path(weights)
    return read_state_dict(path), f"weights file {path}"


def _build_fcn(backbone: str, variant: str, num_classes: int, weights: Weights, progress: bool) -> FCN:
    if weights is None:
        classifier = CLASSIFIERS[backbone](weights=None)
    else:
        state, source = _requested_state(backbone, weights, progress)
        # Skip the random init the file overwrites (seconds for VGG16's 138M weights).
        with torch.device("meta"):
            classifier = CLASSIFIERS[backbone](weights=None)
        load_strict(classifier, state, source=source, assign=True)
    trunk = make_trunk(backbone, classifier, VARIANT_STRIDES[variant])
    head = FCNHead(trunk.outputs, num_classes)
    return FCN(trunk, head, backbone=backbone, variant=variant, normalization=normalization_of(backbone))


def normalization_of(backbone: str) -> dict[str, list[float]]:
    """The input normalisation ``backbone``'s ImageNet weights were trained with.

    torchvision's classifiers use the ImageNet mean and deviation; EfficientNet-Lite the
    TF-Lite ``(x - 127) / 128``. Random-init models use the same as their pretrained twin,
    so a checkpoint's inputs look the same whichever way it started.
    """
    return LITE_NORMALIZATION if backbone.startswith("efficientnet_lite") else IMAGENET_NORMALIZATION


def _build_torchvision(
    backbone: str, num_classes: int, weights: Weights, progress: bool
) -> TorchvisionSegmentation:
    if weights is None:
        model = build_torchvision_model(backbone, num_classes=num_classes, aux=False)
    else:
        state, source = _requested_state(backbone, weights, progress)
        if any(k.startswith("backbone.") for k in state):
            # A whole segmentation model (e.g. COCO-trained): load it as trained, then the
            # wrapper swaps its head for one with ``num_classes`` outputs.
            aux = any(k.startswith("aux_classifier.") for k in state)
            model = build_torchvision_model(
                backbone, num_classes=_head_classes(backbone, state, source), aux=aux
            )
            load_strict(model, state, source=source)
        else:
            model = build_torchvision_model(backbone, num_classes=num_classes, aux=False)
            _load_backbone_from_classifier(backbone, model, state, source)
    return TorchvisionSegmentation(
        model, backbone=backbone, num_classes=num_classes, normalization=IMAGENET_NORMALIZATION
    )


def _head_classes(backbone: str, state: dict, source: str) -> int:
    """Number of classes the segmentation state dict was trained for (its head's width)."""
    key = "classifier.4.weight" if backbone == "fcn_resnet50" else "classifier.low_classifier.weight"
    if key not in state:
        raise CheckpointError(f"{source} is not a {backbone} state dict: it has no {key}")
    return int(state[key].shape[0])


def _load_backbone_from_classifier(backbone: str, model: nn.Module, state: dict, source: str) -> None:
    """Load a torchvision classification state dict into a segmentation model's backbone.

    Validated against the full classifier first (clear errors for a wrong file), then
    mapped: ResNet keys stay (minus ``fc``), MobileNet's ``features.N`` become ``N``.
    """
    name = "resnet50" if backbone == "fcn_resnet50" else "mobilenet_v3_large"
    with torch.device("meta"):
        classifier = CLASSIFIERS[name](weights=None)
    load_strict(classifier, state, source=source, assign=True)
    target = model.backbone  # type: ignore[union-attr]
    own = target.state_dict()
    if name == "resnet50":
        mapped = {k: v for k, v in classifier.state_dict().items() if k in own}
    else:
        mapped = {
            k[len("features.") :]: v for k, v in classifier.state_dict().items() if k.startswith("features.")
        }
        mapped = {k: v for k, v in mapped.items() if k in own}
    load_strict(target, mapped, source=source)
