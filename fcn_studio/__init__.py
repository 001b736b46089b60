"""fcn-studio: paint label masks, fine-tune a fully convolutional network, watch it learn.

The package is layered so that each floor imports only the floors below it:
``data`` (numpy/Pillow) -> ``models`` and ``training`` (torch) -> ``cli`` and ``gui`` (Qt)
-> ``app`` (entry point). Importing :mod:`fcn_studio` itself imports neither torch nor Qt.
"""

import os as _os
import sys as _sys

__version__ = "0.1.0"


def _drop_package_dirs_from_path() -> None:
    """Remove from ``sys.path`` any folder that is itself a package of another path entry.

    Why: OpenCV's loader puts ``site-packages/cv2`` first on ``sys.path`` while ``import cv2``
    runs. A child process (training, predictions; spawned from a worker thread) started in that
    moment copies the path, and its ``import typing`` then finds ``cv2/typing`` and numpy fails to
    import. This package is the first thing such a child imports (it unpickles our entry
    function), so it mends the path before anything else is looked up. In the window's own
    process it runs once at start-up, before any thread could be importing cv2. Uses os/sys only.
    """
    entries = [_os.path.abspath(p or _os.curdir) for p in _sys.path]
    roots = set(entries)
    keep = [
        p for p, full in zip(_sys.path, entries)
        if not (_os.path.dirname(full) in roots and _os.path.isfile(_os.path.join(full, "__init__.py")))
    ]
    if len(keep) != len(_sys.path):
        _sys.path[:] = keep


_drop_package_dirs_from_path()
