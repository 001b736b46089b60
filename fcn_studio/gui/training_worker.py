"""Training on a QThread: a worker object that runs the Qt-free trainer and reports by signals.

Wiring follows superqt's recipe: the worker moves to its thread, ``thread.started`` runs
it, ``finished`` quits the thread and both are deleted later. Reports cross threads as the
trainer's own dataclasses (plain numbers and CPU numpy arrays). Stop is cooperative: a flag
the trainer checks before every step. Live previews are latest-wins: the worker keeps only
the most recent preview request, so requests never pile up while the user paints.
"""

from __future__ import annotations

import threading
import traceback
from typing import Any

from PySide6.QtCore import QObject, Qt, QThread, Signal

from fcn_studio.errors import FcnStudioError


class TrainingWorker(QObject):
    step = Signal(object)  # StepReport
    epoch_end = Signal(object)  # EpochReport
    prediction = Signal(object)  # PreparedPrediction (display arrays computed on this thread)
    notice = Signal(str)
    checkpoint = Signal(object)  # (path, metrics)
    errored = Signal(str)  # a readable message; `finished` follows
    finished = Signal(object)  # summary dict ({"stopped": ...}); always the last signal

    def __init__(self, config: Any, project: Any):
        super().__init__()
        self.config = config
        self.project = project
        self._stop = threading.Event()
        self._trainer = None
        self._preview: str | None = config.preview_image

    # -- called from the GUI thread (thread-safe) ------------------------------------------------
    def request_stop(self) -> None:
        self._stop.set()
        trainer = self._trainer
        if trainer is not None:
            trainer.request_stop()

    def set_preview_image(self, image_id: str | None) -> None:
        """Latest wins: only the image on screen when the next refresh comes is predicted."""
        self._preview = image_id
        trainer = self._trainer
        if trainer is not None:
            trainer.set_preview_image(image_id)

    # -- runs on the worker thread ---------------------------------------------------------------
    def work(self) -> None:
        summary: dict[str, Any] = {"stopped": "error"}
        try:
            from fcn_studio.training.callbacks import TrainCallbacks
            from fcn_studio.training.samples import ProjectSource
            from fcn_studio.training.trainer import Trainer

            worker = self

            class Forward(TrainCallbacks):
                def on_step(self, report):
                    worker.step.emit(report)

                def on_epoch_end(self, report):
                    worker.epoch_end.emit(report)

                def on_prediction(self, report):
                    from fcn_studio.gui.prediction_layers import PreparedPrediction

                    worker.prediction.emit(PreparedPrediction(report.image_id, report.probs, report.labels, report.step))

                def on_notice(self, message):
                    worker.notice.emit(str(message))

                def on_checkpoint(self, path, metrics):
                    worker.checkpoint.emit((str(path), dict(metrics)))

            self.config.preview_image = self._preview
            self._trainer = Trainer(self.config, ProjectSource(self.project), callbacks=Forward(), should_stop=self._stop)
            if self._preview != self.config.preview_image:
                self._trainer.set_preview_image(self._preview)
            result = self._trainer.run()
            summary = dict(result.summary)
            summary["stopped"] = result.stopped
            summary["checkpoint"] = str(result.checkpoint) if result.checkpoint else None
        except FcnStudioError as exc:
            self.errored.emit(str(exc))
        except MemoryError:
            self.errored.emit("Out of memory: try a lighter backbone, a smaller batch or fewer images.")
        except Exception as exc:  # never let a worker exception vanish or crash the app
            traceback.print_exc()
            self.errored.emit(f"Training stopped unexpectedly: {exc.__class__.__name__}: {exc}")
        finally:
            self._trainer = None
            self.finished.emit(summary)


class TrainingController(QObject):
    """Starts one training run at a time on its own QThread and forwards its signals."""

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

    @property
    def running(self) -> bool:
        return self._worker is not None

    def start(self, config: Any, project: Any) -> bool:
        if self.running:
            return False
        thread = QThread(self)  # owned by the controller: dropping a Python reference cannot destroy it running
        thread.setObjectName("fcn-training")
        worker = TrainingWorker(config, project)
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
        worker.finished.connect(worker.deleteLater)
        thread.finished.connect(self._on_thread_finished)
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

    def _on_finished(self, summary: dict) -> None:
        self._worker = None  # a new run may start; the old thread winds down on its own
        self.finished.emit(summary)

    def _on_thread_finished(self) -> None:
        if self._worker is None:
            self._thread = None

    def wait(self, timeout_ms: int = 30000) -> bool:
        """Stop and wait for the thread (closing the window)."""
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
