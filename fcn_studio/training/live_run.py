"""A training run in the window's own training process, driven without a window.

The window trains through :class:`~fcn_studio.training.process.TrainingProcess` (a child
process that reads the project folder through ``ProjectFileSource``, so masks saved while it
runs join the next epoch) and relays its messages on a Qt thread. Benches and tests that
must measure *that* path, not a look-alike, use this class instead of the Qt relay: the same
process, the same job, the messages collected on a plain thread.

Why it exists: the annotation-loop bench once trained through a ``FolderSource`` built once
for the whole loop, which never saw a mask saved after its first round (issue 32); a run
here reads the project the way the window's does, and :attr:`painted_images` is the
trainer's own count of what it read.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fcn_studio.training.messages import (
    CheckpointWritten,
    Done,
    EpochEnded,
    Failed,
    Notice,
    PreviewImage,
    StepReported,
    Stop,
)
from fcn_studio.training.process import TrainingProcess


@dataclass
class LiveState:
    """What the run has said so far (read under :attr:`LiveRun.lock`)."""

    steps: int = 0
    #: the trainer's own count of painted images it read at its last dataset refresh
    painted_images: int = 0
    last_loss: float = float("nan")
    epochs: list[Any] = field(default_factory=list)  # EpochReport per scored epoch or cycle end
    checkpoints: list[tuple[float, str, dict]] = field(default_factory=list)  # (monotonic s, path, metrics)
    notices: list[str] = field(default_factory=list)
    failure: str | None = None
    summary: dict | None = None  # set when the run ended


class LiveRun:
    """One training job in a fresh training process; messages gathered on a daemon thread.

    ``process`` is made (and spawned) here unless given; ``niceness`` as the window's
    (the trainer yields the CPU to whatever else the person's machine does).
    """

    def __init__(self, config: Any, project_root: str | Path, *, process: TrainingProcess | None = None) -> None:
        self.lock = threading.Lock()
        self.state = LiveState()
        self.process = process or TrainingProcess().spawn()
        self.process.start_job(config, Path(project_root))
        self._ended = threading.Event()
        self._reader = threading.Thread(target=self._read, name="fcn-live-run", daemon=True)
        self._reader.start()

    # -- what the run said ------------------------------------------------------------------------
    @property
    def painted_images(self) -> int:
        with self.lock:
            return self.state.painted_images

    @property
    def ended(self) -> bool:
        return self._ended.is_set()

    def checkpoints_since(self, t: float) -> list[tuple[float, str, dict]]:
        with self.lock:
            return [c for c in self.state.checkpoints if c[0] > t]

    def wait_for(self, predicate, timeout_s: float) -> bool:  # noqa: ANN001
        """Poll ``predicate(state)`` (under the lock) until true, the run ends, or the time is up."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self.lock:
                if predicate(self.state):
                    return True
            if self._ended.is_set():
                with self.lock:
                    return bool(predicate(self.state))
            time.sleep(0.05)
        return False

    # -- control ----------------------------------------------------------------------------------------
    def show(self, image_id: str | None) -> None:
        """The image on screen (the trainer previews it), as the window tells it."""
        self.process.send(PreviewImage(image_id))

    def stop(self, timeout_s: float = 120.0) -> dict:
        """Stop (the trainer keeps its last saved model) and wait for the summary."""
        self.process.send(Stop())
        self._ended.wait(timeout_s)
        self.process.close()
        with self.lock:
            return dict(self.state.summary or {"stopped": "error"})

    # -- the reader -------------------------------------------------------------------------------------
    def _read(self) -> None:
        try:
            while True:
                events = self.process.receive(0.25)
                for event in events:
                    self._note(event)
                if self.process.ended and not events:
                    break
                with self.lock:
                    if self.state.summary is not None:
                        break
        finally:
            with self.lock:
                if self.state.summary is None:
                    self.state.summary = {"stopped": "error"}
            self._ended.set()

    def _note(self, event: Any) -> None:
        with self.lock:
            st = self.state
            if isinstance(event, StepReported):
                st.steps = event.report.step
                st.last_loss = event.report.loss
                st.painted_images = max(0, int(getattr(event.report, "painted_images", 0)))
            elif isinstance(event, EpochEnded):
                st.epochs.append(event.report)
            elif isinstance(event, CheckpointWritten):
                st.checkpoints.append((time.monotonic(), event.path, dict(event.metrics)))
            elif isinstance(event, Notice):
                st.notices.append(event.text)
            elif isinstance(event, Failed):
                st.failure = event.message
            elif isinstance(event, Done):
                st.summary = dict(event.summary)
