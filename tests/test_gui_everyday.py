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


def show(win, qtbot, image_id: str) -> None:
    if win.editor.image_id != image_id:
        with qtbot.waitSignal(win.editor.image_loaded, timeout=30000):
            win.image_list.select(image_id)
    assert win.editor.image_id == image_id and win.editor.mask is not None


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


def test_brush_size_box_follows_the_keys_and_drives_the_brush(window):
    win = window
    box = win.brush_size
    win.editor.set_brush_radius(10)
    assert box.value() == 20
    win.actions_.brush_bigger.trigger()
    assert box.value() == round(win.editor.brush_radius * 2) == 25
    box.setValue(8)
    assert win.editor.brush_radius == pytest.approx(4)


def test_magic_wand_fills_the_region_of_similar_colour(window, qtbot):
    win = window
    image = win.editor.image
    # pick a pixel, and compute the region of its colour the way a person would expect
    y, x = image.shape[0] // 2, image.shape[1] // 3
    win.set_tool("wand")
    win.wand_tolerance.setValue(30)
    assert win.canvas.tools["wand"].tolerance == 30
    win.editor.set_active_class(1)
    before = win.editor.mask.copy()
    QTest.mouseClick(win.canvas.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, win.canvas.mapFromScene(x + 0.5, y + 0.5))
    changed = win.editor.mask != before
    assert changed.any() and (win.editor.mask[changed] == 1).all() and win.editor.mask[y, x] == 1
    seed = image[y, x].astype(int)
    # every filled pixel is within the tolerance of the seed colour, and the fill is not everything
    assert (np.abs(image[changed].astype(int) - seed) <= 30).all()
    assert changed.mean() < 0.9
    win.actions_.undo.trigger()
    np.testing.assert_array_equal(win.editor.mask, before)


def test_clear_mask_is_one_undoable_step(window, qtbot):
    win = window
    first = win.project.images[0].id
    show(win, qtbot, first)
    painted = win.editor.mask.copy()
    assert (painted != 255).any()
    assert win.clear_mask()
    assert (win.editor.mask == 255).all()
    win.actions_.undo.trigger()
    np.testing.assert_array_equal(win.editor.mask, painted)


def test_remove_images_asks_then_moves_them_to_trash(window, qtbot, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    win = window
    project = win.project
    victim = project.images[0]
    show(win, qtbot, victim.id)
    answers = iter([QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Yes])
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: next(answers))
    assert win.remove_selected_images() == 0 and victim.id in [e.id for e in project.images]
    image_file = project.path_of(victim.file)
    with qtbot.waitSignal(win.editor.image_loaded, timeout=30000):
        assert win.remove_selected_images() == 1
    assert victim.id not in [e.id for e in project.images]
    assert not image_file.exists() and (project.root / "trash" / image_file.name).exists()
    assert win.editor.image_id == project.images[0].id  # the next image is on screen
    from fcn_studio.data.project import Project

    assert victim.id not in [e.id for e in Project.open(project.root).images]


def test_hiding_a_class_leaves_it_out_of_the_mask_layer(window, qtbot):
    win = window
    first = win.project.images[0].id
    show(win, qtbot, first)
    sky = win.project.labelset.trainable_classes[0].id
    road = win.project.labelset.trainable_classes[1].id
    shown = win.canvas.mask_item._image.colorTable()
    assert shown[sky] != 0
    row = next(i for i in range(win.classes_panel.list.count()) if win.classes_panel.list.item(i).data(Qt.ItemDataRole.UserRole) == sky)
    win.classes_panel.list.item(row).setCheckState(Qt.CheckState.Unchecked)  # what a click on the tick does
    assert win.canvas.hidden_classes == {sky} and win.classes_panel.hidden_classes == {sky}
    table = win.canvas.mask_item._image.colorTable()
    assert table[sky] == 0 and table[road] == shown[road]
    win.classes_panel.set_class_visible(sky, True)
    assert not win.canvas.hidden_classes and win.canvas.mask_item._image.colorTable()[sky] == shown[sky]


def test_class_list_shows_the_key_that_picks_each_class(window):
    win = window
    panel = win.classes_panel
    for n, c in enumerate(win.project.labelset.trainable_classes[:9], start=1):
        row = next(i for i in range(panel.list.count()) if panel.list.item(i).data(Qt.ItemDataRole.UserRole) == c.id)
        assert panel.list.item(row).text().startswith(f"{n}  {c.name}")
        panel.select_class_by_number(n)
        assert panel.active_class == c.id


def test_about_names_the_versions_and_toolbar_tips_name_the_keys(window):
    from fcn_studio.gui.help_pages import about_text

    text = about_text("cpu")
    for name in ("fcn-studio", "PySide6", "Qt", "torch", "Device"):
        assert name in text
    assert "Ctrl+0" in window.actions_.fit.toolTip() and "Fit to window" in window.actions_.fit.toolTip()
    assert "(B)" in window.actions_.tools["brush"].toolTip()


def test_worst_first_shows_each_score(window):
    win = window
    for i, e in enumerate(win.project.images):
        e.extra["uncertainty"] = [0.2, 0.7, 0.4][i]
    win.training_panel.sort_uncertain.setChecked(True)
    texts = [win.image_list._items[e.id].text() for e in win.project.images]
    assert "uncertainty 0.70" in texts[1] and "uncertainty 0.20" in texts[0]
    win.training_panel.sort_uncertain.setChecked(False)
    assert "uncertainty" not in win.image_list._items[win.project.images[0].id].text()


def _pixels(widget) -> np.ndarray:
    img = widget.grab().toImage().convertToFormat(__import__("PySide6.QtGui", fromlist=["QImage"]).QImage.Format.Format_RGB888)
    rows = np.frombuffer(img.constBits(), np.uint8).reshape(img.height(), img.bytesPerLine())
    return rows[:, : img.width() * 3].reshape(img.height(), img.width(), 3).astype(int)


def test_checked_buttons_look_checked(window):
    """Issue 18 bug 5: a checked *Worst first* looked nearly like an unchecked one (Fusion's
    sunken frame moved the mean colour by ~9 levels of 255; the theme now fills it)."""
    button = window.training_panel.sort_uncertain
    button.setChecked(False)
    off = _pixels(button)
    button.setChecked(True)
    on = _pixels(button)
    button.setChecked(False)
    assert off.shape == on.shape
    assert np.abs(on.mean((0, 1)) - off.mean((0, 1))).sum() > 60


def test_miou_plot_label_fits_and_its_x_axis_follows_the_loss_plot(window):
    """Issue 18 bug 5: the rotated "train mIoU" label was cut, and the two x axes differed."""
    from types import SimpleNamespace

    panel = window.training_panel
    window.docks["training"].resize(360, 420)
    panel.on_epoch(SimpleNamespace(miou=0.4, step=3, on="training"))
    for plot in (panel.loss_plot, panel.miou_plot):
        title = plot.plotItem.titleLabel
        assert not plot.getAxis("left").label.isVisible()  # no rotated label to cut
        assert title.text and 0 < title.item.boundingRect().width() <= plot.width()
    assert "painted pixels" in panel.miou_plot.plotItem.titleLabel.text
    panel.loss_plot.setXRange(0, 500, padding=0)
    low, high = panel.miou_plot.getViewBox().viewRange()[0]
    assert low == pytest.approx(0, abs=1) and high == pytest.approx(500, abs=1)


def test_coco_export_is_described_as_what_it_writes(tmp_path):
    """Issue 18 bug 4: the dialog said "polygons" but wrote compressed RLE."""
    import json

    from fcn_studio.data.coco import export_coco
    from fcn_studio.gui.export_dialog import FORMAT_LABELS

    assert "RLE" in FORMAT_LABELS["coco"] and "polygon" not in FORMAT_LABELS["coco"].lower()
    mask = np.full((32, 48), 255, np.uint8)
    mask[4:20, 5:30] = 1
    mask[22:30, 10:40] = 2
    out = tmp_path / "coco.json"
    export_coco(out, [("a.png", 1, mask)], create_demo_project(tmp_path / "p", n_images=1, n_labelled=1, seed=1, size=(32, 48)).labelset)
    anns = json.loads(out.read_text())["annotations"]
    assert len(anns) == 2 and all(isinstance(a["segmentation"], dict) and "counts" in a["segmentation"] for a in anns)


def test_miou_axis_stays_zero_to_one_with_few_ticks(window):
    from types import SimpleNamespace

    panel = window.training_panel
    for step, miou in ((1, 0.55), (2, 0.58), (3, 0.6)):
        panel.on_epoch(SimpleNamespace(miou=miou, step=step, on="training"))
    low, high = panel.miou_plot.getViewBox().viewRange()[1]
    assert low <= 0.0 and high >= 1.0  # not zoomed onto 0.55-0.6, where the tick labels overlapped


def test_a_failed_save_at_close_asks_instead_of_closing(window, monkeypatch):
    """Issue 15 bug 3: a project save that failed at close was swallowed and the window closed."""
    from PySide6.QtWidgets import QMessageBox

    from fcn_studio.errors import FcnStudioError

    win = window
    calls = []

    def failing_save() -> None:
        calls.append("save")
        raise FcnStudioError("No space left on device")

    monkeypatch.setattr(win.project, "save", failing_save)
    answers = iter([QMessageBox.StandardButton.Retry, QMessageBox.StandardButton.Cancel])
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: next(answers))
    assert not win.close()  # Retry (fails again), then Cancel: the window stays
    assert win.isVisible() and calls == ["save", "save"]
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: QMessageBox.StandardButton.Discard)
    assert win.close() and not win.isVisible()
