"""Fast mode: heads trained on cached trunk features give a useful model in a few seconds."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fcn_studio.data.labelset import LabelSet
from fcn_studio.training import FolderSource, TrainCallbacks, TrainConfig, train
from fcn_studio.training.feature_cache import FeatureCache, trunk_fingerprint
from fcn_studio.training.metrics import score_arrays
from fcn_studio.inference.predictor import Predictor
from fcn_studio.training.toydata import make_scenes, write_folder
from conftest import Recorder


pytestmark = pytest.mark.usefixtures("torch_one_thread")  # see conftest.py




def test_fast_mode_gives_a_useful_model_and_reuses_cached_features(tmp_path):  # noqa: ANN001
    images, masks, classes = write_folder(tmp_path, n=4, hw=(64, 96), seed=0)
    source = FolderSource(images, masks, LabelSet.load(classes))
    cache = FeatureCache()
    cfg = TrainConfig(backbone="resnet18", weights=None, fast_only=True, fast_steps=80, batch_size=4, scale=1.0,
                      num_threads=1, val_fraction=0, preview_every_s=None, out=tmp_path / "fast.fcnckpt")
    rec = Recorder()
    result = train(cfg, source, rec, feature_cache=cache)
    assert {r.phase for r in rec.steps} == {"fast"} and len(rec.steps) == 80
    assert rec.notices[0] == "training ResNet-18 FCN-4s from random init"  # what trains, and from where
    assert len(cache) == 4 and "4 computed" in rec.notices[1]

    # useful: a random-init trunk's features already separate the shapes once the heads learn
    predictor = Predictor.from_checkpoint(result.checkpoint, device="cpu")
    scenes = make_scenes(4, (64, 96), seed=0)
    pred = np.concatenate([predictor.predict(rgb, want_probs=False).labels for rgb, _ in scenes])
    truth = np.concatenate([lab for _, lab in scenes])
    untrained = score_arrays(truth, np.zeros_like(truth), 3).miou
    assert score_arrays(truth, pred, 3).miou > max(0.75, untrained + 0.4)

    # a second quick run on the same images computes no trunk features at all
    rec2 = Recorder()
    train(cfg.replace(out=None, fast_steps=2), source, rec2, feature_cache=cache)
    assert "0 computed, 4 cached" in rec2.notices[1] and cache.hits >= 4


def test_fast_phase_leaves_the_trunk_alone_then_full_training_continues(tmp_path):  # noqa: ANN001
    images, masks, classes = write_folder(tmp_path, n=2, hw=(48, 64), seed=4)
    source = FolderSource(images, masks, LabelSet.load(classes))
    from fcn_studio.models import build_model

    torch.manual_seed(0)
    fresh = build_model("resnet18", "fcn8s", num_classes=3, weights=None)
    before = trunk_fingerprint(fresh.trunk_parameters())
    cfg = TrainConfig(backbone="resnet18", weights=None, fast_only=True, fast_steps=3, batch_size=2, scale=1.0,
                      num_threads=1, val_fraction=0, preview_every_s=None, seed=0)
    fast = train(cfg, source)
    assert trunk_fingerprint(fast.model.trunk_parameters()) == before  # same seed, same init, untouched

    rec = Recorder()
    both = train(cfg.replace(fast_only=False, fast_mode=True, max_steps=2, epochs=None, crop_size=(32, 32), min_epoch_steps=2), source, rec)
    assert [r.phase for r in rec.steps] == ["fast"] * 3 + ["full"] * 2
    assert [r.step for r in rec.steps] == [1, 2, 3, 4, 5]
    assert [e.phase for e in rec.epochs][0] == "fast" and both.summary["step"] == 5
    assert trunk_fingerprint(both.model.trunk_parameters()) != before  # full fine-tuning moved it


def test_feature_cache_is_bounded():
    cache = FeatureCache(max_bytes=3 * 1000 * 2)  # room for three 1000-value float16 entries
    for i in range(5):
        cache.get_or_compute((i,), lambda: {"f": torch.ones(1, 10, 10, 10)})
    assert len(cache) == 3 and cache.nbytes <= cache.max_bytes
    calls = []
    cache.get_or_compute((4,), lambda: calls.append(1) or {"f": torch.ones(1)})
    assert not calls  # still cached
