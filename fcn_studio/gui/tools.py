"""Painting tools as a table: each tool is a small object with press/move/release.

The canvas looks the active tool up by name in :data:`TOOLS`; adding a tool touches only
this module. Positions are in image pixels (x, y floats).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, Qt

if TYPE_CHECKING:
    from fcn_studio.gui.canvas import Canvas


class Tool:
    name = ""
    label = ""
    shortcut = ""
    icon = ""
    tip = ""
    shows_brush = False
    #: the tool fills colour regions: the editor cuts the shown image into them ahead of use
    cuts_regions = False
    #: a right click goes to the tool as a Shift+press (brushes erase, click-to-segment subtracts)
    takes_right_click = False
    takes_tab = False
    cursor = Qt.CursorShape.CrossCursor

    def press(self, canvas: "Canvas", pos: QPointF, modifiers: Qt.KeyboardModifier) -> None: ...

    def move(self, canvas: "Canvas", pos: QPointF, buttons_down: bool) -> None: ...

    def release(self, canvas: "Canvas", pos: QPointF) -> None: ...

    def double_click(self, canvas: "Canvas", pos: QPointF) -> None: ...

    def key(self, canvas: "Canvas", key: int) -> bool:
        return False

    def cancel(self, canvas: "Canvas") -> None: ...


class BrushTool(Tool):
    name, label, shortcut, icon = "brush", "Brush", "B", "brush"
    tip = "Paint the active class (B). Size: [ and ]. Right-drag or hold Shift to erase."
    shows_brush = True
    cursor = Qt.CursorShape.BlankCursor
    erase = False

    def press(self, canvas, pos, modifiers):
        canvas.editor.begin_stroke(pos.x(), pos.y(), erase=self.erase or bool(modifiers & Qt.KeyboardModifier.ShiftModifier))

    def move(self, canvas, pos, buttons_down):
        if buttons_down:
            canvas.editor.continue_stroke(pos.x(), pos.y())

    def release(self, canvas, pos):
        canvas.editor.end_stroke()

    def cancel(self, canvas):
        canvas.editor.end_stroke()


class RegionBrushTool(BrushTool):
    name, label, shortcut, icon = "region_brush", "Region brush", "Shift+B", "region_brush"
    tip = ("Paint the active class, and on release fill every colour region the stroke touched (Shift+B): "
           "one stroke along a road labels its whole patch. One undo takes stroke and fill back. "
           "Right-drag erases as the brush does.")
    cuts_regions = True

    def press(self, canvas, pos, modifiers):
        erase = bool(modifiers & Qt.KeyboardModifier.ShiftModifier)
        canvas.editor.begin_stroke(pos.x(), pos.y(), erase=erase, regions=not erase)


class EraserTool(BrushTool):
    name, label, shortcut, icon = "eraser", "Eraser", "E", "eraser"
    tip = "Erase back to 'not painted' (E). Size: [ and ]."
    erase = True


class FillTool(Tool):
    name, label, shortcut, icon = "fill", "Fill", "F", "fill"
    tip = "Flood-fill the connected region under the cursor with the active class (F)."

    def press(self, canvas, pos, modifiers):
        canvas.editor.fill(pos.x(), pos.y())


class MagicWandTool(Tool):
    name, label, shortcut, icon = "wand", "Magic wand", "W", "wand"
    tip = ("Fill the connected region of similar image colour under the cursor with the active class (W); "
           "the Tolerance box beside the tools sets how similar.")
    #: Per-channel colour distance (0-255) from the clicked pixel that still joins the region.
    tolerance = 24

    def press(self, canvas, pos, modifiers):
        canvas.clear_wand_preview()
        canvas.editor.colour_fill(pos.x(), pos.y(), self.tolerance)

    def move(self, canvas, pos, buttons_down):
        if not buttons_down:  # show what a click here would fill
            canvas.request_wand_preview(pos.x(), pos.y(), self.tolerance)

    def cancel(self, canvas):
        canvas.clear_wand_preview()


class PolygonTool(Tool):
    name, label, shortcut, icon = "polygon", "Polygon", "P", "polygon"
    tip = "Click corners, double-click or Enter to fill; drag for a free-hand lasso; Esc cancels (P)."

    def __init__(self) -> None:
        self.points: list[tuple[float, float]] = []
        self._dragging = False

    def press(self, canvas, pos, modifiers):
        self.points.append((pos.x(), pos.y()))
        self._dragging = True
        canvas.show_polygon(self.points)

    def move(self, canvas, pos, buttons_down):
        if not self.points:
            return
        if buttons_down and self._dragging:
            last = self.points[-1]
            if abs(pos.x() - last[0]) + abs(pos.y() - last[1]) >= 2:
                self.points.append((pos.x(), pos.y()))
        canvas.show_polygon(self.points + [(pos.x(), pos.y())])

    def release(self, canvas, pos):
        self._dragging = False
        if len(self.points) > 8:  # a free-hand lasso closes when the button goes up
            self.finish(canvas)

    def double_click(self, canvas, pos):
        self.finish(canvas)

    def key(self, canvas, key):
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.finish(canvas)
            return True
        if key == Qt.Key.Key_Escape:
            self.cancel(canvas)
            return True
        return False

    def finish(self, canvas):
        points, self.points = _dedupe(self.points), []
        canvas.show_polygon([])
        if len(points) >= 3:
            canvas.editor.fill_polygon(points)

    def cancel(self, canvas):
        self.points = []
        canvas.show_polygon([])


class EyedropperTool(Tool):
    name, label, shortcut, icon = "eyedropper", "Pick class", "I", "eyedropper"
    tip = "Make the class under the cursor the active class (I)."

    def press(self, canvas, pos, modifiers):
        value = canvas.editor.value_at(pos.x(), pos.y())
        if value is not None and value in canvas.editor.project.labelset.train_ids:
            canvas.editor.set_active_class(value)


class AcceptRegionTool(Tool):
    name, label, shortcut, icon = "accept_region", "Accept region", "R", "accept_region"
    tip = ("Click a predicted segment to make just that connected region the mask, as its predicted class (R); "
           "undo takes it back. Accept prediction takes the whole image.")

    def press(self, canvas, pos, modifiers):
        canvas.accept_region_requested.emit(int(pos.x()), int(pos.y()))


class ClickSegmentTool(Tool):
    name, label, shortcut, icon = "click_segment", "Click to segment", "S", "click_segment"
    tip = ("Click an object to cut it out (S): its class is proposed by the project's model (number keys change it), "
           "Enter or Accept object paints it, Esc drops it. Shift+click or right click removes a part; "
           "a drag gives a box; each click refines; Tab shows SAM's next mask for a single click.")
    #: Tab goes to the tool (SAM's next mask), not to the next widget
    takes_tab = True
    takes_right_click = True
    #: A press that moves this far on screen (pixels) is a box, not a click.
    DRAG_PX = 6

    def __init__(self) -> None:
        self._start: QPointF | None = None
        self._negative = False
        self._dragging = False

    def press(self, canvas, pos, modifiers):
        self._start, self._dragging = QPointF(pos), False
        self._negative = bool(modifiers & Qt.KeyboardModifier.ShiftModifier)

    def move(self, canvas, pos, buttons_down):
        ctl = getattr(canvas, "click_segmenter", None)
        if not buttons_down or self._start is None or ctl is None:
            return
        moved = (pos - self._start) * canvas.zoom
        if self._dragging or abs(moved.x()) + abs(moved.y()) > self.DRAG_PX:
            self._dragging = True
            ctl.show_drag_box(self._start, pos)

    def release(self, canvas, pos):
        ctl, start = getattr(canvas, "click_segmenter", None), self._start
        self._start = None
        if ctl is None or start is None:
            return
        if self._dragging:
            ctl.set_box(start.x(), start.y(), pos.x(), pos.y())
        else:
            ctl.add_point(start.x(), start.y(), positive=not self._negative)

    def key(self, canvas, key):
        ctl = getattr(canvas, "click_segmenter", None)
        if ctl is None:
            return False
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            ctl.accept()
            return True
        if key == Qt.Key.Key_Escape:
            ctl.drop()
            return True
        if key == Qt.Key.Key_Tab:
            return ctl.next_mask()
        return False

    def cancel(self, canvas):
        self._start = None


def _dedupe(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for p in points:
        if not out or abs(p[0] - out[-1][0]) + abs(p[1] - out[-1][1]) > 0.5:
            out.append(p)
    return out


TOOL_TYPES: tuple[type[Tool], ...] = (
    BrushTool, RegionBrushTool, EraserTool, FillTool, MagicWandTool, PolygonTool, EyedropperTool, AcceptRegionTool,
    ClickSegmentTool,
)


def make_tools() -> dict[str, Tool]:
    """Fresh tool instances (tools such as the polygon keep per-canvas state)."""
    return {t.name: t() for t in TOOL_TYPES}
