"""``fcn-studio export-model``: ONNX and TorchScript files that take any image size and match torch."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from fcn_studio.cli import main
from fcn_studio.data.labelset import load_preset
from fcn_studio.models.builder import build_model
from fcn_studio.models.checkpoint import load_checkpoint, save_checkpoint

pytestmark = pytest.mark.usefixtures("torch_one_thread")  # see conftest.py

SIZES = [(45, 70), (96, 128)]  # neither a multiple of 32 nor the trace size, then one that is


def make_checkpoint(path: Path, backbone: str = "resnet18", variant: str = "fcn8s", scale: float = 0.5) -> Path:
    """A checkpoint with non-zero heads (an untrained FCN head scores everything 0)."""
    labelset = load_preset("road")
    torch.manual_seed(0)
    model = build_model(backbone, variant, num_classes=labelset.num_classes, weights=None).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "score" in name or "classifier" in name:
                p.normal_(0, 0.05)
    return save_checkpoint(path, model, labelset=labelset, backbone=backbone, variant=variant,
                           normalization=model.normalization, summary={"input_scale": scale})


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:  # noqa: ANN001
    return make_checkpoint(tmp_path_factory.mktemp("export") / "road.fcnckpt")


def _torch_logits(checkpoint: Path, x: torch.Tensor) -> np.ndarray:
    model, _ = load_checkpoint(checkpoint)
    with torch.no_grad():
        return model(x).numpy()


def test_onnx_runs_in_onnxruntime_at_two_sizes_and_matches_torch(checkpoint, tmp_path, capsys):  # noqa: ANN001
    ort = pytest.importorskip("onnxruntime")
    out = tmp_path / "road.onnx"
    assert main(["export-model", "--checkpoint", str(checkpoint), "--format", "onnx", "--out", str(out), "--trace-size", "64x64"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["classes"] == ["background", "road"] and summary["input_scale"] == 0.5
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    worst = 0.0
    for h, w in SIZES:
        x = torch.randn(1, 3, h, w)
        (got,) = session.run(None, {"image": x.numpy()})
        want = _torch_logits(checkpoint, x)
        assert got.shape == (1, 2, h, w)
        assert float(np.abs(want).max()) > 1e-3  # a real signal to compare, not zeros against zeros
        worst = max(worst, float(np.abs(got - want).max()))
    assert worst <= 1e-4, worst
    meta = session.get_modelmeta().custom_metadata_map
    assert json.loads(meta["classes"]) == ["background", "road"]
    assert json.loads(meta["input_scale"]) == 0.5
    assert json.loads(meta["normalization"])["mean"] == pytest.approx([0.485, 0.456, 0.406])
    assert json.loads(meta["labelset"])["name"] == "Road"


def test_torchscript_reloads_and_matches_at_two_sizes(checkpoint, tmp_path):  # noqa: ANN001
    out = tmp_path / "road.pt"
    assert main(["export-model", "--checkpoint", str(checkpoint), "--format", "torchscript", "--out", str(out),
                 "--trace-size", "64x64"]) == 0
    extra = {"fcn_studio.json": ""}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated upstream
        scripted = torch.jit.load(str(out), _extra_files=extra)
    for h, w in SIZES:
        x = torch.randn(2, 3, h, w)
        with torch.no_grad():
            got = scripted(x).numpy()
        assert got.shape == (2, 2, h, w)  # exact size: the 200x300 -> 224x320 is gone
        np.testing.assert_allclose(got, _torch_logits(checkpoint, x), rtol=0, atol=1e-5)
    info = json.loads(extra["fcn_studio.json"])
    assert info["input_scale"] == 0.5 and info["classes"] == ["background", "road"]


@pytest.mark.parametrize("backbone,variant", [("mobilenet_v3_large", "fcn8s"), ("lraspp_mobilenet_v3_large", "tv")])
def test_other_backbones_export_at_any_size(backbone, variant, tmp_path):  # noqa: ANN001
    ort = pytest.importorskip("onnxruntime")
    from fcn_studio.models.export import export_checkpoint

    ckpt = make_checkpoint(tmp_path / "m.fcnckpt", backbone, variant)
    export_checkpoint(ckpt, tmp_path / "m.onnx", fmt="onnx", input_hw=(64, 64))
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    x = torch.randn(1, 3, 50, 83)
    (got,) = session.run(None, {"image": x.numpy()})
    np.testing.assert_allclose(got, _torch_logits(ckpt, x), rtol=0, atol=1e-4)


def test_export_model_refuses_an_existing_file_and_a_missing_checkpoint(checkpoint, tmp_path, capsys):  # noqa: ANN001
    out = tmp_path / "taken.onnx"
    out.write_bytes(b"keep me")
    assert main(["export-model", "--checkpoint", str(checkpoint), "--format", "onnx", "--out", str(out)]) == 2
    assert out.read_bytes() == b"keep me"
    assert main(["export-model", "--checkpoint", str(tmp_path / "nope.fcnckpt"), "--format", "onnx", "--out", str(tmp_path / "a.onnx")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "--overwrite" in err[0] and "does not exist" in err[1]


def test_onnx_with_the_documented_preprocessing_reproduces_predict(checkpoint, tmp_path):  # noqa: ANN001
    """What the README tells an outside user to do with the .onnx file gives ``predict``'s labels."""
    ort = pytest.importorskip("onnxruntime")
    import cv2
    import torch.nn.functional as F

    from fcn_studio.models.export import export_checkpoint
    from fcn_studio.inference.predictor import Predictor

    export_checkpoint(checkpoint, tmp_path / "m.onnx", fmt="onnx")
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    raw = session.get_modelmeta().custom_metadata_map
    meta = {k: json.loads(raw[k]) for k in ("input_scale", "normalization")}
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (61, 93, 3), dtype=np.uint8)
    image[30:, 20:70] = (200, 60, 200)
    h, w = image.shape[:2]
    s = meta["input_scale"]
    small = cv2.resize(image, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
    x = (small.astype(np.float32) / 255 - np.array(meta["normalization"]["mean"], np.float32)) / np.array(meta["normalization"]["std"], np.float32)
    (logits,) = session.run(None, {"image": x.transpose(2, 0, 1)[None].astype(np.float32)})
    up = F.interpolate(torch.from_numpy(logits), size=(h, w), mode="bilinear", align_corners=False)
    want = Predictor.from_checkpoint(checkpoint, device="cpu").logits(image)
    assert up.shape == want.shape == (1, 2, h, w)
    assert float((want[:, 1] - want[:, 0]).std()) > 1e-3  # logits that vary over the image, not a constant
    np.testing.assert_allclose(up.numpy(), want.numpy(), rtol=0, atol=1e-4)
