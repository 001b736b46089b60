"""Training in a child process that reports back over pipes.

Why a process and not a thread: on a 2-core CPU a training thread inside the GUI's process
shares its GIL, and stretches of the trainer that hold it (model building, checkpoint
pickling, Python-level data loading) made the event loop wait up to ~170 ms. In its own
process the trainer cannot stall the GUI, runs at a slightly lower CPU priority so the GUI wins
every tie, and a crash in native code or the kernel's out-of-memory killer ends the run, not the
app. Its torch threads sleep rather than spin at barriers and leave the window a core
(:mod:`fcn_studio.cpu_share`: on a CPU that something else is using, spinning threads and a
low priority made training 7-70x slower than idle).

The process is started ahead of time (:meth:`TrainingProcess.spawn`), imports torch and the
trainer while the user is still painting, and then waits for one job. Messages are the
dataclasses of :mod:`fcn_studio.training.messages` (picklable; the trainer's reports inside
hold numbers and numpy arrays):

* parent -> child (control pipe): :class:`Job`, :class:`Stop`, :class:`PreviewImage`,
  :class:`RefineEdges`, :class:`Quit`;
* child -> parent (event pipe): :class:`Ready`, then :class:`StepReported`,
  :class:`EpochEnded`, :class:`PreviewPredicted`, :class:`Notice`, :class:`CheckpointWritten`,
  :class:`Failed`, and last :class:`Done`.

Qt-free: the GUI wraps it in a QThread worker (``fcn_studio.gui.training_worker``).
"""

from __future__ import annotations

import multiprocessing as mp
import threading
import time
import traceback
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from fcn_studio import cpu_share
from fcn_studio.training.messages import (
    CheckpointWritten,
    Done,
    EpochEnded,
    Failed,
    FromTraining,
    Job,
    Notice,
    PreviewImage,
    PreviewPredicted,
    Quit,
    Ready,
    RefineEdges,
    StepReported,
    Stop,
    ToTraining,
    dispatch,
)


class TrainingProcess:
    """One child process that runs one training job; create, :meth:`spawn`, :meth:`start_job`."""

    def __init__(self, niceness: int | None = None) -> None:
        #: ``nice`` steps below the window (None: :data:`fcn_studio.cpu_share.TRAINING_NICENESS`).
        self.niceness = niceness
        self._process: Any = None
        self._events: Connection | None = None
        self._control: Connection | None = None
        self._send_lock = threading.Lock()
        self.job_sent = False
        self._ready = False
        self.ended = False  # "done" received, or the process is gone

    # -- lifetime -------------------------------------------------------------------------------
    def spawn(self) -> "TrainingProcess":
        """Start the child now; it imports torch and waits for a job (seconds, in the background)."""
        ctx = mp.get_context("spawn")  # never fork a process that runs Qt and threads
        events_r, events_w = ctx.Pipe(duplex=False)
        control_r, control_w = ctx.Pipe(duplex=False)
        niceness = cpu_share.TRAINING_NICENESS if self.niceness is None else self.niceness
        self._process = ctx.Process(
            target=child_main, args=(control_r, events_w, niceness), name="fcn-studio-training", daemon=True
        )
        self._process.start()
        events_w.close()  # the child holds the only writer: its exit shows as EOF here
        control_r.close()
        self._events, self._control = events_r, control_w
        return self

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.is_alive()

    def is_ready(self) -> bool:
        """True once the child has imported torch and waits for a job (before :meth:`start_job` only)."""
        if not self._ready and not self.job_sent and self._events is not None:
            try:
                if self._events.poll(0):
                    self._ready = isinstance(self._events.recv(), Ready)
            except (EOFError, OSError):
                return False
        return self._ready

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    @property
    def exitcode(self) -> int | None:
        return None if self._process is None else self._process.exitcode

    def close(self, timeout_s: float = 10.0) -> None:
        """Ask the child to stop and end it; terminates it if it does not end in time."""
        if self._process is None:
            return
        self.send(Stop() if self.job_sent else Quit())
        self._process.join(timeout_s)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(2.0)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(2.0)
        for conn in (self._events, self._control):
            if conn is not None:
                conn.close()
        self._events = self._control = None
        self.ended = True

    # -- control (any thread) --------------------------------------------------------------------
    def start_job(self, config: Any, project_root: str | Path) -> None:
        self.job_sent = True
        self.send(Job(config, str(project_root)))

    def send(self, message: ToTraining) -> None:
        """Send one control message (:class:`Stop`, :class:`PreviewImage`, ...); a gone child is ignored."""
        with self._send_lock:
            if self._control is None:
                return
            try:
                self._control.send(message)
            except (OSError, ValueError):  # the child is gone: nothing to tell it
                pass

    # -- events (one reader thread) --------------------------------------------------------------
    def receive(self, timeout_s: float) -> list[FromTraining]:
        """The events that arrived within ``timeout_s`` (all that are waiting, at least one if any).

        When the child ended without saying :class:`Done` (killed, crashed), the last events are
        a synthetic :class:`Failed` followed by ``Done({"stopped": "error"})``.
        """
        conn = self._events
        if conn is None or self.ended:
            return []
        out: list[FromTraining] = []
        try:
            if conn.poll(timeout_s):
                while True:
                    message = conn.recv()
                    out.append(message)
                    if isinstance(message, Done):
                        self.ended = True
                        break
                    if not conn.poll(0):
                        break
        except (EOFError, OSError):
            self.ended = True
            if self._process is not None:
                self._process.join(2.0)
            out.append(Failed(_death_message(self.exitcode)))
            out.append(Done({"stopped": "error"}))
        return out


def _death_message(code: int | None) -> str:
    if code is not None and code < 0 and -code == 9:
        return "The training process was killed (most likely the system ran out of memory): try a lighter backbone, a smaller batch or fewer images."
    return f"The training process ended unexpectedly (exit code {code}). The last saved model is kept."


# -- the child side -------------------------------------------------------------------------------
def child_main(control: Connection, events: Connection, niceness: int) -> None:
    """Entry point of the training process (importable: spawn pickles it by name).

    The wait policy and the priority are set first: libgomp reads ``OMP_WAIT_POLICY`` when torch
    loads it, and torch's threads inherit the niceness of the thread that starts them.
    """
    cpu_share.prefer_passive_wait()
    cpu_share.lower_priority(niceness)
    send_lock = threading.Lock()

    def send(message: FromTraining) -> None:
        with send_lock:
            events.send(message)

    try:
        # the slow part of a first run: done while the user still paints
        import torch  # noqa: F401

        from fcn_studio.training import trainer as _trainer  # noqa: F401
    except Exception as exc:  # a broken installation: say so when a job comes
        import_error: Exception | None = exc
    else:
        import_error = None
    try:
        send(Ready())
        message = control.recv()
    except (EOFError, OSError):
        return
    if not isinstance(message, Job):
        return
    if import_error is not None:
        send(Failed(f"PyTorch could not be loaded: {import_error}"))
        send(Done({"stopped": "error"}))
        return
    summary = _run_job(message.config, message.project_root, control, send)
    try:
        send(Done(summary))
    except (OSError, ValueError):
        pass


def _run_job(config: Any, project_root: str, control: Connection, send) -> dict:  # noqa: ANN001
    from fcn_studio.errors import FcnStudioError
    from fcn_studio.training.callbacks import TrainCallbacks
    from fcn_studio.training.samples import ProjectFileSource
    from fcn_studio.training.trainer import Trainer

    class Forward(TrainCallbacks):
        def on_step(self, report):  # noqa: ANN001
            send(StepReported(report))

        def on_epoch_end(self, report):  # noqa: ANN001
            send(EpochEnded(report, time.monotonic()))

        def on_prediction(self, report):  # noqa: ANN001
            send(PreviewPredicted(report))

        def on_notice(self, message):  # noqa: ANN001
            send(Notice(str(message)))

        def on_checkpoint(self, path, metrics):  # noqa: ANN001
            send(CheckpointWritten(str(path), dict(metrics)))

    stop = threading.Event()
    holder: dict[str, Any] = {"preview": config.preview_image, "refine": config.refine_edges, "trainer": None}

    def preview(msg: PreviewImage) -> None:
        holder["preview"] = msg.image_id
        if holder["trainer"] is not None:
            holder["trainer"].set_preview_image(msg.image_id)

    def refine(msg: RefineEdges) -> None:
        holder["refine"] = bool(msg.on)
        if holder["trainer"] is not None:
            holder["trainer"].config.refine_edges = holder["refine"]  # read at each preview

    handlers = {Stop: lambda _m: stop.set(), Quit: lambda _m: stop.set(), PreviewImage: preview, RefineEdges: refine}

    def listen() -> None:
        while True:
            try:
                msg = control.recv()
            except (EOFError, OSError):  # the GUI is gone: stop, keep the best model
                stop.set()
                return
            dispatch(handlers, msg)

    threading.Thread(target=listen, name="fcn-training-control", daemon=True).start()
    summary: dict[str, Any] = {"stopped": "error"}
    try:
        trainer = Trainer(config, ProjectFileSource(project_root), callbacks=Forward(), should_stop=stop)
        holder["trainer"] = trainer
        if holder["preview"] != config.preview_image:
            trainer.set_preview_image(holder["preview"])
        trainer.config.refine_edges = holder["refine"]
        result = trainer.run()
        summary = dict(result.summary)
        summary["stopped"] = result.stopped
        summary["checkpoint"] = str(result.checkpoint) if result.checkpoint else None
    except FcnStudioError as exc:
        send(Failed(str(exc)))
    except MemoryError:
        send(Failed("Out of memory: try a lighter backbone, a smaller batch or fewer images."))
    except Exception as exc:  # reported, never lost: the GUI shows it and stays usable
        traceback.print_exc()
        send(Failed(f"Training stopped unexpectedly: {exc.__class__.__name__}: {exc}"))
    return summary
