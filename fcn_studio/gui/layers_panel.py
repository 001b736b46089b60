"""Visibility toggles and opacity sliders for the canvas layers (the mask and the predictions).

The rows hold no state of their own: they write through the :class:`~fcn_studio.session.SessionModel`
and follow its ``layer_changed`` event, so a shortcut, the *Show mask* action and the panel
always agree. The canvas and the prediction layers follow the same event, so moving a slider
is instant.
"""

from __future__ import annotations

from PySide6.QtCore import QSignalBlocker, Qt, QTimer, Signal
from PySide6.QtWidgets import QCheckBox, QGridLayout, QGroupBox, QLabel, QPushButton, QSlider, QVBoxLayout, QWidget

from fcn_studio.data.display_adjust import DisplayAdjust
from fcn_studio.gui.focus import click_to_focus
from fcn_studio.session import LayerState, SessionModel

#: (name, label, slider range, slider value of "unchanged", slider units per 1.0, tooltip)
ADJUSTMENTS = (
    ("brightness", "Brightness", (-100, 100), 0, 100, "Lighter or darker on screen only (the image file is unchanged)"),
    ("contrast", "Contrast", (20, 300), 100, 100, "Spread of the grey levels about mid-grey, on screen only"),
    ("gamma", "Gamma", (20, 300), 100, 100, "Above 1 lifts the shadows of a dark frame, on screen only"),
)


class ImageAdjustBox(QGroupBox):
    """Brightness, contrast and gamma sliders for the image on the canvas, and a Reset.

    Emits ``changed(DisplayAdjust)`` at most every 30 ms while a slider moves (a 12-megapixel
    image is re-mapped once per emission, on the GUI thread, in a few tens of milliseconds).
    """

    changed = Signal(object)

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Image (display only)", parent)
        grid = QGridLayout(self)
        self.sliders: dict[str, QSlider] = {}
        self._values: dict[str, QLabel] = {}
        for r, (name, label, (lo, hi), neutral, units, tip) in enumerate(ADJUSTMENTS):
            slider = QSlider(Qt.Orientation.Horizontal)
            slider.setRange(lo, hi)
            slider.setValue(neutral)
            slider.setToolTip(tip)
            value = QLabel()
            value.setMinimumWidth(36)
            slider.valueChanged.connect(self._moved)
            grid.addWidget(QLabel(label), r, 0)
            grid.addWidget(slider, r, 1)
            grid.addWidget(value, r, 2)
            self.sliders[name], self._values[name] = slider, value
        grid.setColumnStretch(1, 1)
        self.reset_button = QPushButton("Reset")
        self.reset_button.setToolTip("Show the image as it is")
        self.reset_button.clicked.connect(self.reset)
        grid.addWidget(self.reset_button, len(ADJUSTMENTS), 2)
        click_to_focus(*self.sliders.values())
        self._timer = QTimer(self, singleShot=True, interval=30)
        self._timer.timeout.connect(lambda: self.changed.emit(self.adjust()))
        self._show_values()

    def adjust(self) -> DisplayAdjust:
        v = {name: self.sliders[name].value() / units for name, _, _, _, units, _ in ADJUSTMENTS}
        return DisplayAdjust(brightness=v["brightness"], contrast=v["contrast"], gamma=v["gamma"])

    def reset(self) -> None:
        for name, _, _, neutral, _, _ in ADJUSTMENTS:
            self.sliders[name].setValue(neutral)

    def _moved(self, _value: int) -> None:
        self._show_values()
        self._timer.start()

    def _show_values(self) -> None:
        a = self.adjust()
        self._values["brightness"].setText(f"{a.brightness:+.2f}")
        self._values["contrast"].setText(f"{a.contrast:.2f}")
        self._values["gamma"].setText(f"{a.gamma:.2f}")
        self.reset_button.setEnabled(not a.is_identity)


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
        self.image_adjust = ImageAdjustBox(self)
        outer.addWidget(self.image_adjust)
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
