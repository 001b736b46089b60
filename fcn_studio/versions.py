"""Versions of the libraries fcn-studio runs on, read from package metadata (nothing imported).

A test failure or a bug report means little without them: pip resolves a new set on every
fresh machine, and results that depend on arithmetic (a model trained for a few steps) have
differed between two such sets. ``make test`` prints them as one line before the suite::

    python -m fcn_studio.versions
    Python 3.11.7, torch 2.14.1, torchvision 0.29.1, numpy 2.4.6, pillow 13.0.0, opencv 5.1.0.95, PySide6 6.11.3

Several libraries ship under more than one distribution name (PySide6 as ``PySide6`` or
``PySide6-Essentials``, OpenCV as ``opencv-python`` or its ``-headless`` build): the first one
installed is reported, so the line never says "not installed" for a library that is.
"""

from __future__ import annotations

import platform
from importlib import metadata

#: Library -> the distribution names it is installed under, most likely first.
DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "torch": ("torch",),
    "torchvision": ("torchvision",),
    "numpy": ("numpy",),
    "pillow": ("pillow", "Pillow"),
    "opencv": ("opencv-python-headless", "opencv-python", "opencv-contrib-python-headless", "opencv-contrib-python"),
    "PySide6": ("PySide6-Essentials", "PySide6"),
}


def version_of(library: str) -> str:
    """The installed version of ``library`` (a key of :data:`DISTRIBUTIONS`, or a distribution name)."""
    for dist in DISTRIBUTIONS.get(library, (library,)):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return "not installed"


def versions_line() -> str:
    """Python and every library of :data:`DISTRIBUTIONS` with its version, on one line."""
    return ", ".join([f"Python {platform.python_version()}", *(f"{lib} {version_of(lib)}" for lib in DISTRIBUTIONS)])


if __name__ == "__main__":
    print(versions_line())
