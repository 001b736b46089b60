"""The FCN head and the model that joins it to a trunk (Long, Shelhamer & Darrell, 2015).

A trunk returns a dict of feature maps at strides 32, 16, 8 (and 4). The head scores each with a
1x1 convolution, upsamples the coarse scores by 2 with a learned deconvolution, adds the
next finer scores ("skip fusion"), and finally upsamples to full resolution:

    FCN-32s:  score(s32) -> x32
    FCN-16s:  score(s32) -> x2 -> + score(s16) -> x16
    FCN-8s:   score(s32) -> x2 -> + score(s16) -> x2 -> + score(s8) -> x8
    FCN-4s:   FCN-8s before its x8, then x2 -> + score(s4) -> x4 (one skip further than the
              paper, for objects a few pixels wide)

Any input size works: :class:`FCN` pads the input at the bottom/right to a multiple of 32,
so every stride-s map is exactly ``padded / s`` and a x2 deconvolution lands exactly on the
next finer map; the logits are cropped back to the input's height and width. This replaces
the original Caffe model's "pad 100 and crop by offsets" trick and costs far less compute.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass(frozen=True)
class FeatureSpec:
    """One feature map a trunk can return: its dict key, stride and channel count."""

    name: str
    stride: int
    channels: int


def bilinear_kernel(factor: int) -> Tensor:
    """The 2-D bilinear interpolation kernel of a ``factor``-times upsampling deconvolution.

    Size ``2*factor``, centre between the two middle taps: with ``stride=factor`` and
    ``padding=factor//2`` the deconvolution then reproduces
    ``F.interpolate(scale_factor=factor, mode="bilinear", align_corners=False)`` everywhere
    except the outermost ``factor//2`` pixels (where interpolation repeats the edge and the
    deconvolution sees zeros).
    """
    if factor < 2 or factor % 2:
        raise ValueError(f"bilinear deconvolution factor must be even and >= 2, got {factor}")
    size = 2 * factor
    center = factor - 0.5
    taps = 1.0 - (torch.arange(size, dtype=torch.float32) - center).abs() / factor
    return taps[:, None] * taps[None, :]


class BilinearUpsample(nn.ConvTranspose2d):
    """A trainable x``factor`` upsampling that starts as exact bilinear interpolation.

    Depthwise (one kernel per class) and without bias: the original FCN used a full
    class-by-class kernel but initialised every cross-class tap to zero; with 100+ classes
    that would be ``C*C*64*64`` parameters for x32 doing nothing useful at the start.
    """

    def __init__(self, channels: int, factor: int) -> None:
        kernel = bilinear_kernel(factor)
        super().__init__(
            channels,
            channels,
            kernel_size=kernel.shape[-1],
            stride=factor,
            padding=factor // 2,
            groups=channels,
            bias=False,
        )
        self.factor = factor
        with torch.no_grad():
            self.weight.copy_(kernel.expand_as(self.weight))


def zero_score_layer(in_channels: int, num_classes: int) -> nn.Conv2d:
    """A 1x1 class-scoring convolution initialised to zero.

    Zero scores mean an untrained head predicts every class with probability 1/K, and the
    first updates come from the loss rather than from random projections of the features
    (the FCN paper's initialisation).
    """
    conv = nn.Conv2d(in_channels, num_classes, kernel_size=1)
    nn.init.zeros_(conv.weight)
    nn.init.zeros_(conv.bias)
    return conv


def fit_to(x: Tensor, hw: Sequence[int]) -> Tensor:
    """Crop (or zero-pad at the bottom/right) ``x`` to spatial size ``hw``.

    With inputs padded to a multiple of 32 the sizes already agree; this only matters when
    a caller feeds :meth:`FCNHead.forward` features of some other origin.
    """
    h, w = int(hw[0]), int(hw[1])
    dh, dw = h - x.shape[-2], w - x.shape[-1]
    if dh > 0 or dw > 0:
        x = F.pad(x, (0, max(dw, 0), 0, max(dh, 0)))
    return x[..., :h, :w]


class FCNHead(nn.Module):
    """Score layers plus bilinear deconvolutions over features ordered coarse to fine."""

    def __init__(self, features: Sequence[FeatureSpec], num_classes: int) -> None:
        super().__init__()
        if not features:
            raise ValueError("an FCN head needs at least one feature map")
        specs = sorted(features, key=lambda s: -s.stride)
        for coarse, fine in zip(specs, specs[1:], strict=False):
            if coarse.stride != 2 * fine.stride:
                raise ValueError(f"skip features must halve the stride each step: {specs}")
        self.specs: tuple[FeatureSpec, ...] = tuple(specs)
        self.num_classes = num_classes
        self.score = nn.ModuleDict({s.name: zero_score_layer(s.channels, num_classes) for s in specs})
        self.up2 = nn.ModuleList(BilinearUpsample(num_classes, 2) for _ in specs[1:])
        self.final_up = BilinearUpsample(num_classes, specs[-1].stride)

    def forward(self, features: Mapping[str, Tensor], out_hw: Sequence[int]) -> Tensor:
        """Logits ``N x K x out_hw`` from the trunk's feature dict."""
        first = self.specs[0]
        scores = self.score[first.name](features[first.name])
        for spec, up in zip(self.specs[1:], self.up2, strict=True):
            skip = self.score[spec.name](features[spec.name])
            scores = fit_to(up(scores), skip.shape[-2:]) + skip
        logits = self.final_up(scores)
        return fit_to(logits, out_hw)


class FCN(nn.Module):
    """A trunk (features at strides 4/8/16/32) plus an :class:`FCNHead`.

    Expects ImageNet-normalised float input (see :attr:`normalization`) of any size and
    returns logits of exactly the input's height and width. For training with a frozen trunk
    and cached features, ``forward(x) == forward_head(forward_features(x), x.shape[-2:])``.
    """

    #: Inputs are padded to a multiple of this so every skip connection aligns exactly.
    pad_multiple = 32

    def __init__(
        self,
        trunk: nn.Module,
        head: FCNHead,
        *,
        backbone: str,
        variant: str,
        normalization: Mapping[str, Sequence[float]],
    ) -> None:
        super().__init__()
        self.trunk = trunk
        self.head = head
        self.backbone = backbone
        self.variant = variant
        self.num_classes = head.num_classes
        self.output_stride = head.specs[-1].stride
        self.normalization = {k: [float(v) for v in vals] for k, vals in normalization.items()}

    #: Keep the trunk's BatchNorm layers in eval mode while training (their ImageNet statistics
    #: and a few images' batches of 4 crops: see ``TrainConfig.trunk_bn``).
    frozen_trunk_bn: bool = False

    def train(self, mode: bool = True) -> "FCN":
        super().train(mode)
        if mode and self.frozen_trunk_bn:
            for m in self.trunk.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.eval()
        return self

    def forward_features(self, x: Tensor) -> dict[str, Tensor]:
        """Trunk features of ``x`` padded to a multiple of 32 (only those the head uses)."""
        pad_h = -x.shape[-2] % self.pad_multiple
        pad_w = -x.shape[-1] % self.pad_multiple
        if pad_h or pad_w:
            # Zero in normalised space is the ImageNet mean colour: the least surprising fill.
            x = F.pad(x, (0, pad_w, 0, pad_h))
        return self.trunk(x)

    def forward_head(self, features: Mapping[str, Tensor], out_hw: Sequence[int]) -> Tensor:
        """Logits of size ``out_hw`` (the unpadded input size) from :meth:`forward_features`."""
        return self.head(features, out_hw)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x), x.shape[-2:])

    def trunk_parameters(self) -> Iterator[nn.Parameter]:
        """Pretrained part: freeze it (or give it a small learning rate) when fine-tuning."""
        return self.trunk.parameters()

    def head_parameters(self) -> Iterator[nn.Parameter]:
        """Score layers and deconvolutions: the part "fast mode" trains on cached features."""
        return self.head.parameters()
