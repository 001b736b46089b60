"""Training from the GUI: a worker object on a QThread that relays a training process's reports.

The trainer itself runs in a child process (:mod:`fcn_studio.training.process`), so it never
holds this process's GIL while the event loop wants it. The worker's thread only waits on
the child's pipe, turns each message into a signal, and computes the display arrays of live
previews (:class:`PreparedPrediction`) so the GUI thread only swaps arrays. Wiring follows
superqt's recipe: the worker moves to its thread, ``thread.started`` runs it, ``finished``
quits the thread; the worker is released only after its thread has finished. Stop is
cooperative (the child checks before every step); previews are latest-wins (only the image
on screen at the next refresh is predicted), so requests never pile up while painting.
"""

from __future__ import annotations

import traceback
from typing import Any

from PySide6.QtCore import QObject, Qt, QThread, Signal

from fcn_studio.training.process import TrainingProcess


class TrainingWorker(QObject):
    step = Signal(object)  # StepReport
    epoch_end = Signal(object)  # EpochReport
    prediction = Signal(object)  # PreparedPrediction (display arrays computed on this thread)
    notice = Signal(str)
    checkpoint = Signal(object)  # (path, metrics)
    errored = Signal(str)  # a readable message; `finished` follows
    finished = Signal(object)  # summary dict ({"stopped": ...}); always the last signal

    def __init__(self, process: TrainingProcess, epoch_stamps: dict[int, float] | None = None):
        super().__init__()
        self.process = process
        #: epoch step -> time.monotonic() of the epoch's end in the child (for latency benches)
        self.epoch_stamps = epoch_stamps if epoch_stamps is not None else {}

    # -- called from the GUI thread (thread-safe) ------------------------------------------------
    def request_stop(self) -> None:
        self.process.stop()

    def set_preview_image(self, image_id: str | None) -> None:
        """Latest wins: only the image on screen when the next refresh comes is predicted."""
        self.process.set_preview_image(image_id)

    def set_refine_edges(self, on: bool) -> None:
        self.process.set_refine_edges(on)

    # -- runs on the worker thread ---------------------------------------------------------------
    def work(self) -> None:
        summary: dict[str, Any] = {"stopped": "error"}
        try:
            while True:
                events = self.process.receive(0.25)
                done = False
                for event in events:
                    if event[0] == "done":
                        summary = dict(event[1])
                        done = True
                    else:
                        self._relay(event)
                if done or (self.process.ended and not events):
                    break
        except Exception as exc:  # never let a worker exception vanish or crash the app
            traceback.print_exc()
            self.errored.emit(f"Training stopped unexpectedly: {exc.__class__.__name__}: {exc}")
        finally:
            self.process.close()
            self.finished.emit(summary)

    def _relay(self, event: tuple) -> None:
        kind = event[0]
        if kind == "step":
            self.step.emit(event[1])
        elif kind == "epoch":
            self.epoch_stamps[event[1].step] = event[2]
            self.epoch_end.emit(event[1])
        elif kind == "prediction":
            from fcn_studio.gui.prediction_layers import PreparedPrediction

            report = event[1]
            self.prediction.emit(PreparedPrediction(report.image_id, report.probs, report.labels, report.step))
        elif kind == "notice":
            self.notice.emit(event[1])
        elif kind == "checkpoint":
            self.checkpoint.emit((event[1], event[2]))
        elif kind == "error":
            self.errored.emit(event[1])


class TrainingController(QObject):
    """Starts one training run at a time (a child process relayed by a QThread worker).

    :meth:`prewarm` starts the next run's process ahead of time, so pressing Fine-tune does
    not wait for a fresh Python to import torch; after each run another one is prepared.
    """

    started = Signal()
    step = Signal(object)
    epoch_end = Signal(object)
    prediction = Signal(object)
    notice = Signal(str)
    checkpoint = Signal(object)
    errored = Signal(str)
    finished = Signal(object)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._thread: QThread | None = None
        self._worker: TrainingWorker | None = None
        self._spare: TrainingProcess | None = None
        self._keep_warm = False
        self._closed = False
        self._retiring: list[tuple[QThread, TrainingWorker]] = []  # kept alive until their thread ends
        #: epoch step -> monotonic time of the epoch's end in the training process
        self.epoch_stamps: dict[int, float] = {}

    @property
    def running(self) -> bool:
        return self._worker is not None

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
                self.errored.emit(f"Could not start the training process: {exc.strerror or exc}")
                self.finished.emit({"stopped": "error"})
                return False
        process.start_job(config, project.root)
        thread = QThread(self)  # owned by the controller: dropping a Python reference cannot destroy it running
        thread.setObjectName("fcn-training")
        worker = TrainingWorker(process, self.epoch_stamps)
        worker.moveToThread(thread)
        thread.started.connect(worker.work)
        worker.step.connect(self.step)
        worker.epoch_end.connect(self.epoch_end)
        worker.prediction.connect(self.prediction)
        worker.notice.connect(self.notice)
        worker.checkpoint.connect(self.checkpoint)
        worker.errored.connect(self.errored)
        worker.finished.connect(self._on_finished)
        # quit() is thread-safe: call it on the worker thread so the thread ends even while
        # the GUI thread is blocked waiting for it (closing the window mid-training)
        worker.finished.connect(thread.quit, Qt.ConnectionType.DirectConnection)
        # The worker is owned by Python: it must not be deleted while its thread still runs
        # (dropping the last reference on the GUI thread then deleted it under the running
        # thread: heap corruption). It is released once its thread has finished.
        self._retiring.append((thread, worker))
        thread.finished.connect(lambda: self._on_thread_finished(thread))
        thread.finished.connect(thread.deleteLater)
        self._thread, self._worker = thread, worker
        thread.start()
        self.started.emit()
        return True

    def stop(self) -> None:
        if self._worker is not None:
            self._worker.request_stop()

    def set_preview_image(self, image_id: str | None) -> None:
        if self._worker is not None:
            self._worker.set_preview_image(image_id)

    def set_refine_edges(self, on: bool) -> None:
        if self._worker is not None:
            self._worker.set_refine_edges(on)

    def _on_finished(self, summary: dict) -> None:
        self._worker = None  # a new run may start; the old thread winds down on its own
        self.finished.emit(summary)
        if self._keep_warm and not self._closed:
            self.prewarm()

    def _on_thread_finished(self, thread: QThread) -> None:
        self._retiring = [(t, w) for t, w in self._retiring if t is not thread]
        if self._thread is thread:
            self._thread = None

    def wait(self, timeout_ms: int = 30000, *, close: bool = True) -> bool:
        """Stop and wait for the run to end; with ``close`` (the window closing) end the spare
        process too and start nothing more. ``close=False`` (another project opens) leaves the
        controller ready for the next run."""
        if close:
            self._closed = True
            spare, self._spare = self._spare, None
            if spare is not None:
                spare.close(timeout_s=1.0)
        thread = self._thread
        self.stop()
        if thread is None:
            return True
        try:
            # the worker may be done while its thread still runs an event loop waiting for a
            # queued quit(): quit directly once the work has ended, then wait
            if self._worker is None:
                thread.quit()
            return thread.wait(timeout_ms)
        except RuntimeError:  # already deleted: it had finished
            return True
