"""Domain errors whose messages a person can act on.

Every error names the file involved (where there is one) and what to do. The GUI shows the
message in a dialog, the CLI prints it as one line; neither shows a traceback.
"""

from __future__ import annotations


class FcnStudioError(Exception):
    """Base of every error fcn-studio raises on purpose."""


class ImageReadError(FcnStudioError):
    """An image file could not be read (missing, empty, truncated, not an image, too large)."""


class MaskError(FcnStudioError):
    """A mask was refused: wrong size, unknown class ids, unreadable file."""


class LabelSetError(FcnStudioError):
    """A label-set JSON is malformed or inconsistent."""


class ProjectError(FcnStudioError):
    """A project folder cannot be created, opened or saved."""


class CheckpointError(FcnStudioError):
    """A checkpoint is missing, foreign, unsafe or does not fit the model."""


class WeightsUnavailableError(FcnStudioError):
    """Pretrained weights were requested but are not on disk and cannot be downloaded."""


class TrainingError(FcnStudioError):
    """Training cannot start or had to stop (no painted pixels, NaN loss, ...)."""


class ModelOutputError(FcnStudioError):
    """A model's output is not a number (NaN or infinite): reported, never drawn."""


#: Longest reason one failure may add to a status line or a report.
REASON_CHARS = 200


def one_line(exc: BaseException) -> str:
    """What went wrong, as one line for a status bar or a batch report (never a traceback).

    Our own errors already say what to do; a library's message (OpenCV's ``OpenCV(5.1.0)
    /io/.../resize.cpp:3424: error: (-215:Assertion failed) ...``, several lines) is cut to
    its first line without the source location, and named as unexpected so that it is
    reported rather than taken for the user's fault.
    """
    if isinstance(exc, MemoryError) or (isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()):
        return "out of memory"  # torch's OutOfMemoryError is a RuntimeError
    text = " ".join(str(exc).split())
    if isinstance(exc, FcnStudioError) and text:
        return text[:REASON_CHARS]
    if isinstance(exc, OSError) and exc.strerror:
        text = f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
        return text[:REASON_CHARS]
    if "error: (" in text:  # OpenCV: "OpenCV(v) file:line: error: (-215:Assertion failed) what in function 'f'"
        text = text.split("error: (", 1)[1].split(")", 1)[-1].strip()
    kind = type(exc).__name__
    text = f"unexpected {kind}: {text}" if text else f"unexpected {kind}"
    return text[: REASON_CHARS - 1] + "…" if len(text) > REASON_CHARS else text
