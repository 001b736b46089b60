"""Edits of the project's contents from the Edit menu: clear a mask, remove images.

Kept out of the main window (which only composes, labelme's lesson): each function takes the
window for its editor, image list and project, asks the user where that is due, and reports.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtWidgets import QMessageBox

from fcn_studio.data.labelset import UNPAINTED
from fcn_studio.errors import FcnStudioError


def clear_mask(window) -> bool:
    """Every pixel of the image on screen back to 'not painted', as one undoable step."""
    mask = window.editor.mask
    if mask is None:
        return False
    return window.editor.replace_mask(np.full_like(mask, UNPAINTED), "Clear mask")


def _confirm_removal(window, ids: list[str]) -> bool:
    names = ", ".join(Path(window.project.entry(i).file).name for i in ids[:3]) + (" …" if len(ids) > 3 else "")
    answer = QMessageBox.question(
        window, "Remove from project",
        f"Remove {len(ids)} image(s) from the project ({names})?\n\n"
        "The image files and their masks move to the project's trash folder; nothing is deleted.",
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
    )
    return answer == QMessageBox.StandardButton.Yes


def remove_selected_images(window, *, confirm: bool = True) -> int:
    """Remove the list's selected images from the project, after asking; files go to trash/.

    The image after the first removed one is shown next (or the last one left)."""
    ids = window.image_list.selected_ids()
    if not ids or (confirm and not _confirm_removal(window, ids)):
        return 0
    order = [e.id for e in window.project.images]
    keep = [i for i in order if i not in ids]
    after = next((i for i in order[order.index(ids[0]):] if i in keep), keep[-1] if keep else None)
    removed = 0
    for image_id in ids:
        window.editor.close_image(image_id)  # saved first, its undo history dropped
        try:
            window.project.remove_image(image_id)
            removed += 1
        except (FcnStudioError, OSError) as exc:
            window.show_error("Could not remove an image", f"{image_id}: {exc}")
            break
    if after is not None:
        window.image_list.select(after)
    else:
        window.canvas.show_nothing()
    window.status.showMessage(f"Removed {removed} image(s); their files are in the project's trash folder", 6000)
    return removed
