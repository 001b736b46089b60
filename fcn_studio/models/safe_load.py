"""The one place fcn-studio reads a PyTorch file, and it never runs code from it.

``torch.load(..., weights_only=True)`` only rebuilds tensors and plain containers; a pickle
that would import a function or call one (``os.system`` in a ``__reduce__``) is refused
before anything runs. Every failure becomes a :class:`CheckpointError` naming the file.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch

from fcn_studio.errors import CheckpointError


def safe_load(path: str | Path, *, what: str = "file", mmap: bool = False) -> Any:
    """Load ``path`` with ``weights_only=True`` onto the CPU; refuse anything else.

    ``mmap=True`` maps tensors lazily (cheap when only metadata is needed); it is ignored for
    files in PyTorch's legacy (non-zip) format.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{what} {path} does not exist (or is not a file)")
    try:
        return _load(path, mmap)
    except pickle.UnpicklingError as exc:
        if _is_unsafe_refusal(exc):
            raise CheckpointError(
                f"refused to open {what} {path}: it holds Python objects other than tensors and "
                "plain data, which could run code when loaded. fcn-studio only opens files of "
                "tensors, numbers, strings, lists and dicts; if you trust the file, re-save "
                "model.state_dict() from the program that made it."
            ) from None
        raise CheckpointError(
            f"{what} {path} is not a PyTorch file, is damaged, or holds data fcn-studio does not "
            "open (only tensors, numbers, strings, lists and dicts are read)"
        ) from None
    except Exception as exc:  # torch raises RuntimeError, EOFError, ValueError, ... on bad files
        raise CheckpointError(
            f"{what} {path} is not a PyTorch file or is damaged ({type(exc).__name__}: {_first_line(exc)})"
        ) from None


def _load(path: Path, mmap: bool) -> Any:
    if mmap:
        try:
            return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as exc:
            if "mmap" not in str(exc):
                raise
    return torch.load(path, map_location="cpu", weights_only=True)


def _is_unsafe_refusal(exc: BaseException) -> bool:
    """True when the restricted unpickler refused a global (as opposed to garbage bytes)."""
    text = str(exc)
    return "GLOBAL" in text or "Unsupported global" in text or "Unsupported class" in text


def _first_line(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return lines[0][:200] if lines else type(exc).__name__
