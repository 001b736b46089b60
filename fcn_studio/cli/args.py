"""Argument types and the usage error shared by every sub-command (``parser.py`` and ``training_commands.py``).

A module of its own so both can import it without importing each other. Bad values are
refused by argparse as one line (exit 2) before any work starts.
"""

from __future__ import annotations

import argparse

from fcn_studio.errors import FcnStudioError


class UsageError(FcnStudioError):
    """Arguments that do not fit together (the message says which and what to do)."""


def _int_at_least(text: str, low: int, bound: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"must be {bound}, got {value}")
    return value


def positive_int(text: str) -> int:
    """argparse type: an integer of at least 1."""
    return _int_at_least(text, 1, "at least 1")


def non_negative_int(text: str) -> int:
    """argparse type: an integer of at least 0."""
    return _int_at_least(text, 0, "0 or more")


def unit_float(text: str) -> float:
    """argparse type: a number within 0..1 (opacities, fractions)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number within 0..1, got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be within 0..1, got {text}")
    return value
