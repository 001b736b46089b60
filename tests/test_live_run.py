"""The annotation loop on the window's own path (issue 32 item 1): a person saves masks while
*Live* trains in the window's training process; what they save joins the trainer's set.

The bench that measured the loop once trained on a source fixed at its first round, so every
later round trained on round 0's masks. Here three rounds run on one Live job, exactly as the
window runs it (``config_from_choices(..., "live")``, ``TrainingProcess``, masks written by
``Project.save_mask`` as the window's autosave writes them), and the trainer's own count of
painted images must follow the person's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fcn_studio.data.checkpoint_files import PROJECT_CHECKPOINT
from fcn_studio.data.demo import create_demo_project
from fcn_studio.data.labelset import UNPAINTED
from fcn_studio.data.project import Project
from fcn_studio.models.registry import NO_WEIGHTS
from fcn_studio.training.choices import TrainingChoices, config_from_choices
from fcn_studio.training.live_run import LiveRun


@pytest.fixture
def project(tmp_path: Path) -> Project:
    """Five demo images, none painted yet (the demo paints its first ones: cleared here)."""
    project = create_demo_project(tmp_path / "demo", n_images=5, n_labelled=1, seed=7, size=(64, 96))
    for entry in project.images:
        project.save_mask(entry.id, np.full((entry.height, entry.width), UNPAINTED, np.uint8))
    return project


def paint_a_stroke(project: Project, image_id: str, cls: int) -> None:
    """One horizontal stroke of class ``cls``, saved as the window's autosave saves it."""
    mask = project.load_mask(image_id)
    h = mask.shape[0]
    mask[h // 2 - 3 : h // 2 + 3, 10:80] = cls
    project.save_mask(image_id, mask)


def test_masks_saved_during_live_join_the_trainers_set_in_the_next_round(project: Project) -> None:
    ids = [e.id for e in project.images]
    paint_a_stroke(project, ids[0], 1)  # round 1: one image painted, then Live starts
    choices = TrainingChoices(backbone="resnet18", variant="fcn32s", weights=NO_WEIGHTS, unlabelled="off")
    config = config_from_choices(
        choices, "live", checkpoint=project.path_of(PROJECT_CHECKPOINT),
        # small and quick; min_epoch_steps=1 so an epoch (and the refresh that reads new masks) is one step
        crop_size=(32, 32), batch_size=2, num_threads=1, min_epoch_steps=1, preview_every_s=None,
        cycle_minutes=0.05, checkpoint_every_s=0.0,
    )
    run = LiveRun(config, project.root)
    try:
        assert run.wait_for(lambda s: s.steps >= 2, 120), run.state.failure
        assert run.painted_images == 1
        counts = []
        for round_no, image_id in ((2, ids[1]), (3, ids[3])):  # rounds 2 and 3 each paint a new image
            paint_a_stroke(project, image_id, 2)
            after = run.state.steps
            assert run.wait_for(lambda s: s.painted_images == round_no and s.steps > after, 120), (
                f"round {round_no}: the trainer still reads {run.painted_images} painted images")
            counts.append(run.painted_images)
        assert counts == [2, 3]
        assert run.state.failure is None and not run.ended
    finally:
        summary = run.stop()
    assert summary["stopped"] == "cancelled"
    assert summary["train_images"] == 3  # the run's own summary counts what was painted in round 3
