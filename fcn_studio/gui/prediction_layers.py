"""Live model output over the image: segmentation, per-class heatmap, uncertainty.

A prediction arrives once (probabilities ``C x H x W`` for the image on screen); from then
on every display choice is instant and needs no inference: the heatmap class picks one
probability plane (quantised to 8 bits, shown through a colour-map table), opacity and
visibility are item properties. The colour bar is pyqtgraph's, next to the layer controls.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from fcn_studio.data.display_size import shrink_probs
from fcn_studio.data.labelset import LabelSet
from fcn_studio.data.outlines import class_outlines
from fcn_studio.gui.canvas import Canvas, mask_color_table
from fcn_studio.gui.outline_item import OutlineItem, outline_opacity
from fcn_studio.gui.raster_item import RasterItem
from fcn_studio.inference.prediction_types import entropy
from fcn_studio.session import PREDICTION_LAYERS, LayerState, SessionModel

HEATMAP_CMAP = "viridis"
UNCERTAINTY_CMAP = "inferno"


@lru_cache(maxsize=None)
def colormap_table(name: str, alpha: int = 255) -> list[int]:
    """256 ARGB entries of a pyqtgraph colour map (cached: every prediction reuses them)."""
    lut = pg.colormap.get(name).getLookupTable(0.0, 1.0, 256, alpha=False)
    return [QColor(int(r), int(g), int(b), alpha).rgba() for r, g, b in lut]


def quantize(plane: np.ndarray) -> np.ndarray:
    """Probabilities 0..1 to uint8 0..255 (C-contiguous, ready to share with a QImage)."""
    return np.ascontiguousarray(np.clip(plane.astype(np.float32) * 255.0 + 0.5, 0, 255).astype(np.uint8))


class PreparedPrediction:
    """A prediction with its display arrays computed where it arrived (a worker thread).

    The GUI thread then only swaps arrays: no argmax, entropy, float conversion or tracing on
    it. What is drawn is bounded by the screen, not the photo (issue 34: a 24 MP prediction
    froze the window): ``probs`` and the maps made from them are at most
    :data:`~fcn_studio.data.display_size.DISPLAY_MAX_PIXELS` big (area-averaged; the items
    stretch them over the image), the outlines are lines; only ``labels`` keep the image's
    size, because Accept turns them into the mask.
    """

    __slots__ = ("image_id", "step", "probs", "labels", "uncertainty", "heat", "outlines")

    def __init__(self, image_id: str, probs: np.ndarray, labels: np.ndarray | None = None, step: int | None = None):
        self.image_id, self.step = image_id, step
        self.labels = np.ascontiguousarray(labels if labels is not None else probs.argmax(axis=0).astype(np.uint8))
        #: the probabilities at display size (the image's own when it is small)
        self.probs = shrink_probs(probs)
        self.uncertainty = quantize(entropy(self.probs, normalized=True))  # 0 sure, 1 undecided
        #: every class's heatmap plane, quantised: switching the heatmap class is a lookup
        self.heat = quantize(self.probs)
        #: the segmentation's boundaries, class by class, as lines (data.outlines)
        self.outlines = class_outlines(self.labels)

    @property
    def size(self) -> tuple[int, int]:
        """(h, w) of the image the prediction is of."""
        return self.labels.shape[0], self.labels.shape[1]


class PredictionLayers(QObject):
    """Owns the prediction items of a canvas (filled or outlined segmentation, heatmap,
    uncertainty) and the latest prediction's display arrays."""

    changed = Signal()  # a new prediction is on screen

    LAYERS = PREDICTION_LAYERS

    def __init__(self, canvas: Canvas, labelset: LabelSet, parent: QObject | None = None, session: SessionModel | None = None):
        super().__init__(parent)
        self.canvas = canvas
        #: the layers' visibility and opacity (this object follows its events; no copy here)
        self.session = session if session is not None else canvas.session
        self.session.layer_changed.connect(self._on_layer_changed)
        self.labelset = labelset
        self.image_id: str | None = None
        self.step: int | None = None
        self.probs: np.ndarray | None = None
        self._heat: np.ndarray | None = None  # C x H x W uint8, from PreparedPrediction
        self.labels: np.ndarray | None = None
        self.heat_class = 0
        #: draw the segmentation as outlines (``set_outlines``) instead of filled regions
        self.outlines = False
        self._items: dict[str, RasterItem] = {}
        #: the segmentation as lines (shown instead of the filled "prediction" item)
        self.outline_item: OutlineItem | None = None

    # -- data --------------------------------------------------------------------------------
    def set_prediction(self, image_id: str, probs: np.ndarray, labels: np.ndarray | None = None, step: int | None = None) -> None:
        """Show a new prediction (``probs`` C x H x W); prefer :meth:`show_prepared` from a worker."""
        self.show_prepared(PreparedPrediction(image_id, probs, labels, step))

    def show_prepared(self, prepared: PreparedPrediction) -> None:
        """Swap in arrays computed off the GUI thread (no conversion on the GUI thread)."""
        self.image_id, self.step = prepared.image_id, prepared.step
        self.probs, self.labels, self._heat = prepared.probs, prepared.labels, prepared.heat
        if self.heat_class >= prepared.probs.shape[0]:
            self.heat_class = 0
        z = {"prediction": 5, "heatmap": 6, "uncertainty": 7}
        arrays = {
            "prediction": (self.labels, mask_color_table(self.labelset, self.canvas.hidden_classes)),
            "heatmap": (prepared.heat[self.heat_class], colormap_table(HEATMAP_CMAP)),
            "uncertainty": (prepared.uncertainty, colormap_table(UNCERTAINTY_CMAP)),
        }
        for name, (array, table) in arrays.items():
            item = self._items.get(name)
            if item is None or item.scene() is None:
                item = RasterItem(array, table)
                self._items[name] = item
                self.canvas.add_overlay(name, item, z[name])
            item.set_array(array, table, extent=prepared.size)
            item.setOpacity(self.session.opacity(name))
        if self.outline_item is None or self.outline_item.scene() is None:
            self.outline_item = OutlineItem()
            self.canvas.add_overlay("outlines", self.outline_item, z["prediction"])
        self.outline_item.set_outlines(prepared.outlines, prepared.size, self._class_colours())
        self._show_items()
        self.changed.emit()

    def _class_colours(self) -> dict[int, QColor]:
        table = mask_color_table(self.labelset, self.canvas.hidden_classes)
        return {i: QColor.fromRgba(rgba) for i, rgba in enumerate(table) if rgba >> 24}

    def _show_items(self) -> None:
        """Each item's visibility and opacity from the session (filled or outlined segmentation)."""
        shown = self.probs is not None
        for name, item in self._items.items():
            item.setVisible(shown and self.session.visible(name) and not (name == "prediction" and self.outlines))
            item.setOpacity(self.session.opacity(name))
        if self.outline_item is not None:
            self.outline_item.setVisible(shown and self.outlines and self.session.visible("prediction"))
            self.outline_item.setOpacity(outline_opacity(self.session.opacity("prediction")))

    def clear(self) -> None:
        """Nothing predicted for the image on screen (another image was opened)."""
        self.image_id = self.probs = self.labels = self._heat = None
        self._show_items()

    def set_labelset(self, labelset: LabelSet) -> None:
        self.labelset = labelset
        self.refresh_colours()

    def refresh_colours(self) -> None:
        """Class colours again (label set edited, or classes hidden on the canvas)."""
        if "prediction" in self._items:
            self._items["prediction"].set_color_table(mask_color_table(self.labelset, self.canvas.hidden_classes))
        if self.outline_item is not None:
            self.outline_item.set_colours(self._class_colours())

    # -- display choices (all instant) -----------------------------------------------------------
    def set_outlines(self, on: bool) -> None:
        """Draw the predicted segmentation as outlines (the image shows through) or filled."""
        self.outlines = bool(on)
        self._show_items()

    def set_heat_class(self, class_id: int) -> None:
        self.heat_class = int(class_id)
        if self.probs is not None and "heatmap" in self._items and class_id < self.probs.shape[0]:
            self._items["heatmap"].set_array(self._heat[class_id], extent=self.labels.shape)

    def set_opacity(self, name: str, opacity: float) -> None:
        """Write through the session (the panel's slider follows)."""
        self.session.set_opacity(name, opacity)

    def set_visible(self, name: str, visible: bool) -> None:
        """Write through the session (the panel's checkbox follows)."""
        self.session.set_visible(name, visible)

    def opacity(self, name: str) -> float:
        return self.session.opacity(name)

    def visible(self, name: str) -> bool:
        return self.session.visible(name)

    def _on_layer_changed(self, name: str, state: LayerState) -> None:
        if name in self.LAYERS:
            self._show_items()

    def item(self, name: str) -> RasterItem | None:
        return self._items.get(name)


class HeatmapLegend(QWidget):
    """Which class the heatmap shows, and a colour bar for its probabilities (pyqtgraph)."""

    class_changed = Signal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        row = QHBoxLayout()
        self.label = QLabel("Heatmap of")
        row.addWidget(self.label)
        self.combo = QComboBox()
        self.combo.setToolTip("The class whose probability the heatmap shows (changing it needs no new inference)")
        self.combo.currentIndexChanged.connect(lambda i: self.class_changed.emit(int(self.combo.itemData(i) or 0)))
        row.addWidget(self.combo, 1)
        layout.addLayout(row)
        self.plot = pg.GraphicsLayoutWidget()
        self.plot.setFixedHeight(70)
        self.plot.setBackground(None)
        self.bar = pg.ColorBarItem(
            values=(0, 1), colorMap=pg.colormap.get(HEATMAP_CMAP), interactive=False, orientation="horizontal", width=14
        )
        self.bar.getAxis("bottom").setLabel("probability")
        self.bar.getAxis("bottom").enableAutoSIPrefix(False)  # plain numbers, never "(x0.001)"
        self.plot.addItem(self.bar)
        layout.addWidget(self.plot)

    def set_labelset(self, labelset: LabelSet) -> None:
        current = self.combo.currentData()
        self.combo.blockSignals(True)
        self.combo.clear()
        for c in labelset.trainable_classes:
            self.combo.addItem(c.name, c.id)
        index = self.combo.findData(current)
        self.combo.setCurrentIndex(index if index >= 0 else 0)
        self.combo.blockSignals(False)

    def select(self, class_id: int) -> None:
        index = self.combo.findData(class_id)
        if index >= 0:
            self.combo.setCurrentIndex(index)
