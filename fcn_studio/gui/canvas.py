"""The canvas: the image, the mask and overlay layers, zoom and pan, and the active tool.

Rendering cost follows what changed: a brush move repaints only the box it touched
(see :class:`~fcn_studio.gui.raster_item.RasterItem`), and opacity is an item property, so
changing it never touches pixels.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QKeyEvent, QMouseEvent, QPainter, QPainterPath, QPen, QWheelEvent
from PySide6.QtWidgets import QGraphicsEllipseItem, QGraphicsItem, QGraphicsPathItem, QGraphicsScene, QGraphicsView

from fcn_studio.data.labelset import LabelSet
from fcn_studio.data.overlay import MASK_OPACITY, class_rgba
from fcn_studio.gui.editor import MaskEditor
from fcn_studio.gui.raster_item import RasterItem
from fcn_studio.gui.tools import Tool, make_tools

ZOOM_STEP = 1.2
MIN_ZOOM, MAX_ZOOM = 0.02, 64.0


def mask_color_table(labelset: LabelSet) -> list[int]:
    """Class colours opaque (the layer's opacity does the blending), everything else clear.

    Built from :func:`fcn_studio.data.overlay.class_rgba`, which ``predict --format overlay`` blends with.
    """
    return [QColor(int(r), int(g), int(b), int(a)).rgba() for r, g, b, a in class_rgba(labelset)]


class Canvas(QGraphicsView):
    cursor_moved = Signal(int, int)  # image pixel under the mouse (-1, -1 outside)
    zoom_changed = Signal(float)
    tool_changed = Signal(str)

    def __init__(self, editor: MaskEditor, parent=None):
        super().__init__(parent)
        self.editor = editor
        self.setScene(QGraphicsScene(self))
        self.setBackgroundBrush(QColor(40, 42, 46))
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
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
        self.mask_item: RasterItem | None = None
        self._overlays: dict[str, QGraphicsItem] = {}
        self._mask_opacity = MASK_OPACITY
        self._mask_visible = True

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
        self.polygon_preview = QGraphicsPathItem()
        ppen = QPen(QColor(255, 220, 0), 0)
        ppen.setCosmetic(True)
        self.polygon_preview.setPen(ppen)
        self.polygon_preview.setZValue(999)
        self.scene().addItem(self.polygon_preview)

        self.tools: dict[str, Tool] = make_tools()
        self.tool: Tool = self.tools["brush"]
        self._panning: QPointF | None = None
        self._space_down = False
        self._buttons_down = False
        self._last_scene_pos = QPointF(-1, -1)
        self._fit_mode = True  # refit on resize until the user zooms by hand

        editor.mask_replaced.connect(self._on_mask_replaced)
        editor.region_changed.connect(self._on_region_changed)
        editor.brush_radius_changed.connect(lambda _: self._update_brush_outline())
        editor.project_changed.connect(lambda project: self.set_labelset(project.labelset))

    # -- layers ----------------------------------------------------------------------------
    def _on_mask_replaced(self) -> None:
        ed = self.editor
        if ed.image is None or ed.mask is None:
            return
        first = self.image_item is None or self.image_item.array.shape[:2] != ed.image.shape[:2]
        if self.image_item is None:
            self.image_item = RasterItem(ed.image)
            self.image_item.setZValue(0)
            self.scene().addItem(self.image_item)
            self.mask_item = RasterItem(ed.mask, mask_color_table(ed.project.labelset))
            self.mask_item.setZValue(10)
            self.mask_item.setOpacity(self._mask_opacity)
            self.mask_item.setVisible(self._mask_visible)
            self.scene().addItem(self.mask_item)
        else:
            self.image_item.set_array(ed.image)
            assert self.mask_item is not None
            self.mask_item.set_array(ed.mask, mask_color_table(ed.project.labelset))
        h, w = ed.mask.shape
        self.scene().setSceneRect(QRectF(-w * 0.25, -h * 0.25, w * 1.5, h * 1.5))
        if first or self._fit_mode:
            self.fit_to_window()

    def _on_region_changed(self, box: tuple) -> None:
        if self.mask_item is not None:
            self.mask_item.update_region(box)

    def set_labelset(self, labelset: LabelSet) -> None:
        if self.mask_item is not None:
            self.mask_item.set_color_table(mask_color_table(labelset))

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
        return self._mask_opacity

    def set_mask_opacity(self, opacity: float) -> None:
        self._mask_opacity = float(opacity)
        if self.mask_item is not None:
            self.mask_item.setOpacity(self._mask_opacity)

    @property
    def mask_visible(self) -> bool:
        return self._mask_visible

    def set_mask_visible(self, visible: bool) -> None:
        self._mask_visible = bool(visible)
        if self.mask_item is not None:
            self.mask_item.setVisible(self._mask_visible)

    # -- view ------------------------------------------------------------------------------
    @property
    def zoom(self) -> float:
        return self.transform().m11()

    def set_zoom(self, zoom: float) -> None:
        zoom = min(max(zoom, MIN_ZOOM), MAX_ZOOM)
        factor = zoom / self.zoom
        self._fit_mode = False
        self.scale(factor, factor)
        self.zoom_changed.emit(self.zoom)

    def fit_to_window(self) -> None:
        if self.image_item is None:
            return
        self.fitInView(self.image_item.boundingRect(), Qt.AspectRatioMode.KeepAspectRatio)
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
        self.tool = self.tools[name]
        self.viewport().setCursor(self.tool.cursor)
        self._update_brush_outline()
        self.tool_changed.emit(name)

    def show_polygon(self, points: list[tuple[float, float]]) -> None:
        path = QPainterPath()
        if points:
            path.moveTo(*points[0])
            for p in points[1:]:
                path.lineTo(*p)
        self.polygon_preview.setPath(path)

    def _update_brush_outline(self, pos: QPointF | None = None) -> None:
        pos = pos if pos is not None else self._last_scene_pos
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
            self.set_zoom(self.zoom * (ZOOM_STEP**steps))
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
        if event.button() == Qt.MouseButton.LeftButton and self._buttons_down:
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

    def keyReleaseEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_down = False
            self.viewport().setCursor(self.tool.cursor)
            event.accept()
            return
        super().keyReleaseEvent(event)

    def enterEvent(self, event) -> None:  # noqa: N802
        self._update_brush_outline()
        super().enterEvent(event)

    def leaveEvent(self, event) -> None:  # noqa: N802
        self.brush_outline.setVisible(False)
        self.cursor_moved.emit(-1, -1)
        super().leaveEvent(event)

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        if self._fit_mode:
            self.fit_to_window()

    def drawBackground(self, painter: QPainter, rect: QRectF) -> None:  # noqa: N802
        painter.fillRect(rect, self.backgroundBrush())
