"""The window in everyday use, round 2 (issue 27): keys that go where the eye is and the defects
a new user met. Each test failed before its fix."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPoint, QPointF, QSettings, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from fcn_studio.data.demo import create_demo_project
from fcn_studio.data.project import Project
from fcn_studio.gui.classes_panel import class_key
from fcn_studio.gui.launch import make_app
from fcn_studio.gui.main_window import MainWindow
from fcn_studio.gui.prediction_layers import HEATMAP_CMAP, colormap_table

pytestmark = pytest.mark.gui


def _open(qtbot, project, tmp_path) -> MainWindow:  # noqa: ANN001
    make_app()
    win = MainWindow(project, QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(win)
    win.resize(1200, 800)
    win.show()
    qtbot.waitUntil(lambda: win.editor.image_id is not None, timeout=30000)
    qtbot.waitUntil(lambda: win.canvas.image_item is not None, timeout=30000)
    return win


def _model_checkpoint(path, labelset, backbone: str = "resnet18", variant: str = "fcn8s", **summary):  # noqa: ANN001, ANN003, ANN202
    """A random-init model of ``labelset`` saved as a checkpoint at ``path`` (``summary``: its training summary)."""
    import torch

    from fcn_studio.models.builder import build_model
    from fcn_studio.models.checkpoint import save_checkpoint

    torch.manual_seed(0)
    model = build_model(backbone, variant, num_classes=labelset.num_classes, weights=None).eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    return save_checkpoint(path, model, labelset=labelset, backbone=backbone, variant=variant,
                           normalization=model.normalization, summary={"input_scale": 1.0} | summary)


@pytest.fixture
def window(qtbot, tmp_path):  # noqa: ANN001
    project = create_demo_project(tmp_path / "demo", n_images=4, n_labelled=1, seed=5, size=(120, 160))
    return _open(qtbot, project, tmp_path)


def _wheel(widget, notches: int = 1) -> None:  # noqa: ANN001
    at = QPointF(widget.rect().center())
    event = QWheelEvent(at, QPointF(widget.mapToGlobal(at.toPoint())), QPoint(0, 0), QPoint(0, 120 * notches),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(widget, event)


def test_arrows_home_and_end_move_in_the_image_list_after_a_click(window, qtbot):  # noqa: ANN001
    """Item 3: after clicking an image in the list, Down panned the canvas instead."""
    win = window
    view = win.image_list.view
    ids = [e.id for e in win.project.images]
    second = view.visualRect(view.model().index(1, 0)).center()
    with qtbot.waitSignal(win.editor.image_loaded, timeout=30000):
        QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=second)
    assert win.editor.image_id == ids[1]
    assert QApplication.focusWidget() is view
    with qtbot.waitSignal(win.editor.image_loaded, timeout=30000):
        QTest.keyClick(view, Qt.Key.Key_Down)
    assert win.editor.image_id == ids[2] and QApplication.focusWidget() is view
    with qtbot.waitSignal(win.editor.image_loaded, timeout=30000):
        QTest.keyClick(view, Qt.Key.Key_End)
    assert win.editor.image_id == ids[-1]
    with qtbot.waitSignal(win.editor.image_loaded, timeout=30000):
        QTest.keyClick(view, Qt.Key.Key_Home)
    assert win.editor.image_id == ids[0]


def test_number_keys_pick_classes_unless_a_box_was_clicked_into(window, qtbot):  # noqa: ANN001
    """Item 4: the wheel over Length focused it, and then "2" set Length to 2.00."""
    win = window
    win.activateWindow()
    minutes = win.training_panel.minutes
    before = minutes.value()
    win.canvas.setFocus()
    _wheel(minutes)  # the pointer passes over the panel, scrolling
    assert minutes.value() == before and QApplication.focusWidget() is not minutes
    QTest.keyClick(QApplication.focusWidget() or win, Qt.Key.Key_2)
    assert win.classes_panel.active_class == win.project.labelset.trainable_classes[1].id
    assert minutes.value() == before
    # clicked into, the box takes the digits
    QTest.mouseClick(minutes.lineEdit(), Qt.MouseButton.LeftButton)
    assert QApplication.focusWidget() in (minutes, minutes.lineEdit())
    minutes.lineEdit().selectAll()
    QTest.keyClicks(minutes.lineEdit(), "4")
    minutes.interpretText()
    assert minutes.value() == 4.0


def test_every_one_of_eleven_classes_has_a_key_and_shows_it(qtbot, tmp_path):  # noqa: ANN001
    """Item 5: with 11 classes, Pedestrian and Bicyclist had no key."""
    project = Project.create(tmp_path / "camvid", "camvid11")
    Image.fromarray(np.zeros((60, 80, 3), np.uint8)).save(tmp_path / "a.png")
    project.add_images([tmp_path / "a.png"])
    win = _open(qtbot, project, tmp_path)
    win.activateWindow()
    win.canvas.setFocus()
    classes = project.labelset.trainable_classes
    assert len(classes) == 11
    keys = [(Qt.Key.Key_1 + i, Qt.KeyboardModifier.NoModifier) for i in range(9)]
    keys += [(Qt.Key.Key_0, Qt.KeyboardModifier.NoModifier), (Qt.Key.Key_1, Qt.KeyboardModifier.ShiftModifier)]
    shown = [class_key(project.labelset, c.id) for c in classes]
    assert shown == ["1", "2", "3", "4", "5", "6", "7", "8", "9", "0", "⇧1"]
    panel = win.classes_panel
    for c, (key, mod), label in zip(reversed(classes), reversed(keys), reversed(shown), strict=True):
        QTest.keyClick(win.canvas, key, mod)
        assert panel.active_class == c.id, c.name
        row = next(i for i in range(panel.list.count()) if panel.list.item(i).data(Qt.ItemDataRole.UserRole) == c.id)
        assert panel.list.item(row).text().startswith(f"{label}  {c.name}")


def test_switching_the_heatmap_class_keeps_its_colours(window):  # noqa: ANN001
    """Item 6: the heatmap was drawn in grey under a viridis colour bar after a class change."""
    win = window
    image_id = win.editor.image_id
    h, w = win.editor.image.shape[:2]
    k = win.project.labelset.num_classes
    probs = np.random.default_rng(0).random((k, h, w)).astype(np.float32)
    probs /= probs.sum(0, keepdims=True)
    layers = win.prediction_layers
    layers.set_prediction(image_id, probs)
    viridis = colormap_table(HEATMAP_CMAP)
    assert layers.item("heatmap").color_table == viridis
    layers.set_heat_class(1)
    item = layers.item("heatmap")
    assert item.color_table == viridis
    assert item._image.colorTable() == viridis  # what is drawn  # noqa: SLF001


def test_a_new_empty_project_shows_none_of_the_old_image(window, qtbot, tmp_path):  # noqa: ANN001
    """Item 7: File > New project on an empty folder kept showing the previous image and mask."""
    win = window
    assert win.canvas.image_item.isVisible()
    Project.create(tmp_path / "empty", "road")
    assert win.open_project(tmp_path / "empty")
    assert win.editor.image is None
    assert not win.canvas.image_item.isVisible() and not win.canvas.mask_item.isVisible()
    assert "no images" in win.status.currentMessage()


def test_training_choices_are_kept_without_a_run(qtbot, tmp_path):  # noqa: ANN001
    """Item 9: Length 2.5 and close, without training: forgotten on reopen."""
    project = create_demo_project(tmp_path / "demo", n_images=2, n_labelled=1, seed=1, size=(60, 80))
    win = _open(qtbot, project, tmp_path)
    win.training_panel.minutes.setValue(2.5)
    qtbot.waitUntil(lambda: json.loads((project.root / "project.json").read_text())
                    .get("training", {}).get("minutes") == 2.5, timeout=5000)
    win.close()
    again = _open(qtbot, Project.open(project.root), tmp_path)
    assert again.training_panel.minutes.value() == 2.5


def test_predict_all_lets_the_image_on_screen_go_first_and_says_what_it_did(qtbot, tmp_path):  # noqa: ANN001
    """Item 1: the on-screen prediction waited behind the whole batch, the button stayed enabled,
    and after Cancel the status said "Predicted 0 of N" although predictions were written."""
    project = create_demo_project(tmp_path / "demo", n_images=60, n_labelled=1, seed=3, size=(240, 320))
    win = _open(qtbot, project, tmp_path)
    session = win.training
    session.load_checkpoint(_model_checkpoint(tmp_path / "m.fcnckpt", project.labelset))
    qtbot.waitUntil(lambda: session._predictor is not None and win.training_panel.predict_all.isEnabled(),  # noqa: SLF001
                    timeout=60000)
    progress: list[int] = []
    win.progress_changed.connect(lambda done, total: progress.append(done))
    session.predict_all()
    assert not win.training_panel.predict_all.isEnabled()  # no second batch on top of this one
    qtbot.waitUntil(lambda: len(progress) >= 3, timeout=60000)
    target = project.images[40].id
    at_click = progress[-1]
    with qtbot.waitSignal(session.prediction_shown, timeout=30000,
                          check_params_cb=lambda image_id: image_id == target):
        win.image_list.select(target)
    assert progress[-1] - at_click <= 3, (at_click, progress[-1])  # not behind the 57 others
    assert win.training_panel.accept.isEnabled()
    with qtbot.waitSignal(session.predict_all_done, timeout=60000) as done:
        win.cancel_button.click()
    summary = done.args[0]
    written = len(list((project.root / "predictions").glob("*.png")))
    assert summary["stopped"] and 0 < summary["predicted"] == written < 60
    assert f"{written} of 60 images predicted" in win.status.currentMessage()
    scored = [e for e in project.images if "paint_next" in e.extra]  # Paint next's scores come with the batch
    assert len(scored) == written and all(0 <= e.extra["paint_next"] <= e.extra["uncertainty"] + 1e-6 for e in scored)
    assert win.training_panel.predict_all.isEnabled()


def test_a_reopened_trained_project_says_which_model_it_has(qtbot, tmp_path):  # noqa: ANN001
    """Peers' expectation: not "Paint a few strokes…" when the project has a trained model."""
    from fcn_studio.data.checkpoint_files import PROJECT_CHECKPOINT

    project = create_demo_project(tmp_path / "demo", n_images=2, n_labelled=1, seed=1, size=(60, 80))
    _model_checkpoint(project.path_of(PROJECT_CHECKPOINT), project.labelset, "efficientnet_lite0", "fcn4s",
                      input_scale=0.5, train_images=12)
    win = _open(qtbot, project, tmp_path)
    qtbot.waitUntil(lambda: win.training._predictor is not None, timeout=60000)  # noqa: SLF001
    qtbot.waitUntil(lambda: win.training_panel.status.text().startswith("Model:"), timeout=5000)
    text = win.training_panel.status.text()
    assert "EfficientNet-Lite0 FCN-4s" in text and "on 12 painted images" in text and "trained" in text


def test_brightness_contrast_and_gamma_change_only_what_is_shown(window, qtbot):  # noqa: ANN001
    """Peers' expectation: dark frames can be lightened on screen; the data stays as it is."""
    from fcn_studio.data.display_adjust import DisplayAdjust

    table = DisplayAdjust(gamma=2.0).table()
    assert table[0] == 0 and table[255] == 255 and table[40] > 80  # shadows lifted
    assert (DisplayAdjust().table() == np.arange(256)).all()
    assert DisplayAdjust(brightness=0.2).table()[100] == 151

    win = window
    original = win.editor.image.copy()
    box = win.layers_panel.image_adjust
    with qtbot.waitSignal(box.changed, timeout=2000):
        box.sliders["gamma"].setValue(200)
    shown = win.canvas.image_item.array
    assert (shown == DisplayAdjust(gamma=2.0).apply(original)).all() and shown.mean() > original.mean() + 10
    assert (win.editor.image == original).all()  # masks, training and exports see the file's pixels
    with qtbot.waitSignal(box.changed, timeout=2000):
        box.reset_button.click()
    assert win.canvas.image_item.array is win.editor.image


def test_the_magic_wand_shows_what_it_will_fill_before_it_fills(window, qtbot):  # noqa: ANN001
    """Peers' expectation: at its default tolerance the wand took 62% of a dark frame unannounced."""
    from fcn_studio.data.paint import colour_region, region_inside

    win = window
    win.set_tool("wand")
    win.editor.set_active_class(1)
    image, before = win.editor.image, win.editor.mask.copy()
    y, x = image.shape[0] // 2, image.shape[1] // 3
    QTest.mouseMove(win.canvas.viewport(), win.canvas.mapFromScene(x + 0.5, y + 0.5))
    qtbot.waitUntil(lambda: win.canvas.wand_preview is not None and win.canvas.wand_preview.isVisible(), timeout=3000)
    region, rect = colour_region(image, x, y, win.canvas.tools["wand"].tolerance)
    preview = win.canvas.wand_preview
    assert (preview.pos().x(), preview.pos().y()) == (rect[0], rect[1])
    assert (preview.array.view(bool) == region_inside(region, rect)).all()
    assert (win.editor.mask == before).all()  # only shown, nothing painted
    assert "of the image at tolerance" in win.status.currentMessage()
    QTest.mouseClick(win.canvas.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     win.canvas.mapFromScene(x + 0.5, y + 0.5))
    rx, ry, rw, rh = rect
    filled = np.zeros(before.shape, bool)
    filled[ry:ry + rh, rx:rx + rw] = region_inside(region, rect)
    assert (win.editor.mask[filled] == 1).all()  # the click filled what was shown
    assert not preview.isVisible()


def _drag(canvas, button, points) -> None:  # noqa: ANN001
    vp = canvas.viewport()
    QTest.mousePress(vp, button, Qt.KeyboardModifier.NoModifier, canvas.mapFromScene(*points[0]))
    for x, y in points[1:]:
        from PySide6.QtGui import QMouseEvent

        at = QPointF(canvas.mapFromScene(x, y))
        QApplication.sendEvent(vp, QMouseEvent(QMouseEvent.Type.MouseMove, at, QPointF(vp.mapToGlobal(at.toPoint())),
                                               Qt.MouseButton.NoButton, button, Qt.KeyboardModifier.NoModifier))
    QTest.mouseRelease(vp, button, Qt.KeyboardModifier.NoModifier, canvas.mapFromScene(*points[-1]))


def test_right_drag_erases_and_the_brush_can_keep_painted_pixels(window, qtbot):  # noqa: ANN001
    """Peers' expectations: right-click erases; "paint only unpainted pixels" for the brush."""
    from fcn_studio.data.labelset import UNPAINTED

    win = window
    ed = win.editor
    win.set_tool("brush")
    ed.set_brush_radius(6)
    h, w = ed.mask.shape
    y = h // 2
    ed.set_active_class(1)
    _drag(win.canvas, Qt.MouseButton.LeftButton, [(20, y), (60, y)])
    assert (ed.mask[y, 25:55] == 1).all()
    _drag(win.canvas, Qt.MouseButton.RightButton, [(30, y), (40, y)])
    assert (ed.mask[y, 26:44] == UNPAINTED).all() and (ed.mask[y, 48:58] == 1).all()  # radius 6 about 30..40
    win.actions_.only_unpainted.trigger()
    assert ed.only_unpainted
    ed.set_active_class(2)
    _drag(win.canvas, Qt.MouseButton.LeftButton, [(20, y), (60, y)])
    assert (ed.mask[y, 26:44] == 2).all()  # the erased gap is filled ...
    assert (ed.mask[y, 48:58] == 1).all() and (ed.mask[y, 18:23] == 1).all()  # ... the painted pixels kept
    win.actions_.undo.trigger()
    assert (ed.mask[y, 26:44] == UNPAINTED).all()


def test_the_prediction_can_be_drawn_as_outlines(window):  # noqa: ANN001
    """Peers' expectation: label outlines as a layer option (lines of screen width since issue 34:
    tests/test_gui_real_desktop.py checks what they look like)."""
    win = window
    h, w = win.editor.image.shape[:2]
    labels = np.zeros((h, w), np.uint8)
    labels[:, w // 2 :] = 1
    probs = np.stack([labels == c for c in range(win.project.labelset.num_classes)]).astype(np.float32)
    layers = win.prediction_layers
    layers.set_prediction(win.editor.image_id, probs, labels)
    filled = layers.item("prediction")
    assert (filled.array == labels).all() and filled.isVisible() and not layers.outline_item.isVisible()
    win.prediction_outlines.setChecked(True)
    assert layers.outline_item.isVisible() and not filled.isVisible()
    assert layers.outline_item.class_ids() == [0, 1]
    win.prediction_outlines.setChecked(False)
    assert filled.isVisible() and not layers.outline_item.isVisible()


def test_a_trained_project_starts_its_spare_trainer_at_the_first_edit(qtbot, tmp_path):  # noqa: ANN001
    """Memory (issue 27): an idle trained project held a spare training process (0.7 GB)."""
    from fcn_studio.data.checkpoint_files import PROJECT_CHECKPOINT
    from fcn_studio.gui.main_window import WARM_UP_DELAY_MS

    project = create_demo_project(tmp_path / "demo", n_images=2, n_labelled=1, seed=1, size=(60, 80))
    _model_checkpoint(project.path_of(PROJECT_CHECKPOINT), project.labelset)
    win = _open(qtbot, project, tmp_path)
    qtbot.wait(WARM_UP_DELAY_MS + 500)
    controller = win.training.controller
    assert controller._spare is None  # noqa: SLF001
    win.editor.begin_stroke(10, 10)
    win.editor.end_stroke()
    qtbot.waitUntil(lambda: controller._spare is not None, timeout=5000)  # noqa: SLF001


def test_accept_region_takes_only_the_clicked_component_and_undoes_in_one_step(window):  # noqa: ANN001
    """Issue 26's tool: click a predicted segment to accept just that connected component."""
    from fcn_studio.data.labelset import UNPAINTED

    win = window
    ed = win.editor
    h, w = ed.mask.shape
    ed.replace_mask(np.full((h, w), UNPAINTED, np.uint8), "start clean")
    labels = np.zeros((h, w), np.uint8)
    labels[10:40, 10:50] = 1          # the component to accept
    labels[60:90, 10:50] = 1          # the same class elsewhere, not connected: stays unpainted
    labels[:, 100:] = 2
    probs = np.stack([labels == c for c in range(win.project.labelset.num_classes)]).astype(np.float32)
    win.training.predictions[ed.image_id] = labels
    win.prediction_layers.set_prediction(ed.image_id, probs, labels)
    before = ed.mask.copy()
    win.set_tool("accept_region")
    QTest.mouseClick(win.canvas.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     win.canvas.mapFromScene(20.5, 20.5))
    changed = ed.mask != before
    component = np.zeros((h, w), bool)
    component[10:40, 10:50] = True
    assert (changed == component).all() and (ed.mask[component] == 1).all()
    assert "Accepted a region of 1200 pixels" in win.status.currentMessage()
    win.actions_.undo.trigger()
    assert (ed.mask == before).all()
