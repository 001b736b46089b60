"""What a training run leaves on disk: the best checkpoint, and a resume file beside it.

* ``out`` (e.g. ``model.fcnckpt``): the model with the best validation mIoU so far, in the
  standard checkpoint format (:mod:`fcn_studio.models.checkpoint`), usable by the predictor.
  Its ``summary`` carries ``step``, ``epoch``, metrics and ``input_scale``.
* ``out + ".resume"``: the *last* weights, the optimiser state and the counters, so a
  cancelled run continues where it stopped. Plain tensors and numbers only, written
  atomically, read back with ``weights_only=True``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from fcn_studio.data.atomic import atomic_write
from fcn_studio.data.labelset import LabelSet
from fcn_studio.errors import CheckpointError

RESUME_FORMAT = "fcn-studio-resume"


def resume_path(out: str | Path) -> Path:
    return Path(str(out) + ".resume")


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside a DistributedDataParallel wrapper (or the model itself)."""
    return getattr(model, "module", model)


class Snapshot:
    """A model's weights and description copied to the CPU: the best so far, kept in memory.

    Writing a checkpoint costs seconds for large models (VGG16: 0.5 GB), so the trainer
    snapshots each new best (a memory copy) and writes it to disk at most every few seconds,
    and always at the end. Duck-types the parts of a model ``save_checkpoint`` reads.
    """

    def __init__(self, model: nn.Module, summary: dict[str, Any]) -> None:
        m = unwrap(model)
        self._state = {k: v.detach().to("cpu", copy=True) for k, v in m.state_dict().items()}
        self.num_classes = int(m.num_classes)
        self.backbone, self.variant = m.backbone, m.variant
        self.normalization = dict(m.normalization)
        self.summary = summary

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self._state

    def write(self, path: Path, labelset: LabelSet) -> Path:
        from fcn_studio.models.checkpoint import save_checkpoint

        return save_checkpoint(
            path,
            self,  # type: ignore[arg-type]
            labelset=labelset,
            backbone=self.backbone,
            variant=self.variant,
            normalization=self.normalization,
            summary=self.summary,
        )


def save_resume(out: Path, model: nn.Module, optimizer: torch.optim.Optimizer | None, counters: dict[str, Any]) -> Path:
    """Write the last state next to ``out``; counters are plain numbers (step, epoch, best...)."""
    state = {
        "format": RESUME_FORMAT,
        "counters": {k: (float(v) if isinstance(v, float) else v) for k, v in counters.items()},
        "model": {k: v.detach().to("cpu").clone() for k, v in unwrap(model).state_dict().items()},
        "optimizer": _cpu(optimizer.state_dict()) if optimizer is not None else {},
    }
    path = resume_path(out)
    atomic_write(path, lambda fh: torch.save(state, fh))
    return path


def _cpu(obj: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu")
    if isinstance(obj, dict):
        return {k: _cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_cpu(v) for v in obj)
    return obj


def load_resume(checkpoint: Path) -> dict[str, Any] | None:
    """The resume state beside ``checkpoint``, or None when there is none (or it is foreign)."""
    from fcn_studio.models.safe_load import safe_load

    path = resume_path(checkpoint)
    if not path.is_file():
        return None
    obj = safe_load(path, what="resume file")
    if not isinstance(obj, dict) or obj.get("format") != RESUME_FORMAT:
        raise CheckpointError(f"{path} is not an fcn-studio resume file; delete it to resume from the checkpoint alone")
    return obj


class CheckpointWriter:
    """Rank 0's disk duties during a run: the throttled best checkpoint and the resume file.

    :meth:`offer` snapshots a new best (a memory copy); it is written at once when the last
    write is older than ``every_s``, else by the next :meth:`flush` (the trainer flushes at the
    end, on cancel and when an error stops the run). ``on_written(path, summary)`` is called
    after each write.
    """

    def __init__(self, out: Path | None, labelset: LabelSet, *, every_s: float, resume_every_s: float, on_written) -> None:  # noqa: ANN001
        import time

        self.out = out
        self.labelset = labelset
        self.every_s = every_s
        self.resume_every_s = resume_every_s
        self.on_written = on_written
        self._clock = time.perf_counter
        self._pending: Snapshot | None = None
        self._last_write = self._last_resume = self._clock()

    def offer(self, model: nn.Module, summary: dict[str, Any]) -> None:
        if self.out is None:
            return
        self._pending = Snapshot(model, summary)
        if self._clock() - self._last_write >= self.every_s:
            self.flush()

    def flush(self) -> None:
        snap, self._pending = self._pending, None
        if snap is None or self.out is None:
            return
        snap.write(self.out, self.labelset)
        self._last_write = self._clock()
        self.on_written(self.out, snap.summary)

    def save_resume(self, model: nn.Module, optimizer: torch.optim.Optimizer | None, counters: dict[str, Any], *, force: bool = False) -> None:
        if self.out is None or (not force and self._clock() - self._last_resume < self.resume_every_s):
            return
        save_resume(self.out, model, optimizer, counters)
        self._last_resume = self._clock()


def restore(path: Path, num_classes: int) -> tuple[nn.Module, dict[str, Any], dict | None]:
    """(model, counters, optimiser state or None) to resume from checkpoint ``path``.

    The weights and counters come from the resume file beside it when that is at least as
    recent (the last state of the run), else from the checkpoint itself (its best state).
    """
    from fcn_studio.errors import TrainingError
    from fcn_studio.models.checkpoint import load_checkpoint
    from fcn_studio.models.weights import load_strict

    model, meta = load_checkpoint(path)
    if meta.num_classes != num_classes:
        raise TrainingError(
            f"cannot resume from {path}: it predicts {meta.num_classes} classes but the label set has {num_classes}"
        )
    counters: dict[str, Any] = {
        "step": int(meta.summary.get("step", 0)),
        "epoch": int(meta.summary.get("epoch", 0)),
        "input_scale": float(meta.summary.get("input_scale", 0)) or None,
        "backbone": meta.backbone,
        "variant": meta.variant,
    }
    state = load_resume(path)
    opt_state = None
    if state is not None and int(state["counters"].get("step", -1)) >= counters["step"]:
        load_strict(model, state["model"], source=f"resume file {resume_path(path)}")
        counters["step"] = int(state["counters"]["step"])
        counters["epoch"] = int(state["counters"].get("epoch", counters["epoch"]))
        opt_state = state.get("optimizer") or None
    model.train()
    return model, counters, opt_state
