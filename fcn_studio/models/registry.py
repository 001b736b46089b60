"""What models exist: the table the GUI's model picker and the CLI's ``--backbone`` read.

This module imports neither torch nor torchvision, so a window can list the models (with
their sizes) before torch is loaded. Parameter counts are stored as two numbers because they
are linear in the number of classes: ``base_params + params_per_class * num_classes``; a test
builds every model on the ``meta`` device and checks these numbers, so they cannot drift.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

#: Backbones with the classic FCN head (score layers + bilinear-initialised deconvolutions).
FCN_BACKBONES: tuple[str, ...] = ("vgg16", "resnet18", "resnet50", "mobilenet_v3_large", "efficientnet_lite0")
#: torchvision's own segmentation models, used as starting points (their heads are replaced).
TORCHVISION_SEGMENTATION: tuple[str, ...] = ("fcn_resnet50", "lraspp_mobilenet_v3_large")
BACKBONES: tuple[str, ...] = FCN_BACKBONES + TORCHVISION_SEGMENTATION
#: FCN variants, coarsest first; the number is the stride of the finest skip connection.
FCN_VARIANTS: tuple[str, ...] = ("fcn32s", "fcn16s", "fcn8s", "fcn4s")
#: The single "variant" of a torchvision segmentation model.
TV_VARIANT = "tv"

#: The word for "random initialisation" wherever weights are named as text: the CLI's
#: ``--weights none``, the Training panel's *Random init* and the choices kept in project.json.
#: :func:`weights_from_name` is the one place it turns into ``None``.
NO_WEIGHTS = "none"


def weights_from_name(value: "str | os.PathLike[str] | None") -> "str | os.PathLike[str] | None":
    """``None`` for :data:`NO_WEIGHTS` (any case) or ``None``; any other value unchanged.

    Text reaches the model builder from three doors (the panel, the CLI, saved choices), and
    each used to spell the sentinel's translation itself.
    """
    if value is None or (isinstance(value, str) and value.lower() == NO_WEIGHTS):
        return None
    return value


#: Input normalisation every model here expects (ImageNet statistics, RGB, 0..1 input).
IMAGENET_NORMALIZATION: dict[str, list[float]] = {
    "mean": [0.485, 0.456, 0.406],
    "std": [0.229, 0.224, 0.225],
}

#: Training crop that fits in a few GB on a laptop and keeps CamVid's 4:3 aspect ratio.
DEFAULT_INPUT_SIZE: tuple[int, int] = (360, 480)


@dataclass(frozen=True)
class ModelInfo:
    """One buildable model: ``build_model(info.backbone, info.variant, num_classes=...)``.

    ``pretrained`` names what ``weights="imagenet"`` (or ``"coco"``) loads; ``output_stride``
    is the stride of the finest features the head sees (the coarseness of the prediction
    before the last upsampling).
    """

    backbone: str
    variant: str
    output_stride: int
    default_input_size: tuple[int, int]
    description: str
    pretrained: tuple[str, ...]
    base_params: int
    params_per_class: int

    @property
    def name(self) -> str:
        """Display and CLI name: ``vgg16-fcn8s``, or the torchvision model's own name."""
        return self.backbone if self.variant == TV_VARIANT else f"{self.backbone}-{self.variant}"

    def num_params(self, num_classes: int = 21) -> int:
        """Trainable parameter count for ``num_classes`` outputs (21 = PASCAL VOC)."""
        return self.base_params + self.params_per_class * num_classes


# Parameter counts per trunk (base) and per class; verified by tests/test_models_registry.py.
# Head per class: one 1x1 score layer (in_channels + 1 bias) per fused feature, plus one
# depthwise bilinear deconvolution (k*k weights) per upsampling step.
_PARAMS: dict[tuple[str, str], tuple[int, int]] = {
    ("vgg16", "fcn32s"): (134_260_544, 8_193),
    ("vgg16", "fcn16s"): (134_260_544, 5_650),
    ("vgg16", "fcn8s"): (134_260_544, 5_155),
    ("vgg16", "fcn4s"): (134_260_544, 5_108),
    ("resnet18", "fcn32s"): (11_176_512, 4_609),
    ("resnet18", "fcn16s"): (11_176_512, 1_810),
    ("resnet18", "fcn8s"): (11_176_512, 1_187),
    ("resnet18", "fcn4s"): (11_176_512, 1_076),
    ("resnet50", "fcn32s"): (23_508_032, 6_145),
    ("resnet50", "fcn16s"): (23_508_032, 4_114),
    ("resnet50", "fcn8s"): (23_508_032, 3_875),
    ("resnet50", "fcn4s"): (23_508_032, 3_956),
    ("mobilenet_v3_large", "fcn32s"): (2_971_952, 5_057),
    ("mobilenet_v3_large", "fcn16s"): (2_971_952, 2_114),
    ("mobilenet_v3_large", "fcn8s"): (2_971_952, 1_403),
    ("mobilenet_v3_large", "fcn4s"): (2_971_952, 1_252),
    ("efficientnet_lite0", "fcn32s"): (3_371_008, 5_377),
    ("efficientnet_lite0", "fcn16s"): (3_371_008, 2_434),
    ("efficientnet_lite0", "fcn8s"): (3_371_008, 1_723),
    ("efficientnet_lite0", "fcn4s"): (3_371_008, 1_572),
    ("fcn_resnet50", TV_VARIANT): (32_946_240, 513),
    ("lraspp_mobilenet_v3_large", TV_VARIANT): (3_217_968, 170),
}

_BACKBONE_TEXT: dict[str, str] = {
    "vgg16": "VGG16, the network of the FCN paper: most accurate of the classic FCNs, "
    "134M parameters, slow on a CPU",
    "resnet18": "ResNet-18: 11M parameters, several times faster than VGG16, a good default on a laptop",
    "resnet50": "ResNet-50: 24M parameters, more accurate than ResNet-18, about 3x slower",
    "mobilenet_v3_large": "MobileNetV3-Large: 3M parameters, the fastest, for large images or slow machines",
    "efficientnet_lite0": "EfficientNet-Lite0: 3.4M parameters, ImageNet weights installed with the app "
    "(no download), the default",
}

_VARIANT_TEXT: dict[str, str] = {
    "fcn32s": "FCN-32s (one 32x upsampling of the fc7 scores: coarse boundaries)",
    "fcn16s": "FCN-16s (fuses stride-16 features: sharper)",
    "fcn8s": "FCN-8s (fuses stride-16 and stride-8 features: sharp, the usual choice)",
    "fcn4s": "FCN-4s (also fuses stride-4 features: for thin objects such as poles and signs)",
}

_TV_TEXT: dict[str, str] = {
    "fcn_resnet50": "torchvision FCN-ResNet50 (dilated, output stride 8, 3x3 head); "
    "start from its COCO weights with weights='coco' or a state-dict file",
    "lraspp_mobilenet_v3_large": "torchvision LR-ASPP MobileNetV3-Large: real-time "
    "segmentation; start from its COCO weights with weights='coco' or a state-dict file",
}


def _build_table() -> tuple[ModelInfo, ...]:
    infos: list[ModelInfo] = []
    for backbone in FCN_BACKBONES:
        for variant in FCN_VARIANTS:
            base, per_class = _PARAMS[(backbone, variant)]
            infos.append(
                ModelInfo(
                    backbone=backbone,
                    variant=variant,
                    output_stride=int(variant[3:-1]),
                    default_input_size=DEFAULT_INPUT_SIZE,
                    description=f"{_VARIANT_TEXT[variant]} on {_BACKBONE_TEXT[backbone]}",
                    pretrained=("imagenet",),
                    base_params=base,
                    params_per_class=per_class,
                )
            )
    for backbone in TORCHVISION_SEGMENTATION:
        base, per_class = _PARAMS[(backbone, TV_VARIANT)]
        infos.append(
            ModelInfo(
                backbone=backbone,
                variant=TV_VARIANT,
                output_stride=8,
                default_input_size=DEFAULT_INPUT_SIZE,
                description=_TV_TEXT[backbone],
                pretrained=("imagenet", "coco"),
                base_params=base,
                params_per_class=per_class,
            )
        )
    return tuple(infos)


_TABLE: tuple[ModelInfo, ...] = _build_table()


#: How people write the trunks' names.
DISPLAY_NAMES: dict[str, str] = {
    "vgg16": "VGG16", "resnet18": "ResNet-18", "resnet50": "ResNet-50", "mobilenet_v3_large": "MobileNetV3",
    "efficientnet_lite0": "EfficientNet-Lite0", "fcn_resnet50": "torchvision FCN-ResNet50",
    "lraspp_mobilenet_v3_large": "torchvision LR-ASPP",
}


def display_name(backbone: str, variant: str | None = None) -> str:
    """``EfficientNet-Lite0 FCN-4s``: a trunk and variant as the window writes them."""
    name = DISPLAY_NAMES.get(backbone, backbone)
    if variant and variant != TV_VARIANT:
        name += f" FCN-{variant[3:]}" if variant.startswith("fcn") else f" {variant}"
    return name


def list_models() -> list[ModelInfo]:
    """Every buildable (backbone, variant) pair, VGG16 first, torchvision models last."""
    return list(_TABLE)


def normalize_variant(backbone: str, variant: str | None) -> str:
    """Check a (backbone, variant) pair and return the canonical variant.

    torchvision's segmentation models have a single variant, so any given variant (or None)
    is accepted for them and mapped to ``"tv"``. Raises :class:`ValueError` naming the
    choices, which the CLI prints as is.
    """
    if backbone in TORCHVISION_SEGMENTATION:
        return TV_VARIANT
    if backbone not in FCN_BACKBONES:
        raise ValueError(f"unknown backbone {backbone!r}; choose one of {', '.join(BACKBONES)}")
    v = (variant or "").lower().replace("-", "")
    if v not in FCN_VARIANTS:
        raise ValueError(f"unknown FCN variant {variant!r}; choose one of {', '.join(FCN_VARIANTS)}")
    return v


def get_model_info(backbone: str, variant: str | None = None) -> ModelInfo:
    """The registry entry of one model (``variant`` is ignored for torchvision models)."""
    v = normalize_variant(backbone, variant)
    for info in _TABLE:
        if info.backbone == backbone and info.variant == v:
            return info
    raise AssertionError(f"registry lacks {backbone}/{v}")  # pragma: no cover - table is complete
