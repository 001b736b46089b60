"""The window in everyday use (issue 18): zoom at the cursor, keys after typing in a box, and
the small things users of napari and labelme expect."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, QSettings, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from fcn_studio.data.demo import create_demo_project
from fcn_studio.gui.launch import make_app
from fcn_studio.gui.main_window import MainWindow

pytestmark = pytest.mark.gui


@pytest.fixture
def window(qtbot, tmp_path):
    make_app()
    project = create_demo_project(tmp_path / "demo", n_images=3, n_labelled=1, seed=5, size=(375, 500))
    win = MainWindow(project, QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(win)
    win.resize(1200, 800)
    win.show()
    qtbot.waitUntil(lambda: win.editor.image_id is not None, timeout=30000)
    qtbot.waitUntil(lambda: win.canvas.image_item is not None, timeout=30000)
    return win


def wheel(canvas, at: QPoint, notches: int = 1) -> None:
    vp = canvas.viewport()
    event = QWheelEvent(
        QPointF(at), QPointF(vp.mapToGlobal(at)), QPoint(0, 0), QPoint(0, 120 * notches),
        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False,
    )
    QApplication.sendEvent(vp, event)


@pytest.mark.parametrize("notches", [1, 3, -1])
def test_wheel_zoom_keeps_the_pixel_under_the_cursor(window, notches):
    """Issue 18 bug 3: one notch moved the pixel under a still cursor from (334,222) to (159,150)."""
    canvas = window.canvas
    for x, y in ((100, 80), (420, 300), (250, 187)):  # image pixels, near corners and centre
        canvas.fit_to_window()
        cursor = canvas.mapFromScene(x, y)
        for _ in range(4):  # several zoom levels in a row, the point stays put at each
            before = canvas.mapToScene(cursor)
            zoom = canvas.zoom
            wheel(canvas, cursor, notches)
            assert canvas.zoom == pytest.approx(zoom * 1.2**notches, rel=1e-6)
            after = canvas.mapFromScene(before)
            assert abs(after.x() - cursor.x()) <= 1 and abs(after.y() - cursor.y()) <= 1, (cursor, after, canvas.zoom)


def test_keyboard_zoom_keeps_the_view_centre(window):
    """Ctrl+1 put the image's corner at the cursor; keys zoom about the view's centre."""
    canvas = window.canvas
    centre = canvas.viewport().rect().center()
    before = canvas.mapToScene(centre)
    window.actions_.actual_size.trigger()
    assert canvas.zoom == pytest.approx(1.0)
    after = canvas.mapToScene(centre)
    assert abs(after.x() - before.x()) <= 1.5 and abs(after.y() - before.y()) <= 1.5


def test_keys_reach_the_canvas_after_typing_in_length(window, qtbot):
    """Issue 18 bug 6: after typing in *Length* G/H/C/M and 1-9 silently did nothing."""
    win = window
    win.activateWindow()
    panel = win.training_panel
    panel.minutes.setFocus()
    QTest.keyClicks(panel.minutes, "3")
    assert QApplication.focusWidget() is not win.canvas
    QTest.mouseMove(win.canvas.viewport(), QPoint(200, 200))  # back to the image to paint
    QApplication.sendEvent(win.canvas.viewport(), __import__("PySide6.QtGui", fromlist=["QEnterEvent"]).QEnterEvent(
        QPointF(200, 200), QPointF(200, 200), QPointF(win.canvas.viewport().mapToGlobal(QPoint(200, 200)))))
    qtbot.waitUntil(lambda: QApplication.focusWidget() is win.canvas, timeout=2000)
    visible = win.prediction_layers.visible("heatmap")
    QTest.keyClick(win.canvas, Qt.Key.Key_H)
    assert win.prediction_layers.visible("heatmap") is not visible
    QTest.keyClick(win.canvas, Qt.Key.Key_2)
    assert win.classes_panel.active_class == win.project.labelset.classes[1].id


def test_length_is_locked_while_training_like_the_other_settings(window):
    panel = window.training_panel
    panel.set_running(True, "fine-tune")
    for box in (panel.minutes, panel.epochs, panel.length_kind, panel.backbone, panel.weights):
        assert not box.isEnabled()
    panel.set_running(False)
    for box in (panel.minutes, panel.length_kind, panel.weights):
        assert box.isEnabled()
