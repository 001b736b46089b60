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
