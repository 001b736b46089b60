"""Keys go where the eye is: settings boxes take keys only once clicked into.

Qt's spin boxes and combo boxes take focus from the wheel (and change value under a
scrolling pointer); once focused, a spin box swallows the digits that pick classes. Boxes
passed to :func:`click_to_focus` take focus only from a click and ignore the wheel until then.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QWidget


class _WheelOnlyWhenFocused(QObject):
    """Drops wheel events for an unfocused box, so scrolling a panel neither focuses nor changes it."""

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt name)
        if event.type() == QEvent.Type.Wheel and isinstance(watched, QWidget) and not watched.hasFocus():
            event.ignore()  # the scroll area around the box scrolls instead
            return True
        return False


def click_to_focus(*widgets: QWidget) -> None:
    """Let ``widgets`` take keyboard focus only from a mouse click, and the wheel only after it."""
    for widget in widgets:
        widget.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        guard = _WheelOnlyWhenFocused(widget)
        widget.installEventFilter(guard)
