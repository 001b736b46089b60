"""The Training panel's choices -> TrainConfig, without Qt: one translation, one place for defaults."""

from pathlib import Path

import pytest

from fcn_studio.errors import TrainingError
from fcn_studio.models.registry import NO_WEIGHTS, weights_from_name
from fcn_studio.training.choices import CHECKPOINT, IMAGENET, TrainingChoices, config_from_choices
from fcn_studio.training.config import TrainConfig
from fcn_studio.training.presets import DEFAULT_MINUTES


def test_defaults_are_read_from_train_config():
    c = TrainingChoices()
    assert (c.backbone, c.variant, c.unlabelled) == (TrainConfig.backbone, TrainConfig.variant, TrainConfig.unlabelled)
    assert c.length == "minutes" and c.minutes == DEFAULT_MINUTES


def test_no_weights_word_becomes_none_in_one_place():
    assert weights_from_name(NO_WEIGHTS) is None and weights_from_name("None") is None and weights_from_name(None) is None
    assert weights_from_name("imagenet") == "imagenet"
    cfg = config_from_choices(TrainingChoices(weights=NO_WEIGHTS), "fine-tune", checkpoint=Path("nowhere.fcnckpt"))
    assert cfg.weights is None and cfg.resume is None and not cfg.fast_mode


def test_length_in_minutes_or_epochs(tmp_path):
    ckpt = tmp_path / "model.fcnckpt"
    by_min = config_from_choices(TrainingChoices(minutes=2.5, epochs=3), "fine-tune", checkpoint=ckpt).validate()
    assert (by_min.minutes, by_min.epochs) == (2.5, None)
    by_ep = config_from_choices(TrainingChoices(length="epochs", minutes=2.5, epochs=3), "fine-tune", checkpoint=ckpt)
    assert (by_ep.minutes, by_ep.epochs) == (None, 3)
    assert by_ep.out == ckpt and by_ep.leave_core_for_gui


def test_checkpoint_start_resumes_the_project_model_and_needs_it(tmp_path):
    ckpt = tmp_path / "model.fcnckpt"
    with pytest.raises(TrainingError, match="no checkpoint yet"):
        config_from_choices(TrainingChoices(weights=CHECKPOINT), "fine-tune", checkpoint=ckpt)
    ckpt.write_bytes(b"x")
    cfg = config_from_choices(TrainingChoices(weights=CHECKPOINT), "update", checkpoint=ckpt, preview_image="a.png",
                              refine_edges=True, batch_size=2)
    assert cfg.resume == ckpt and cfg.weights is None and cfg.fast_only
    assert cfg.preview_image == "a.png" and cfg.refine_edges and cfg.batch_size == 2


def test_unknown_start_is_refused():
    with pytest.raises(TrainingError, match="unknown start"):
        config_from_choices(TrainingChoices(weights="coco?"), "fine-tune", checkpoint=Path("x"))


def test_saved_choices_round_trip_and_broken_values_keep_the_base():
    chosen = TrainingChoices(backbone="resnet18", variant="fcn32s", length="epochs", epochs=5, weights=NO_WEIGHTS, unlabelled="off")
    again = TrainingChoices.from_json(chosen.to_json(), has_checkpoint=False, imagenet_cached=True)
    assert again == chosen
    base = TrainingChoices(minutes=3.0)
    broken = {"length": "fortnights", "minutes": True, "epochs": -2, "unlabelled": "maybe", "weights": "checkpoint"}
    got = TrainingChoices.from_json(broken, has_checkpoint=False, imagenet_cached=False, base=base)
    assert got == base.replace(weights=NO_WEIGHTS)  # a saved checkpoint start without the file: the default start
    assert TrainingChoices.from_json(None, has_checkpoint=False, imagenet_cached=True).weights == IMAGENET


def test_a_checkpoint_on_disk_is_where_the_next_run_starts():
    saved = TrainingChoices(weights=IMAGENET).to_json()
    assert TrainingChoices.from_json(saved, has_checkpoint=True, imagenet_cached=True).weights == CHECKPOINT
