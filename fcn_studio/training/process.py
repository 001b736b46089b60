"""Training in a child process that reports back over pipes.

Why a process and not a thread: on a 2-core CPU a training thread inside the GUI's process
shares its GIL, and stretches of the trainer that hold it (model building, checkpoint
pickling, Python-level data loading) made the event loop wait up to ~170 ms. In its own
process the trainer cannot stall the GUI, runs at a lower CPU priority so the GUI wins every
tie, and a crash in native code or the kernel's out-of-memory killer ends the run, not the
app.

The process is started ahead of time (:meth:`TrainingProcess.spawn`), imports torch and the
trainer while the user is still painting, and then waits for one job. Messages are plain
tuples of picklable values (the trainer's report dataclasses hold numbers and numpy arrays):

* parent -> child (control pipe): ``("job", config, project_root)``, ``("stop",)``,
  ``("preview", image_id)``, ``("refine", on)``, ``("quit",)``;
* child -> parent (event pipe): ``("ready",)``, ``("step", StepReport)``,
  ``("epoch", EpochReport, monotonic_s)``, ``("prediction", PredictionReport)``,
  ``("notice", text)``, ``("checkpoint", path, metrics)``, ``("error", text)``, and last
  ``("done", summary)``.

Qt-free: the GUI wraps it in a QThread worker (``fcn_studio.gui.training_worker``).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import threading
import time
import traceback
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

#: How much lower the training process's CPU priority is than the GUI's (``nice`` steps).
CHILD_NICENESS = 5


class TrainingProcess:
    """One child process that runs one training job; create, :meth:`spawn`, :meth:`start_job`."""

    def __init__(self, niceness: int = CHILD_NICENESS) -> None:
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
        self._process = ctx.Process(
            target=child_main, args=(control_r, events_w, self.niceness), name="fcn-studio-training", daemon=True
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
                    self._ready = self._events.recv()[0] == "ready"
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
        self._send(("stop",) if self.job_sent else ("quit",))
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
        self._send(("job", config, str(project_root)))

    def stop(self) -> None:
        self._send(("stop",))

    def set_preview_image(self, image_id: str | None) -> None:
        self._send(("preview", image_id))

    def set_refine_edges(self, on: bool) -> None:
        """Switch edge refinement of the live previews (takes effect at the next preview)."""
        self._send(("refine", bool(on)))

    def _send(self, message: tuple) -> None:
        with self._send_lock:
            if self._control is None:
                return
            try:
                self._control.send(message)
            except (OSError, ValueError):  # the child is gone: nothing to tell it
                pass

    # -- events (one reader thread) --------------------------------------------------------------
    def receive(self, timeout_s: float) -> list[tuple]:
        """The events that arrived within ``timeout_s`` (all that are waiting, at least one if any).

        When the child ended without saying "done" (killed, crashed), the last event is a
        synthetic ``("error", ...)`` followed by ``("done", {"stopped": "error"})``.
        """
        conn = self._events
        if conn is None or self.ended:
            return []
        out: list[tuple] = []
        try:
            if conn.poll(timeout_s):
                while True:
                    message = conn.recv()
                    out.append(message)
                    if message[0] == "done":
                        self.ended = True
                        break
                    if not conn.poll(0):
                        break
        except (EOFError, OSError):
            self.ended = True
            if self._process is not None:
                self._process.join(2.0)
            out.append(("error", _death_message(self.exitcode)))
            out.append(("done", {"stopped": "error"}))
        return out


def _death_message(code: int | None) -> str:
    if code is not None and code < 0 and -code == 9:
        return "The training process was killed (most likely the system ran out of memory): try a lighter backbone, a smaller batch or fewer images."
    return f"The training process ended unexpectedly (exit code {code}). The last saved model is kept."


# -- the child side -------------------------------------------------------------------------------
def child_main(control: Connection, events: Connection, niceness: int) -> None:
    """Entry point of the training process (importable: spawn pickles it by name)."""
    if niceness > 0:
        try:
            os.nice(niceness)
        except OSError:
            pass
    send_lock = threading.Lock()

    def send(message: tuple) -> None:
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
        send(("ready",))
        message = control.recv()
    except (EOFError, OSError):
        return
    if message[0] != "job":
        return
    _, config, project_root = message
    if import_error is not None:
        send(("error", f"PyTorch could not be loaded: {import_error}"))
        send(("done", {"stopped": "error"}))
        return
    summary = _run_job(config, project_root, control, send)
    try:
        send(("done", summary))
    except (OSError, ValueError):
        pass


def _run_job(config: Any, project_root: str, control: Connection, send) -> dict:  # noqa: ANN001
    from fcn_studio.errors import FcnStudioError
    from fcn_studio.training.callbacks import TrainCallbacks
    from fcn_studio.training.samples import ProjectFileSource
    from fcn_studio.training.trainer import Trainer

    class Forward(TrainCallbacks):
        def on_step(self, report):  # noqa: ANN001
            send(("step", report))

        def on_epoch_end(self, report):  # noqa: ANN001
            send(("epoch", report, time.monotonic()))

        def on_prediction(self, report):  # noqa: ANN001
            send(("prediction", report))

        def on_notice(self, message):  # noqa: ANN001
            send(("notice", str(message)))

        def on_checkpoint(self, path, metrics):  # noqa: ANN001
            send(("checkpoint", str(path), dict(metrics)))

    stop = threading.Event()
    holder: dict[str, Any] = {"preview": config.preview_image, "refine": config.refine_edges, "trainer": None}

    def listen() -> None:
        while True:
            try:
                msg = control.recv()
            except (EOFError, OSError):  # the GUI is gone: stop, keep the best model
                stop.set()
                return
            if msg[0] in ("stop", "quit"):
                stop.set()
            elif msg[0] == "preview":
                holder["preview"] = msg[1]
                trainer = holder["trainer"]
                if trainer is not None:
                    trainer.set_preview_image(msg[1])
            elif msg[0] == "refine":
                holder["refine"] = bool(msg[1])
                trainer = holder["trainer"]
                if trainer is not None:
                    trainer.config.refine_edges = holder["refine"]  # read at each preview

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
        send(("error", str(exc)))
    except MemoryError:
        send(("error", "Out of memory: try a lighter backbone, a smaller batch or fewer images."))
    except Exception as exc:  # reported, never lost: the GUI shows it and stays usable
        traceback.print_exc()
        send(("error", f"Training stopped unexpectedly: {exc.__class__.__name__}: {exc}"))
    return summary
