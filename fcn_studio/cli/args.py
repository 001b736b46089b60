"""Argument types and the usage error shared by every sub-command (``parser.py`` and ``training_commands.py``).

A module of its own so both can import it without importing each other. Bad values are
refused by argparse as one line (exit 2) before any work starts.
"""

from __future__ import annotations

import argparse

from fcn_studio.errors import FcnStudioError


class UsageError(FcnStudioError):
    """Arguments that do not fit together (the message says which and what to do)."""


def positive_int(text: str) -> int:
    """argparse type: an integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def non_negative_int(text: str) -> int:
    """argparse type: an integer of at least 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def unit_float(text: str) -> float:
    """argparse type: a number within 0..1 (opacities, fractions)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number within 0..1, got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be within 0..1, got {text}")
    return value
