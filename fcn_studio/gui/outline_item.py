"""The prediction drawn as class outlines: lines of a fixed screen width at every zoom.

A one-pixel raster of the boundaries (the first version) was 1 image pixel wide: fitted in the
window a large photo showed a fifth of it, at the layer's 45 % opacity (issue 34 item 6). Here
each class's boundary is one path (:mod:`fcn_studio.data.outlines`, traced off the GUI thread)
stroked :data:`OUTLINE_WIDTH_PX` screen pixels wide (cosmetic, so at every zoom), and the layer's
opacity is raised for lines (:func:`outline_opacity`). The item caches what it drew in device
coordinates, so a brush stroke under it does not stroke the paths again.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import QRectF
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen, QTransform
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from fcn_studio.data.outlines import ClassOutline

#: Screen pixels of an outline, whatever the zoom.
OUTLINE_WIDTH_PX = 2.0


def outline_opacity(layer_opacity: float) -> float:
    """The opacity lines are drawn with at a layer opacity chosen for filled regions.

    Thin lines need more: the default 0.45 becomes 0.83; 0 stays invisible and 1 stays 1.
    """
    o = min(max(float(layer_opacity), 0.0), 1.0)
    return 1.0 - (1.0 - o) ** 3


class OutlineItem(QGraphicsItem):
    """Class boundaries over an image of ``size`` (h, w), one coloured path per class."""

    def __init__(self, parent: QGraphicsItem | None = None):
        super().__init__(parent)
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self._size = (0, 0)
        self._outlines: list[ClassOutline] = []
        self._paths_built: list[tuple[int, QPainterPath]] | None = []
        self._colours: dict[int, QColor] = {}

    def set_outlines(self, outlines: list[ClassOutline], size: tuple[int, int], colours: dict[int, QColor]) -> None:
        """Show ``outlines`` of an image of ``size``; ``colours``: class id -> colour (absent: not drawn).

        The paths are made when first drawn: with outlines off (the default) a new prediction
        costs the GUI thread nothing here."""
        self.prepareGeometryChange()
        self._size = (int(size[0]), int(size[1]))
        self._outlines, self._paths_built = list(outlines), None
        self._colours = dict(colours)
        self.update()

    @property
    def _paths(self) -> list[tuple[int, QPainterPath]]:
        if self._paths_built is None:
            self._paths_built = [(o.class_id, pg.arrayToQPath(o.x, o.y, connect=o.connect, finiteCheck=False))
                                 for o in self._outlines]
        return self._paths_built

    def set_colours(self, colours: dict[int, QColor]) -> None:
        """Other class colours, or hidden classes left out (no tracing again)."""
        self._colours = dict(colours)
        self.update()

    def pen(self, class_id: int) -> QPen | None:
        """The pen a class's boundary is drawn with (None: the class is not drawn): one device
        pixel, cosmetic, which Qt strokes on its fast path; :meth:`paint` draws it
        :data:`OUTLINE_WIDTH_PX` times, each one device pixel further along the diagonal.
        (A pen two pixels wide leaves that path: 3.7 s for a noisy 6000x4000 prediction.)"""
        colour = self._colours.get(class_id)
        if colour is None or colour.alpha() == 0:
            return None
        pen = QPen(QColor(colour.red(), colour.green(), colour.blue()), 0)
        pen.setCosmetic(True)
        return pen

    def class_ids(self) -> list[int]:
        return [o.class_id for o in self._outlines]

    def boundingRect(self) -> QRectF:  # noqa: N802 (Qt API)
        h, w = self._size
        return QRectF(0, 0, w, h)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        painter.setClipRect(self.boundingRect())
        base = painter.transform()
        for step in range(int(OUTLINE_WIDTH_PX)):
            painter.setTransform(base * QTransform.fromTranslate(step, step))
            for class_id, path in self._paths:
                pen = self.pen(class_id)
                if pen is not None:
                    painter.setPen(pen)
                    painter.drawPath(path)
        painter.setTransform(base)
