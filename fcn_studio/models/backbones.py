"""Trunks: torchvision classification networks cut into stride-4/8/16/32 feature extractors.

Each trunk is built *from* a torchvision classification model (so pretrained weights load
with torchvision's own state-dict keys first, see :mod:`fcn_studio.models.weights`) and keeps
that model's parameter names, minus the classifier. A trunk returns only the feature maps
its FCN variant fuses, so "fast mode" caches no more than the head needs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torchvision
from torch import Tensor, nn

from fcn_studio.models.efficientnet_lite import EfficientNetLite, efficientnet_lite0
from fcn_studio.models.fc_to_conv import convolutionalize
from fcn_studio.models.fcn import FeatureSpec

#: Feature strides each FCN variant fuses, coarsest first.
VARIANT_STRIDES: dict[str, tuple[int, ...]] = {
    "fcn32s": (32,),
    "fcn16s": (32, 16),
    "fcn8s": (32, 16, 8),
    "fcn4s": (32, 16, 8, 4),
}

#: torchvision constructors of the classification networks the FCN trunks come from.
CLASSIFIERS: dict[str, Callable[..., nn.Module]] = {
    "vgg16": torchvision.models.vgg16,
    "resnet18": torchvision.models.resnet18,
    "resnet50": torchvision.models.resnet50,
    "mobilenet_v3_large": torchvision.models.mobilenet_v3_large,
    "efficientnet_lite0": efficientnet_lite0,
}


class _Trunk(nn.Module):
    """Base: ``specs`` lists every feature the trunk can give, ``outputs`` what it returns."""

    specs: tuple[FeatureSpec, ...]

    def _select(self, strides: Iterable[int]) -> tuple[FeatureSpec, ...]:
        wanted = set(strides)
        chosen = tuple(s for s in self.specs if s.stride in wanted)
        if len(chosen) != len(wanted):
            raise ValueError(f"{type(self).__name__} has no features at strides {sorted(wanted)}")
        return chosen


class VGGTrunk(_Trunk):
    """Convolutionalized VGG16 up to fc7; features ``pool2`` (s4), ``pool3`` (s8), ``pool4`` (s16), ``fc7`` (s32).

    pool5 is zero-padded by 3 before fc6 (the 7x7 convolution from :func:`convolutionalize`),
    so fc7 has pool5's size: stride exactly 32, and skip connections align without the
    original model's 100-pixel input padding. The padding is a separate op rather than the
    convolution's own ``padding=3`` because oneDNN's weight gradient for a 7x7 kernel padded
    beyond a tiny input (pool5 of a 64-128 pixel crop) is 20-40x slower. fc8 (the 1000
    ImageNet classes) is dropped; the head scores fc7 instead.
    """

    _POOL2, _POOL3, _POOL4 = 9, 16, 23  # indices of the 2nd, 3rd and 4th max-pool in vgg16().features

    def __init__(self, vgg: torchvision.models.VGG, strides: Iterable[int]) -> None:
        super().__init__()
        conv = convolutionalize(vgg, share_weights=True)
        self.features = conv.features
        pools = [i for i, m in enumerate(self.features) if isinstance(m, nn.MaxPool2d)]
        if pools[1:4] != [self._POOL2, self._POOL3, self._POOL4] or len(pools) != 5:
            raise ValueError("VGGTrunk expects torchvision's VGG16 layer layout (no batch norm)")
        # fc6, ReLU, Dropout, fc7, ReLU, Dropout: keep torchvision's indices 0..5, drop fc8.
        self.classifier = nn.Sequential(*list(conv.classifier)[:6])
        self.fc6_pad = nn.ZeroPad2d(self.classifier[0].kernel_size[0] // 2)
        self.specs = (
            FeatureSpec("pool2", 4, 128),
            FeatureSpec("pool3", 8, 256),
            FeatureSpec("pool4", 16, 512),
            FeatureSpec("fc7", 32, self.classifier[3].out_channels),
        )
        self.outputs = self._select(strides)
        self._taps = {self._POOL2: "pool2", self._POOL3: "pool3", self._POOL4: "pool4"}
        self._wanted = frozenset(s.name for s in self.outputs)

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        out: dict[str, Tensor] = {}
        for i, layer in enumerate(self.features):
            x = layer(x)
            name = self._taps.get(i)
            if name is not None and name in self._wanted:
                out[name] = x
        out["fc7"] = self.classifier(self.fc6_pad(x))
        return out


class ResNetTrunk(_Trunk):
    """ResNet without avgpool/fc; features ``layer1`` (s4), ``layer2`` (s8), ``layer3`` (s16), ``layer4`` (s32)."""

    def __init__(self, resnet: torchvision.models.ResNet, strides: Iterable[int]) -> None:
        super().__init__()
        self.conv1, self.bn1, self.relu, self.maxpool = resnet.conv1, resnet.bn1, resnet.relu, resnet.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = (
            resnet.layer1,
            resnet.layer2,
            resnet.layer3,
            resnet.layer4,
        )
        widths = [_out_channels(getattr(resnet, f"layer{i}")) for i in (1, 2, 3, 4)]
        self.specs = (
            FeatureSpec("layer1", 4, widths[0]),
            FeatureSpec("layer2", 8, widths[1]),
            FeatureSpec("layer3", 16, widths[2]),
            FeatureSpec("layer4", 32, widths[3]),
        )
        self.outputs = self._select(strides)
        self._wanted = frozenset(s.name for s in self.outputs)

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        s4 = self.layer1(x)
        s8 = self.layer2(s4)
        s16 = self.layer3(s8)
        out: dict[str, Tensor] = {"layer4": self.layer4(s16)}
        if "layer3" in self._wanted:
            out["layer3"] = s16
        if "layer2" in self._wanted:
            out["layer2"] = s8
        if "layer1" in self._wanted:
            out["layer1"] = s4
        return out


class MobileNetV3Trunk(_Trunk):
    """MobileNetV3-Large ``features``; taps after the last block at strides 4, 8, 16 and 32.

    The tap is the end of each stride's stage (blocks 3, 6 and 12, and the 960-channel conv
    16), i.e. the richest features at that resolution.
    """

    def __init__(self, mobilenet: torchvision.models.MobileNetV3, strides: Iterable[int]) -> None:
        super().__init__()
        self.features = mobilenet.features
        taps = _stage_ends(self.features)
        self.specs = tuple(
            FeatureSpec(f"s{s}", s, c) for s, (_, c) in sorted(taps.items()) if s in (4, 8, 16, 32)
        )
        self.outputs = self._select(strides)
        self._taps = {taps[s.stride][0]: s.name for s in self.outputs}

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        out: dict[str, Tensor] = {}
        for i, layer in enumerate(self.features):
            x = layer(x)
            name = self._taps.get(i)
            if name is not None:
                out[name] = x
        return out


class EfficientNetLiteTrunk(_Trunk):
    """EfficientNet-Lite without pool and FC; taps at the end of each stride's last stage.

    Strides 4, 8 and 16 are the outputs of the last block at that stride (24, 40 and 112
    channels for Lite0); stride 32 is the 1280-channel head convolution, the layer the
    classifier's FC reads (as VGG's fc7 is for VGG). Parameter names are the classifier's
    (``_conv_stem``, ``_blocks.N...``, ``_conv_head``), so ImageNet files load unchanged.
    """

    def __init__(self, net: EfficientNetLite, strides: Iterable[int]) -> None:
        super().__init__()
        self.stem_pad, self._conv_stem, self._bn0 = net.stem_pad, net._conv_stem, net._bn0
        self._blocks = net._blocks
        self._conv_head, self._bn1, self.act = net._conv_head, net._bn1, net.act
        last: dict[int, tuple[int, int]] = {}
        for index, stride, channels in net.stage_ends:
            last[stride] = (index, channels)  # later stages at the same stride win
        self.specs = (
            *(FeatureSpec(f"s{s}", s, last[s][1]) for s in (4, 8, 16)),
            FeatureSpec("head", 32, self._conv_head.out_channels),
        )
        self.outputs = self._select(strides)
        self._taps = {last[s.stride][0]: s.name for s in self.outputs if s.stride != 32}

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        x = self.act(self._bn0(self._conv_stem(self.stem_pad(x))))
        out: dict[str, Tensor] = {}
        for i, block in enumerate(self._blocks):
            x = block(x)
            name = self._taps.get(i)
            if name is not None:
                out[name] = x
        out["head"] = self.act(self._bn1(self._conv_head(x)))
        return out


def _out_channels(stage: nn.Module) -> int:
    """Output width of a ResNet stage: its widest convolution (the last 1x1 / downsample)."""
    return max(m.out_channels for m in stage.modules() if isinstance(m, nn.Conv2d))


def _stage_ends(features: nn.Sequential) -> dict[int, tuple[int, int]]:
    """Map stride -> (index of the last block at that stride, its channels) by counting the
    stride-2 convolutions; robust to torchvision reshuffling block configurations."""
    stride, ends = 1, {}
    for i, block in enumerate(features):
        for m in block.modules():
            if isinstance(m, nn.Conv2d) and m.stride[0] == 2:
                stride *= 2
        convs = [m for m in block.modules() if isinstance(m, nn.Conv2d)]
        ends[stride] = (i, convs[-1].out_channels)
    return ends


def make_trunk(backbone: str, classifier: nn.Module, strides: Iterable[int]) -> _Trunk:
    """The trunk of ``backbone`` built around a (possibly pretrained) classification model."""
    if backbone == "vgg16":
        return VGGTrunk(classifier, strides)  # type: ignore[arg-type]
    if backbone in ("resnet18", "resnet50"):
        return ResNetTrunk(classifier, strides)  # type: ignore[arg-type]
    if backbone == "mobilenet_v3_large":
        return MobileNetV3Trunk(classifier, strides)  # type: ignore[arg-type]
    if backbone == "efficientnet_lite0":
        return EfficientNetLiteTrunk(classifier, strides)  # type: ignore[arg-type]
    raise ValueError(f"no FCN trunk for backbone {backbone!r}; choose one of {', '.join(CLASSIFIERS)}")
