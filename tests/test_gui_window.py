"""Drive the real main window offscreen: paint, erase, fill, polygon, undo/redo, switch, export, reopen."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPoint, QSettings, Qt
from PySide6.QtTest import QTest

from fcn_studio.data.demo import create_demo_project
from fcn_studio.data.labelset import UNPAINTED
from fcn_studio.data.project import Project
from fcn_studio.gui.recent import recent_projects
from fcn_studio.gui.launch import make_app
from fcn_studio.gui.main_window import MainWindow

pytestmark = pytest.mark.gui


@pytest.fixture
def settings(tmp_path):
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def window(qtbot, tmp_path, settings):
    make_app()
    project = create_demo_project(tmp_path / "demo", n_images=4, n_labelled=1, seed=5, size=(180, 240))
    win = MainWindow(project, settings)
    qtbot.addWidget(win)
    win.resize(1200, 800)
    win.show()
    # the first image may load while the window is being built: wait for the state, not a signal
    qtbot.waitUntil(lambda: win.editor.image_id is not None, timeout=30000)
    # work on an unpainted image so every painted pixel comes from the test
    target = project.images[1].id
    with qtbot.waitSignal(win.editor.image_loaded, timeout=30000):
        win.image_list.select(target)
    assert win.editor.image_id == target
    assert (win.editor.mask == UNPAINTED).all()
    return win


def vp_point(win, x: float, y: float) -> QPoint:
    return win.canvas.mapFromScene(x, y)


def drag(win, pts, modifier=Qt.KeyboardModifier.NoModifier):
    vp = win.canvas.viewport()
    QTest.mousePress(vp, Qt.MouseButton.LeftButton, modifier, vp_point(win, *pts[0]))
    for p in pts[1:]:
        QTest.mouseMove(vp, vp_point(win, *p))
    QTest.mouseRelease(vp, Qt.MouseButton.LeftButton, modifier, vp_point(win, *pts[-1]))


def click(win, x, y):
    QTest.mouseClick(win.canvas.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, vp_point(win, x, y))


def test_paint_erase_fill_polygon_with_undo_redo(window, qtbot):
    win, ed = window, window.editor
    labels = win.project.labelset
    # number keys choose the class: 2 -> the second class (road)
    QTest.keyClick(win, Qt.Key.Key_2)
    assert ed.active_class == 1 and labels.by_id(1).name == "road"
    ed.set_brush_radius(5)
    win.set_tool("brush")
    drag(win, [(40, 100), (80, 100), (120, 100)])
    assert ed.mask[100, 40] == 1 and ed.mask[100, 80] == 1 and ed.mask[100, 120] == 1
    assert ed.mask[104, 80] == 1 and ed.mask[110, 80] == UNPAINTED
    after_brush = ed.mask.copy()

    win.set_tool("eraser")
    drag(win, [(80, 90), (80, 110)])
    assert ed.mask[100, 80] == UNPAINTED and ed.mask[100, 40] == 1
    after_erase = ed.mask.copy()

    QTest.keyClick(win, Qt.Key.Key_4)  # verge
    assert ed.active_class == 3
    win.set_tool("fill")
    click(win, 200, 20)  # the unpainted background region is one big connected area
    assert ed.mask[20, 200] == 3 and ed.mask[179, 0] == 3
    assert ed.mask[100, 40] == 1  # painted road stays
    after_fill = ed.mask.copy()

    QTest.keyClick(win, Qt.Key.Key_5)  # vehicle
    win.set_tool("polygon")
    for x, y in [(150, 130), (200, 130), (200, 170)]:
        click(win, x, y)
    QTest.keyClick(win.canvas, Qt.Key.Key_Return)
    assert ed.mask[140, 190] == 4  # inside the triangle
    assert ed.mask[165, 155] == 3  # outside it
    after_polygon = ed.mask.copy()

    undo, redo = win.actions_.undo, win.actions_.redo
    states = [after_brush, after_erase, after_fill, after_polygon]
    for expected in reversed(states[:-1]):
        undo.trigger()
        np.testing.assert_array_equal(ed.mask, expected)
    undo.trigger()
    assert (ed.mask == UNPAINTED).all()
    for expected in states:
        redo.trigger()
        np.testing.assert_array_equal(ed.mask, expected)
    # keyboard shortcuts for undo reach the same stack
    QTest.keyClick(win, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    np.testing.assert_array_equal(ed.mask, after_fill)
    QTest.keyClick(win, Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)
    np.testing.assert_array_equal(ed.mask, after_polygon)


def test_switch_images_export_close_and_reopen(window, qtbot, tmp_path, settings):
    win, ed = window, window.editor
    first = ed.image_id
    QTest.keyClick(win, Qt.Key.Key_2)
    ed.set_brush_radius(4)
    drag(win, [(30, 150), (90, 150)])
    painted = ed.mask.copy()
    # next image with the keyboard, then back: the stroke was saved and reloads
    with qtbot.waitSignal(ed.image_loaded, timeout=30000):
        QTest.keyClick(win, Qt.Key.Key_D)
    assert ed.image_id != first
    with qtbot.waitSignal(ed.image_loaded, timeout=30000):
        QTest.keyClick(win, Qt.Key.Key_A)
    assert ed.image_id == first
    np.testing.assert_array_equal(ed.mask, painted)
    # undo history survives the round trip
    win.actions_.undo.trigger()
    assert (ed.mask == UNPAINTED).all()
    win.actions_.redo.trigger()
    np.testing.assert_array_equal(ed.mask, painted)

    from fcn_studio.gui.export_dialog import ExportDialog

    out = tmp_path / "exported"
    ed.flush()
    dialog = ExportDialog(win.project, parent=win)
    with qtbot.waitSignal(dialog.export_finished, timeout=20000):
        dialog.start(out, ["index", "color", "overlay"])
    exported = np.asarray(Image.open(out / "index" / f"{first}.png"))
    np.testing.assert_array_equal(exported, painted)
    assert (out / "color" / f"{first}.png").exists() and (out / "overlay" / f"{first}.png").exists()

    root = win.project.root
    win.close()
    again = Project.open(root)
    np.testing.assert_array_equal(again.load_mask(first), painted)
    assert again.entry(first).painted > 0
    # the reopened window comes back with its recent project remembered
    assert str(root) in recent_projects(settings)  # a list, not a string to search in


def test_brush_size_keys_and_mask_toggle(window, qtbot):
    win, ed = window, window.editor
    r = ed.brush_radius
    QTest.keyClick(win, Qt.Key.Key_BracketRight)
    assert ed.brush_radius > r
    QTest.keyClick(win, Qt.Key.Key_BracketLeft)
    QTest.keyClick(win, Qt.Key.Key_BracketLeft)
    assert ed.brush_radius < r
    assert win.canvas.mask_item.isVisible()
    QTest.keyClick(win, Qt.Key.Key_M)
    assert not win.canvas.mask_item.isVisible()
    assert not win.layers_panel.rows["mask"].checkbox.isChecked()
    win.layers_panel.rows["mask"].slider.setValue(80)
    assert win.canvas.mask_item.opacity() == pytest.approx(0.8)


def test_one_mask_visibility_for_action_panel_and_canvas(window):
    """The session model holds it: the action, the panel's row and the canvas all follow it."""
    win = window
    row = win.layers_panel.rows["mask"]
    win.actions_.toggle_mask.trigger()  # the toolbar / View menu action
    assert not win.session.visible("mask")
    assert not row.checkbox.isChecked() and not win.canvas.mask_item.isVisible()
    row.checkbox.setChecked(True)  # the panel writes through the model too
    assert win.actions_.toggle_mask.isChecked() and win.canvas.mask_item.isVisible()
    win.session.set_opacity("prediction", 0.3)  # prediction layers and the slider share one value
    assert win.prediction_layers.opacity("prediction") == 0.3 and win.layers_panel.rows["prediction"].slider.value() == 30


def test_eyedropper_and_status_bar(window, qtbot):
    win, ed = window, window.editor
    QTest.keyClick(win, Qt.Key.Key_3)
    drag(win, [(50, 50), (60, 50)])
    QTest.keyClick(win, Qt.Key.Key_1)
    assert ed.active_class == 0
    win.set_tool("eyedropper")
    click(win, 55, 50)
    assert ed.active_class == 2
    QTest.mouseMove(win.canvas.viewport(), vp_point(win, 55, 50))
    assert win.status.under_cursor.text() == "lane marking"


def test_unreadable_image_shows_a_message_and_app_stays_usable(window, qtbot, tmp_path):
    win = window
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not an image at all")
    with qtbot.waitSignal(win.images_added, timeout=30000):
        win.add_images([bad])
    assert "broken.png" in (win.last_error or "")
    assert len(win.project.images) == 4
