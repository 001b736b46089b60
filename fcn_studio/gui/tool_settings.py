"""The tools' settings on screen, beside the tools: brush size and the magic wand's tolerance.

napari shows its label controls with their values; here the brush radius follows the editor
both ways (``[``/``]`` move the box, the box moves the brush), and the tolerance lives on the
wand tool itself, so there is one copy of each value.
"""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QSpinBox, QToolBar, QWidget, QHBoxLayout

from fcn_studio.gui.focus import click_to_focus
from fcn_studio.gui.canvas import Canvas
from fcn_studio.gui.editor import MaskEditor


def _labelled(text: str, box: QSpinBox, tip: str) -> QWidget:
    holder = QWidget()
    row = QHBoxLayout(holder)
    row.setContentsMargins(6, 0, 2, 0)
    row.setSpacing(4)
    label = QLabel(text)
    label.setBuddy(box)
    row.addWidget(label)
    row.addWidget(box)
    for w in (holder, label, box):
        w.setToolTip(tip)
    return holder


def add_tool_settings(toolbar: QToolBar, editor: MaskEditor, canvas: Canvas) -> tuple[QSpinBox, QSpinBox]:
    """Add the brush-size and tolerance boxes to ``toolbar``; returns them (brush, tolerance)."""
    brush = QSpinBox()
    brush.setRange(1, 1000)
    brush.setSuffix(" px")
    brush.setAccessibleName("Brush size")
    brush.setValue(round(editor.brush_radius * 2))
    brush.valueChanged.connect(lambda v: editor.set_brush_radius(v / 2))
    editor.brush_radius_changed.connect(lambda r: brush.setValue(round(r * 2)) if brush.value() != round(r * 2) else None)
    toolbar.addWidget(_labelled("Size", brush, "Brush and eraser diameter in image pixels ([ and ] change it too)"))

    wand = canvas.tools["wand"]
    tolerance = QSpinBox()
    tolerance.setRange(0, 255)
    tolerance.setAccessibleName("Magic wand tolerance")
    tolerance.setValue(int(wand.tolerance))

    def set_tolerance(v: int) -> None:
        wand.tolerance = int(v)

    tolerance.valueChanged.connect(set_tolerance)
    click_to_focus(brush, tolerance)
    toolbar.addWidget(_labelled(
        "Tolerance", tolerance,
        "Magic wand (W): how far, per colour channel (0-255), a pixel's colour may be from the clicked one and still be filled",
    ))
    return brush, tolerance
