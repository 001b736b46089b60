"""Run :func:`fcn_studio.models.export.export_checkpoint` in a child process.

Why: the window's process never imports torch (see
:mod:`fcn_studio.inference.prediction_process`: importing it stalls the event loop), yet
*File > Export model...* must trace a model. The dialog's worker thread calls
:func:`export_in_child`, which spawns a process that does the export and sends back the summary
or the error message. Qt-free, and torch-free at import.
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from fcn_studio.errors import FcnStudioError


class ExportProcessError(FcnStudioError):
    """The export in the child process failed (the message says why)."""


def export_in_child(
    checkpoint: str | Path, out: str | Path, *, fmt: str, input_hw: Sequence[int] | None = None, timeout_s: float = 600.0
) -> dict[str, Any]:
    """Export in a spawned child and return its summary; raises :class:`ExportProcessError`."""
    ctx = mp.get_context("spawn")  # never fork a process that runs Qt and threads
    parent, child = ctx.Pipe(duplex=False)
    hw = None if input_hw is None else (int(input_hw[0]), int(input_hw[1]))
    process = ctx.Process(target=_child_main, args=(child, str(checkpoint), str(out), fmt, hw), name="fcn-studio-export", daemon=True)
    process.start()
    child.close()
    try:
        if not parent.poll(timeout_s):
            raise ExportProcessError(f"the export took longer than {timeout_s:.0f} s and was stopped")
        status, payload = parent.recv()
    except (EOFError, OSError):
        process.join(5.0)
        raise ExportProcessError(f"the export process ended unexpectedly (exit code {process.exitcode})") from None
    finally:
        if process.is_alive():
            process.join(5.0)
        if process.is_alive():
            process.kill()
            process.join(2.0)
        parent.close()
    if status != "ok":
        raise ExportProcessError(payload)
    return payload


def _child_main(conn: Connection, checkpoint: str, out: str, fmt: str, input_hw: tuple[int, int] | None) -> None:
    """Entry point of the child (importable by name: spawn pickles it)."""
    try:
        from fcn_studio.models.export import export_checkpoint

        conn.send(("ok", export_checkpoint(checkpoint, out, fmt=fmt, input_hw=input_hw)))
    except FcnStudioError as exc:
        conn.send(("error", str(exc)))
    except MemoryError:
        conn.send(("error", "out of memory while exporting"))
    except Exception as exc:  # reported to the window, never lost
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()
