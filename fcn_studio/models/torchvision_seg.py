"""torchvision's own segmentation models (FCN-ResNet50, LR-ASPP MobileNetV3) as starting points.

They are wrapped so they present the same interface as :class:`~fcn_studio.models.fcn.FCN`
(a logits tensor, ``forward_features``/``forward_head``, trunk/head parameter groups,
``normalization``), and their class-scoring layers are replaced by zero-initialised ones
for the user's label set. The auxiliary classifier is dropped: the app trains one output.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models.segmentation import FCN as TVFCN
from torchvision.models.segmentation import LRASPP, fcn_resnet50, lraspp_mobilenet_v3_large

from fcn_studio.models.fcn import zero_score_layer

#: torchvision constructors, always called with ``weights=None, weights_backbone=None``.
CONSTRUCTORS = {"fcn_resnet50": fcn_resnet50, "lraspp_mobilenet_v3_large": lraspp_mobilenet_v3_large}


class TorchvisionSegmentation(nn.Module):
    """A torchvision segmentation model (``self.model``) behind the FCN interface."""

    def __init__(
        self,
        model: nn.Module,
        *,
        backbone: str,
        num_classes: int,
        normalization: Mapping[str, Sequence[float]],
    ) -> None:
        super().__init__()
        self.model = model
        self.backbone = backbone
        self.variant = "tv"
        self.num_classes = num_classes
        self.output_stride = 8
        self.normalization = {k: [float(v) for v in vals] for k, vals in normalization.items()}
        _replace_head(model, num_classes)

    def forward_features(self, x: Tensor) -> dict[str, Tensor]:
        """The backbone's feature dict (``out`` for FCN-ResNet50, ``low``/``high`` for LR-ASPP)."""
        return dict(self.model.backbone(x))

    def forward_head(self, features: Mapping[str, Tensor], out_hw: Sequence[int]) -> Tensor:
        """Classifier scores upsampled bilinearly to ``out_hw``, as torchvision does."""
        scores = self.model.classifier(features if isinstance(self.model, LRASPP) else features["out"])
        return F.interpolate(
            scores, size=(int(out_hw[0]), int(out_hw[1])), mode="bilinear", align_corners=False
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x), x.shape[-2:])

    def trunk_parameters(self) -> Iterator[nn.Parameter]:
        return self.model.backbone.parameters()

    def head_parameters(self) -> Iterator[nn.Parameter]:
        return self.model.classifier.parameters()


def build_torchvision_model(backbone: str, *, num_classes: int, aux: bool) -> nn.Module:
    """An untrained torchvision model shaped like a state dict with ``num_classes`` outputs."""
    return CONSTRUCTORS[backbone](
        weights=None, weights_backbone=None, num_classes=num_classes, aux_loss=aux or None
    )


def _replace_head(model: nn.Module, num_classes: int) -> None:
    if isinstance(model, TVFCN):
        last = model.classifier[-1]
        model.classifier[-1] = zero_score_layer(last.in_channels, num_classes)
        model.aux_classifier = None
        # The backbone also returned layer3 for the auxiliary head; stop computing it.
        model.backbone.return_layers = {"layer4": "out"}
    elif isinstance(model, LRASPP):
        head = model.classifier
        head.low_classifier = zero_score_layer(head.low_classifier.in_channels, num_classes)
        head.high_classifier = zero_score_layer(head.high_classifier.in_channels, num_classes)
    else:  # pragma: no cover - CONSTRUCTORS only builds the two above
        raise TypeError(f"not a torchvision segmentation model: {type(model).__name__}")
