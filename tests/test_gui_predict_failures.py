"""Issue 34 item 1: a failure on one image is one status line and the batch goes on.

Before: *Predict all* (and Paint next's scoring, which runs it) stopped at the first image it
could not predict and put the library's raw text in a dialog."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

from fcn_studio.data.demo import create_demo_project
from fcn_studio.data.project import Project
from fcn_studio.gui.launch import make_app
from fcn_studio.gui.main_window import MainWindow

sys.path.insert(0, str(Path(__file__).parent))
from known_models import red_threshold_checkpoint  # noqa: E402

pytestmark = pytest.mark.gui


def test_predict_all_skips_an_unreadable_image_with_one_status_line_and_paint_next_still_opens(qtbot, tmp_path):  # noqa: ANN001
    project = create_demo_project(tmp_path / "demo", n_images=4, n_labelled=1, seed=2, size=(60, 80))
    broken = project.images[2]
    project.path_of(broken.file).write_bytes(b"\x89PNG\r\n\x1a\n truncated")  # a file damaged on disk
    make_app()
    win = MainWindow(Project.open(project.root), QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.editor.image_id is not None, timeout=30000)
    session = win.training
    session.load_checkpoint(red_threshold_checkpoint(tmp_path / "m.fcnckpt", win.project.labelset))
    qtbot.waitUntil(lambda: session._predictor is not None and win.training_panel.paint_next.isEnabled(),  # noqa: SLF001
                    timeout=60000)
    win.last_error = None
    with qtbot.waitSignal(session.predict_all_done, timeout=60000) as done:
        win.paint_next.open_next()  # scores every image first (Predict all), then opens the winner
    summary = done.args[0]
    assert summary["predicted"] == 3 and [f["image"] for f in summary["failed"]] == [broken.id]
    assert win.last_error is None  # no dialog
    line = win.status.currentMessage()
    assert "\n" not in line and broken.id in line and "3 of 4" in line, line
    written = sorted(p.stem for p in (win.project.root / "predictions").glob("*.png"))
    assert written == sorted(e.id for e in win.project.images if e.id != broken.id)
    qtbot.waitUntil(lambda: win.editor.image_id != win.project.images[0].id or "Paint next:" in win.status.currentMessage(),
                    timeout=10000)
    assert "paint_next" in win.project.entry(win.editor.image_id).extra  # Paint next opened a scored image


def test_paint_next_does_not_score_again_and_again_when_no_image_can_be_predicted(qtbot, tmp_path):  # noqa: ANN001
    project = create_demo_project(tmp_path / "demo", n_images=3, n_labelled=1, seed=2, size=(60, 80))
    make_app()
    win = MainWindow(Project.open(project.root), QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.editor.image_id is not None, timeout=30000)
    session = win.training
    session.load_checkpoint(red_threshold_checkpoint(tmp_path / "m.fcnckpt", win.project.labelset))
    qtbot.waitUntil(lambda: session._predictor is not None and win.training_panel.paint_next.isEnabled(),  # noqa: SLF001
                    timeout=60000)

    def broken(*_args, **_kwargs):  # noqa: ANN002, ANN003, ANN202
        raise RuntimeError("the accelerator fell off the bus")

    session._predictor.predict = broken  # noqa: SLF001
    with qtbot.waitSignal(session.predict_all_done, timeout=60000) as done:
        win.paint_next.open_next()
    assert done.args[0]["predicted"] == 0 and len(done.args[0]["failed"]) == 3
    assert not session.batch_running  # Paint next did not start the scoring over (forever)
    line = win.status.currentMessage()
    assert "Predicted 0 of 3" in line and "accelerator fell off the bus" in line, line
