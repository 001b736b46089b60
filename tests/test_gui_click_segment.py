"""Click-to-segment in the window (issue 33): click -> tinted preview -> Enter paints exactly the
preview with the class the model proposes, one undo restores, Esc leaves the mask alone.

MobileSAM runs in the prediction process, as in the app; the window's process never imports torch.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QSettings, Qt
from PySide6.QtTest import QTest

from fcn_studio.data.labelset import UNPAINTED
from fcn_studio.data.project import Project
from fcn_studio.gui.launch import make_app
from fcn_studio.gui.main_window import MainWindow

from test_click_segment import disk_scene

pytestmark = pytest.mark.gui


@pytest.fixture
def window(qtbot, tmp_path):  # noqa: ANN001
    image, disk, centre = disk_scene(240, 320)
    Image.fromarray(image).save(tmp_path / "disk.png")
    project = Project.create(tmp_path / "p", "camvid11")
    project.add_images([tmp_path / "disk.png"])
    make_app()
    win = MainWindow(project, QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(win)
    win.resize(1200, 800)
    win.show()
    qtbot.waitUntil(lambda: win.canvas.image_item is not None, timeout=30000)
    win.disk, win.centre = disk, centre
    yield win
    win.close()


def _click(win, x: float, y: float, modifiers=Qt.KeyboardModifier.NoModifier) -> None:  # noqa: ANN001
    QTest.mouseClick(win.canvas.viewport(), Qt.MouseButton.LeftButton, modifiers, win.canvas.mapFromScene(x + 0.5, y + 0.5))


def test_click_preview_enter_paints_the_proposed_class_and_undo_restores(window, qtbot):  # noqa: ANN001
    win, ed, ctl = window, window.editor, window.click_segment
    cx, cy, r = win.centre
    # the project's model says: the disk is a car (id 8 in CamVid-11), the rest road
    car = next(c.id for c in win.project.labelset.classes if c.name == "Car")
    labels = np.full(ed.mask.shape, 3, np.uint8)
    labels[win.disk] = car
    win.training.predictions[ed.image_id] = labels
    ed.set_active_class(1)
    before = ed.mask.copy()
    win.set_tool("click_segment")
    assert ctl.accept_action.isVisible() and not ctl.accept_action.isEnabled()
    _click(win, cx, cy)
    qtbot.waitUntil(lambda: ctl.preview is not None, timeout=60000)
    p = ctl.preview
    shown = np.zeros(ed.mask.shape, bool)
    y0, x0, y1, x1 = p.box
    shown[y0:y1, x0:x1] = p.inside
    assert ctl.preview_item.isVisible() and (ctl.preview_item.array.view(bool) == p.inside).all()
    assert (ctl.preview_item.pos().x(), ctl.preview_item.pos().y()) == (x0, y0)
    assert (shown & win.disk).sum() / (shown | win.disk).sum() >= 0.9
    assert ctl.class_id == car and "Car" in ctl.describe()  # proposed, not the active class
    assert (ed.mask == before).all()  # a preview paints nothing
    QTest.keyClick(win.canvas, Qt.Key.Key_Return)
    assert (ed.mask[shown] == car).all() and (ed.mask[~shown] == before[~shown]).all()
    assert ctl.preview is None and not ctl.preview_item.isVisible()
    win.actions_.undo.trigger()
    assert (ed.mask == before).all()


def test_a_number_key_changes_the_class_and_esc_drops_the_preview(window, qtbot):  # noqa: ANN001
    win, ed, ctl = window, window.editor, window.click_segment
    cx, cy, r = win.centre
    ed.replace_mask(np.full(ed.mask.shape, UNPAINTED, np.uint8), "clean")
    before = ed.mask.copy()
    win.set_tool("click_segment")
    _click(win, cx, cy)
    qtbot.waitUntil(lambda: ctl.preview is not None, timeout=60000)
    assert ctl.class_id == ed.active_class  # no model: the current class
    shown = ctl.preview
    QTest.keyClick(win.canvas, Qt.Key.Key_Tab)  # SAM's next mask of the single click
    qtbot.waitUntil(lambda: ctl.preview is not shown, timeout=60000)
    assert ctl.preview.index == (shown.index + 1) % 3 and len(ctl.points) == 1  # no click added
    first = ctl.preview
    # a negative click (Shift) near the edge refines the same preview
    _click(win, cx, cy - int(r * 0.75), Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(lambda: ctl.preview is not first and ctl.preview is not None, timeout=60000)
    assert ctl.labels == [1, 0]
    win.classes_panel.select_class_by_number(2)
    assert ctl.class_id == win.project.labelset.trainable_classes[1].id and "your class" in ctl.describe()
    QTest.keyClick(win.canvas, Qt.Key.Key_Escape)
    assert ctl.preview is None and not ctl.preview_item.isVisible() and ctl.points == []
    assert (ed.mask == before).all()


def test_accepting_keeps_painted_pixels_when_asked(window):  # noqa: ANN001
    """Paint only unpainted pixels applies to an accepted object, and only its box is touched."""
    ed = window.editor
    ed.replace_mask(np.full(ed.mask.shape, UNPAINTED, np.uint8), "clean")
    ed.mask[50:60, 50:60] = 1  # painted before
    inside = np.zeros((40, 40), bool)
    inside[5:35, 5:35] = True
    window.actions_.only_unpainted.trigger()
    assert ed.paint_inside((40, 40, 80, 80), inside, 3, "Click to segment")
    assert (ed.mask[50:60, 50:60] == 1).all()  # kept
    assert (ed.mask[45:75, 45:75][ed.mask[45:75, 45:75] != 1] == 3).all()
    assert (ed.mask[:40] == UNPAINTED).all() and (ed.mask[80:] == UNPAINTED).all()
    window.actions_.undo.trigger()
    assert (ed.mask[45:75, 45:75][ed.mask[45:75, 45:75] != 1] == UNPAINTED).all() and (ed.mask[50:60, 50:60] == 1).all()


def test_a_corrupt_weight_file_is_one_line_saying_what_to_run(window, qtbot, tmp_path, monkeypatch):  # noqa: ANN001
    from fcn_studio.models.sam_weights import ENV_VAR, INSTALL_COMMAND

    bad = tmp_path / "mobile_sam.pt"
    bad.write_bytes(b"\0" * 1000)
    monkeypatch.setenv(ENV_VAR, str(bad))  # the prediction process starts now, with this
    ctl = window.click_segment
    window.set_tool("click_segment")
    qtbot.waitUntil(lambda: ctl.last_error is not None, timeout=60000)
    assert INSTALL_COMMAND in ctl.last_error and "corrupt" in ctl.last_error and "\n" not in ctl.last_error
    assert INSTALL_COMMAND in window.status.currentMessage()
