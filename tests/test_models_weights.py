"""Pretrained weights: local torchvision-format files, the cache, and a fast offline failure."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest
import torch
import torchvision

from fcn_studio.errors import CheckpointError, WeightsUnavailableError
from fcn_studio.models import build_model
from fcn_studio.models.weights import IMAGENET, cache_path, is_cached


pytestmark = pytest.mark.usefixtures("torch_one_thread")  # see conftest.py


@pytest.fixture(scope="module")
def resnet18_state() -> dict[str, torch.Tensor]:
    """A torchvision resnet18 state dict with recognisable values."""
    torch.manual_seed(0)
    state = torchvision.models.resnet18(weights=None).state_dict()
    state["conv1.weight"] = torch.full_like(state["conv1.weight"], 0.125)
    state["layer4.1.bn2.running_mean"] = torch.arange(512, dtype=torch.float32)
    return state


def _assert_trunk_matches(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    trunk = model.trunk.state_dict()
    assert set(trunk) == {k for k in state if not k.startswith("fc.")}
    for key, value in trunk.items():
        assert torch.equal(value, state[key]), key


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every connection attempt fails at once and is recorded."""
    attempts: list[str] = []

    def refuse(*args: object, **kwargs: object) -> None:
        attempts.append(repr(args[:2]))
        raise OSError("network disabled by the test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    return attempts


def test_weights_path_loads_torchvision_state_dict(tmp_path: Path, resnet18_state: dict) -> None:
    path = tmp_path / "resnet18.pth"
    torch.save(resnet18_state, path)
    model = build_model("resnet18", "fcn8s", num_classes=4, weights=path)
    _assert_trunk_matches(model, resnet18_state)
    assert all(p.dtype == torch.float32 and not p.is_meta for p in model.parameters())
    assert all((p == 0).all() for p in model.head.score.parameters())  # head stays new


def test_weights_path_accepts_wrappers_and_half_precision(tmp_path: Path, resnet18_state: dict) -> None:
    path = tmp_path / "wrapped.pth"
    torch.save(
        {
            "state_dict": {
                f"module.{k}": v.half() if v.is_floating_point() else v for k, v in resnet18_state.items()
            }
        },
        path,
    )
    model = build_model("resnet18", "fcn32s", num_classes=2, weights=str(path))
    assert model.trunk.conv1.weight.dtype == torch.float32
    assert torch.equal(model.trunk.conv1.weight, resnet18_state["conv1.weight"])


def test_vgg16_weights_fold_into_fc6_and_fc7(tmp_path: Path) -> None:
    """The classifier's Linear weights arrive reshaped as fc6 (7x7) and fc7 (1x1) convs.

    Built on the meta device and filled with cheap recognisable values: a real random
    VGG16 state dict would take seconds to initialise."""
    with torch.device("meta"):
        shapes = {k: (v.shape, v.dtype) for k, v in torchvision.models.vgg16().state_dict().items()}
    state = {
        k: torch.full(shape, float(i % 7) / 10, dtype=dtype)
        for i, (k, (shape, dtype)) in enumerate(shapes.items())
    }
    state["classifier.0.weight"][5, 512 * 49 - 1] = 3.0  # last input of fc6 = channel 511, (6, 6)
    path = tmp_path / "vgg16.pth"
    torch.save(state, path)
    model = build_model("vgg16", "fcn16s", num_classes=3, weights=path)
    trunk = model.trunk
    assert torch.equal(trunk.features[28].weight, state["features.28.weight"])
    assert trunk.classifier[0].weight[5, 511, 6, 6] == 3.0
    assert torch.equal(trunk.classifier[0].weight.flatten(1), state["classifier.0.weight"])
    assert torch.equal(trunk.classifier[3].weight.flatten(1), state["classifier.3.weight"])
    assert "classifier.6.weight" not in trunk.state_dict()  # fc8 (ImageNet classes) dropped


def test_mismatched_file_is_a_clear_error(tmp_path: Path, resnet18_state: dict) -> None:
    path = tmp_path / "resnet18.pth"
    torch.save(resnet18_state, path)
    with pytest.raises(CheckpointError, match="another shape|missing|unexpected") as info:
        build_model("resnet50", "fcn8s", num_classes=3, weights=path)
    assert str(path) in str(info.value)
    partial = dict(resnet18_state)
    del partial["layer3.0.conv1.weight"]
    torch.save(partial, path)
    with pytest.raises(CheckpointError, match="1 missing.*layer3.0.conv1.weight"):
        build_model("resnet18", "fcn8s", num_classes=3, weights=path)


def test_missing_or_foreign_weights_file(tmp_path: Path) -> None:
    with pytest.raises(WeightsUnavailableError, match="does not exist"):
        build_model("resnet18", "fcn8s", num_classes=3, weights=tmp_path / "nope.pth")
    text = tmp_path / "notes.pth"
    text.write_text("not weights\n")
    with pytest.raises(CheckpointError, match="not a PyTorch file"):
        build_model("resnet18", "fcn8s", num_classes=3, weights=text)
    torch.save({"epoch": 3}, text)
    with pytest.raises(CheckpointError, match="not a state dict"):
        build_model("resnet18", "fcn8s", num_classes=3, weights=text)


def test_imagenet_offline_fails_fast_with_instructions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_network: list[str]
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.delenv("FCN_STUDIO_OFFLINE", raising=False)
    for proxy in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(proxy, raising=False)
    expected = cache_path(IMAGENET["resnet18"])
    assert str(expected).startswith(str(tmp_path))
    start = time.monotonic()
    with pytest.raises(WeightsUnavailableError) as info:
        build_model("resnet18", "fcn8s", num_classes=3, weights="imagenet")
    assert time.monotonic() - start < 3.0
    message = str(info.value)
    assert IMAGENET["resnet18"].url in message
    assert str(expected) in message
    assert "--weights none" in message and "weights=None" in message
    assert no_network, "the download server was never probed"
    assert not expected.exists()


def test_offline_switch_skips_the_probe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_network: list[str]
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("FCN_STUDIO_OFFLINE", "1")
    with pytest.raises(WeightsUnavailableError, match="FCN_STUDIO_OFFLINE"):
        build_model("mobilenet_v3_large", "fcn8s", num_classes=3, weights="imagenet")
    assert no_network == []


def test_imagenet_loads_from_cache_without_network(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_network: list[str], resnet18_state: dict
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    path = cache_path(IMAGENET["resnet18"])
    assert not is_cached("resnet18")
    path.parent.mkdir(parents=True)
    torch.save(resnet18_state, path)
    assert is_cached("resnet18")
    model = build_model("resnet18", "fcn16s", num_classes=3, weights="imagenet")
    _assert_trunk_matches(model, resnet18_state)
    assert no_network == []


def test_damaged_cache_file_says_to_delete_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    path = cache_path(IMAGENET["resnet18"])
    path.parent.mkdir(parents=True)
    path.write_bytes(os.urandom(256))
    with pytest.raises(CheckpointError, match=f"Delete {path}"):
        build_model("resnet18", "fcn8s", num_classes=3, weights="imagenet")


@pytest.mark.parametrize("backbone", ["lraspp_mobilenet_v3_large", "fcn_resnet50"])
def test_torchvision_segmentation_state_dict_gets_a_new_head(tmp_path: Path, backbone: str) -> None:
    """A COCO-trained file (21 VOC classes, with aux head for FCN) loads, then the head is
    replaced for the user's classes and the backbone keeps the file's weights."""
    from torchvision.models import segmentation

    torch.manual_seed(0)
    ctor = getattr(segmentation, backbone)
    extra = {"aux_loss": True} if backbone == "fcn_resnet50" else {}
    coco = ctor(weights=None, weights_backbone=None, num_classes=21, **extra)
    state = coco.state_dict()
    first = next(k for k in state if k.startswith("backbone.") and k.endswith("weight"))
    state[first] = torch.full_like(state[first], 0.25)
    path = tmp_path / "coco.pth"
    torch.save(state, path)
    model = build_model(backbone, None, num_classes=6, weights=path).eval()
    assert torch.equal(model.model.state_dict()[first], state[first])
    backbone_state = model.model.backbone.state_dict()
    assert all(torch.equal(v, state[f"backbone.{k}"]) for k, v in backbone_state.items())
    with torch.no_grad():
        out = model(torch.randn(1, 3, 45, 61))
    assert out.shape == (1, 6, 45, 61)
    torch.testing.assert_close(out.softmax(1), torch.full_like(out, 1 / 6))


def test_torchvision_segmentation_from_classification_weights(tmp_path: Path) -> None:
    torch.manual_seed(0)
    state = torchvision.models.mobilenet_v3_large(weights=None).state_dict()
    state["features.0.0.weight"] = torch.full_like(state["features.0.0.weight"], -0.5)
    path = tmp_path / "mnv3.pth"
    torch.save(state, path)
    model = build_model("lraspp_mobilenet_v3_large", "tv", num_classes=2, weights=path)
    assert torch.equal(model.model.backbone.state_dict()["0.0.weight"], state["features.0.0.weight"])
