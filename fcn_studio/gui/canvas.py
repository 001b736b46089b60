"""The canvas: the image, the mask and overlay layers, zoom and pan, and the active tool.

Rendering cost follows what changed: a brush move repaints only the box it touched
(see :class:`~fcn_studio.gui.raster_item.RasterItem`), and opacity is an item property, so
changing it never touches pixels.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QKeyEvent, QMouseEvent, QPainter, QPainterPath, QPen, QWheelEvent
from PySide6.QtWidgets import QGraphicsEllipseItem, QGraphicsItem, QGraphicsPathItem, QGraphicsScene, QGraphicsView

from fcn_studio.data.paint import colour_region, region_inside
from fcn_studio.data.display_adjust import DisplayAdjust
from fcn_studio.data.labelset import LabelSet
from fcn_studio.data.overlay import class_rgba
from fcn_studio.gui.editor import MaskEditor
from fcn_studio.gui.raster_item import RasterItem
from fcn_studio.gui.tools import Tool, make_tools
from fcn_studio.session import MASK, LayerState, SessionModel

ZOOM_STEP = 1.2
MIN_ZOOM, MAX_ZOOM = 0.02, 64.0
#: Least scene room around the image on each side, as a share of its size (panning).
SCENE_MARGIN = 0.25


def mask_color_table(labelset: LabelSet, hidden: frozenset[int] = frozenset()) -> list[int]:
    """Class colours opaque (the layer's opacity does the blending), everything else clear;
    ``hidden`` classes clear too (the user hid them in the class list).

    Built from :func:`fcn_studio.data.overlay.class_rgba`, which ``predict --format overlay`` blends with.
    """
    return [0 if i in hidden else QColor(int(r), int(g), int(b), int(a)).rgba() for i, (r, g, b, a) in enumerate(class_rgba(labelset))]


def _is_popup_open(widget) -> bool:
    """Whether ``widget`` (a combo box, say) has its drop-down open: focus stays with it."""
    view = getattr(widget, "view", None)
    try:
        return bool(view is not None and callable(view) and view().isVisible())
    except RuntimeError:
        return False


#: Milliseconds between magic-wand previews while the pointer moves (a 12-megapixel flood fill
#: takes tens of milliseconds; at most one per interval keeps the pointer fluid).
WAND_PREVIEW_MS = 60


class Canvas(QGraphicsView):
    cursor_moved = Signal(int, int)  # image pixel under the mouse (-1, -1 outside)
    zoom_changed = Signal(float)
    tool_changed = Signal(str)
    status_message = Signal(str)  # a short note for the status bar (the wand's preview share)
    accept_region_requested = Signal(int, int)  # image pixel clicked with the Accept region tool

    def __init__(self, editor: MaskEditor, parent=None, session: SessionModel | None = None):
        super().__init__(parent)
        self.editor = editor
        #: where the mask layer's visibility and opacity live (the canvas follows its events)
        self.session = session if session is not None else SessionModel(editor.project)
        self.session.layer_changed.connect(self._on_layer_changed)
        self.setScene(QGraphicsScene(self))
        self.setBackgroundBrush(QColor(40, 42, 46))
        # zooming keeps a chosen point still itself (see zoom_at): Qt's AnchorUnderMouse needs
        # every mouse move passed to the base class, and the tools consume them
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.MinimalViewportUpdate)
        self.setOptimizationFlag(QGraphicsView.OptimizationFlag.DontSavePainterState, True)
        self.setMouseTracking(True)
        # panning is middle-drag or Space+drag; scrollbars would only eat canvas space
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAcceptDrops(False)  # drops go to the main window

        self.image_item: RasterItem | None = None
        #: brightness/contrast/gamma of what is shown (never of the data: data.display_adjust)
        self.display_adjust = DisplayAdjust()
        self.mask_item: RasterItem | None = None
        self._overlays: dict[str, QGraphicsItem] = {}
        self.hidden_classes: frozenset[int] = frozenset()

        self.brush_outline = QGraphicsEllipseItem()
        pen = QPen(QColor(255, 255, 255), 0)
        pen.setCosmetic(True)
        self.brush_outline.setPen(pen)
        self.brush_outline.setZValue(1000)
        self.brush_outline.setVisible(False)
        self.scene().addItem(self.brush_outline)
        self._brush_inner = QGraphicsEllipseItem(self.brush_outline)
        inner = QPen(QColor(0, 0, 0), 0, Qt.PenStyle.DashLine)
        inner.setCosmetic(True)
        self._brush_inner.setPen(inner)
        #: what the magic wand would fill at the pointer (tinted in the active class's colour)
        self.wand_preview: RasterItem | None = None
        self._wand_request: tuple[float, float, int] | None = None
        self._wand_timer = QTimer(self, singleShot=True, interval=WAND_PREVIEW_MS)
        self._wand_timer.timeout.connect(self._show_wand_preview)
        self.polygon_preview = QGraphicsPathItem()
        ppen = QPen(QColor(255, 220, 0), 0)
        ppen.setCosmetic(True)
        self.polygon_preview.setPen(ppen)
        self.polygon_preview.setZValue(999)
        self.scene().addItem(self.polygon_preview)

        self.tools: dict[str, Tool] = make_tools()
        #: the click-to-segment tool's state and work (gui.click_segment), set by the main window
        self.click_segmenter = None
        self.tool: Tool = self.tools["brush"]
        self._panning: QPointF | None = None
        self._space_down = False
        self._buttons_down = False
        self._last_scene_pos: QPointF | None = None  # unknown until the mouse moves over the view
        self._fit_mode = True  # refit on resize until the user zooms by hand

        editor.mask_replaced.connect(self._on_mask_replaced)
        editor.region_changed.connect(self._on_region_changed)
        editor.brush_radius_changed.connect(lambda _: self._update_brush_outline())
        editor.project_changed.connect(self._on_project_changed)
        editor.image_loaded.connect(lambda _: self.tool.cuts_regions and self.editor.request_regions())

    def _on_project_changed(self, project) -> None:  # noqa: ANN001
        """Another project: its classes, and none of the old project's image until one of its own loads
        (an empty project showed the previous project's image and mask, issue 27 item 7)."""
        self.set_labelset(project.labelset)
        self.show_nothing()

    # -- layers ----------------------------------------------------------------------------
    def _on_mask_replaced(self) -> None:
        ed = self.editor
        if ed.image is None or ed.mask is None:
            return
        first = self.image_item is None or self.image_item.array.shape[:2] != ed.image.shape[:2]
        if self.image_item is not None:
            self.image_item.setVisible(True)
            assert self.mask_item is not None
            self.mask_item.setVisible(self.mask_visible)
        if self.image_item is None:
            self.image_item = RasterItem(self.display_adjust.apply(ed.image))
            self.image_item.setZValue(0)
            self.scene().addItem(self.image_item)
            self.mask_item = RasterItem(ed.mask, mask_color_table(ed.project.labelset, self.hidden_classes))
            self.mask_item.setZValue(10)
            self.mask_item.setOpacity(self.mask_opacity)
            self.mask_item.setVisible(self.mask_visible)
            self.scene().addItem(self.mask_item)
        else:
            self.image_item.set_array(self.display_adjust.apply(ed.image))
            assert self.mask_item is not None
            self.mask_item.set_array(ed.mask, mask_color_table(ed.project.labelset, self.hidden_classes))
        self._fit_scene_rect(self.zoom)
        if first or self._fit_mode:
            self.fit_to_window()

    def set_display_adjust(self, adjust: DisplayAdjust) -> None:
        """Show the image with other brightness/contrast/gamma (its pixels stay as they are)."""
        self.display_adjust = adjust
        if self.image_item is not None and self.editor.image is not None:
            self.image_item.set_array(adjust.apply(self.editor.image))

    def show_nothing(self) -> None:
        """No image left to show (the last one was removed)."""
        for item in (self.image_item, self.mask_item, *self._overlays.values()):
            if item is not None:
                item.setVisible(False)

    def _on_region_changed(self, box: tuple) -> None:
        if self.mask_item is not None:
            self.mask_item.update_region(box)

    def set_labelset(self, labelset: LabelSet) -> None:
        self.hidden_classes = frozenset(c for c in self.hidden_classes if any(k.id == c for k in labelset.classes))
        if self.mask_item is not None:
            self.mask_item.set_color_table(mask_color_table(labelset, self.hidden_classes))

    def set_hidden_classes(self, hidden: frozenset[int]) -> None:
        """Classes the mask layer leaves out (a colour-table change: no pixel is touched)."""
        self.hidden_classes = frozenset(hidden)
        if self.mask_item is not None:
            self.mask_item.set_color_table(mask_color_table(self.editor.project.labelset, self.hidden_classes))

    def add_overlay(self, name: str, item: QGraphicsItem, z: float) -> None:
        """Layers of later features (prediction, heatmap, confidence) stack over the image."""
        old = self._overlays.pop(name, None)
        if old is not None:
            self.scene().removeItem(old)
        item.setZValue(z)
        self._overlays[name] = item
        self.scene().addItem(item)

    def overlay(self, name: str) -> QGraphicsItem | None:
        return self._overlays.get(name)

    # -- mask display ----------------------------------------------------------------------
    @property
    def mask_opacity(self) -> float:
        return self.session.opacity(MASK)

    @property
    def mask_visible(self) -> bool:
        return self.session.visible(MASK)

    def _on_layer_changed(self, name: str, state: LayerState) -> None:
        if name == MASK and self.mask_item is not None:
            self.mask_item.setOpacity(state.opacity)
            self.mask_item.setVisible(state.visible)

    # -- view ------------------------------------------------------------------------------
    @property
    def zoom(self) -> float:
        return self.transform().m11()

    def set_zoom(self, zoom: float, anchor: QPointF | None = None) -> None:
        """Zoom to ``zoom``, keeping the scene point at viewport position ``anchor`` (default:
        the viewport's centre) where it is on screen."""
        zoom = min(max(zoom, MIN_ZOOM), MAX_ZOOM)
        if anchor is None:
            anchor = QPointF(self.viewport().rect().center())
        target = self.mapToScene(anchor.toPoint())
        factor = zoom / self.zoom
        self._fit_mode = False
        self._fit_scene_rect(zoom)
        self.scale(factor, factor)
        moved = self.mapFromScene(target) - anchor.toPoint()
        h, v = self.horizontalScrollBar(), self.verticalScrollBar()
        h.setValue(h.value() + round(moved.x()))
        v.setValue(v.value() + round(moved.y()))
        self.zoom_changed.emit(self.zoom)

    def _fit_scene_rect(self, zoom: float) -> None:
        """Room around the image of a viewport's size at ``zoom``, so a zoom can keep any image
        point where it is on screen and a pan can bring any image edge to the middle."""
        if self.image_item is None:
            return
        h, w = self.image_item.array.shape[:2]
        vp = self.viewport().size()
        mx = max(w * SCENE_MARGIN, vp.width() / max(zoom, 1e-6))
        my = max(h * SCENE_MARGIN, vp.height() / max(zoom, 1e-6))
        self.scene().setSceneRect(QRectF(-mx, -my, w + 2 * mx, h + 2 * my))

    def zoom_at(self, factor: float, anchor: QPointF) -> None:
        """Zoom by ``factor`` about the viewport position ``anchor`` (the wheel: the cursor)."""
        self.set_zoom(self.zoom * factor, anchor)

    def fit_to_window(self) -> None:
        if self.image_item is None:
            return
        rect = self.image_item.boundingRect()
        self.fitInView(rect, Qt.AspectRatioMode.KeepAspectRatio)
        self._fit_scene_rect(self.zoom)
        self.centerOn(rect.center())
        self._fit_mode = True
        self.zoom_changed.emit(self.zoom)

    def actual_size(self) -> None:
        self.set_zoom(1.0)

    def zoom_in(self) -> None:
        self.set_zoom(self.zoom * ZOOM_STEP)

    def zoom_out(self) -> None:
        self.set_zoom(self.zoom / ZOOM_STEP)

    # -- tools -----------------------------------------------------------------------------
    def set_tool(self, name: str) -> None:
        if self.tool.name == name:
            return
        self.tool.cancel(self)
        self.clear_wand_preview()
        self.tool = self.tools[name]
        self.viewport().setCursor(self.tool.cursor)
        self._update_brush_outline()
        if self.tool.cuts_regions:
            self.editor.request_regions()
        self.tool_changed.emit(name)

    # -- magic wand preview ------------------------------------------------------------------------
    def request_wand_preview(self, x: float, y: float, tolerance: int) -> None:
        """Show, a moment after the pointer rests, the region a wand click at (x, y) would fill."""
        self._wand_request = (x, y, int(tolerance))
        if not self._wand_timer.isActive():
            self._wand_timer.start()

    def _show_wand_preview(self) -> None:
        ed = self.editor
        if self._wand_request is None or ed.image is None or ed.mask is None or self.tool.name != "wand":
            return
        x, y, tolerance = self._wand_request
        found = colour_region(ed.image, int(x), int(y), tolerance)
        if found is None:
            self.clear_wand_preview()
            return
        region, rect = found
        inside = np.ascontiguousarray(region_inside(region, rect)).view(np.uint8)
        colour = self._active_colour()
        table = [QColor(0, 0, 0, 0).rgba(), QColor(*colour, 150).rgba()] + [0] * 254
        if self.wand_preview is None or self.wand_preview.scene() is None:
            self.wand_preview = RasterItem(inside, table)
            self.wand_preview.setZValue(900)
            self.scene().addItem(self.wand_preview)
        else:
            self.wand_preview.set_array(inside, table)
        self.wand_preview.setPos(rect[0], rect[1])
        self.wand_preview.setVisible(True)
        share = int(inside.sum()) / max(1, ed.mask.size)
        self.wand_preview_share = share
        self.status_message.emit(f"Magic wand: a click here fills {share:.0%} of the image at tolerance {tolerance}")

    def clear_wand_preview(self) -> None:
        self._wand_request = None
        self._wand_timer.stop()
        if self.wand_preview is not None:
            self.wand_preview.setVisible(False)

    def _active_colour(self) -> tuple[int, int, int]:
        try:
            return tuple(self.editor.project.labelset.by_id(self.editor.active_class).color)  # type: ignore[return-value]
        except KeyError:
            return (255, 255, 0)

    def show_polygon(self, points: list[tuple[float, float]]) -> None:
        path = QPainterPath()
        if points:
            path.moveTo(*points[0])
            for p in points[1:]:
                path.lineTo(*p)
        self.polygon_preview.setPath(path)

    def _update_brush_outline(self, pos: QPointF | None = None) -> None:
        pos = pos if pos is not None else self._last_scene_pos
        if pos is None:  # no mouse position yet: nothing to draw where the mouse is not
            self.brush_outline.setVisible(False)
            return
        r = self.editor.brush_radius
        show = self.tool.shows_brush and self.image_item is not None and self.underMouse() or (
            self.tool.shows_brush and self._buttons_down
        )
        self.brush_outline.setVisible(bool(show))
        rect = QRectF(pos.x() - r, pos.y() - r, 2 * r, 2 * r)
        self.brush_outline.setRect(rect)
        self._brush_inner.setRect(rect)

    # -- events ----------------------------------------------------------------------------
    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802
        steps = event.angleDelta().y() / 120.0
        if steps:
            self.zoom_at(ZOOM_STEP**steps, event.position())
        event.accept()

    def _scene_pos(self, event: QMouseEvent) -> QPointF:
        return self.mapToScene(event.position().toPoint())

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if event.button() == Qt.MouseButton.MiddleButton or (event.button() == Qt.MouseButton.LeftButton and self._space_down):
            self._panning = event.position()
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
            event.accept()
            return
        if event.button() == Qt.MouseButton.LeftButton and self.editor.mask is not None:
            self._buttons_down = True
            pos = self._scene_pos(event)
            self.tool.press(self, pos, event.modifiers())
            event.accept()
            return
        if (event.button() == Qt.MouseButton.RightButton and (self.tool.shows_brush or self.tool.takes_right_click)
                and self.editor.mask is not None):
            # right-drag erases with the brush or eraser, as in most paint programs (click-to-segment: a negative click)
            self._buttons_down = True
            self.tool.press(self, self._scene_pos(event), event.modifiers() | Qt.KeyboardModifier.ShiftModifier)
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._panning is not None:
            delta = event.position() - self._panning
            self._panning = event.position()
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - int(delta.x()))
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - int(delta.y()))
            event.accept()
            return
        pos = self._scene_pos(event)
        self._last_scene_pos = pos
        self._update_brush_outline(pos)
        if self.editor.mask is not None:
            self.tool.move(self, pos, self._buttons_down)
            inside = 0 <= pos.x() < self.editor.mask.shape[1] and 0 <= pos.y() < self.editor.mask.shape[0]
            self.cursor_moved.emit(int(pos.x()) if inside else -1, int(pos.y()) if inside else -1)
        event.accept()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._panning is not None and event.button() in (Qt.MouseButton.MiddleButton, Qt.MouseButton.LeftButton):
            self._panning = None
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor if self._space_down else self.tool.cursor)
            event.accept()
            return
        if event.button() in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton) and self._buttons_down:
            self._buttons_down = False
            self.tool.release(self, self._scene_pos(event))
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if event.button() == Qt.MouseButton.LeftButton:
            self.tool.double_click(self, self._scene_pos(event))
            event.accept()
            return
        super().mouseDoubleClickEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_down = True
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
            event.accept()
            return
        if self.tool.key(self, event.key()):
            event.accept()
            return
        super().keyPressEvent(event)

    def focusNextPrevChild(self, next: bool) -> bool:  # noqa: N802, A002
        """Tab belongs to a tool that asks for it (click to segment: SAM's next mask)."""
        if self.tool.takes_tab:
            return False
        return super().focusNextPrevChild(next)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_down = False
            self.viewport().setCursor(self.tool.cursor)
            event.accept()
            return
        super().keyReleaseEvent(event)

    def enterEvent(self, event) -> None:  # noqa: N802
        self._update_brush_outline()
        # keys (tools, classes, layers) act on what is under the mouse: a settings box typed in
        # a moment ago must not keep swallowing them (issue 18)
        focus = self.window().focusWidget() if self.window() is not None else None
        if self.isActiveWindow() and focus is not self and (focus is None or not _is_popup_open(focus)):
            self.setFocus(Qt.FocusReason.MouseFocusReason)
        super().enterEvent(event)

    def leaveEvent(self, event) -> None:  # noqa: N802
        self.brush_outline.setVisible(False)
        self.clear_wand_preview()
        self.cursor_moved.emit(-1, -1)
        super().leaveEvent(event)

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        if self._fit_mode:
            self.fit_to_window()

    def drawBackground(self, painter: QPainter, rect: QRectF) -> None:  # noqa: N802
        painter.fillRect(rect, self.backgroundBrush())
