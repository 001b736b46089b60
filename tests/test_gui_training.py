"""Drive the real window through one-click fine-tuning: curves, live layers, accept, predict all, export."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QSettings

from fcn_studio.data.demo import create_demo_project
from fcn_studio.data.labelset import UNPAINTED
from fcn_studio.data.project import Project
from fcn_studio.gui.launch import make_app
from fcn_studio.gui.main_window import MainWindow
from fcn_studio.inference.refine import edge_refine

pytestmark = pytest.mark.gui


def is_step(message) -> bool:  # noqa: ANN001
    from fcn_studio.training.messages import StepReported

    return isinstance(message, StepReported)

TINY = dict(
    backbone="resnet18", variant="fcn32s", weights=None, epochs=1, fast_steps=6, batch_size=2,
    crop_size=(64, 64), scale=0.5, preview_every_s=0.2, val_fraction=0.0,
)


@pytest.fixture
def window(qtbot, tmp_path):
    make_app()
    project = create_demo_project(tmp_path / "demo", n_images=3, n_labelled=2, seed=2, size=(96, 128))
    win = MainWindow(project, QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(win)
    win.resize(1200, 800)
    win.show()
    # the first image may load while the window is being built: wait for the state, not a signal
    qtbot.waitUntil(lambda: win.editor.image_id is not None, timeout=30000)
    return win


def test_fine_tune_live_layers_accept_predict_all_export_reopen(window, qtbot, tmp_path):
    win, session, layers = window, window.training, window.prediction_layers
    target = win.project.images[2].id  # the unpainted one
    with qtbot.waitSignal(win.editor.image_loaded, timeout=30000):
        win.image_list.select(target)
    assert (win.editor.mask == UNPAINTED).all()

    with qtbot.waitSignal(session.prediction_shown, timeout=120000) as shown:
        assert session.start("fine-tune", **TINY)
    assert shown.args == [target]
    assert win.training_panel.stop.isEnabled()
    with qtbot.waitSignal(session.controller.finished, timeout=120000) as done:
        session.stop()
    assert done.args[0]["stopped"] in ("cancelled", "completed")
    assert not win.training_panel.stop.isEnabled()

    # the loss curve got points, the layers show this image's prediction
    xs, ys = win.training_panel.loss_curve.getData()
    assert xs is not None and len(xs) >= 1 and np.all(np.isfinite(ys))
    assert layers.image_id == target and layers.probs.shape == (5, 96, 128)
    assert layers.item("prediction").array.shape == (96, 128)

    # the heatmap class and opacity change instantly, without new inference
    layers.set_visible("heatmap", True)

    def heat(k: int) -> np.ndarray:
        return np.clip(layers.probs[k].astype(np.float32) * 255 + 0.5, 0, 255).astype(np.uint8)

    probs = layers.probs
    win.heatmap_legend.select(1)
    np.testing.assert_array_equal(layers.item("heatmap").array, heat(1))
    # exactly class 0's map, from the same probabilities (a tiny run's two maps may well look alike)
    win.heatmap_legend.select(0)
    np.testing.assert_array_equal(layers.item("heatmap").array, heat(0))
    assert layers.probs is probs
    win.layers_panel.rows["heatmap"].slider.setValue(30)
    assert layers.item("heatmap").opacity() == pytest.approx(0.3)

    # snapping to image edges: off by default for this project's full masks; switching it on
    # predicts the image again and shows the refined segmentation, and the next run uses it
    assert not session.refine_edges() and not win.snap_edges.isChecked()
    assert session.build_config("fine-tune").refine_edges is False
    qtbot.waitUntil(lambda: session._predictor is not None, timeout=60000)
    with qtbot.waitSignal(session.prediction_shown, timeout=60000):
        win.snap_edges.setChecked(True)
    predictor, image = session._predictor, win.editor.image
    raw = predictor.predict(image, want_probs=True, probs_dtype=np.float32, refine_edges=False)
    snapped = edge_refine(image, raw.probs, radius=predictor.refine_radius)[0]
    np.testing.assert_array_equal(layers.labels, snapped)
    assert session.build_config("fine-tune").refine_edges is True

    # accept the prediction as one undoable step
    assert session.accept_prediction()
    np.testing.assert_array_equal(win.editor.mask, layers.labels)
    win.actions_.undo.trigger()
    assert (win.editor.mask == UNPAINTED).all()
    win.actions_.redo.trigger()
    np.testing.assert_array_equal(win.editor.mask, layers.labels)
    accepted = win.editor.mask.copy()

    # predict all in the background, then export the predictions
    with qtbot.waitSignal(session.predict_all_done, timeout=120000) as pa:
        session.predict_all()
    assert pa.args[0]["predicted"] == 3
    for e in win.project.images:
        assert e.predicted and (win.project.root / e.prediction).exists() and "uncertainty" in e.extra
    from fcn_studio.gui.export_dialog import ExportDialog

    dialog = ExportDialog(win.project, parent=win)
    with qtbot.waitSignal(dialog.export_finished, timeout=30000):
        dialog.start(tmp_path / "out", ["index"], source="predicted")
    for e in win.project.images:
        exported = np.asarray(Image.open(tmp_path / "out" / "index" / f"{e.id}.png"))
        np.testing.assert_array_equal(exported, np.asarray(Image.open(win.project.root / e.prediction)))

    root = win.project.root
    win.close()
    again = Project.open(root)
    assert again.extra.get("checkpoint") == "checkpoints/model.fcnckpt"
    assert (root / "checkpoints" / "model.fcnckpt").exists()
    np.testing.assert_array_equal(again.load_mask(target), accepted)
    from fcn_studio.models.checkpoint import load_checkpoint

    model, meta = load_checkpoint(root / "checkpoints" / "model.fcnckpt")
    assert meta.labelset == again.labelset


def test_training_without_painted_pixels_says_so(qtbot, tmp_path):
    make_app()
    project = create_demo_project(tmp_path / "demo", n_images=2, n_labelled=0, seed=1, size=(64, 64))
    win = MainWindow(project, QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(win)
    win.show()
    # the first image may load while the window is being built: wait for the state, not a signal
    qtbot.waitUntil(lambda: win.editor.image_id is not None, timeout=30000)
    assert not win.training.start("fine-tune", **TINY)
    assert "Paint" in (win.last_error or "")
    assert win.training_panel.fine_tune.isEnabled()


def test_a_training_process_that_dies_is_a_message_and_the_app_stays_usable(window, qtbot):
    import os
    import signal

    win, session = window, window.training
    with qtbot.waitSignal(session.controller.message, timeout=120000, check_params_cb=is_step):
        assert session.start("live", **{**TINY, "epochs": None})
    process = session.controller._relay.process
    with qtbot.waitSignal(session.controller.finished, timeout=60000) as done:
        os.kill(process.pid, signal.SIGKILL)  # what the kernel's out-of-memory killer does
    assert done.args[0]["stopped"] == "error"
    assert "killed" in (win.last_error or "") and "memory" in win.last_error
    assert win.training_panel.fine_tune.isEnabled() and not win.training_panel.stop.isEnabled()
    # painting still works
    win.editor.set_active_class(1)
    before = int((win.editor.mask == 1).sum())
    win.editor.begin_stroke(10, 10)
    win.editor.continue_stroke(40, 12)
    win.editor.end_stroke()
    assert int((win.editor.mask == 1).sum()) > before
    assert not session.controller.running


def test_a_training_process_that_cannot_start_is_a_message(window, monkeypatch):
    from fcn_studio.gui import training_worker

    def no_process(self):
        raise OSError(12, "Cannot allocate memory")

    monkeypatch.setattr(training_worker.TrainingProcess, "spawn", no_process)
    session = window.training
    if session.controller._spare is not None:  # a process warmed up already: without it
        session.controller._spare.close()
        session.controller._spare = None
    assert not session.start("fine-tune", **TINY)
    assert "Could not start the training process: Cannot allocate memory" in (window.last_error or "")
    assert window.training_panel.fine_tune.isEnabled() and not session.controller.running


def test_learn_from_choice_reaches_the_run_and_the_progress_line_says_so(window, qtbot):
    """*Learn from* is the panel's; with unpainted images in the project the progress line names both sets."""
    win, session, panel = window, window.training, window.training_panel
    assert panel.unlabelled.currentData() == "auto"
    assert session.build_config("fine-tune").unlabelled == "auto"
    panel.unlabelled.setCurrentIndex(panel.unlabelled.findData("off"))
    assert session.build_config("fine-tune").unlabelled == "off"
    panel.unlabelled.setCurrentIndex(panel.unlabelled.findData("on"))
    masks = {e.id: (win.project.root / e.mask).read_bytes() for e in win.project.images if e.painted > 0}
    with qtbot.waitSignal(session.controller.message, timeout=120000, check_params_cb=is_step):
        assert session.start("fine-tune", **{**TINY, "fast_steps": 1, "epochs": None, "max_steps": 40})
    assert not panel.unlabelled.isEnabled()  # settings are fixed while a run lasts
    qtbot.waitUntil(lambda: "learning from 2 painted + 1 unpainted images" in panel.status.text(), timeout=60000)
    with qtbot.waitSignal(session.controller.finished, timeout=120000):
        session.stop()
    assert panel.unlabelled.isEnabled()
    # the teacher's pseudo-labels never became masks
    unpainted = [e for e in win.project.images if e.painted == 0]
    assert unpainted and all(not (win.project.root / e.mask).exists() for e in unpainted)
    assert {e.id: (win.project.root / e.mask).read_bytes() for e in win.project.images if e.painted > 0} == masks


def _train_tiny(win, qtbot) -> dict:
    with qtbot.waitSignal(win.training.controller.finished, timeout=180000) as done:
        assert win.training.start("fine-tune", **TINY)
    assert done.args[0]["stopped"] in ("completed", "time budget", "step limit"), done.args[0]
    return done.args[0]


def test_a_reopened_project_continues_from_its_model_with_its_settings(window, qtbot, tmp_path):
    """Issue 18 bug 2: reopened, *Start from* was Random init and *Length* 1.00 again."""
    win, panel = window, window.training_panel
    panel.minutes.setValue(2.5)
    panel.unlabelled.setCurrentIndex(panel.unlabelled.findData("off"))
    panel.weights.setCurrentIndex(panel.weights.findData("none"))
    _train_tiny(win, qtbot)
    assert panel.weights.currentData() == "checkpoint"  # the next Fine-tune continues this model
    root = win.project.root
    win.close()

    again = MainWindow(Project.open(root), QSettings(str(tmp_path / "s2.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(again)
    again.show()
    p2 = again.training_panel
    assert p2.weights.currentData() == "checkpoint"
    assert p2.minutes.value() == pytest.approx(2.5)
    assert p2.unlabelled.currentData() == "off"
    config = again.training.build_config("fine-tune")
    assert config.resume is not None and config.resume.resolve() == (root / "checkpoints" / "model.fcnckpt").resolve()
    assert config.minutes == pytest.approx(2.5)
    # and its model predicts the image on screen
    qtbot.waitUntil(lambda: again.prediction_layers.image_id == again.editor.image_id, timeout=60000)
    # a run says which trunk trains and where it starts (issue 34 item 14)
    said: list[str] = []
    again.status.messageChanged.connect(said.append)
    _train_tiny(again, qtbot)
    assert any(m.startswith("training ResNet-18") and "from the checkpoint model.fcnckpt" in m for m in said), said
    again.close()


def test_after_opening_another_project_fine_tune_trains_and_predicts_with_its_model(window, qtbot, tmp_path):
    """Issue 15 bug 1: the old session's wait() closed the controller for good; the next
    Fine-tune did nothing and the old project's model stayed loaded."""
    win = window
    _train_tiny(win, qtbot)
    qtbot.waitUntil(lambda: win.training._predictor is not None, timeout=60000)
    old_root = win.project.root
    other = create_demo_project(tmp_path / "other", n_images=2, n_labelled=1, seed=5, size=(80, 112))
    assert win.open_project(other.root)
    assert win.project.root == other.root and win.training._predictor is None
    assert win.training_panel.weights.currentData() != "checkpoint"  # the new project has no model
    qtbot.waitUntil(lambda: win.editor.image_id is not None and win.editor.image.shape[:2] == (80, 112), timeout=30000)

    summary = _train_tiny(win, qtbot)
    assert summary["checkpoint"] and other.root.resolve() in __import__("pathlib").Path(summary["checkpoint"]).resolve().parents
    qtbot.waitUntil(lambda: win.training._predictor is not None, timeout=60000)
    assert win.training._remote.path is not None and other.root.resolve() in win.training._remote.path.resolve().parents
    qtbot.waitUntil(lambda: win.prediction_layers.image_id == win.editor.image_id, timeout=60000)
    assert win.prediction_layers.labels.shape == (80, 112)
    assert old_root != other.root


def test_a_model_trained_from_the_command_line_is_found_and_loaded_by_the_window(qtbot, tmp_path, capsys):
    """Issue 15 bug 2: `fcn-studio train --project P` wrote model.fcnckpt; the window looked for model.pt."""
    import json

    from fcn_studio.cli import main

    make_app()
    project = create_demo_project(tmp_path / "demo", n_images=2, n_labelled=1, seed=3, size=(48, 64))
    argv = ["train", "--project", str(project.root), "--max-steps", "2", "--no-progress", "--backbone", "resnet18",
            "--variant", "fcn32s", "--weights", "none", "--crop", "32", "--batch-size", "2"]
    assert main(argv) == 0
    written = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["checkpoint"]
    win = MainWindow(Project.open(project.root), QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(win)
    win.show()
    assert win.training.checkpoint_path.resolve() == __import__("pathlib").Path(written).resolve()
    assert win.training_panel.weights.currentData() == "checkpoint"
    qtbot.waitUntil(lambda: win.training._predictor is not None, timeout=60000)
    assert win.training._remote.path.resolve() == __import__("pathlib").Path(written).resolve()
    qtbot.waitUntil(lambda: win.prediction_layers.image_id == win.editor.image_id, timeout=60000)
    win.close()


def test_an_old_project_with_model_pt_still_opens_with_its_model(window, tmp_path):
    from fcn_studio.data.checkpoint_files import PROJECT_CHECKPOINT

    root = window.project.root
    assert window.training.checkpoint_path == window.project.path_of(PROJECT_CHECKPOINT)  # nothing yet: the new name
    legacy = root / "checkpoints" / "model.pt"
    legacy.parent.mkdir(exist_ok=True)
    legacy.write_bytes(b"x")
    assert window.training.checkpoint_path == legacy
