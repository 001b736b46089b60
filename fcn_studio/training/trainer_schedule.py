"""The run's clock and learning-rate schedule, the trainer's fourth job (a mixin over
:class:`~fcn_studio.training.trainer.Trainer`'s state).

A run is bounded by steps, epochs or minutes, and its progress (0..1) drives the one-cycle
schedule; an open-ended run (*Live*) has no progress: it warms up by steps, or, with
``cycle_minutes``, anneals in cosine cycles with warm restarts, and each cycle's end is where
the model is scored and saved (nowhere else: see :attr:`RunSchedule._cycling`). A run that
continues a resumed model's schedule (``continue_schedule``) counts its steps over the model's
life, so it does not warm up again. Under ``torchrun`` the ranks agree on stop, time and
progress before each step.
"""

from __future__ import annotations

import time

import torch

from fcn_studio.training.optim import lr_factor


class RunSchedule:
    """The schedule methods of :class:`~fcn_studio.training.trainer.Trainer` (see the module)."""

    def _start_clock(self) -> None:
        cfg = self.config
        self.t0 = time.perf_counter()
        self.deadline = None if cfg.minutes is None else self.t0 + cfg.minutes * 60.0
        self._cycles_done = 0
        self._cycle_t0 = self.t0

    @property
    def _continuing(self) -> bool:
        """The run goes on with a resumed model's schedule (TrainConfig.continue_schedule)."""
        return self.config.continue_schedule and self.config.resume is not None

    @property
    def _cycling(self) -> bool:
        """Live's open-ended run in cosine cycles (``cycle_minutes``; single process: ranks' clocks
        would disagree on cycle ends). Only a cycle's end, where the rate has annealed, is scored
        and saved: an epoch's end falls anywhere in a cycle, and a half-annealed model written
        there would overwrite the last annealed one."""
        cfg = self.config
        return bool(cfg.cycle_minutes) and not self.dist.enabled and cfg.max_steps is None and cfg.epochs is None and cfg.minutes is None

    def _lr_factor(self, progress: float | None) -> float:
        """The learning-rate multiplier for the next step: by the run's progress; in an
        open-ended run by its cosine cycle (``cycle_minutes``; a cycle's end first scores and
        keeps the annealed model), else by steps (warm-up, then the peak)."""
        cfg, st = self.config, self.state
        if progress is None and self._cycling:
            within = (time.perf_counter() - self._cycle_t0) / (cfg.cycle_minutes * 60.0)
            if within >= 1.0:
                self._end_of_epoch(phase="full")
                self._save_resume(force=True)
                self._cycles_done += 1
                self._cycle_t0, within = time.perf_counter(), 0.0  # the scoring is not the next cycle's time
            first = self._cycles_done == 0 and not self._continuing
            return lr_factor(within, cfg.schedule, cfg.warmup_fraction if first else 0.0)
        return lr_factor(progress, cfg.schedule, cfg.warmup_fraction, step=st.step if self._continuing else st.run_steps)

    def _progress(self, epochs_progress: float) -> float | None:
        cfg, st = self.config, self.state
        ps = []
        if cfg.max_steps is not None:
            ps.append(st.run_steps / cfg.max_steps)
        if cfg.epochs is not None:
            ps.append(epochs_progress / cfg.epochs)
        if self.deadline is not None:
            ps.append((time.perf_counter() - self.t0) / (cfg.minutes * 60.0))
        return max(ps) if ps else None

    def _agree_start(self, progress: float | None) -> tuple[bool, bool, float | None]:
        """(stop, out of time, progress) agreed by all ranks (rank-local clocks differ slightly)."""
        stop = self.stop_requested()
        late = self.deadline is not None and time.perf_counter() >= self.deadline
        if not self.dist.enabled:
            return stop, late, progress
        t = torch.tensor([float(stop), float(late), -1.0 if progress is None else progress], device=self.dist.device())
        torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
        s, l, p = t.tolist()
        return s > 0, l > 0, None if p < 0 else p
