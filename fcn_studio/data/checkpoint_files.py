"""Where a project keeps its trained model: one name for the window and the command line.

Torch-free (the window's process never imports torch), so the GUI and the CLI share it.
``fcn-studio train --project P`` and the window's Fine-tune both write
``P/checkpoints/model.fcnckpt``; a project made before that, with ``checkpoints/model.pt``,
still opens with its model.
"""

from __future__ import annotations

from pathlib import Path

#: The project-relative checkpoint that training writes (GUI and CLI alike).
PROJECT_CHECKPOINT = "checkpoints/model.fcnckpt"
#: Older names, still found and loaded.
LEGACY_CHECKPOINTS = ("checkpoints/model.pt",)
#: The file dialog's filter for checkpoints (any name loads; these are the usual suffixes).
CHECKPOINT_FILTER = "Checkpoints (*.fcnckpt *.pt *.pth);;All files (*)"


def checkpoint_candidates(recorded: object = None) -> list[str]:
    """Project-relative paths to look for, best first: what project.json recorded, then the
    current name, then the old ones."""
    names = [recorded] if isinstance(recorded, str) and recorded else []
    for name in (PROJECT_CHECKPOINT, *LEGACY_CHECKPOINTS):
        if name not in names:
            names.append(name)
    return names


def file_signature(path: Path) -> list[int] | None:
    """A model file's (mtime in ns, size): changes whenever training writes it; None when absent.

    What a score or a prediction was made with is told by this, taken before the file is
    loaded: if training writes the file in between, the signature is older than the model,
    so the scores read as stale and are made again, never the other way round.
    """
    try:
        st = Path(path).stat()
    except OSError:
        return None
    return [st.st_mtime_ns, st.st_size]
