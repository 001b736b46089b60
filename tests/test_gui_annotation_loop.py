"""The annotation loop's tools in the window (issue 26): region brush and Paint next."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from PySide6.QtCore import Qt

from fcn_studio.data.demo import create_demo_project
from fcn_studio.data.labelset import UNPAINTED
from fcn_studio.gui.paint_next import SCORED_WITH
from test_gui_round2 import _drag, _model_checkpoint, _open

pytestmark = pytest.mark.gui


@pytest.fixture
def window(qtbot, tmp_path):  # noqa: ANN001
    project = create_demo_project(tmp_path / "demo", n_images=4, n_labelled=1, seed=5, size=(120, 160))
    return _open(qtbot, project, tmp_path)


def test_the_region_brush_fills_the_touched_colour_region_and_undoes_in_one_step(window, qtbot):  # noqa: ANN001
    pytest.importorskip("skimage")
    win, ed = window, window.editor
    h, w = ed.mask.shape
    ed.replace_mask(np.full((h, w), UNPAINTED, np.uint8), "start clean")
    two_halves = np.zeros((h, w, 3), np.uint8)
    two_halves[:, : w // 2] = (190, 60, 50)
    two_halves[:, w // 2 :] = (40, 90, 200)
    ed.image = two_halves  # the colours the regions are cut from
    before = ed.mask.copy()
    with qtbot.waitSignal(ed.regions_ready, timeout=30000):
        win.set_tool("region_brush")
    ed.set_brush_radius(3)
    ed.set_active_class(1)
    y = h // 2
    _drag(win.canvas, Qt.MouseButton.LeftButton, [(10, y), (30, y)])  # a short stroke in the left half
    # the left half's region (thin strips along the colour edge may be regions of their own)
    qtbot.waitUntil(lambda: (ed.mask[:, : w // 2 - 5] == 1).all(), timeout=10000)
    assert (ed.mask[:, w // 2 :] == UNPAINTED).all()  # the other region untouched
    assert ed.stack(ed.image_id).undoText() == "Region brush stroke"
    win.actions_.undo.trigger()
    assert np.array_equal(ed.mask, before)


def _scored_project(win, tmp_path) -> list[str]:  # noqa: ANN001
    """Scores as Predict all leaves them, made by the project's (stand-in) model file."""
    session = win.training
    _model_checkpoint(session.checkpoint_path, win.project.labelset)
    ids = [e.id for e in win.project.images]
    for e, score in zip(win.project.images, (0.2, 0.9, 0.5, 0.1)):
        e.extra["paint_next"] = score
    win.project.extra[SCORED_WITH] = win.paint_next.model_signature()
    session.has_model = lambda: True  # a model is loaded (no prediction process in this test)
    return ids


def test_paint_next_opens_the_highest_score_and_says_why(window, qtbot, tmp_path):  # noqa: ANN001
    win = window
    ids = _scored_project(win, tmp_path)
    assert "least sure" in win.training_panel.paint_next.toolTip()
    assert win.paint_next.open_next() == ids[1]
    qtbot.waitUntil(lambda: "uncertainty 0.90" in win.status.currentMessage(), timeout=10000)
    assert win.editor.image_id == ids[1] and "highest of 4" in win.status.currentMessage()
    assert win.session.visible("uncertainty")
    assert win.paint_next.open_next() == ids[2]  # opened images are not offered again
    qtbot.waitUntil(lambda: win.editor.image_id == ids[2], timeout=10000)


def test_paint_next_scores_again_when_the_model_changed(window, qtbot, tmp_path, monkeypatch):  # noqa: ANN001
    win = window
    ids = _scored_project(win, tmp_path)
    assert win.paint_next.open_next() == ids[1]
    _model_checkpoint(win.training.checkpoint_path, win.project.labelset, step=99)  # training wrote a new model
    calls: list[int] = []
    monkeypatch.setattr(win.training, "predict_all", lambda: calls.append(1))
    assert win.paint_next.open_next() is None and calls == [1]
    assert "scoring every image" in win.status.currentMessage()
    win.project.images[3].extra["paint_next"] = 0.95  # the new model's scores
    win.training.predict_all_done.emit({"predicted": 4, "total": 4, "stopped": False,
                                        "model_signature": win.paint_next.model_signature()})
    qtbot.waitUntil(lambda: win.editor.image_id == ids[3], timeout=10000)
    assert win.project.extra[SCORED_WITH] == win.paint_next.model_signature()


def test_paint_next_scores_are_current_only_when_one_model_made_them_all(qtbot, tmp_path):  # noqa: ANN001
    """Issue 32 item 5: the signature was stamped when scoring ended, so a model reloaded during
    the batch (Live writes one every cycle) left scores of two models marked current."""
    project = create_demo_project(tmp_path / "demo", n_images=8, n_labelled=1, seed=3, size=(120, 160))
    win = _open(qtbot, project, tmp_path)
    session = win.training
    session.load_checkpoint(_model_checkpoint(tmp_path / "m.fcnckpt", project.labelset))
    qtbot.waitUntil(lambda: session._predictor is not None and win.training_panel.predict_all.isEnabled(),  # noqa: SLF001
                    timeout=60000)
    with qtbot.waitSignal(session.predict_all_done, timeout=120000) as done:
        session.predict_all()
    assert done.args[0]["model_signature"] == win.paint_next.model_signature()
    assert win.paint_next.scores_current()  # one model made every score

    gate, calls = threading.Event(), []
    predictor, predict = session._predictor, session._predictor.predict  # noqa: SLF001

    def held(*args, **kw):  # noqa: ANN002, ANN003, ANN202
        calls.append(1)
        if len(calls) == 3:
            gate.wait(60)  # the batch is in its middle while the new model loads
        return predict(*args, **kw)

    predictor.predict = held
    old_signature = session._predictor_signature  # noqa: SLF001
    with qtbot.waitSignal(session.predict_all_done, timeout=120000) as done:
        session.predict_all()
        qtbot.waitUntil(lambda: len(calls) >= 3, timeout=60000)
        session.load_checkpoint(_model_checkpoint(tmp_path / "m2.fcnckpt", project.labelset, step=99))  # a new model mid-batch
        qtbot.waitUntil(lambda: session._predictor_signature != old_signature, timeout=60000)  # noqa: SLF001
        gate.set()
    assert done.args[0]["model_signature"] is None
    assert not win.paint_next.scores_current()  # so the next Paint next scores every image again
