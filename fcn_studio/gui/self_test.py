"""``fcn-studio --self-test``: open the real window on a generated demo, paint, check, exit.

Exits 0 when everything worked and 1 with the reason otherwise, so packaging and CI can
check a build by running it (offscreen is fine).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
from PySide6.QtCore import QEventLoop, QPoint, QSettings, Qt, QTimer, SignalInstance
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication


class SelfTestFailure(Exception):
    pass


def wait_for(signal: SignalInstance, timeout_ms: int, what: str) -> tuple:
    loop = QEventLoop()
    got: list[tuple] = []

    def on(*args) -> None:
        got.append(args)
        loop.quit()

    signal.connect(on)
    QTimer.singleShot(timeout_ms, loop.quit)
    loop.exec()
    signal.disconnect(on)
    if not got:
        raise SelfTestFailure(f"timed out after {timeout_ms} ms waiting for {what}")
    return got[0]


def wait_until(check: Callable[[], bool], timeout_ms: int, what: str) -> None:
    deadline = time.monotonic() + timeout_ms / 1000
    while not check():
        if time.monotonic() > deadline:
            raise SelfTestFailure(f"timed out after {timeout_ms} ms waiting for {what}")
        QApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)


def _paint_stroke(window, start: tuple[int, int], end: tuple[int, int]) -> None:
    """Drag the brush on the canvas from image pixel ``start`` to ``end`` with real mouse events."""
    canvas = window.canvas
    vp = canvas.viewport()
    p0 = canvas.mapFromScene(*start)
    p1 = canvas.mapFromScene(*end)
    QTest.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, p0)
    for t in np.linspace(0, 1, 8):
        p = QPoint(round(p0.x() + t * (p1.x() - p0.x())), round(p0.y() + t * (p1.y() - p0.y())))
        QTest.mouseMove(vp, p)
    QTest.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, p1)


def self_test_steps(window, log: Callable[[str], None]) -> None:
    project = window.project
    editor = window.editor
    if editor.image_id is None:
        wait_for(editor.image_loaded, 15000, "the first image to load")
    unpainted = next(e for e in project.images if e.painted == 0)
    window.image_list.select(unpainted.id)
    wait_until(lambda: editor.image_id == unpainted.id, 15000, "the unpainted image to load")
    log(f"opened {unpainted.file}")
    road = next(c.id for c in project.labelset.classes if c.name == "road")
    window.classes_panel.select_class(road)
    window.set_tool("brush")
    editor.set_brush_radius(6)
    y = int(unpainted.height * 0.85)
    _paint_stroke(window, (unpainted.width // 2 - 40, y), (unpainted.width // 2 + 40, y))
    mask = editor.mask
    painted = int((mask == road).sum())
    if painted < 80 * 6:
        raise SelfTestFailure(f"the stroke painted {painted} pixels of class 'road', expected a 80x12 band")
    if mask[y, unpainted.width // 2] != road:
        raise SelfTestFailure("the pixel under the stroke is not road")
    log(f"stroke painted {painted} px")
    window.actions_.undo.trigger()
    if (editor.mask == road).any():
        raise SelfTestFailure("undo did not remove the stroke")
    window.actions_.redo.trigger()
    if int((editor.mask == road).sum()) != painted:
        raise SelfTestFailure("redo did not restore the stroke")
    log("undo and redo work")
    editor.flush()
    on_disk = project.load_mask(unpainted.id)
    if not np.array_equal(on_disk, editor.mask):
        raise SelfTestFailure("the mask on disk differs from the mask on screen after saving")
    log("mask saved")
    self_test_training(window, log)


#: A model small and short enough to fine-tune in seconds on a CPU.
TINY_TRAINING = dict(
    backbone="resnet18", variant="fcn32s", weights=None, epochs=1, fast_steps=8, batch_size=2,
    crop_size=(64, 64), scale=0.5, preview_every_s=0.5, val_fraction=0.0,
)


def self_test_training(window, log: Callable[[str], None]) -> None:
    """Fine-tune a tiny model for a few steps and check the live layers show its prediction."""
    session, layers = window.training, window.prediction_layers
    image_id = window.editor.image_id
    if not session.start("fine-tune", **TINY_TRAINING):
        raise SelfTestFailure(f"training did not start: {window.last_error}")
    wait_for(session.prediction_shown, 180000, "the first live prediction")
    if layers.image_id != image_id or layers.probs is None:
        raise SelfTestFailure("the prediction layers do not show the image on screen")
    xs, _ = window.training_panel.loss_curve.getData()
    if xs is None or len(xs) == 0:
        raise SelfTestFailure("the loss curve has no points")
    layers.set_visible("heatmap", True)
    window.heatmap_legend.select(1)
    if layers.item("heatmap") is None or not layers.item("heatmap").isVisible():
        raise SelfTestFailure("the heatmap layer is not shown")
    log(f"live prediction shown after {len(xs)} training steps")
    if session.controller.running:
        session.stop()
        wait_for(session.controller.finished, 120000, "training to stop")
    if not session.checkpoint_path.exists():
        raise SelfTestFailure("no checkpoint was written")
    log("training stopped; checkpoint written")
    wait_until(lambda: session._predictor is not None, 120000, "the trained model to load")
    other = next(e.id for e in window.project.images if e.id != window.editor.image_id)
    window.image_list.select(other)  # the prediction arrives through the event loop, after wait_for connects
    wait_for(session.prediction_shown, 120000, "the prediction of another image")
    if "torch" in sys.modules:
        raise SelfTestFailure("the window's process loaded torch; training and predictions belong in child processes")
    log("another image predicted; the window's process never loaded torch")


def run_self_test(app: QApplication, keep: Path | None = None) -> int:
    from fcn_studio.data.demo import create_demo_project
    from fcn_studio.gui.main_window import MainWindow

    def log(msg: str) -> None:
        print(f"self-test: {msg}", flush=True)

    with tempfile.TemporaryDirectory(prefix="fcn-studio-selftest-") as tmp:
        root = Path(tmp)
        settings = QSettings(str(root / "settings.ini"), QSettings.Format.IniFormat)
        window = None
        try:
            project = create_demo_project(root / "demo", n_images=4, n_labelled=2, seed=7)
            window = MainWindow(project, settings)
            window.show()
            self_test_steps(window, log)
        except Exception as exc:  # report every failure as a reason, not a traceback
            print(f"self-test FAILED: {exc.__class__.__name__}: {exc}", file=sys.stderr)
            if window is not None:
                window.close()
            return 1
        window.close()
    log("all checks passed")
    return 0
