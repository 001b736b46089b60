"""Checkpoints (safe, checked round trips) and TorchScript / ONNX export."""

from __future__ import annotations

import json
import os
import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from fcn_studio.data.atomic import stale_temp_files
from fcn_studio.data.labelset import LabelClass, LabelSet
from fcn_studio.errors import CheckpointError
from fcn_studio.models import (
    build_model,
    export_onnx,
    export_torchscript,
    load_checkpoint,
    read_checkpoint_meta,
    save_checkpoint,
)
from fcn_studio.models.checkpoint import FORMAT


pytestmark = pytest.mark.usefixtures("torch_one_thread")  # see conftest.py


LABELS = LabelSet(
    name="road",
    classes=(
        LabelClass(0, "road", (128, 64, 128)),
        LabelClass(1, "car", (64, 0, 128)),
        LabelClass(2, "sky", (128, 128, 128)),
        LabelClass(3, "void", (0, 0, 0)),
    ),
    ignore_index=3,
)


def _trained_like(backbone: str = "resnet18", variant: str = "fcn8s") -> torch.nn.Module:
    """A model whose weights differ from a fresh build everywhere, incl. BN statistics."""
    torch.manual_seed(0)
    model = build_model(backbone, variant, num_classes=LABELS.num_classes)
    with torch.no_grad():
        for p in model.head_parameters():
            p.add_(torch.randn_like(p) * 0.05)
        model.train()(torch.randn(2, 3, 64, 64))  # moves BatchNorm running stats
    return model.eval()


def _save(path: Path, model: torch.nn.Module, **summary: object) -> Path:
    return save_checkpoint(
        path,
        model,
        labelset=LABELS,
        backbone=model.backbone,
        variant=model.variant,
        normalization=model.normalization,
        summary=summary or {"epochs": 3, "miou": 0.5, "per_class_iou": [0.1, 0.2, 0.3]},
    )


@pytest.mark.parametrize("backbone,variant", [("resnet18", "fcn8s"), ("lraspp_mobilenet_v3_large", "tv")])
def test_round_trip_predicts_identically(tmp_path: Path, backbone: str, variant: str) -> None:
    model = _trained_like(backbone, variant)
    path = _save(tmp_path / "model.fcnckpt", model, epochs=3, miou=np.float32(0.5), history=(1, 2))
    assert stale_temp_files(tmp_path) == []
    loaded, meta = load_checkpoint(path)
    assert not loaded.training
    x = torch.randn(1, 3, 75, 101)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))
    assert meta.backbone == backbone and meta.variant == variant and meta.num_classes == 3
    assert meta.labelset == LABELS and meta.labelset.ignore_index == 3
    assert meta.summary == {"epochs": 3, "miou": 0.5, "history": [1, 2]}
    assert meta.normalization == model.normalization == loaded.normalization
    assert meta.version == 1 and meta.created
    assert read_checkpoint_meta(path) == meta


def test_every_load_is_weights_only(tmp_path: Path) -> None:
    """The raw file is plain data: torch.load(weights_only=True) reads it without help."""
    path = _save(tmp_path / "m.fcnckpt", _trained_like())
    raw = torch.load(path, map_location="cpu", weights_only=True)
    assert raw["format"] == FORMAT and raw["labelset"] == LABELS.to_json()
    package = Path(__file__).resolve().parent.parent / "fcn_studio"
    for source in package.rglob("*.py"):
        for line in source.read_text().splitlines():
            if "torch.load(" in line and not line.strip().startswith("#"):
                assert "weights_only=True" in line, f"{source}: {line.strip()}"


class _Evil:
    """Unpickling this would run a shell command that creates a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("container", ["torch.save", "pickle"])
def test_malicious_pickle_is_refused_and_never_runs(tmp_path: Path, container: str) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.fcnckpt"
    payload = {"format": FORMAT, "version": 1, "state_dict": {"x": _Evil(marker)}}
    if container == "torch.save":
        torch.save(payload, path)
    else:
        with path.open("wb") as fh:
            pickle.dump(payload, fh, protocol=2)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    assert str(path) in str(info.value)
    if container == "torch.save":
        assert "refused" in str(info.value)
    assert not marker.exists()
    # The same file given as backbone weights is refused the same way.
    with pytest.raises(CheckpointError):
        build_model("resnet18", "fcn8s", num_classes=3, weights=path)
    assert not marker.exists()


def test_foreign_and_damaged_files(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.fcnckpt")
    bare = tmp_path / "bare.pth"
    torch.save(build_model("resnet18", "fcn32s", num_classes=2).state_dict(), bare)
    with pytest.raises(CheckpointError, match="bare state dict"):
        load_checkpoint(bare)
    text = tmp_path / "notes.fcnckpt"
    text.write_text("hello\n")
    with pytest.raises(CheckpointError, match="not a PyTorch file"):
        load_checkpoint(text)
    good = _save(tmp_path / "good.fcnckpt", _trained_like())
    truncated = tmp_path / "truncated.fcnckpt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError):
        load_checkpoint(truncated)


def _tamper(path: Path, out: Path, change: callable) -> Path:
    obj = torch.load(path, map_location="cpu", weights_only=True)
    change(obj)
    torch.save(obj, out)
    return out


def test_checkpoint_that_does_not_fit_is_refused(tmp_path: Path) -> None:
    good = _save(tmp_path / "good.fcnckpt", _trained_like())
    cases = {
        "newer": (lambda o: o.update(version=99), "newer"),
        "keys": (lambda o: o["state_dict"].pop("head.score.layer2.weight"), "missing"),
        "shape": (lambda o: o.update(backbone="resnet50"), "another shape"),
        "variant": (lambda o: o.update(variant="fcn32s"), "unexpected"),
        "backbone": (lambda o: o.update(backbone="alexnet"), "alexnet"),
        "classes": (lambda o: o.update(num_classes=7), "inconsistent"),
        "labels": (lambda o: o.update(labelset={"classes": "x"}), "malformed"),
        "summary": (lambda o: o.pop("summary"), "summary"),
    }
    for name, (change, message) in cases.items():
        bad = _tamper(good, tmp_path / f"{name}.fcnckpt", change)
        with pytest.raises(CheckpointError, match=message):
            load_checkpoint(bad)


def test_save_refuses_what_could_not_be_loaded(tmp_path: Path) -> None:
    model = build_model("resnet18", "fcn32s", num_classes=3)
    path = tmp_path / "m.fcnckpt"
    with pytest.raises(CheckpointError, match="summary.optimizer"):
        _save(path, model, optimizer=object())
    with pytest.raises(CheckpointError, match="4 classes|3 trainable"):
        save_checkpoint(
            path,
            build_model("resnet18", "fcn32s", num_classes=4),
            labelset=LABELS,
            backbone="resnet18",
            variant="fcn32s",
            normalization=model.normalization,
            summary={},
        )
    assert not path.exists() and stale_temp_files(tmp_path) == []


def test_torchscript_export_matches(tmp_path: Path) -> None:
    model = _trained_like()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated upstream
        path = export_torchscript(model, tmp_path / "model.pt", input_hw=(75, 101))
        extra = {"fcn_studio.json": ""}
        scripted = torch.jit.load(str(path), _extra_files=extra)
    x = torch.randn(2, 3, 75, 101)
    with torch.no_grad():
        torch.testing.assert_close(scripted(x), model(x), rtol=1e-5, atol=1e-5)
    info = json.loads(extra["fcn_studio.json"])
    assert info["num_classes"] == 3 and info["traced_hw"] == [75, 101]
    assert info["normalization"] == model.normalization


def test_onnx_export_runs_and_matches(tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    from onnx.reference import ReferenceEvaluator

    model = _trained_like("mobilenet_v3_large", "fcn8s")
    path = export_onnx(model, tmp_path / "model.onnx", input_hw=(64, 96))
    proto = onnx.load(str(path))
    assert [i.name for i in proto.graph.input] == ["image"]
    assert [o.name for o in proto.graph.output] == ["logits"]
    meta = {p.key: p.value for p in proto.metadata_props}
    assert json.loads(meta["normalization"]) == model.normalization
    x = torch.randn(2, 3, 64, 96)  # batch 2: the batch axis is dynamic
    (got,) = ReferenceEvaluator(proto).run(None, {"image": x.numpy()})
    with torch.no_grad():
        want = model(x).numpy()
    assert got.shape == (2, 3, 64, 96)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
