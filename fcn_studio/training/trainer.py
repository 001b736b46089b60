"""The training loop the GUI worker, the CLI and ``torchrun`` all drive.

``Trainer(config, source, callbacks=..., should_stop=...).run()`` (or :func:`train`) does:

1. join a ``torchrun`` job if there is one, pick the device, seed everything;
2. list the painted images, hold some out for validation (or use the given validation
   source), build or resume the model;
3. fast mode (optional): heads only, on cached trunk features (:mod:`.fast_mode`);
4. full fine-tuning: epochs of augmented crops, per-pixel cross-entropy ignoring unpainted
   pixels, AdamW + one-cycle (:mod:`.optim`), validation after each epoch, the best model
   written to ``config.out`` and the last state beside it for resuming.

Stopping: ``should_stop`` (a callable or a ``threading.Event``) is checked before every step,
so a cancel takes effect within one step; the run then ends cleanly, with a loadable
checkpoint on disk (the best one, or the current model if none was written yet; Live's
cycles keep the model of their last finished cycle, annealed, and save nothing in between). A NaN loss
raises :class:`TrainingError`; an out-of-memory error halves the batch and goes on (single
process). Seeded runs with a step or epoch limit repeat exactly on the CPU; time-budgeted
runs do not (the budget decides how many steps run).
"""

from __future__ import annotations

import math
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from fcn_studio.errors import TrainingError
from fcn_studio.training import checkpointing as ckpt
from fcn_studio.training.callbacks import CallbackList, EpochReport, StepReport, TrainCallbacks
from fcn_studio.training.config import TrainConfig
from fcn_studio.training.dataset import SegmentationDataset, build_datasets, make_loader
from fcn_studio.models.device import Normalizer, autocast, cpu_threads, empty_cache, is_oom, pick_device
from fcn_studio.training.distributed import setup, teardown
from fcn_studio.training.evaluation import validate
from fcn_studio.training.fast_mode import HeadTrainer, Stopped
from fcn_studio.training.feature_cache import FeatureCache
from fcn_studio.training.loss import class_weight_tensor, segmentation_loss
from fcn_studio.training.metrics import Scores
from fcn_studio.training.optim import apply_lr, build_optimizer, quicken_batchnorm
from fcn_studio.training.samples import PaintSummary, SampleSource
from fcn_studio.training import semi_supervised as semi
from fcn_studio.training.run_outputs import RunOutputs
from fcn_studio.training.trainer_preview import LivePreview
from fcn_studio.training.trainer_schedule import RunSchedule
from fcn_studio.training.trainer_semi import SemiSupervised

#: Training images scored per epoch when there is no validation set (fit, not generalisation).
TRAIN_EVAL_LIMIT = 16
@dataclass
class TrainResult:
    """What a run produced: a JSON-ready ``summary``, the checkpoint path, the (last) model."""

    summary: dict[str, Any]
    checkpoint: Path | None
    model: nn.Module
    stopped: str = "completed"


class _HalveBatch(Exception):
    pass


def _start_name(weights: Any) -> str:
    """Where a new model's weights come from, in words."""
    if weights is None:
        return "random init"
    if isinstance(weights, str) and weights in ("imagenet", "coco"):
        return {"imagenet": "ImageNet weights", "coco": "COCO weights"}[weights]
    return f"the weights file {Path(str(weights)).name}"


@dataclass
class _State:
    step: int = 0
    epoch: int = 0
    run_steps: int = 0
    images_seen: int = 0
    best: float = -1.0
    best_scores: Scores | None = None
    last_loss: float = math.nan
    wrote_checkpoint: bool = False
    stopped: str = "completed"
    rate: float = 0.0
    history: list[dict[str, Any]] = field(default_factory=list)


class Trainer(RunSchedule, LivePreview, SemiSupervised, RunOutputs):
    """One training run; construct on any thread, call :meth:`run` on the worker thread.

    Four jobs live beside the loop in their own modules, as mixins over the same state: the
    run's clock and learning-rate schedule, Live's cycles included
    (:class:`~fcn_studio.training.trainer_schedule.RunSchedule`), the live prediction of the image
    on screen (:class:`~fcn_studio.training.trainer_preview.LivePreview`), learning from unpainted images
    (:class:`~fcn_studio.training.trainer_semi.SemiSupervised`) and what the run leaves, its
    checkpoints and summary (:class:`~fcn_studio.training.run_outputs.RunOutputs`)."""

    def __init__(
        self,
        config: TrainConfig,
        source: SampleSource,
        *,
        val_source: SampleSource | None = None,
        callbacks: TrainCallbacks | Iterable[TrainCallbacks] | None = None,
        should_stop: Callable[[], bool] | threading.Event | None = None,
        feature_cache: FeatureCache | None = None,
    ) -> None:
        self.config = config.replace().validate()
        self.source = source
        self.val_source = val_source
        self.callbacks = CallbackList.of(callbacks)
        self._stop_event = threading.Event()
        self._user_stop = should_stop.is_set if isinstance(should_stop, threading.Event) else should_stop
        self.feature_cache = feature_cache if feature_cache is not None else FeatureCache()
        self._preview_id = config.preview_image
        self.state = _State()
        self.teacher: semi.EmaTeacher | None = None

    # -- control from other threads ---------------------------------------------------------------
    def request_stop(self) -> None:
        """Ask the run to end after the current step (thread-safe)."""
        self._stop_event.set()

    def set_preview_image(self, image_id: str | None) -> None:
        """Change which image the live prediction shows (thread-safe; used from the next refresh)."""
        self._preview_id = image_id

    def stop_requested(self) -> bool:
        return self._stop_event.is_set() or bool(self._user_stop and self._user_stop())

    # -- the run ---------------------------------------------------------------------------
    def run(self) -> TrainResult:
        cfg = self.config
        joined_here = not torch.distributed.is_initialized()
        self.dist = setup(cfg.device)
        try:
            threads = None if self.dist.enabled else cfg.cpu_threads()
            with cpu_threads(threads):
                return self._run()
        finally:
            if joined_here:
                teardown(self.dist)

    def _run(self) -> TrainResult:
        cfg, st = self.config, self.state
        self.device = self.dist.device() if self.dist.enabled else pick_device(cfg.device)
        torch.manual_seed(cfg.seed)
        np.random.seed(cfg.seed % (2**32))
        self._start_clock()
        if self._out is not None and self.dist.is_main:
            try:
                self._out.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise TrainingError(f"cannot create the folder of checkpoint {self._out}: {exc.strerror or exc}") from None
        self.labelset = self.source.labelset
        self._painted_samples = self.source.refresh()
        if not self._painted_samples:  # before building a model, which can take seconds
            raise TrainingError("nothing to train on: no image has painted pixels yet; paint a few strokes of each class first")
        self.writer = ckpt.CheckpointWriter(
            self._out if self.dist.is_main else None, self.labelset, every_s=cfg.checkpoint_every_s,
            resume_every_s=cfg.resume_every_s, on_written=self._written,
        )
        model, opt_state = self._model()
        self.batch_size = int(cfg.batch_size or (8 if self.device.type == "cuda" else 4))
        summary = getattr(self.source, "paint_summary", None)
        self.paint: PaintSummary | None = summary() if summary is not None else None
        self.scale = cfg.working_scale(self.device.type, self._resume_scale)
        self.train_ds, self.val_ds, self.val_on = self._datasets()
        self.channels_last = cfg.use_channels_last(self.device.type)
        self.amp = cfg.amp
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        quicken_batchnorm(model)
        if hasattr(model, "frozen_trunk_bn"):
            model.frozen_trunk_bn = cfg.trunk_bn_frozen()
        model = model.to(self.device)
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model = model
        self.normalizer = Normalizer(model.normalization, self.device, self.channels_last)
        self.eval_normalizer = Normalizer(model.normalization, self.device, False)
        dense = self.paint.dense if self.paint is not None else True
        self.class_weights = class_weight_tensor(cfg.loss_class_weights(dense), self.train_ds, self.labelset.num_classes, self.device)
        self.loss_kind = cfg.loss_kind(dense)
        self._last_preview = time.perf_counter()
        try:
            if cfg.fast_mode and self._continuing:
                self._notice("continuing the model's schedule: its heads are trained, so no head-only phase")
            elif cfg.fast_mode and not self.dist.enabled:
                self._fast_phase()
            elif cfg.fast_mode:
                self._notice("fast mode is skipped under torchrun: every process would cache the same features")
            if not cfg.fast_only:
                self._full_phase(opt_state)
        except Stopped:
            st.stopped = "cancelled"
        except BaseException:
            self.writer.flush()  # a NaN stop (or any failure) still leaves the best model on disk
            raise
        if st.stopped == "cancelled":
            self._on_cancel()
        self.writer.flush()
        self.dist.barrier()
        return TrainResult(summary=self._summary(), checkpoint=self._out if self._out_exists() else None, model=self._deployed(), stopped=st.stopped)

    # -- setup helpers ---------------------------------------------------------------------------
    def _model(self) -> tuple[nn.Module, dict | None]:
        """A new model as configured, or the one to resume (counters and optimiser state too)."""
        cfg, st = self.config, self.state
        self._resume_scale: float | None = None
        k = self.labelset.num_classes
        if cfg.resume is None:
            from fcn_studio.models import build_model

            try:
                model = build_model(cfg.backbone, cfg.variant, num_classes=k, weights=cfg.weights)
            except ValueError as exc:
                raise TrainingError(str(exc)) from None
            self._say_start(cfg.backbone, getattr(model, "variant", cfg.variant), _start_name(cfg.weights))
            return model, None
        path = Path(cfg.resume)
        model, counters, opt_state = ckpt.restore(path, k)
        st.step, st.epoch, self._resume_scale = counters["step"], counters["epoch"], counters["input_scale"]
        self._say_start(counters["backbone"], counters["variant"], f"the checkpoint {path.name} (step {st.step})")
        if cfg.out is not None and Path(cfg.out).resolve() == path.resolve():
            # Continuing into the same file: a cancel before the first validation keeps it as is.
            # "Best" is tracked within this run: the painted data (and so the scores) may have
            # changed since the checkpoint was written, so its old score is not comparable.
            st.wrote_checkpoint = True
        return model, opt_state

    def _say_start(self, backbone: str, variant: str | None, start: str) -> None:
        """Which trunk trains and where it started: in the summary, and said now (the window's
        status line, the CLI's log), so nobody has to guess what a run continued."""
        from fcn_studio.models.registry import display_name

        self.trunk, self.started_from = display_name(backbone, variant), start
        self._notice(f"training {self.trunk} from {start}")

    def _datasets(self) -> tuple[SegmentationDataset, SegmentationDataset, str]:
        cfg = self.config
        self.crop_size = tuple(cfg.crop_size) if cfg.crop_size is not None else ((384, 384) if self.device.type == "cuda" else (192, 192))
        dense = self.paint.dense if self.paint is not None else True
        fraction = cfg.holdout_fraction(len(self._painted_samples), dense)
        train_ds, val_ds, on, held = build_datasets(
            self.source, self.val_source, scale=self.scale, crop_size=self.crop_size, scale_range=cfg.scale_range,
            hflip=cfg.hflip, color_jitter=cfg.color_jitter, seed=cfg.seed, val_fraction=fraction,
            min_length=self.batch_size * self.dist.world_size * cfg.min_epoch_steps,
            grow_radius=cfg.stroke_growth(dense), grow_regions=cfg.region_growth(dense),
        )
        if held:
            self._notice(f"holding out {held} of {held + len(train_ds.samples)} painted images for validation")
        self.keep = cfg.keep if cfg.keep != "auto" else ("best" if on == "validation" else "last")
        return train_ds, val_ds, on

    def _painted_now(self) -> int:
        """Painted images read at the last refresh: trained on, or held out to score."""
        held = len(self.val_ds.samples) if self.val_on == "validation" else 0
        return len(self.train_ds.samples) + held

    def _deployed(self) -> nn.Module:
        """The weights that are scored, previewed and saved: the teacher's when there is one."""
        return self.teacher.model if self.teacher is not None else ckpt.unwrap(self.model)

    # -- phases ----------------------------------------------------------------------------------
    def _fast_phase(self) -> None:
        cfg = self.config
        head = HeadTrainer(
            self.model, device=self.device, normalizer=self.eval_normalizer, cache=self.feature_cache,
            scale=self.scale, amp=self.amp, class_weights=self.class_weights, pixels=self.train_ds.working_pixels,
        )
        computed = head.prepare(self.train_ds, self.stop_requested)
        self._notice(f"fast mode: trunk features of {len(head.items)} images ready ({computed} computed, {len(head.items) - computed} cached)")

        def on_step(i: int, loss: float, lr: float, n: int, dt: float) -> None:
            self._after_step(loss, lr, n, dt, phase="fast", progress=(i + 1) / cfg.fast_steps)

        head.run(cfg.fast_steps, lr=cfg.fast_lr, batch_size=self.batch_size, seed=cfg.seed, should_stop=self.stop_requested, on_step=on_step)
        self._end_of_epoch(phase="fast")
        self.model.train()

    def _full_phase(self, opt_state: dict | None) -> None:
        cfg, st = self.config, self.state
        model = self.model
        train_model: nn.Module = model
        if self.dist.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            train_model = nn.parallel.DistributedDataParallel(model, device_ids=ids)
        self.optimizer = build_optimizer(
            cfg.optimizer,
            [(model.trunk_parameters(), cfg.trunk_lr_mult), (model.head_parameters(), 1.0)],
            lr=cfg.peak_lr(),
            weight_decay=cfg.weight_decay,
        )
        if opt_state:
            self._load_optimizer(opt_state)
        model.train()
        self._setup_semi()
        epochs_done = 0
        while cfg.epochs is None or epochs_done < cfg.epochs:
            n = self.train_ds.refresh()
            if self.val_on == "training":
                self.val_ds.refresh()
            if self.teacher is not None:
                self.unlabelled.refresh()
                self._describe_semi()
            if n == 0:
                raise TrainingError("every painted image was cleared while training; nothing left to train on")
            self.train_ds.set_epoch(st.epoch)
            try:
                finished = self._epoch(train_model, epochs_done)
            except _HalveBatch:
                continue
            if not finished:
                break
            epochs_done += 1
            st.epoch += 1
            if self._cycling:
                continue  # Live's cycles score and save only at a cycle's end, where the model is annealed
            self._end_of_epoch(phase="full")
            self._save_resume()
        if st.stopped != "cancelled" and not self._cycling and (not st.history or st.history[-1]["step"] != st.step):
            self._end_of_epoch(phase="full")  # the final weights get scored too (time / step limits)
        self._save_resume(force=True)

    def _loader(self) -> DataLoader:
        cfg = self.config
        workers = cfg.workers
        if workers is None:  # measured: on a CPU, workers only take cores from the math (see make_loader)
            workers = min(4, max(0, (os.cpu_count() or 1) - 1)) if self.device.type == "cuda" else 0
        return make_loader(self.train_ds, self.batch_size, seed=cfg.seed, epoch=self.state.epoch, dist=self.dist,
                           workers=workers, pin_memory=self.device.type == "cuda")

    def _epoch(self, train_model: nn.Module, epochs_done: int) -> bool:
        """One pass; False when the run must end (stop, time, step limit)."""
        cfg, st = self.config, self.state
        loader = self._loader()
        n_batches = max(1, len(loader))
        t = time.perf_counter()  # images/s counts loading too: the time from one step's end to the next's
        for i, (images, targets) in enumerate(loader):
            progress = self._progress(epochs_done + i / n_batches)
            stop, out_of_time, p_max = self._agree_start(progress)
            if stop:
                st.stopped = "cancelled"
                return False
            if out_of_time:
                st.stopped = "time budget"
                return False
            if cfg.max_steps is not None and st.run_steps >= cfg.max_steps:
                st.stopped = "step limit"
                return False
            lr = apply_lr(self.optimizer, self._lr_factor(p_max))
            weight = self._semi_weight(p_max) if self.teacher is not None else 0.0
            loss = self._train_step(train_model, images, targets, weight)  # may raise _HalveBatch
            self._after_step(loss, lr, images.shape[0] * self.dist.world_size, time.perf_counter() - t, phase="full", progress=p_max)
            t = time.perf_counter()
        return True

    def _train_step(self, train_model: nn.Module, images: torch.Tensor, targets: torch.Tensor, semi_weight: float = 0.0) -> float:
        x = self.normalizer(images)
        y = targets.to(self.device, non_blocking=True).long()
        try:
            extra = self._unlabelled_batch() if self.teacher is not None else None
            if extra is not None:
                x = torch.cat([x, extra[0]])
            with autocast(self.device, self.amp):
                logits = train_model(x)
            logits = logits.float()
            loss = segmentation_loss(logits[: y.shape[0]], y, self.class_weights, self.loss_kind)
            if self.config.crf_weight > 0:
                from fcn_studio.training.regularized_loss import potts_loss

                probs = torch.softmax(logits[: y.shape[0]], 1)
                loss = loss + self.config.crf_weight * potts_loss(probs, images.to(self.device).float())
            if extra is not None:
                unlabelled_logits = logits[y.shape[0] :]
                self.agreement.update(unlabelled_logits.detach(), extra[1].guess)
                if semi_weight > 0:
                    loss = loss + semi_weight * semi.weighted_cross_entropy(unlabelled_logits, extra[1])
            value = float(loss.detach())
            (bad,) = self.dist.agree(not math.isfinite(value), device=self.device)
            if bad:
                self._nan_stop(value)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            if self.teacher is not None:
                self.teacher.update(ckpt.unwrap(self.model))
        except Exception as exc:
            if not is_oom(exc) or self.dist.enabled or self.batch_size <= 1:
                raise
            self.optimizer.zero_grad(set_to_none=True)
            del exc
            empty_cache(self.device)
            self.batch_size //= 2
            self._notice(f"out of memory with batch {self.batch_size * 2}: continuing with batch {self.batch_size}")
            raise _HalveBatch from None
        return value

    def _nan_stop(self, value: float) -> None:
        st = self.state
        where = f" The best checkpoint so far is {self._out}." if self._out_exists() else ""
        raise TrainingError(
            f"training stopped: the loss became {value} at step {st.step + 1} (epoch {st.epoch + 1}); the learning "
            f"rate {self.config.peak_lr():g} is probably too high for this model, try {self.config.peak_lr() / 10:g}.{where}"
        )

    def _load_optimizer(self, state: dict) -> None:
        base = [g["base_lr"] for g in self.optimizer.param_groups]
        try:
            self.optimizer.load_state_dict(state)
        except (ValueError, KeyError, RuntimeError):
            self._notice("the saved optimiser state does not fit this configuration; starting the optimiser afresh")
            return
        for g, b in zip(self.optimizer.param_groups, base):
            g["base_lr"] = b

    # -- reports -------------------------------------------------------------------------------------
    def _after_step(self, loss: float, lr: float, n: int, dt: float, *, phase: str, progress: float | None) -> None:
        st = self.state
        st.step += 1
        if phase == "full":
            st.run_steps += 1
        st.images_seen += n
        st.last_loss = loss
        rate = n / max(dt, 1e-9)
        st.rate = rate if st.rate == 0 else 0.9 * st.rate + 0.1 * rate
        elapsed = time.perf_counter() - self.t0
        eta = None
        if self.deadline is not None:
            eta = max(0.0, self.deadline - time.perf_counter())
        elif progress and progress > 0 and phase == "full":
            eta = elapsed * (1 - progress) / progress
        if self.dist.is_main:
            self.callbacks.on_step(
                StepReport(step=st.step, epoch=st.epoch, loss=loss, lr=lr, images_per_s=st.rate, eta_s=eta,
                           elapsed_s=elapsed, phase=phase, batch_size=n,
                           detail=getattr(self, "_semi_detail", "") if phase == "full" and self.teacher is not None else "",
                           painted_images=self._painted_now())
            )
        every = self.config.preview_every_s
        if every is not None and time.perf_counter() - self._last_preview >= every:
            self._preview()

    def _notice(self, message: str) -> None:
        if self.dist.is_main:
            self.callbacks.on_notice(message)

    # -- validation and checkpoints --------------------------------------------------------------------
    def _validate(self) -> Scores:
        return validate(
            self._deployed(), self.val_ds, normalizer=self.eval_normalizer, scale=self.scale, amp=self.amp,
            dist=self.dist, limit=TRAIN_EVAL_LIMIT if self.val_on == "training" else None, should_stop=self.stop_requested,
            pixels=self.val_ds.working_pixels,
        )

    def _end_of_epoch(self, *, phase: str) -> None:
        st = self.state
        with torch.no_grad():
            self.dist.sync_buffers(ckpt.unwrap(self.model))
        scores = self._validate()
        improved = scores.miou > st.best or not st.wrote_checkpoint or self.keep == "last"
        if improved:
            st.best, st.best_scores = scores.miou, scores
            self._save_best(scores)
        st.history.append({"step": st.step, "epoch": st.epoch, "phase": phase, "miou": scores.miou, "loss": st.last_loss})
        if self.dist.is_main:
            self.callbacks.on_epoch_end(
                EpochReport(
                    epoch=st.epoch, step=st.step, miou=scores.miou, pixel_acc=scores.pixel_acc,
                    per_class_iou=scores.per_class_iou.copy(), train_loss=st.last_loss,
                    elapsed_s=time.perf_counter() - self.t0, on=self.val_on, improved=improved and self._out is not None,
                    phase=phase, images=len(self.val_ds.samples),
                )
            )
        self._preview()

def train(
    config: TrainConfig,
    source: SampleSource,
    callbacks: TrainCallbacks | Iterable[TrainCallbacks] | None = None,
    should_stop: Callable[[], bool] | threading.Event | None = None,
    *,
    val_source: SampleSource | None = None,
    feature_cache: FeatureCache | None = None,
) -> TrainResult:
    """Run one training; see :class:`Trainer`."""
    return Trainer(config, source, val_source=val_source, callbacks=callbacks, should_stop=should_stop, feature_cache=feature_cache).run()
