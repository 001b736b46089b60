"""FCN heads on every backbone: output sizes, bilinear deconvolutions, init, gradients, API."""

from __future__ import annotations

import contextlib
import functools
import itertools
from collections.abc import Iterator

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from fcn_studio.models import BilinearUpsample, build_model
from fcn_studio.models.registry import FCN_BACKBONES, FCN_VARIANTS, TORCHVISION_SEGMENTATION


pytestmark = pytest.mark.usefixtures("torch_one_thread")  # see conftest.py


ODD_SIZES = [(97, 131), (360, 480), (375, 1242)]
LIGHT = ["resnet18", "mobilenet_v3_large", "lraspp_mobilenet_v3_large"]
ALL = [*FCN_BACKBONES, *TORCHVISION_SEGMENTATION]
NUM_CLASSES = 5


@functools.cache
def _model(backbone: str, variant: str = "fcn8s") -> nn.Module:
    """Built once per test module, in eval mode. Tests that change it use :func:`_perturbed`."""
    torch.manual_seed(0)
    return build_model(backbone, variant, num_classes=NUM_CLASSES).eval()


@contextlib.contextmanager
def _perturbed(backbone: str) -> Iterator[nn.Module]:
    """The shared model with a non-zero head; head, buffers and grads restored afterwards
    (cheaper than copying VGG16's 540 MB)."""
    model = _model(backbone)
    head = dict(model.named_parameters())
    head_ids = {id(p) for p in model.head_parameters()}
    saved = {k: p.detach().clone() for k, p in head.items() if id(p) in head_ids}
    buffers = [b.clone() for b in model.buffers()]
    torch.manual_seed(0)
    with torch.no_grad():
        for p in model.head_parameters():
            p.add_(torch.randn_like(p) * 0.05)
    try:
        yield model
    finally:
        with torch.no_grad():
            for k, value in saved.items():
                head[k].copy_(value)
            for b, old in zip(model.buffers(), buffers, strict=True):
                b.copy_(old)
        model.zero_grad(set_to_none=True)
        model.eval()


@pytest.mark.parametrize("backbone", LIGHT)
@pytest.mark.parametrize("hw", ODD_SIZES)
def test_light_models_give_input_sized_logits(backbone: str, hw: tuple[int, int]) -> None:
    with torch.no_grad():
        out = _model(backbone)(torch.randn(1, 3, *hw))
    assert out.shape == (1, NUM_CLASSES, *hw)


@pytest.mark.parametrize(
    "backbone,variant",
    [*itertools.product(FCN_BACKBONES, FCN_VARIANTS), *((b, "tv") for b in TORCHVISION_SEGMENTATION)],
)
def test_every_variant_gives_input_sized_uniform_logits(backbone: str, variant: str) -> None:
    """Odd size, not a multiple of 32; an untrained (zero) head predicts 1/K everywhere."""
    with torch.no_grad():
        out = _model(backbone, variant)(torch.randn(1, 3, 97, 131))
    assert out.shape == (1, NUM_CLASSES, 97, 131)
    assert out.dtype == torch.float32
    probs = out.softmax(1)
    torch.testing.assert_close(probs, torch.full_like(probs, 1 / NUM_CLASSES))


def test_resnet50_large_size() -> None:
    with torch.no_grad():
        out = _model("resnet50")(torch.randn(1, 3, 360, 480))
    assert out.shape == (1, NUM_CLASSES, 360, 480)


@pytest.mark.parametrize("factor", [2, 8, 16, 32])
def test_deconvolution_starts_as_bilinear_interpolation(factor: int) -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 3, 7, 9)
    up = BilinearUpsample(3, factor)
    with torch.no_grad():
        got = up(x)
    want = F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)
    assert got.shape == want.shape == (2, 3, 7 * factor, 9 * factor)
    b = factor // 2  # the deconvolution sees zeros beyond the border, interpolation the edge
    torch.testing.assert_close(got[..., b:-b, b:-b], want[..., b:-b, b:-b], atol=1e-5, rtol=1e-5)
    assert up.weight.requires_grad
    assert not torch.allclose(got[..., 0, 0], want[..., 0, 0])  # the border really differs


def test_bilinear_kernel_rejects_odd_factor() -> None:
    with pytest.raises(ValueError):
        BilinearUpsample(3, 3)


@pytest.mark.parametrize("backbone", ALL)
def test_gradients_reach_the_trunk(backbone: str) -> None:
    """Every parameter gets a gradient: nothing detached, no unused branch.

    Zero score layers block trunk gradients at step 0 by design, so the head is first given
    non-zero weights as after a few optimiser steps.
    """
    with _perturbed(backbone) as model:
        model.train()
        x = torch.randn(2, 3, 32, 48)
        F.cross_entropy(model(x), torch.randint(0, NUM_CLASSES, (2, 32, 48))).backward()
        for group in ("trunk", "head"):
            params = list(getattr(model, f"{group}_parameters")())
            dead = [i for i, p in enumerate(params) if p.grad is None or not p.grad.any()]
            assert params and not dead, f"{len(dead)} of {len(params)} {group} parameters got no gradient"


def test_zero_head_keeps_trunk_gradients_at_zero_on_step_0() -> None:
    """The FCN paper's zero init: the first update trains the score layers only."""
    torch.manual_seed(0)
    model = build_model("resnet18", "fcn8s", num_classes=NUM_CLASSES).train()
    x = torch.randn(2, 3, 32, 48)
    F.cross_entropy(model(x), torch.randint(0, NUM_CLASSES, (2, 32, 48))).backward()
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in model.trunk_parameters())
    assert all(p.grad.abs().sum() > 0 for p in model.head.score.parameters())


@pytest.mark.parametrize("backbone", ALL)
def test_forward_equals_head_of_features(backbone: str) -> None:
    x = torch.randn(1, 3, 40, 56)
    with _perturbed(backbone) as model, torch.no_grad():
        full = model(x)
        feats = model.forward_features(x)
        split = model.forward_head(feats, x.shape[-2:])
    assert isinstance(feats, dict) and all(isinstance(v, torch.Tensor) for v in feats.values())
    torch.testing.assert_close(split, full, rtol=0, atol=0)
    assert full.abs().max() > 0


def test_perturbation_is_undone() -> None:
    with _perturbed("resnet18") as model:
        model.train()(torch.randn(2, 3, 32, 32))
    with torch.no_grad():
        probs = _model("resnet18")(torch.randn(1, 3, 32, 32)).softmax(1)
    torch.testing.assert_close(probs, torch.full_like(probs, 1 / NUM_CLASSES))
    assert all(p.grad is None for p in _model("resnet18").parameters())


def test_parameter_groups_partition_the_model() -> None:
    for backbone in ["resnet18", "lraspp_mobilenet_v3_large"]:
        model = _model(backbone)
        trunk = {id(p) for p in model.trunk_parameters()}
        head = {id(p) for p in model.head_parameters()}
        assert trunk and head and not trunk & head
        assert trunk | head == {id(p) for p in model.parameters()}
        assert model.normalization == {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}


@pytest.mark.parametrize(
    "backbone,variant,expected",
    [
        ("resnet18", "fcn8s", {"layer2": (128, 8), "layer3": (256, 16), "layer4": (512, 32)}),
        ("resnet18", "fcn32s", {"layer4": (512, 32)}),
        ("resnet50", "fcn16s", {"layer3": (1024, 16), "layer4": (2048, 32)}),
        ("mobilenet_v3_large", "fcn8s", {"s8": (40, 8), "s16": (112, 16), "s32": (960, 32)}),
        ("vgg16", "fcn8s", {"pool3": (256, 8), "pool4": (512, 16), "fc7": (4096, 32)}),
        ("vgg16", "fcn32s", {"fc7": (4096, 32)}),
        ("mobilenet_v3_large", "fcn4s", {"s4": (24, 4), "s8": (40, 8), "s16": (112, 16), "s32": (960, 32)}),
        ("resnet18", "fcn4s", {"layer1": (64, 4), "layer2": (128, 8), "layer3": (256, 16), "layer4": (512, 32)}),
        ("vgg16", "fcn4s", {"pool2": (128, 4), "pool3": (256, 8), "pool4": (512, 16), "fc7": (4096, 32)}),
    ],
)
def test_features_are_only_what_the_variant_fuses(backbone: str, variant: str, expected: dict) -> None:
    model = _model(backbone, variant)
    with torch.no_grad():
        feats = model.forward_features(torch.randn(1, 3, 40, 70))  # padded to 64 x 96
    assert {k: (v.shape[1], 64 // v.shape[2]) for k, v in feats.items()} == expected
    assert all(96 // v.shape[3] == expected[k][1] for k, v in feats.items())
    assert model.output_stride == min(stride for _, stride in expected.values())


def test_build_model_rejects_unknown_names() -> None:
    with pytest.raises(ValueError, match="unknown backbone"):
        build_model("alexnet", "fcn8s", num_classes=3)
    with pytest.raises(ValueError, match="unknown FCN variant"):
        build_model("resnet18", "fcn2s", num_classes=3)
    with pytest.raises(ValueError, match="num_classes"):
        build_model("resnet18", "fcn8s", num_classes=0)
    with pytest.raises(ValueError, match="coco"):
        build_model("resnet18", "fcn8s", num_classes=3, weights="coco")


@pytest.mark.parametrize(
    "backbone,variant",
    # VGG16's three variants cost 17 s each on one core; its fcn8s stands for them (the shape
    # test above builds all three), MobileNetV3 trains every variant.
    [*(("mobilenet_v3_large", v) for v in FCN_VARIANTS), ("vgg16", "fcn8s")],
)
def test_every_variant_trains_a_few_steps_with_exact_size_logits(backbone: str, variant: str) -> None:
    """FCN-32s/16s/8s on both of the seed table's trunks: a few SGD steps on one fixed batch lower
    its per-pixel cross-entropy step after step, and the logits keep the input's exact (odd) size throughout."""
    torch.manual_seed(0)
    model = build_model(backbone, variant, num_classes=3, weights=None).train()
    x = torch.randn(2, 3, 67, 75)
    y = torch.zeros(2, 67, 75, dtype=torch.long)
    y[:, :, 40:] = 1
    y[:, 50:, :] = 2
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    losses = []
    for _ in range(3):
        out = model(x)
        assert out.shape == (2, 3, 67, 75)
        loss = F.cross_entropy(out, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[0] > losses[1] > losses[2], losses
