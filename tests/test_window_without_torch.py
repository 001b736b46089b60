"""The window's process never imports torch: training and predictions run in child processes.

A plain pytest of what ``--self-test`` also checks. The window runs in a fresh interpreter
(the test process has torch loaded by other tests), fine-tunes a tiny model, is shown its
live prediction, then predicts another image with the trained model; the script prints
whether torch was ever imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.gui

REPO = Path(__file__).resolve().parent.parent

SCRIPT = r"""
import json, sys, tempfile
from pathlib import Path
from PySide6.QtCore import QSettings
from fcn_studio.data.demo import create_demo_project
from fcn_studio.gui.launch import make_app
from fcn_studio.gui.main_window import MainWindow
from fcn_studio.gui.self_test import TINY_TRAINING, wait_for, wait_until

app = make_app()
root = Path(sys.argv[1])
project = create_demo_project(root / "demo", n_images=3, n_labelled=2, seed=5, size=(96, 128))
win = MainWindow(project, QSettings(str(root / "s.ini"), QSettings.Format.IniFormat))
win.show()
wait_until(lambda: win.editor.image_id is not None, 30000, "the first image")
session = win.training
assert session.start("fine-tune", **TINY_TRAINING), win.last_error
wait_for(session.prediction_shown, 180000, "the first live prediction")
if session.controller.running:
    session.stop()
    wait_for(session.controller.finished, 120000, "training to stop")
wait_until(lambda: session._predictor is not None, 120000, "the trained model to load")
other = next(e.id for e in project.images if e.id != win.editor.image_id)
win.image_list.select(other)
wait_for(session.prediction_shown, 120000, "the prediction of another image")
loaded = sorted({m.split(".")[0] for m in sys.modules} & {"torch", "torchvision"})
win.close()
print(json.dumps({"loaded": loaded, "shown": win.prediction_layers.image_id == other}))
"""


def test_window_trains_and_predicts_without_importing_torch(tmp_path):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], capture_output=True, text=True, cwd=REPO,
                         env=env, timeout=540)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {"loaded": [], "shown": True}, result


IMAGENET_SCRIPT = r"""
import json, sys
from pathlib import Path
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication
from fcn_studio.data.demo import create_demo_project
from fcn_studio.gui.imagenet_view import ImageNetView
from fcn_studio.gui.launch import make_app
from fcn_studio.gui.main_window import MainWindow
from fcn_studio.gui.self_test import wait_for, wait_until

app = make_app()
root = Path(sys.argv[1])
project = create_demo_project(root / "demo", n_images=2, n_labelled=1, seed=5, size=(240, 320))
win = MainWindow(project, QSettings(str(root / "s.ini"), QSettings.Format.IniFormat))
win.show()
wait_until(lambda: win.editor.image is not None, 30000, "the first image")
win.training_panel.imagenet.trigger()  # the Model menu's "ImageNet heatmaps..."
view = next(w for w in QApplication.topLevelWidgets() if isinstance(w, ImageNetView))
wait_for(view.computed, 300000, "the ImageNet grid")
loaded = sorted({m.split(".")[0] for m in sys.modules} & {"torch", "torchvision"})
shown = {"classes": view.top.count(), "heat": view.heat_item is not None and view.heat_item.isVisible(),
         "grid": list(view.result.grid_shape)}
view.close()
win.close()
print(json.dumps({"loaded": loaded, **shown}))
"""


def test_imagenet_heatmaps_run_in_the_prediction_process(tmp_path):
    """Issue 34 item 8: opening *ImageNet heatmaps...* imported torch into the window's process
    (9 freezes of 109-602 ms). The classifier now runs in the prediction process; the window
    shows its top classes and the chosen class's map, and never imports torch."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    out = subprocess.run([sys.executable, "-c", IMAGENET_SCRIPT, str(tmp_path)], capture_output=True, text=True, cwd=REPO,
                         env=env, timeout=540)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["loaded"] == [], result
    assert result["classes"] == 10 and result["heat"], result
    assert result["grid"][0] >= 1 and result["grid"][1] >= 1, result
