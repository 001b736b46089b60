"""The window's session model without Qt: one copy of layer display, project, model and choices."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from fcn_studio.data.overlay import MASK_OPACITY
from fcn_studio.session import MASK, LayerState, SessionModel
from fcn_studio.training.choices import TrainingChoices

REPO = Path(__file__).resolve().parent.parent


def record(signal) -> list:  # noqa: ANN001
    seen: list = []
    signal.connect(lambda *args: seen.append(args))
    return seen


def test_layer_setters_emit_once_per_real_change():
    s = SessionModel()
    seen = record(s.layer_changed)
    assert s.layer(MASK) == LayerState(True, MASK_OPACITY)
    s.set_visible(MASK, False)
    s.set_visible(MASK, False)  # no change, no event: a widget that writes and follows cannot loop
    s.toggle("heatmap")
    s.set_opacity("prediction", 1.7)  # clipped to 0..1
    assert seen == [(MASK, LayerState(False, MASK_OPACITY)), ("heatmap", LayerState(True, 0.6)),
                    ("prediction", LayerState(True, 1.0))]
    assert not s.visible(MASK) and s.visible("heatmap") and s.opacity("prediction") == 1.0


def test_a_new_project_forgets_the_old_model(tmp_path):
    first, second = object(), object()
    s = SessionModel(first)
    projects, checkpoints = record(s.project_changed), record(s.checkpoint_changed)
    s.set_checkpoint(tmp_path / "model.fcnckpt")
    s.set_project(first)  # the same project: nothing happens
    assert s.checkpoint == tmp_path / "model.fcnckpt" and projects == []
    s.set_project(second)
    assert s.project is second and s.checkpoint is None
    assert projects == [(second,)] and checkpoints == [(tmp_path / "model.fcnckpt",), (None,)]


def test_training_choices_change_as_whole_values():
    s = SessionModel()
    seen = record(s.choices_changed)
    assert s.choices == TrainingChoices()
    s.set_choices(TrainingChoices())
    chosen = TrainingChoices(minutes=3.0)
    s.set_choices(chosen)
    assert seen == [(chosen,)] and s.choices is chosen


def test_the_session_model_loads_no_qt():
    code = "import sys, fcn_studio.session; print(sorted({m.split('.')[0] for m in sys.modules} & {'PySide6', 'torch', 'superqt'}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "[]"
