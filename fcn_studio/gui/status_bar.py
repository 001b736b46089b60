"""Status bar: background work's progress and Cancel, cursor position, class under the cursor,
zoom and the compute device.

Everything here is a permanent widget: Qt hides a status bar's ordinary widgets while a
temporary message shows, and an opened image's name (4 s) hid *Predict all*'s progress and its
Cancel button (issue 34 item 4). Messages take the room on the left; these stay on the right.
"""

from __future__ import annotations

import time

from PySide6.QtWidgets import QLabel, QProgressBar, QPushButton, QStatusBar, QWidget

from fcn_studio.data.labelset import UNPAINTED, LabelSet


class StatusBar(QStatusBar):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        #: the background job's progress and its Cancel (shown while one runs)
        self.work_progress = QProgressBar()
        self.work_progress.setMaximumWidth(180)
        self.work_progress.setVisible(False)
        self.cancel = QPushButton("Cancel")
        self.cancel.setToolTip("Stop the background work after the item it is on (what is done stays)")
        self.cancel.setVisible(False)
        for w in (self.work_progress, self.cancel):
            self.addPermanentWidget(w)
        self.position = QLabel("")
        self.under_cursor = QLabel("")
        self.zoom = QLabel("")
        self.device = QLabel("Device: …")
        self.device.setToolTip("Where fine-tuning runs: the GPU when there is one, else the CPU")
        for w in (self.position, self.under_cursor, self.zoom, self.device):
            self.addPermanentWidget(w)

    def showMessage(self, text: str, timeout: int = 0) -> None:  # noqa: N802 (Qt API)
        """A message (what an action did, a warning) for ``timeout`` ms, 0: until the next one."""
        self._until = time.monotonic() + timeout / 1000 if timeout else float("inf")
        self._passing = False
        super().showMessage(text, timeout)

    def show_passing(self, text: str, timeout: int) -> None:
        """A note about where the user is (the name of the image just opened). It gives way: a
        message still showing stays (selecting the first added image replaced "Added 40
        image(s)" after 19 ms, issue 34 item 7); another passing note is replaced."""
        if self.currentMessage() and not getattr(self, "_passing", False) and time.monotonic() < getattr(self, "_until", 0.0):
            return
        self.showMessage(text, timeout)
        self._passing = True

    def show_cursor(self, x: int, y: int, value: int | None, labelset: LabelSet) -> None:
        if x < 0 or value is None:
            self.position.setText("")
            self.under_cursor.setText("")
            return
        self.position.setText(f"x {x}  y {y}")
        if value == UNPAINTED:
            self.under_cursor.setText("not painted")
        else:
            try:
                self.under_cursor.setText(labelset.by_id(value).name)
            except KeyError:
                self.under_cursor.setText(f"unknown id {value}")

    def show_zoom(self, zoom: float) -> None:
        self.zoom.setText(f"{zoom * 100:.0f}%")

    def show_device(self, text: str) -> None:
        self._device = text
        self.device.setText(f"Device: {text}")

    def device_text(self) -> str:
        """The training device as detected ("" until the detection has answered)."""
        return getattr(self, "_device", "")
