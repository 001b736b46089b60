"""Learning from unpainted images, the trainer's second job: set-up, pseudo-labels, their batches.

A mixin over :class:`~fcn_studio.training.trainer.Trainer`'s state (``config``, ``source``,
``model``, ``device``, ...), kept apart so the training loop reads as a loop; the
semi-supervised parts themselves (teacher, labeller, strong views) are in
:mod:`fcn_studio.training.semi_supervised`.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from fcn_studio.errors import FcnStudioError
from fcn_studio.training import checkpointing as ckpt
from fcn_studio.training import semi_supervised as semi
from fcn_studio.data.working_size import resize_pair
from fcn_studio.training.dataset import IGNORE
from fcn_studio.models.device import autocast
from fcn_studio.training.fast_mode import Stopped
from fcn_studio.training.unlabelled_views import UnlabelledViews

#: Self-training: memory for the teacher's label maps, and the time one labelling may take
#: (share of a time budget; seconds in an open-ended run). 357 CamVid images take about 15 s
#: on one CPU core at working scale 0.5.
PSEUDO_MAX_BYTES = 256 << 20
PSEUDO_MAX_SHARE = 0.05
PSEUDO_OPEN_S = 20.0


class SemiSupervised:
    """The trainer's methods for unpainted images (see the module); ``teacher`` is None when unused."""

    teacher: "semi.EmaTeacher | None" = None

    def _setup_semi(self) -> None:
        """Learn from unpainted pixels too when the configuration and the source call for it."""
        cfg = self.config
        lister = getattr(self.source, "unlabelled", None)
        if lister is None or not semi.wanted(cfg.unlabelled, self.paint, cfg.minutes):
            if cfg.unlabelled == "on":
                self._notice("no unlabelled images to learn from: training on the painted pixels only")
            elif cfg.unlabelled == "auto" and lister is not None and semi.wanted("auto", self.paint):
                self._notice(f"a short run learns from the strokes alone; give it {semi.AUTO_MIN_MINUTES:g} minutes or more "
                             f"to learn from the {self.paint.unpainted_images} unpainted images too")
            return
        self.unlabelled = UnlabelledViews(
            self.source, scale=self.scale, crop_size=self.crop_size, scale_range=cfg.scale_range, hflip=cfg.hflip,
            jitter=cfg.color_jitter, seed=cfg.seed + 7919 * self.dist.rank, cache=self.train_ds.cache,
            pixels=self.train_ds.working_pixels,
        )
        if not len(self.unlabelled):
            return
        self.teacher = semi.EmaTeacher(ckpt.unwrap(self.model), cfg.ema_decay)
        self.labeller = semi.PseudoLabeller(self.labelset.num_classes, threshold=cfg.pseudo_threshold, floor=cfg.pseudo_floor)
        self.agreement = semi.Agreement()
        self.semi_gen = semi.seeded_generator(cfg.seed, self.dist.rank)
        self.pseudo_pixels = 0
        self._next_labelling = cfg.pseudo_start
        self._pseudo_weights: torch.Tensor | None = None
        self._describe_semi()
        self._notice(self._semi_detail)

    def _describe_semi(self) -> None:
        """What the run learns from, in words, as the data stands now: called again after each
        epoch's refresh, so an image painted during Live counts (issue 34: the line stayed at
        the start's "6 painted + 34 unpainted" when a seventh was painted)."""
        self._semi_detail = (
            f"learning from {len(self.train_ds.samples)} painted + {self.unlabelled.unpainted_images()} unpainted images"
        )

    def _semi_weight(self, progress: float | None) -> float:
        cfg = self.config
        if cfg.semi_method == "self-training":
            p = progress if progress is not None else self.state.run_steps / 1000.0  # open-ended: every 200 steps
            if p >= self._next_labelling:
                self._label_unpainted()
                self._next_labelling = p + cfg.pseudo_every
            return cfg.unlabelled_weight if self.unlabelled.pseudo else 0.0
        if progress is None:  # open-ended run: ramp over a fixed number of steps
            return cfg.unlabelled_weight * semi.ramp(self.state.run_steps, 300.0)
        return cfg.unlabelled_weight * semi.ramp(progress, cfg.ramp_fraction)

    def _label_unpainted(self) -> None:
        """Self-training: the teacher labels the pool's images (confident, class-balanced pixels).

        Labels are kept at working resolution (a quarter of the pixels on a CPU), at most
        ``PSEUDO_MAX_BYTES`` of them, and one labelling takes at most ``PSEUDO_MAX_SHARE`` of the
        run's budget (or ``PSEUDO_OPEN_S`` in an open-ended run): a large project is labelled a
        random part at a time instead of the run waiting for all of it.
        """
        from fcn_studio.inference.predictor import model_logits

        t = time.perf_counter()
        cfg, views, teacher = self.config, self.unlabelled, self.teacher.model
        limit_s = PSEUDO_OPEN_S if cfg.minutes is None else max(2.0, PSEUDO_MAX_SHARE * cfg.minutes * 60.0)
        counts = torch.zeros(self.labelset.num_classes, dtype=torch.float64)
        maps: dict[str, np.ndarray] = {}
        used = 0
        order = views.rng.permutation(len(views.samples))
        pool = [views.samples[i] for i in order]
        self._notice(f"the teacher labels the {len(pool)} images for self-training")
        for sample in pool:
            if self.stop_requested():
                raise Stopped
            if time.perf_counter() - t > limit_s or used > PSEUDO_MAX_BYTES:
                break
            try:
                image = views.cache.get(sample)
            except FcnStudioError as exc:
                views.skip(sample, exc)
                continue
            small, _ = resize_pair(image, None, self.train_ds.scale_of(image.shape[:2]))
            probs = torch.softmax(model_logits(teacher, small, self.eval_normalizer, scale=1.0, amp=self.amp), 1)
            painted = torch.full(probs.shape[-2:], IGNORE, dtype=torch.long, device=probs.device)[None]
            sel = self.labeller.select(probs, painted)
            target = sel.target[0].to(torch.uint8).cpu().numpy()
            maps[sample.id] = target
            used += target.nbytes
            counts += torch.bincount(sel.target[0][sel.target[0] != IGNORE].cpu(), minlength=len(counts)).double()
        views.pseudo = maps
        kept = int(counts.sum())
        self.pseudo_pixels = kept
        w = torch.ones_like(counts)
        present = counts > 0
        if kept:
            w[present] = 1.0 / torch.sqrt(counts[present] / kept)
            w *= kept / float((w * counts).sum())  # mean weight 1 over pseudo-labelled pixels
        self._pseudo_weights = torch.cat([w.float(), torch.ones(256 - len(w))]).to(self.device)
        total = sum(m.size for m in maps.values())
        self._notice(f"self-training labels: {kept / max(total, 1):.0%} of the pixels of {len(maps)} images "
                     f"({time.perf_counter() - t:.0f} s)")

    def _unlabelled_batch(self) -> tuple[torch.Tensor, semi.Selection] | None:
        """The strong view of a batch of unlabelled crops and the teacher's pseudo-labels for it."""
        if self.config.semi_method == "self-training" and self._pseudo_weights is None:
            return None  # the teacher has not labelled the pool yet
        self_training = self.config.semi_method == "self-training"
        got = self.unlabelled.batch(int(self.config.unlabelled_batch or self.batch_size), labelled_only=self_training)
        if got is None:
            return None
        images, painted = got
        painted = painted.to(self.device, non_blocking=True).long()
        if self.config.semi_method == "self-training":
            weight = self._pseudo_weights[painted]
            weight = torch.where(painted == IGNORE, torch.zeros_like(weight), weight)
            sel = semi.Selection(target=painted, weight=weight, kept=int((painted != IGNORE).sum()), unlabelled=0)
            strong, sel = semi.strong_view(images.to(self.device).float(), sel, self.semi_gen)
            return self.normalizer(strong), sel
        with autocast(self.device, self.amp):
            probs = self.teacher.probabilities(self.normalizer(images))
        sel = self.labeller.select(probs, painted)
        strong, sel = semi.strong_view(images.to(self.device).float(), sel, self.semi_gen)
        self.pseudo_pixels += sel.kept
        return self.normalizer(strong), sel
