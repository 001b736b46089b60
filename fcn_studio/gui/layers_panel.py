"""Visibility toggles and opacity sliders for the canvas layers (the mask and the predictions).

The rows hold no state of their own: they write through the :class:`~fcn_studio.session.SessionModel`
and follow its ``layer_changed`` event, so a shortcut, the *Show mask* action and the panel
always agree. The canvas and the prediction layers follow the same event, so moving a slider
is instant.
"""

from __future__ import annotations

from PySide6.QtCore import QSignalBlocker, Qt
from PySide6.QtWidgets import QCheckBox, QGridLayout, QLabel, QSlider, QVBoxLayout, QWidget

from fcn_studio.session import LayerState, SessionModel


class LayerRow:
    def __init__(self, checkbox: QCheckBox, slider: QSlider, value_label: QLabel):
        self.checkbox, self.slider, self.value_label = checkbox, slider, value_label

    def show(self, state: LayerState) -> None:
        """Show ``state`` without writing it back (the model already holds it)."""
        percent = round(state.opacity * 100)
        with QSignalBlocker(self.checkbox), QSignalBlocker(self.slider):
            self.checkbox.setChecked(state.visible)
            self.slider.setValue(percent)
        self.value_label.setText(f"{percent}%")


class LayersPanel(QWidget):
    def __init__(self, session: SessionModel, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        outer = QVBoxLayout(self)
        outer.setContentsMargins(6, 6, 6, 6)
        self._grid = QGridLayout()
        outer.addLayout(self._grid)
        outer.addStretch(1)
        self.extra_layout = outer  # later panels (colour bar, class choice) append here
        self._grid.setColumnStretch(1, 1)
        self.rows: dict[str, LayerRow] = {}
        session.layer_changed.connect(self._on_layer_changed)

    def add_layer(self, name: str, label: str, *, key_hint: str = "") -> LayerRow:
        """A row for the session's layer ``name``, showing its current state."""
        r = self._grid.rowCount()
        box = QCheckBox(label + (f"  ({key_hint})" if key_hint else ""))
        box.toggled.connect(lambda on: self.session.set_visible(name, on))
        slider = QSlider(Qt.Orientation.Horizontal)
        slider.setRange(0, 100)
        slider.setToolTip(f"Opacity of the {label.lower()} layer")
        value = QLabel()
        value.setMinimumWidth(36)

        def changed(v: int) -> None:
            value.setText(f"{v}%")
            self.session.set_opacity(name, v / 100.0)

        slider.valueChanged.connect(changed)
        self._grid.addWidget(box, r, 0)
        self._grid.addWidget(slider, r, 1)
        self._grid.addWidget(value, r, 2)
        row = LayerRow(box, slider, value)
        row.show(self.session.layer(name))
        self.rows[name] = row
        return row

    def _on_layer_changed(self, name: str, state: LayerState) -> None:
        row = self.rows.get(name)
        if row is not None:
            row.show(state)
