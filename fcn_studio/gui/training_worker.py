"""Training from the GUI: a background job that relays a training process's messages.

The trainer itself runs in a child process (:mod:`fcn_studio.training.process`), so it never
holds this process's GIL while the event loop wants it. The relay, one job on a
:class:`~fcn_studio.gui.background.Background` queue of its own, only waits on the child's
pipe, yields each message (:mod:`fcn_studio.training.messages`), which arrives on the GUI
thread as the controller's ``message`` signal, and computes the display arrays of live
previews (:class:`PreparedPrediction`) so the GUI thread only swaps arrays. Stop is
cooperative (the child checks before every step); previews are latest-wins (only the image
on screen at the next refresh is predicted), so requests never pile up while painting.
"""

from __future__ import annotations

import traceback
from typing import Any, Generator

from PySide6.QtCore import QObject, Signal

from fcn_studio.gui.background import Background
from fcn_studio.training.messages import Done, EpochEnded, Failed, FromTraining, PreviewPredicted, Stop, ToTraining, dispatch
from fcn_studio.training.process import TrainingProcess


class TrainingRelay:
    """Reads one training process's pipe: :meth:`messages` yields what the window shows.

    Messages pass through unchanged except :class:`PreviewPredicted`, whose display arrays are
    computed here (it comes out as a :class:`~fcn_studio.gui.prediction_layers.PreparedPrediction`);
    :class:`Done` ends the generator, which returns the run's summary. Plain Python: the tests
    run :meth:`messages` on their own thread over a scripted process.
    """

    def __init__(self, process: TrainingProcess, epoch_stamps: dict[int, float] | None = None):
        self.process = process
        #: epoch step -> time.monotonic() of the epoch's end in the child (for latency benches)
        self.epoch_stamps = epoch_stamps if epoch_stamps is not None else {}
        self._prepare = {PreviewPredicted: self._prepared, EpochEnded: self._stamped}

    def messages(self) -> Generator[Any, None, dict]:
        """Every message until :class:`Done` (or the process's end); returns the summary.

        An unexpected failure here becomes a :class:`Failed` message; the process is closed
        in every case."""
        summary: dict[str, Any] = {"stopped": "error"}
        try:
            while True:
                events = self.process.receive(0.25)
                done = False
                for event in events:
                    if isinstance(event, Done):
                        summary = dict(event.summary)
                        done = True
                    else:
                        yield self.handle(event)
                if done or (self.process.ended and not events):
                    break
        except Exception as exc:  # never let a relay exception vanish or crash the app
            traceback.print_exc()
            yield Failed(f"Training stopped unexpectedly: {exc.__class__.__name__}: {exc}")
        finally:
            self.process.close()
        return summary

    def handle(self, message: FromTraining) -> Any:
        """What to show for ``message``: itself, or its display-ready form (see the class)."""
        prepared = dispatch(self._prepare, message)
        return message if prepared is None else prepared

    def _stamped(self, message: EpochEnded) -> EpochEnded:
        self.epoch_stamps[message.report.step] = message.monotonic_s
        return message

    @staticmethod
    def _prepared(message: PreviewPredicted) -> Any:
        from fcn_studio.gui.prediction_layers import PreparedPrediction

        report = message.report
        return PreparedPrediction(report.image_id, report.probs, report.labels, report.step)


class TrainingController(QObject):
    """Starts one training run at a time (a child process relayed by a QThread worker).

    :meth:`prewarm` starts the next run's process ahead of time, so pressing Fine-tune does
    not wait for a fresh Python to import torch; after each run another one is prepared.
    """

    started = Signal()
    #: every message of the running training (a training.messages dataclass, or a
    #: PreparedPrediction for a live preview); receivers dispatch on its type
    message = Signal(object)
    finished = Signal(object)  # the run's summary dict; always last

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._jobs = Background("fcn-training", self)  # one relay at a time
        self._relay: TrainingRelay | None = None
        self._spare: TrainingProcess | None = None
        self._keep_warm = False
        self._closed = False
        #: epoch step -> monotonic time of the epoch's end in the training process
        self.epoch_stamps: dict[int, float] = {}

    @property
    def running(self) -> bool:
        return self._relay is not None

    def prewarm(self) -> None:
        """Have a training process ready (imports done) for the next run, from now on."""
        self._keep_warm = True
        if self._closed or (self._spare is not None and self._spare.alive):
            return
        try:
            self._spare = TrainingProcess().spawn()
        except OSError:  # no process could be started now: the run will try again
            self._spare = None

    def start(self, config: Any, project: Any) -> bool:
        if self.running or self._closed:
            return False
        process, self._spare = self._spare, None
        if process is None or not process.alive:
            try:
                process = TrainingProcess().spawn()
            except OSError as exc:  # no memory or process slots left: say so, stay usable
                self.message.emit(Failed(f"Could not start the training process: {exc.strerror or exc}"))
                self.finished.emit({"stopped": "error"})
                return False
        process.start_job(config, project.root)
        relay = self._relay = TrainingRelay(process, self.epoch_stamps)
        self._jobs.stream(relay.messages, self.message.emit, self._on_finished, self._on_relay_error)
        self.started.emit()
        return True

    def send(self, message: ToTraining) -> None:
        """Pass a control message (:class:`PreviewImage`, :class:`RefineEdges`, :class:`Stop`) to the
        running training's process; nothing runs: nothing to tell (thread-safe)."""
        if self._relay is not None:
            self._relay.process.send(message)

    def stop(self) -> None:
        self.send(Stop())

    def _on_finished(self, summary: dict) -> None:
        self._relay = None  # a new run may start
        self.finished.emit(summary)
        if self._keep_warm and not self._closed:
            self.prewarm()

    def _on_relay_error(self, exc: BaseException) -> None:  # the relay catches its own: a last resort
        self.message.emit(Failed(f"Training stopped unexpectedly: {exc.__class__.__name__}: {exc}"))
        self._on_finished({"stopped": "error"})

    def wait(self, timeout_ms: int = 30000, *, close: bool = True) -> bool:
        """Stop and wait for the run to end; with ``close`` (the window closing) end the spare
        process too and start nothing more. ``close=False`` (another project opens) leaves the
        controller ready for the next run."""
        if close:
            self._closed = True
            spare, self._spare = self._spare, None
            if spare is not None:
                spare.close(timeout_s=1.0)
        self.stop()
        ended = self._jobs.wait(timeout_ms)
        if ended and not close:  # settle now: the next project's Fine-tune must find it idle
            self._jobs.deliver_now()
        return ended
