"""Undo as diffs: one QUndoCommand per stroke, fill or polygon, holding only the changed box."""

from __future__ import annotations

from typing import Callable

import numpy as np
from PySide6.QtGui import QUndoCommand

from fcn_studio.data.paint import Edit


class MaskEditCommand(QUndoCommand):
    """Apply/revert an :class:`Edit` on the mask that ``get_mask()`` returns.

    The edit has already been painted when the command is pushed, so the first ``redo`` that
    ``QUndoStack.push`` calls does nothing. ``changed(box)`` tells the canvas what to repaint
    and the autosaver what to write.
    """

    def __init__(self, text: str, edit: Edit, get_mask: Callable[[], np.ndarray], changed: Callable[[tuple], None]):
        super().__init__(text)
        self.edit = edit
        self._get_mask = get_mask
        self._changed = changed
        self._skip_next_redo = True

    def redo(self) -> None:
        if self._skip_next_redo:
            self._skip_next_redo = False  # the push itself: the edit is already on the mask
            return
        self.edit.redo(self._get_mask())
        self._changed(self.edit.box)

    def undo(self) -> None:
        self.edit.undo(self._get_mask())
        self._changed(self.edit.box)
