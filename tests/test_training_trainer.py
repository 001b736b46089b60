"""Trainer behaviour on tiny runs: cancel, resume, NaN, out-of-memory, sparse labels, repeatability."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from fcn_studio.data.labelset import LabelSet
from fcn_studio.errors import TrainingError
from fcn_studio.models.checkpoint import load_checkpoint
from fcn_studio.training import FolderSource, TrainCallbacks, TrainConfig, train
from fcn_studio.training.checkpointing import resume_path
from fcn_studio.training.toydata import write_folder
from conftest import Recorder


pytestmark = pytest.mark.usefixtures("torch_one_thread")  # see conftest.py


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> FolderSource:  # noqa: ANN001
    images, masks, classes = write_folder(tmp_path_factory.mktemp("toy"), n=3, hw=(48, 64), seed=1)
    return FolderSource(images, masks, LabelSet.load(classes))


def tiny(tmp_path: Path, **kw) -> TrainConfig:  # noqa: ANN003
    base = dict(backbone="resnet18", variant="fcn8s", weights=None, epochs=None, max_steps=4, batch_size=2,
                crop_size=(32, 32), scale=1.0, num_threads=1, val_fraction=0, preview_every_s=None,
                min_epoch_steps=2, out=tmp_path / "m.fcnckpt", checkpoint_every_s=0.0)
    base.update(kw)
    return TrainConfig(**base)




def test_cancel_takes_effect_within_one_step_and_leaves_a_checkpoint(toy, tmp_path):  # noqa: ANN001
    rec = Recorder()
    stop = threading.Event()

    class StopAfter3(Recorder):
        def on_step(self, r):  # noqa: ANN001
            rec.on_step(r)
            if r.step == 3:
                stop.set()

    result = train(tiny(tmp_path, max_steps=50, min_epoch_steps=10), toy, StopAfter3(), stop)
    assert [r.step for r in rec.steps] == [1, 2, 3]
    assert result.stopped == "cancelled" and result.summary["step"] == 3
    model, meta = load_checkpoint(result.checkpoint)  # written although no epoch had ended
    assert meta.summary["stopped"] == "cancelled" and meta.summary["miou"] is None
    assert resume_path(result.checkpoint).is_file()


def test_resume_continues_the_step_count(toy, tmp_path):  # noqa: ANN001
    first = train(tiny(tmp_path, max_steps=3), toy)
    assert first.summary["step"] == 3
    rec = Recorder()
    second = train(tiny(tmp_path, max_steps=2, resume=first.checkpoint), toy, rec)
    assert [r.step for r in rec.steps] == [4, 5]
    assert second.summary["step"] == 5
    # the resume file now holds step 5; the best checkpoint is only replaced when beaten
    from fcn_studio.training.checkpointing import load_resume

    assert load_resume(second.checkpoint)["counters"]["step"] == 5
    _, meta = load_checkpoint(second.checkpoint)
    assert meta.summary["step"] <= 5


def test_resume_starts_from_the_last_weights(toy, tmp_path):  # noqa: ANN001
    first = train(tiny(tmp_path, max_steps=3, lr=1e-2), toy)
    last = {k: v.clone() for k, v in first.model.state_dict().items()}
    # a resumed run that is cancelled before its first step hands back exactly those weights
    again = train(tiny(tmp_path, max_steps=3, resume=first.checkpoint), toy, should_stop=lambda: True)
    assert again.stopped == "cancelled" and again.summary["step"] == 3
    state = again.model.state_dict()
    assert all(torch.equal(state[k].cpu(), last[k].cpu()) for k in last)


def test_resume_refuses_a_checkpoint_for_other_classes(toy, tmp_path):  # noqa: ANN001
    first = train(tiny(tmp_path, max_steps=1), toy)
    other = LabelSet.from_json({"name": "two", "classes": [{"id": 0, "name": "a", "color": [0, 0, 0]}, {"id": 1, "name": "b", "color": [1, 1, 1]}]})
    src = FolderSource(toy.images_dir, toy.masks_dir, other)
    with pytest.raises(Exception, match="3 classes|unknown class"):
        train(tiny(tmp_path / "b", max_steps=1, resume=first.checkpoint), src)


def test_nan_loss_stops_with_a_message_and_keeps_the_best_checkpoint(toy, tmp_path, monkeypatch):  # noqa: ANN001
    import fcn_studio.training.trainer as trainer_mod

    real = trainer_mod.segmentation_loss
    calls = {"n": 0}

    def poisoned(logits, target, weight, kind):  # noqa: ANN001, ANN202
        calls["n"] += 1
        loss = real(logits, target, weight, kind)
        return loss * float("nan") if calls["n"] >= 4 else loss

    monkeypatch.setattr(trainer_mod, "segmentation_loss", poisoned)
    rec = Recorder()
    with pytest.raises(TrainingError, match=r"loss became nan at step 4.*learning rate"):
        train(tiny(tmp_path, max_steps=10), toy, rec)
    assert [r.step for r in rec.steps] == [1, 2, 3]
    _, meta = load_checkpoint(tmp_path / "m.fcnckpt")  # from the epoch that ended at step 2
    assert meta.summary["step"] == 2


def test_out_of_memory_halves_the_batch_and_goes_on(toy, tmp_path, monkeypatch):  # noqa: ANN001
    import fcn_studio.models as models

    real_build = models.build_model

    def build(*a, **kw):  # noqa: ANN002, ANN003, ANN202
        model = real_build(*a, **kw)
        forward = model.forward

        def limited(x):  # noqa: ANN001, ANN202
            if model.training and x.shape[0] > 2:
                raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
            return forward(x)

        model.forward = limited
        return model

    monkeypatch.setattr(models, "build_model", build)
    rec = Recorder()
    result = train(tiny(tmp_path, batch_size=4, max_steps=3), toy, rec)
    assert any("out of memory" in n and "batch 2" in n for n in rec.notices)
    assert result.summary["batch_size"] == 2 and result.summary["step"] == 3
    assert all(r.batch_size == 2 for r in rec.steps)


def test_seeded_runs_repeat_exactly_on_cpu(toy, tmp_path):  # noqa: ANN001
    a = train(tiny(tmp_path / "a", seed=7), toy).model.state_dict()
    b = train(tiny(tmp_path / "b", seed=7), toy).model.state_dict()
    c = train(tiny(tmp_path / "c", seed=8), toy).model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_only_painted_pixels_give_gradient():
    from fcn_studio.training.loss import masked_cross_entropy as _masked_ce

    torch.manual_seed(0)
    logits = torch.randn(2, 3, 8, 8, requires_grad=True)
    target = torch.full((2, 8, 8), 255, dtype=torch.long)
    target[0, 2:4, 2:5] = 1
    target[1, 5, 5] = 2
    _masked_ce(logits, target, None).backward()
    painted = (target != 255).unsqueeze(1).expand_as(logits)
    assert (logits.grad[~painted] == 0).all() and (logits.grad[painted] != 0).any()
    # the loss is the mean over painted pixels only, whatever the unpainted logits are
    with torch.no_grad():
        other = logits.clone()
        other[~painted] = 1e4 * torch.randn_like(other[~painted])
    assert torch.allclose(_masked_ce(other, target, None), _masked_ce(logits, target, None))
    # a crop without a single painted pixel: zero loss, zero gradient, no NaN
    empty = torch.randn(1, 3, 4, 4, requires_grad=True)
    loss = _masked_ce(empty, torch.full((1, 4, 4), 255, dtype=torch.long), torch.ones(3))
    loss.backward()
    assert loss.item() == 0 and (empty.grad == 0).all()


def test_scribbles_train_only_where_painted(toy, tmp_path):  # noqa: ANN001
    """Masks painted with 'box' in one small patch and unpainted elsewhere: the model learns 'box'
    there and nothing pushes the unpainted area (whose truth is mostly background) anywhere."""
    from PIL import Image

    masks = tmp_path / "scribbles"
    masks.mkdir()
    for p in sorted(toy.masks_dir.glob("*.png")):
        truth = np.asarray(Image.open(p))
        scrib = np.full_like(truth, 255)
        scrib[truth == 1] = 1  # only the boxes are painted
        Image.fromarray(scrib).save(masks / p.name)
    src = FolderSource(toy.images_dir, masks, toy.labelset)
    result = train(tiny(tmp_path, max_steps=12, lr=5e-3), src)
    model = result.model.eval()
    with torch.no_grad():
        x = torch.randn(1, 3, 32, 32)
        probs = torch.softmax(model(x), 1)
    # only class 1 ever got a gradient towards it, so it dominates everywhere, even on noise
    assert (probs.argmax(1) == 1).float().mean() > 0.9


def test_no_painted_pixels_is_a_clear_error(toy, tmp_path):  # noqa: ANN001
    from PIL import Image

    masks = tmp_path / "empty"
    masks.mkdir()
    for p in sorted(toy.masks_dir.glob("*.png")):
        Image.fromarray(np.full((48, 64), 255, np.uint8)).save(masks / p.name)
    with pytest.raises(TrainingError, match="no image has painted pixels"):
        train(tiny(tmp_path), FolderSource(toy.images_dir, masks, toy.labelset))


def test_bad_settings_are_refused_before_training(toy, tmp_path):  # noqa: ANN001
    with pytest.raises(TrainingError, match="batch size"):
        train(tiny(tmp_path, batch_size=0), toy)
    with pytest.raises(TrainingError, match="unknown backbone"):
        train(tiny(tmp_path, backbone="alexnet"), toy)
    with pytest.raises(TrainingError, match="class weights need 3"):
        train(tiny(tmp_path, class_weights=[1.0, 2.0]), toy)


def test_previews_and_balanced_weights(toy, tmp_path):  # noqa: ANN001
    rec = Recorder()
    cfg = tiny(tmp_path, max_steps=2, class_weights="balanced", preview_image="toy_001", preview_every_s=0.0)
    train(cfg, toy, rec)
    assert rec.previews, "a preview was expected after every step"
    p = rec.previews[-1]
    assert p.image_id == "toy_001" and p.probs.shape == (3, 48, 64) and p.probs.dtype == np.float16
    assert p.labels.shape == (48, 64) and p.labels.dtype == np.uint8
    assert rec.checkpoints and rec.checkpoints[-1][0] == tmp_path / "m.fcnckpt"


def test_previews_snapped_to_image_edges_are_the_refined_prediction(toy, tmp_path):  # noqa: ANN001
    from fcn_studio.data.imageio import read_image
    from fcn_studio.models.device import Normalizer
    from fcn_studio.training.evaluation import preview
    from fcn_studio.inference.refine import edge_refine, refine_radius

    rec = Recorder()
    cfg = tiny(tmp_path, max_steps=2, preview_image="toy_001", preview_every_s=None, refine_edges=True)
    result = train(cfg, toy, rec)
    shown = rec.previews[-1]  # the last one is of the final weights (scored after the last step)
    image = read_image(toy.find_image("toy_001"))
    model = result.model
    probs, raw = preview(model, image, normalizer=Normalizer(model.normalization, torch.device("cpu"), False),
                         scale=result.summary["input_scale"], amp=False)
    labels, _, refined = edge_refine(image, probs, radius=refine_radius(model.output_stride, result.summary["input_scale"]), want_probs=True)
    np.testing.assert_array_equal(shown.labels, labels)
    np.testing.assert_allclose(shown.probs.astype(np.float32), refined.astype(np.float32), atol=2e-3)


def test_validation_split_is_reported(tmp_path):  # noqa: ANN001
    images, masks, classes = write_folder(tmp_path / "d", n=6, hw=(48, 64), seed=2)
    rec = Recorder()
    result = train(tiny(tmp_path, max_steps=2, val_fraction=0.34), FolderSource(images, masks, LabelSet.load(classes)), rec)
    assert any("holding out 2 of 6" in n for n in rec.notices)
    assert result.summary["metrics_on"] == "validation" and result.summary["val_images"] == 2
    assert result.summary["train_images"] == 4 and rec.epochs[-1].on == "validation"


def test_gui_runs_leave_one_core_and_lr_defaults_follow_the_start(monkeypatch):  # noqa: ANN001
    import os

    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    assert TrainConfig(leave_core_for_gui=True).cpu_threads() == 7
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    assert TrainConfig(leave_core_for_gui=True).cpu_threads() == 1
    assert TrainConfig(leave_core_for_gui=True, num_threads=3).cpu_threads() == 3
    assert TrainConfig().cpu_threads() is None
    assert TrainConfig(weights=None).peak_lr() == 5e-3 and TrainConfig(weights="imagenet").peak_lr() == 1e-3
    assert TrainConfig(weights=None, lr=0.1).peak_lr() == 0.1


def test_dense_masks_train_with_balanced_weights_and_ohem_by_default_and_the_summary_says_so(toy, tmp_path):  # noqa: ANN001
    summary = train(tiny(tmp_path, max_steps=1), toy).summary
    weights = summary["loss"]["class_weights"]
    assert summary["loss"]["kind"] == "ohem" and len(weights) == 3
    assert len(set(weights)) > 1 and sum(weights) / 3 == pytest.approx(1.0, abs=1e-3)  # rarer classes weigh more
    plain = train(tiny(tmp_path / "plain", max_steps=1, class_weights="none", loss="ce"), toy).summary
    assert plain["loss"] == {"kind": "ce", "class_weights": None}


def test_a_continued_live_run_skips_the_head_phase_and_the_warm_up(toy, tmp_path):  # noqa: ANN001
    """Live from the project's model goes on at full learning rate; a restarted run warms up again."""
    first = train(tiny(tmp_path, max_steps=60, lr=1e-3), toy)

    def live(out: str, **kw) -> Recorder:  # noqa: ANN003
        rec = Recorder()
        # open-ended, as Live is; stopped after two full steps
        train(tiny(tmp_path, out=tmp_path / out, max_steps=None, epochs=None, lr=1e-3, resume=first.checkpoint,
                   fast_mode=True, fast_steps=5, **kw), toy, rec,
              lambda: sum(r.phase == "full" for r in rec.steps) >= 2)
        return rec

    restarted, continued = live("r.fcnckpt"), live("c.fcnckpt", continue_schedule=True)
    assert [r.phase for r in restarted.steps] == ["fast"] * 5 + ["full"] * 2
    assert [r.phase for r in continued.steps] == ["full"] * 2
    assert restarted.steps[5].lr == pytest.approx(1e-3 / 25, rel=1e-3)  # warming up from lr/25 again
    assert continued.steps[0].lr == pytest.approx(1e-3, rel=1e-6)  # 60 steps lived: past the warm-up


def test_live_anneals_in_cycles_and_keeps_each_cycle_end(toy, tmp_path):  # noqa: ANN001
    """An open-ended run with cycle_minutes: cosine cycles with warm restarts, scored at each end."""
    rec = Recorder()
    cycle_s = 2.0  # long against a step (about 0.05 s), so the last step of a cycle is near its end
    train(tiny(tmp_path, max_steps=None, epochs=None, lr=1e-3, cycle_minutes=cycle_s / 60, min_epoch_steps=1000),
          toy, rec, lambda: len(rec.epochs) >= 2 or len(rec.steps) > 5000)
    assert len(rec.epochs) >= 2  # two cycle ends inside one (long) epoch
    first_end = rec.epochs[0].step
    before = [r.lr for r in rec.steps if r.step <= first_end]
    after = [r.lr for r in rec.steps if r.step > first_end]
    assert before[-1] < 0.2e-3 < after[0]  # annealed at the end, back near the peak after the restart
    assert max(after) <= 1e-3 + 1e-12 and after[0] > 0.9e-3  # the restart skips the warm-up


def test_live_cycles_save_only_annealed_models(toy, tmp_path):  # noqa: ANN001
    """Epochs end every two steps here, many times a cycle: none of those ends writes the
    checkpoint, only a cycle's end (the rate annealed) does, and a stop in the middle of the next
    cycle keeps that annealed model (issue 32 item 5: a half-annealed model overwrote it)."""
    rec = Recorder()
    cycle_s = 1.5
    out = tmp_path / "m.fcnckpt"
    seen: dict[int, float] = {}

    def stop() -> bool:  # 0.5 s into the third cycle (or 30 s at most, when epochs are reported all the time)
        now = time.perf_counter()
        last_end = seen.setdefault(len(rec.epochs), now)
        return (len(rec.epochs) >= 2 and now - last_end >= 0.5) or now - seen[0] > 30

    result = train(tiny(tmp_path, max_steps=None, epochs=None, lr=1e-3, cycle_minutes=cycle_s / 60, min_epoch_steps=1),
                   toy, rec, stop)
    assert result.stopped == "cancelled"
    epochs_passed = rec.steps[-1].epoch
    assert epochs_passed >= 6  # many epoch ends passed (3 images, batch 2: one step each)
    lr_at = {r.step: r.lr for r in rec.steps}
    written = [m["step"] for _, m in rec.checkpoints]
    cycle_ends = [r.step for r in rec.epochs]
    assert written and set(written) <= set(cycle_ends)  # written at cycle ends only
    assert all(lr_at[s] < 0.1e-3 for s in written)  # ... where the rate had annealed
    _, meta = load_checkpoint(out)
    assert meta.summary["step"] == cycle_ends[-1] < rec.steps[-1].step  # the stop kept the annealed model


def test_a_live_prediction_that_fails_is_a_notice_and_training_goes_on(toy, tmp_path, monkeypatch):  # noqa: ANN001
    """Issue 34 item 1: a preview the snap could not refine (OpenCV, on a 1920x1080 frame with
    11 classes) ended the run; the preview is one image, the run is the user's minutes."""
    from fcn_studio.training import trainer_preview as trainer_module

    def refuse(*_args, **_kwargs):  # noqa: ANN002, ANN003, ANN202
        raise ValueError("OpenCV(5.1.0) resize.cpp:3424: error: (-215:Assertion failed) cn <= 4 in function 'resize'")

    monkeypatch.setattr(trainer_module, "edge_refine", refuse)
    rec = Recorder()
    result = train(tiny(tmp_path, max_steps=2, preview_image="toy_001", refine_edges=True), toy, rec)
    assert result.summary["stopped"] == "step limit" and rec.checkpoints
    assert rec.previews == []
    assert any(n.startswith("cannot show a live prediction of toy_001: unexpected ValueError") and "\n" not in n
               for n in rec.notices), rec.notices
