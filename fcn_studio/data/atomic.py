"""Crash-safe writes: temp file in the same folder, flush, fsync, rename, fsync the folder.

A reader (or the app after a crash) sees either the old file or the new one, never half of
one. Temp files carry a recognisable suffix so :func:`stale_temp_files` can find what a crash
left behind.
"""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path
from typing import Callable, IO

from fcn_studio.errors import ProjectError

TEMP_SUFFIX = ".fcnstudio-tmp"


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # not supported on this platform/filesystem; the rename is still atomic
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], None]) -> None:
    """Write ``path`` through ``write(fileobj)`` so that it appears whole or not at all.

    Raises :class:`ProjectError` with a readable message on a full disk or a read-only folder;
    the previous file is then untouched.
    """
    path = Path(path)
    folder = path.parent
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=folder)
    except OSError as exc:
        raise ProjectError(_describe_os_error(exc, path)) from None
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ProjectError(_describe_os_error(exc, path)) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(folder)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    atomic_write(path, lambda fh: fh.write(data))


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def stale_temp_files(folder: str | Path) -> list[Path]:
    """Temp files that an interrupted write left in ``folder`` (and its direct subfolders).

    Subfolders that are links are not searched: what they lead to may lie outside the project,
    and the caller deletes what this returns.
    """
    folder = Path(folder)
    found = list(folder.glob(f".*{TEMP_SUFFIX}"))
    for sub in folder.iterdir() if folder.is_dir() else []:
        if sub.is_dir() and not sub.is_symlink():
            found.extend(sub.glob(f".*{TEMP_SUFFIX}"))
    return sorted(found)


def _describe_os_error(exc: OSError, path: Path) -> str:
    if exc.errno == errno.ENOSPC:
        return f"the disk is full: could not save {path}. Free some space and save again; nothing was lost."
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return (
            f"cannot write {path}: the folder is read-only or you lack permission. "
            "Save the project to another folder; nothing was lost."
        )
    return f"could not save {path}: {exc.strerror or exc}"
