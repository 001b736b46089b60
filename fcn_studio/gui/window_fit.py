"""The window on a laptop screen: docks that scroll, a first launch that fits (issue 34 item 3).

The Layers and Training panels stacked made the window at least 1083 px tall, so on a
1920x1080 screen with a taskbar (and any 1366x768 laptop) the status bar and the last buttons
were off screen.
"""

from __future__ import annotations

from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtWidgets import QApplication, QFrame, QScrollArea, QWidget

#: The window's size at first launch, when the screen has room for it.
FIRST_SIZE = QSize(1400, 860)


def scrolling(widget: QWidget) -> QScrollArea:
    """``widget`` in a frameless scroll area that scrolls only vertically: as tall as the dock
    allows, and reachable whole on a low screen."""
    area = QScrollArea()
    area.setObjectName(f"scroll_{widget.objectName() or type(widget).__name__}")
    area.setWidget(widget)
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    area.setMinimumWidth(widget.minimumSizeHint().width())
    return area


def first_size(available: QRect) -> QSize:
    """The size of a first launch on a screen whose free area (taskbar left out) is ``available``:
    :data:`FIRST_SIZE`, or less so the frame and title bar fit too."""
    return QSize(min(FIRST_SIZE.width(), available.width() - 16), min(FIRST_SIZE.height(), available.height() - 48))


def place_first_launch(window: QWidget) -> None:
    """Size and centre ``window`` on its screen's free area (no saved geometry yet)."""
    screen = window.screen() or QApplication.primaryScreen()
    available = screen.availableGeometry()
    size = first_size(available)
    window.resize(size)
    window.move(available.center() - QRect(0, 0, size.width(), size.height()).center())
