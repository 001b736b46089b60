"""Status bar: cursor position, class under the cursor, zoom and the compute device."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QStatusBar, QWidget

from fcn_studio.data.labelset import UNPAINTED, LabelSet


class StatusBar(QStatusBar):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.position = QLabel("")
        self.under_cursor = QLabel("")
        self.zoom = QLabel("")
        self.device = QLabel("Device: …")
        self.device.setToolTip("Where fine-tuning runs: the GPU when there is one, else the CPU")
        for w in (self.position, self.under_cursor, self.zoom, self.device):
            self.addPermanentWidget(w)

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
