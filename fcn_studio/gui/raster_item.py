"""A scene item that draws a numpy array through a QImage that shares its memory.

No copy of the array is made: the QImage wraps the array's buffer, so painting into the
mask array and calling :meth:`RasterItem.update_region` is all a stroke costs. Qt's raster
engine samples only the destination pixels, so even an 8000x8000 layer redraws in a few
milliseconds at any zoom.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF
from PySide6.QtGui import QColor, QImage, QPainter, QTransform
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget


def qimage_from_array(array: np.ndarray, color_table: list[int] | None = None) -> QImage:
    """Wrap (not copy) a C-contiguous uint8 array: HxW indexed, HxWx3 RGB or HxWx4 RGBA."""
    if not array.flags.c_contiguous:
        raise ValueError("array must be C-contiguous to be shared with Qt")
    h, w = array.shape[:2]
    if array.ndim == 2:
        image = QImage(array.data, w, h, array.strides[0], QImage.Format.Format_Indexed8)
        image.setColorTable(color_table or [QColor(v, v, v).rgb() for v in range(256)])
    elif array.shape[2] == 3:
        image = QImage(array.data, w, h, array.strides[0], QImage.Format.Format_RGB888)
    elif array.shape[2] == 4:
        image = QImage(array.data, w, h, array.strides[0], QImage.Format.Format_RGBA8888)
    else:
        raise ValueError(f"unsupported array shape {array.shape}")
    return image


class RasterItem(QGraphicsItem):
    """Draws an array at 1 scene unit per pixel; keeps the array alive as long as the item."""

    def __init__(self, array: np.ndarray, color_table: list[int] | None = None, parent: QGraphicsItem | None = None):
        super().__init__(parent)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption, True)
        self.smooth = array.ndim == 3
        self.set_array(array, color_table)

    def set_array(self, array: np.ndarray, color_table: list[int] | None = None, extent: tuple[int, int] | None = None) -> None:
        """Show ``array``; without ``color_table`` an indexed array keeps the item's colours.

        ``extent``: the (h, w) in scene units (image pixels) the array covers when it is a
        smaller copy (a probability map at screen size, :mod:`fcn_studio.data.display_size`);
        it is stretched over them. None: one scene unit per array pixel.

        (A new QImage starts grey: the heatmap drew in grey under its colour bar whenever the
        class was switched, until the next prediction brought a table again.)
        """
        if getattr(self, "_array", None) is None or self._array.shape[:2] != array.shape[:2]:
            self.prepareGeometryChange()
        if color_table is not None:
            self._color_table = list(color_table)
        self._array = array
        self._image = qimage_from_array(array, getattr(self, "_color_table", None))
        h, w = array.shape[:2]
        eh, ew = extent if extent is not None else (h, w)
        self.setTransform(QTransform.fromScale(ew / w, eh / h) if (eh, ew) != (h, w) else QTransform())
        self.update()

    @property
    def color_table(self) -> list[int] | None:
        """The colours an indexed array is drawn with (None: grey levels)."""
        return getattr(self, "_color_table", None)

    @property
    def array(self) -> np.ndarray:
        return self._array

    def set_color_table(self, color_table: list[int]) -> None:
        self._color_table = list(color_table)
        self._image.setColorTable(color_table)
        self.update()

    def update_region(self, box: tuple[int, int, int, int]) -> None:
        """Repaint only (y0, x0, y1, x1) after the array changed there."""
        y0, x0, y1, x1 = box
        self.update(QRectF(x0, y0, x1 - x0, y1 - y0))

    def boundingRect(self) -> QRectF:  # noqa: N802 (Qt API)
        h, w = self._array.shape[:2]
        return QRectF(0, 0, w, h)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        exposed = option.exposedRect.intersected(self.boundingRect())
        if exposed.isEmpty():
            return
        exposed = exposed.toAlignedRect()
        scale = painter.worldTransform().m11()
        # an image shrinks smoothly; a probability map stretched from screen size is a smooth field
        smooth = (self.smooth and scale < 1.0) or (not self.transform().isIdentity() and scale > 1.0)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, smooth)
        painter.drawImage(QRectF(exposed), self._image, QRectF(exposed))
