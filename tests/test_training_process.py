"""Training in a child process: reports arrive over the pipe, stop works, failures become messages.

Each test starts a real training process (spawned, it imports torch: a few seconds).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from fcn_studio.data.demo import create_demo_project
from fcn_studio.data.labelset import UNPAINTED
from fcn_studio.data.project import Project
from fcn_studio.training.config import TrainConfig
from fcn_studio.training.messages import Done, EpochEnded, Failed, PreviewPredicted, Ready, StepReported, Stop
from fcn_studio.training.process import TrainingProcess
from fcn_studio.training.samples import ProjectFileSource


def tiny(out: Path, **kw) -> TrainConfig:  # noqa: ANN003
    base = dict(backbone="resnet18", variant="fcn32s", weights=None, epochs=None, max_steps=40, batch_size=2,
                crop_size=(48, 48), scale=0.5, num_threads=1, val_fraction=0, preview_every_s=0.0,
                min_epoch_steps=2, out=out, checkpoint_every_s=0.0, fast_mode=True, fast_steps=4)
    base.update(kw)
    return TrainConfig(**base)


def collect(proc: TrainingProcess, until, timeout_s: float = 120.0) -> list:  # noqa: ANN001
    events: list = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not proc.ended:
        events += proc.receive(0.2)
        if until(events):
            break
    return events


def kinds(events: list) -> list[type]:
    return [type(e) for e in events]


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return create_demo_project(tmp_path / "demo", n_images=3, n_labelled=2, seed=3, size=(64, 96))


def test_a_run_reports_steps_epochs_previews_and_ends_with_a_summary(project: Project, tmp_path: Path) -> None:
    preview = project.images[2].id  # not painted: previews work for any image
    proc = TrainingProcess().spawn()
    try:
        proc.start_job(tiny(tmp_path / "m.pt", max_steps=8, preview_image=preview), project.root)
        events = collect(proc, lambda ev: Done in kinds(ev))
    finally:
        proc.close()
    k = kinds(events)
    assert k[0] is Ready and k[-1] is Done, k
    assert Failed not in k, [e for e in events if isinstance(e, Failed)]
    steps = [e.report.step for e in events if isinstance(e, StepReported)]
    assert steps == sorted(steps) and steps[-1] == 4 + 8  # fast-mode head steps, then max_steps full steps
    epochs = [e for e in events if isinstance(e, EpochEnded)]
    assert epochs and all(isinstance(e.monotonic_s, float) for e in epochs)
    previews = [e.report for e in events if isinstance(e, PreviewPredicted)]
    assert previews and previews[-1].image_id == preview
    assert previews[-1].probs.shape == (5, 64, 96)
    summary = events[-1].summary
    assert summary["stopped"] == "step limit" and Path(summary["checkpoint"]).is_file()
    assert proc.exitcode == 0


def test_stop_ends_the_run_within_steps_and_keeps_a_model(project: Project, tmp_path: Path) -> None:
    proc = TrainingProcess().spawn()
    try:
        proc.start_job(tiny(tmp_path / "m.pt", max_steps=100000, preview_every_s=None), project.root)
        events = collect(proc, lambda ev: sum(1 for e in ev if isinstance(e, StepReported) and e.report.phase == "full") >= 2)
        proc.send(Stop())
        events += collect(proc, lambda ev: Done in kinds(ev), timeout_s=60)
    finally:
        proc.close()
    assert isinstance(events[-1], Done) and events[-1].summary["stopped"] == "cancelled"
    last_step = max(e.report.step for e in events if isinstance(e, StepReported))
    assert last_step < 100
    assert (tmp_path / "m.pt").is_file()


def test_trainer_errors_arrive_as_one_readable_message(tmp_path: Path) -> None:
    empty = create_demo_project(tmp_path / "empty", n_images=2, n_labelled=0, seed=1, size=(48, 48))
    proc = TrainingProcess().spawn()
    try:
        proc.start_job(tiny(tmp_path / "m.pt"), empty.root)
        events = collect(proc, lambda ev: Done in kinds(ev))
    finally:
        proc.close()
    errors = [e.message for e in events if isinstance(e, Failed)]
    assert len(errors) == 1 and "paint" in errors[0].lower()
    assert events[-1] == Done({"stopped": "error"})


def test_a_killed_process_is_reported_not_waited_for(project: Project, tmp_path: Path) -> None:
    proc = TrainingProcess().spawn()
    try:
        proc.start_job(tiny(tmp_path / "m.pt", max_steps=100000, preview_every_s=None), project.root)
        collect(proc, lambda ev: StepReported in kinds(ev))
        os.kill(proc.pid, signal.SIGKILL)  # what the kernel's out-of-memory killer does
        events = collect(proc, lambda ev: Done in kinds(ev), timeout_s=30)
    finally:
        proc.close()
    assert kinds(events)[-2:] == [Failed, Done]
    assert "killed" in events[-2].message and "memory" in events[-2].message
    assert events[-1].summary["stopped"] == "error"


def test_an_unused_spare_process_closes_quickly() -> None:
    proc = TrainingProcess().spawn()
    t0 = time.monotonic()
    proc.close(timeout_s=5.0)
    assert not proc.alive and time.monotonic() - t0 < 8.0


def test_file_source_follows_saves_of_another_process(project: Project) -> None:
    source = ProjectFileSource(project.root)
    painted_before = {s.id for s in source.refresh()}
    assert painted_before == {e.id for e in project.images if e.painted > 0}
    third = project.images[2].id
    assert third not in painted_before
    mask = np.full((64, 96), UNPAINTED, np.uint8)
    mask[40:50, 10:30] = 1
    project.save_mask(third, mask)  # the GUI's autosave: mask file, then project.json
    assert third in {s.id for s in source.refresh()}
    assert third in {s.id for s in source.without([project.images[0].id]).refresh()}
    # a save in progress (its temp file) is never touched by the reader
    from fcn_studio.data.atomic import TEMP_SUFFIX

    stray = project.root / f".project.json{TEMP_SUFFIX}"
    stray.write_text("{")
    source.refresh()
    assert stray.exists()
    # an unreadable project.json keeps the last readable state
    (project.root / "project.json").write_text("{ half a file")
    assert third in {s.id for s in source.refresh()}
