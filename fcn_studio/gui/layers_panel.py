"""Visibility toggles and opacity sliders for the canvas layers (mask now; predictions later).

Each row only calls back; the canvas changes an item property, so moving a slider is instant.
"""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QGridLayout, QLabel, QSlider, QVBoxLayout, QWidget


class LayerRow:
    def __init__(self, checkbox: QCheckBox, slider: QSlider, value_label: QLabel):
        self.checkbox, self.slider, self.value_label = checkbox, slider, value_label


class LayersPanel(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(6, 6, 6, 6)
        self._grid = QGridLayout()
        outer.addLayout(self._grid)
        outer.addStretch(1)
        self.extra_layout = outer  # later panels (colour bar, class choice) append here
        self._grid.setColumnStretch(1, 1)
        self.rows: dict[str, LayerRow] = {}

    def add_layer(
        self,
        name: str,
        label: str,
        *,
        visible: bool,
        opacity: float,
        on_visible: Callable[[bool], None],
        on_opacity: Callable[[float], None],
        key_hint: str = "",
    ) -> LayerRow:
        r = self._grid.rowCount()
        box = QCheckBox(label + (f"  ({key_hint})" if key_hint else ""))
        box.setChecked(visible)
        box.toggled.connect(on_visible)
        slider = QSlider(Qt.Orientation.Horizontal)
        slider.setRange(0, 100)
        slider.setValue(round(opacity * 100))
        slider.setToolTip(f"Opacity of the {label.lower()} layer")
        value = QLabel(f"{round(opacity * 100)}%")
        value.setMinimumWidth(36)

        def changed(v: int) -> None:
            value.setText(f"{v}%")
            on_opacity(v / 100.0)

        slider.valueChanged.connect(changed)
        self._grid.addWidget(box, r, 0)
        self._grid.addWidget(slider, r, 1)
        self._grid.addWidget(value, r, 2)
        row = LayerRow(box, slider, value)
        self.rows[name] = row
        return row

    def set_visible(self, name: str, visible: bool) -> None:
        """Reflect a change made elsewhere (a shortcut) without echoing it back."""
        box = self.rows[name].checkbox
        box.blockSignals(True)
        box.setChecked(visible)
        box.blockSignals(False)
