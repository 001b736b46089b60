"""*File > Export model...*: the dialog exports in the background and refuses what cannot work."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from fcn_studio.data.labelset import load_preset
from fcn_studio.gui.export_model_dialog import ExportModelDialog

pytestmark = pytest.mark.gui


def _checkpoint(path: Path) -> Path:
    from fcn_studio.models.builder import build_model
    from fcn_studio.models.checkpoint import save_checkpoint

    torch.manual_seed(0)
    model = build_model("resnet18", "fcn32s", num_classes=2, weights=None).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "score" in name:
                p.normal_(0, 0.05)
    return save_checkpoint(path, model, labelset=load_preset("road"), backbone="resnet18", variant="fcn32s",
                           normalization=model.normalization, summary={"input_scale": 0.5})


def test_dialog_exports_onnx_in_the_background_for_any_size(qtbot, tmp_path):  # noqa: ANN001
    ort = pytest.importorskip("onnxruntime")
    (tmp_path / "checkpoints").mkdir()
    ckpt = _checkpoint(tmp_path / "checkpoints" / "model.pt")  # the window's checkpoint name
    dialog = ExportModelDialog(ckpt)
    qtbot.addWidget(dialog)
    assert dialog.out_edit.text() == str(tmp_path / "checkpoints" / "model.onnx")
    dialog.format_combo.setCurrentIndex(dialog.format_combo.findData("torchscript"))
    assert dialog.out_edit.text() == str(tmp_path / "checkpoints" / "model_torchscript.pt")  # never the checkpoint
    with qtbot.waitSignal(dialog.export_finished, timeout=180000) as blocker:
        assert dialog.start(fmt="onnx", out=tmp_path / "road.onnx")
        assert dialog.is_running and not dialog.export_button.isEnabled()
    summary = blocker.args[0]
    assert summary["out"] == str(tmp_path / "road.onnx") and summary["input_scale"] == 0.5
    assert not dialog.is_running and "Wrote" in dialog.status.text()
    session = ort.InferenceSession(str(tmp_path / "road.onnx"), providers=["CPUExecutionProvider"])
    for h, w in [(37, 50), (64, 96)]:
        (out,) = session.run(None, {"image": np.zeros((1, 3, h, w), np.float32)})
        assert out.shape == (1, 2, h, w)
    assert json.loads(session.get_modelmeta().custom_metadata_map["classes"]) == ["background", "road"]


def test_dialog_refuses_missing_checkpoint_existing_file_and_the_checkpoint_itself(qtbot, tmp_path):  # noqa: ANN001
    dialog = ExportModelDialog(tmp_path / "none.fcnckpt")
    qtbot.addWidget(dialog)
    assert not dialog.start(fmt="onnx") and "does not exist" in dialog.status.text()
    ckpt = tmp_path / "c.pt"
    ckpt.write_bytes(b"x")
    dialog.checkpoint_edit.setText(str(ckpt))
    taken = tmp_path / "taken.onnx"
    taken.write_bytes(b"keep")
    assert not dialog.start(fmt="onnx", out=taken) and "Replace" in dialog.status.text()
    assert not dialog.start(fmt="torchscript", out=ckpt, overwrite=True) and "checkpoint itself" in dialog.status.text()
    assert taken.read_bytes() == b"keep" and ckpt.read_bytes() == b"x" and not dialog.is_running


def test_dialog_reports_a_failed_export(qtbot, tmp_path):  # noqa: ANN001
    bad = tmp_path / "bad.fcnckpt"
    bad.write_bytes(b"not a checkpoint")
    dialog = ExportModelDialog(bad)
    qtbot.addWidget(dialog)
    with qtbot.waitSignal(dialog.export_failed, timeout=180000) as blocker:
        assert dialog.start(fmt="onnx", out=tmp_path / "m.onnx")
    assert blocker.args[0].startswith("Export failed:") and "bad.fcnckpt" in blocker.args[0]
    assert not (tmp_path / "m.onnx").exists() and dialog.export_button.isEnabled()
