"""Weight files checked against the hash their name carries, once per version of the file.

Why: a weight file damaged inside its tensor data (a bad sector, an interrupted copy, a
bundle patched by hand) unpickles without complaint; the NaN values it holds surfaced far
away, as a heatmap view that died in pyqtgraph, or not at all (the FCN trunk does not use
the classifier layer where they sat). Files named the torch.hub way
(``efficientnet-lite0-57934424.pth``) carry the first hex digits of their SHA-256, so a
damaged file can be named and refused before it is loaded.

Hashing the 19 MB Lite0 file takes about 50 ms; VGG-sized files take seconds. So a file that
passed is recorded, keyed by its resolved path, size and modification time, in the user's
cache folder (``$FCN_STUDIO_CACHE_DIR`` when set, as the tests do), and is hashed again only
when one of those changes. Torch-free: hashlib, JSON and the project's atomic writes.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from pathlib import Path

#: The hash prefix in a torch.hub-style file name: ``<name>-<hex digits>.<ext>``.
_NAMED_HASH = re.compile(r"-([0-9a-f]{8,64})\.[A-Za-z0-9]+$")
#: Environment variable naming the folder for the record (default: the platform's user cache).
CACHE_ENV = "FCN_STUDIO_CACHE_DIR"
RECORD_NAME = "verified_weights.json"

_lock = threading.Lock()
_verified_now: dict[str, list[int]] = {}  # this process's verifications: path -> [size, mtime_ns]


def named_hash(path: Path) -> str | None:
    """The SHA-256 prefix ``path``'s name carries, or None."""
    match = _NAMED_HASH.search(Path(path).name)
    return match.group(1) if match else None


def sha256_of(path: Path) -> str:
    """The SHA-256 of a file, read in 1 MB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def record_path() -> Path:
    """Where the verified files are recorded."""
    folder = os.environ.get(CACHE_ENV)
    if not folder:
        from platformdirs import user_cache_dir

        folder = user_cache_dir("fcn-studio", appauthor=False)
    return Path(folder) / RECORD_NAME


def forget_in_memory() -> None:
    """Forget this process's verifications (the record on disk stays): what a new launch sees."""
    with _lock:
        _verified_now.clear()


def matches_named_hash(path: Path) -> bool:
    """Whether ``path``'s content has the SHA-256 prefix its name carries (True when it names none).

    Hashes only a file version (resolved path, size, mtime) not seen to match before, in this
    process or, through the record, in an earlier one.
    """
    expected = named_hash(path)
    if expected is None:
        return True
    key = str(Path(path).resolve())
    st = os.stat(path)
    stamp = [st.st_size, st.st_mtime_ns]
    with _lock:
        if _verified_now.get(key) == stamp:
            return True
        record = _read_record()
        if record.get(key) == [*stamp, expected]:
            _verified_now[key] = stamp
            return True
        if not sha256_of(path).startswith(expected):
            return False
        _verified_now[key] = stamp
        record[key] = [*stamp, expected]
        _write_record(record)
        return True


def _read_record() -> dict[str, list]:
    try:
        data = json.loads(record_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_record(record: dict[str, list]) -> None:
    """Best effort: a record that cannot be written only costs a hash at the next launch."""
    from fcn_studio.data.atomic import atomic_write_text

    path = record_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(record, indent=1) + "\n")
    except Exception:  # noqa: BLE001 - a read-only home or a full disk: verified again next time
        pass
