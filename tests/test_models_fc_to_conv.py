"""convolutionalize() and the ImageNet heatmaps built on it."""

from __future__ import annotations


import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from fcn_studio.models import ImageNetHeatmapper, convolutionalize, imagenet_categories


pytestmark = pytest.mark.usefixtures("torch_one_thread")  # see conftest.py


@pytest.fixture(scope="module")
def vgg() -> torchvision.models.VGG:
    torch.manual_seed(0)
    return torchvision.models.vgg16(weights=None).eval()


@pytest.fixture(scope="module")
def conv_vgg(vgg: torchvision.models.VGG) -> nn.Sequential:
    return convolutionalize(vgg).eval()


def test_equals_classifier_logits_at_224(vgg: nn.Module, conv_vgg: nn.Module) -> None:
    torch.manual_seed(1)
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        expected = vgg(x)
        got = conv_vgg(x)
    assert got.shape == (1, 1000, 1, 1)
    got = got.flatten(1)
    scale = expected.abs().max()
    assert scale > 0
    assert (got - expected).abs().max() / scale < 1e-4
    assert torch.equal(got.topk(5).indices, expected.topk(5).indices)


def test_larger_input_gives_score_map(conv_vgg: nn.Module) -> None:
    with torch.no_grad():
        out = conv_vgg(torch.randn(1, 3, 384, 384))
    assert out.shape == (1, 1000, 6, 6)
    # Positions differ: the classifier really slides instead of being pooled to one window.
    assert not torch.allclose(out[..., 0, 0], out[..., 5, 5])


def test_layout_keeps_dropout_and_drops_adaptive_pool(vgg: nn.Module, conv_vgg: nn.Module) -> None:
    kinds = [type(m) for m in conv_vgg.classifier]
    assert kinds == [nn.Conv2d, nn.ReLU, nn.Dropout, nn.Conv2d, nn.ReLU, nn.Dropout, nn.Conv2d]
    fc6, fc7, fc8 = conv_vgg.classifier[0], conv_vgg.classifier[3], conv_vgg.classifier[6]
    assert fc6.weight.shape == (4096, 512, 7, 7) and fc6.padding == (0, 0)
    assert fc7.weight.shape == (4096, 4096, 1, 1)
    assert fc8.weight.shape == (1000, 4096, 1, 1)
    assert not any(isinstance(m, nn.AdaptiveAvgPool2d) for m in conv_vgg.modules())
    # torchvision's parameter names survive, so state dicts stay recognisable.
    keys = set(conv_vgg.state_dict())
    assert {"features.0.weight", "classifier.0.weight", "classifier.6.bias"} <= keys
    # The input model is untouched and does not share storage by default.
    assert vgg.classifier[0].weight.shape == (4096, 25088)
    assert fc6.weight.data_ptr() != vgg.classifier[0].weight.data_ptr()


def test_rejects_linear_that_does_not_fold() -> None:
    from fcn_studio.models.fc_to_conv import conv_from_linear

    with pytest.raises(ValueError, match="cannot fold"):
        conv_from_linear(nn.Linear(100, 10), in_channels=512, kernel_size=7)


@pytest.fixture(scope="module")
def heatmapper(conv_vgg: nn.Module) -> ImageNetHeatmapper:
    return ImageNetHeatmapper(net=conv_vgg, classifier="vgg16")


def test_heatmap_grid_topk_and_upsampling(heatmapper: ImageNetHeatmapper) -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(256, 320, 3), dtype=np.uint8)
    result = heatmapper.run(image, top_k=5)
    assert result.grid_shape == (2, 4)  # (256/32 - 6, 320/32 - 6)
    assert result.probabilities.shape == (1000, 2, 4)
    np.testing.assert_allclose(result.probabilities.sum(0), 1.0, atol=1e-4)
    mean = result.probabilities.mean(axis=(1, 2))
    assert [i for i, _, _ in result.top_classes] == list(np.argsort(-mean)[:5])
    names = imagenet_categories()
    assert len(names) == 1000
    assert all(name == names[i] for i, name, _ in result.top_classes)
    assert result.class_index == result.top_classes[0][0]
    assert result.heatmap.shape == (256, 320) and result.heatmap.dtype == np.float32
    grid = torch.from_numpy(result.probabilities[result.class_index])[None, None]
    expected = F.interpolate(grid, size=(256, 320), mode="bilinear", align_corners=False)[0, 0].numpy()
    np.testing.assert_allclose(result.heatmap, expected, atol=1e-6)


def test_heatmap_for_a_chosen_class_and_small_image(heatmapper: ImageNetHeatmapper) -> None:
    image = np.full((100, 125, 3), 128, dtype=np.uint8)  # upscaled to 224 x 280, sides to 32s: 224 x 288
    result = heatmapper.run(image, class_index=954, top_k=3)
    assert result.class_index == 954 and result.class_name == imagenet_categories()[954]
    assert result.grid_shape == (1, 3)  # (224/32 - 6, 288/32 - 6)
    assert result.heatmap.shape == (100, 125)
    assert len(result.top_classes) == 3
    with pytest.raises(ValueError):
        heatmapper.run(image, class_index=1000)
    with pytest.raises(ValueError):
        heatmapper.run(image[..., 0])
