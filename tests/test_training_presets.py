"""The GUI's training buttons as configs: fast mode only where the trunk has learned weights."""

import pytest

from fcn_studio.training.presets import DEFAULT_MINUTES, UPDATE_FROM_SCRATCH_MINUTES, interactive_config

COMMON = dict(backbone="mobilenet_v3_large", variant="fcn8s", epochs=None, minutes=DEFAULT_MINUTES, out="ckpt.pt")


def test_fine_tune_from_random_init_trains_the_whole_network_from_the_start():
    cfg = interactive_config("fine-tune", weights=None, **COMMON).validate()
    assert not cfg.fast_mode and not cfg.fast_only
    assert cfg.minutes == DEFAULT_MINUTES and cfg.leave_core_for_gui


@pytest.mark.parametrize("start", [dict(weights="imagenet"), dict(weights=None, resume="last.pt")])
def test_fine_tune_from_learned_weights_starts_with_the_fast_phase(start):
    cfg = interactive_config("fine-tune", **{**COMMON, **start}).validate()
    assert cfg.fast_mode and not cfg.fast_only


def test_update_is_heads_only_on_learned_weights_and_a_short_full_run_from_scratch():
    learned = interactive_config("update", weights="imagenet", **COMMON).validate()
    assert learned.fast_only and learned.minutes is None and learned.epochs is None
    scratch = interactive_config("update", weights=None, **COMMON).validate()
    assert not scratch.fast_mode and not scratch.fast_only
    assert scratch.minutes == UPDATE_FROM_SCRATCH_MINUTES and scratch.epochs is None


def test_live_runs_until_stopped_and_overrides_win():
    cfg = interactive_config("live", weights=None, **COMMON, batch_size=2).validate()
    assert cfg.epochs is None and cfg.minutes is None and cfg.max_steps is None and cfg.batch_size == 2
    with pytest.raises(ValueError, match="unknown training mode"):
        interactive_config("sprint", weights=None, **COMMON)


def test_live_from_the_project_model_continues_its_schedule_and_fine_tune_does_not():
    live = interactive_config("live", weights=None, resume="last.pt", **COMMON).validate()
    assert live.continue_schedule
    assert not interactive_config("live", weights="imagenet", **COMMON).continue_schedule  # nothing to continue
    assert not interactive_config("fine-tune", weights=None, resume="last.pt", **COMMON).continue_schedule
