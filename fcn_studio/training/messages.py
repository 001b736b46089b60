"""The messages between the window and the training process: one dataclass per kind.

They used to be tuples (``("step", report)``) read by position and dispatched by if-chains on
their first element; a typo in a name or a field's position failed silently. Now each kind is a
frozen dataclass (picklable: the pipes pickle them), the receivers dispatch on the type with a
table (``{StepReported: on_step, ...}``), and a type checker sees every field.

Qt-free and torch-free: the window imports this before torch is loaded.

Order on the event pipe: :class:`Ready` first, then any of the reports, :class:`Done` last.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Union


# -- window -> training process (the control pipe) --------------------------------------------------
@dataclass(frozen=True)
class Job:
    """Train with ``config`` (a :class:`~fcn_studio.training.config.TrainConfig`) on the project at
    ``project_root``; the process runs one job and ends."""

    config: Any
    project_root: str


@dataclass(frozen=True)
class Stop:
    """End the run at the next step and keep the best model (cooperative)."""


@dataclass(frozen=True)
class Quit:
    """End a process that has no job yet (a spare one)."""


@dataclass(frozen=True)
class PreviewImage:
    """Predict this image at the next live refresh (latest wins; ``None``: no previews)."""

    image_id: str | None


@dataclass(frozen=True)
class RefineEdges:
    """Refine live previews along image edges from the next refresh on."""

    on: bool


ToTraining = Union[Job, Stop, Quit, PreviewImage, RefineEdges]


# -- training process -> window (the event pipe) ----------------------------------------------------
@dataclass(frozen=True)
class Ready:
    """The process has imported torch and the trainer and waits for a :class:`Job`."""


@dataclass(frozen=True)
class StepReported:
    report: Any  # training.callbacks.StepReport


@dataclass(frozen=True)
class EpochEnded:
    report: Any  # training.callbacks.EpochReport
    #: ``time.monotonic()`` in the child at the epoch's end (one clock for all processes: latency benches)
    monotonic_s: float


@dataclass(frozen=True)
class PreviewPredicted:
    report: Any  # training.callbacks.PredictionReport (numpy arrays, never tensors)


@dataclass(frozen=True)
class Notice:
    text: str


@dataclass(frozen=True)
class CheckpointWritten:
    path: str
    metrics: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Failed:
    """A readable message for the user; :class:`Done` follows."""

    message: str


@dataclass(frozen=True)
class Done:
    """Always the last message: the run's summary (``{"stopped": ...}`` at least)."""

    summary: dict


FromTraining = Union[Ready, StepReported, EpochEnded, PreviewPredicted, Notice, CheckpointWritten, Failed, Done]


def dispatch(handlers: Mapping[type, Callable[[Any], Any]], message: Any) -> Any:
    """Call the handler registered for ``type(message)`` and return its result; ``None`` when the
    table has none (a receiver may ignore kinds it does not show)."""
    handler = handlers.get(type(message))
    return None if handler is None else handler(message)
