"""``predict --format overlay`` writes what the window shows: the canvas, rendered, against
:func:`fcn_studio.data.overlay.blend` at the prediction layer's opacity."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QRectF, QSettings
from PySide6.QtGui import QImage, QPainter

from fcn_studio.data.demo import create_demo_project
from fcn_studio.data.overlay import PREDICTION_OPACITY, blend
from fcn_studio.gui.launch import make_app
from fcn_studio.gui.main_window import MainWindow

pytestmark = pytest.mark.gui


def test_the_canvas_shows_the_cli_overlay(qtbot, tmp_path):  # noqa: ANN001
    make_app()
    project = create_demo_project(tmp_path / "demo", n_images=2, n_labelled=0, seed=2, size=(90, 120))
    win = MainWindow(project, QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.editor.image_id is not None, timeout=30000)
    image_id = win.editor.image_id
    image = project.load_image(image_id)
    h, w = image.shape[:2]
    k = project.labelset.num_classes
    rng = np.random.default_rng(0)
    probs = rng.random((k, h, w)).astype(np.float32)
    probs /= probs.sum(0, keepdims=True)
    win.prediction_layers.set_prediction(image_id, probs)
    labels = probs.argmax(0).astype(np.uint8)
    assert len(np.unique(labels)) == k  # every class colour is compared

    shot = QImage(w, h, QImage.Format.Format_RGB888)
    painter = QPainter(shot)
    win.canvas.scene().render(painter, QRectF(0, 0, w, h), QRectF(0, 0, w, h))
    painter.end()
    shown = np.frombuffer(shot.constBits(), np.uint8).reshape(h, shot.bytesPerLine())[:, : w * 3].reshape(h, w, 3)

    want = blend(image, labels, project.labelset, PREDICTION_OPACITY)
    diff = np.abs(shown.astype(int) - want.astype(int))
    assert diff.max() <= 2, diff.max()  # Qt's 8-bit compositing rounds a little differently
    assert diff.mean() < 0.6
    assert np.abs(shown.astype(int) - image.astype(int)).mean() > 10  # the prediction is really on screen
