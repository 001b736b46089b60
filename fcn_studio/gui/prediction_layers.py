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

from fcn_studio.data.labelset import LabelSet
from fcn_studio.gui.canvas import Canvas, mask_color_table
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


def outline_labels(labels: np.ndarray, width: int = 1) -> np.ndarray:
    """``labels`` kept only where a pixel has a neighbour of another class (255 elsewhere).

    A 3x3 max and min filter differ exactly at boundaries (OpenCV: a few ms for 12 megapixels).
    """
    import cv2

    kernel = np.ones((2 * width + 1, 2 * width + 1), np.uint8)
    edge = cv2.dilate(labels, kernel) != cv2.erode(labels, kernel)
    return np.ascontiguousarray(np.where(edge, labels, np.uint8(255)).astype(np.uint8))


class PreparedPrediction:
    """A prediction with its display arrays computed where it arrived (the training thread).

    The GUI thread then only swaps arrays: no argmax, entropy or float conversion on it.
    """

    __slots__ = ("image_id", "step", "probs", "labels", "uncertainty", "heat", "outlines")

    def __init__(self, image_id: str, probs: np.ndarray, labels: np.ndarray | None = None, step: int | None = None):
        self.image_id, self.step, self.probs = image_id, step, probs
        self.labels = np.ascontiguousarray(labels if labels is not None else probs.argmax(axis=0).astype(np.uint8))
        self.uncertainty = quantize(entropy(probs, normalized=True))  # 0 sure, 1 undecided
        #: every class's heatmap plane, quantised: switching the heatmap class is a lookup
        self.heat = quantize(probs)
        #: the segmentation's outlines: class ids on boundary pixels, 255 (clear) inside regions
        self.outlines = outline_labels(self.labels)


class PredictionLayers(QObject):
    """Owns the three prediction items of a canvas and the latest prediction's arrays."""

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
        self._outlines: np.ndarray | None = None
        self._items: dict[str, RasterItem] = {}

    # -- data --------------------------------------------------------------------------------
    def set_prediction(self, image_id: str, probs: np.ndarray, labels: np.ndarray | None = None, step: int | None = None) -> None:
        """Show a new prediction (``probs`` C x H x W); prefer :meth:`show_prepared` from a worker."""
        self.show_prepared(PreparedPrediction(image_id, probs, labels, step))

    def show_prepared(self, prepared: PreparedPrediction) -> None:
        """Swap in arrays computed off the GUI thread (no conversion on the GUI thread)."""
        self.image_id, self.step = prepared.image_id, prepared.step
        self.probs, self.labels, self._heat = prepared.probs, prepared.labels, prepared.heat
        self._outlines = prepared.outlines
        if self.heat_class >= prepared.probs.shape[0]:
            self.heat_class = 0
        z = {"prediction": 5, "heatmap": 6, "uncertainty": 7}
        arrays = {
            "prediction": (self._outlines if self.outlines else self.labels,
                           mask_color_table(self.labelset, self.canvas.hidden_classes)),
            "heatmap": (prepared.heat[self.heat_class], colormap_table(HEATMAP_CMAP)),
            "uncertainty": (prepared.uncertainty, colormap_table(UNCERTAINTY_CMAP)),
        }
        for name, (array, table) in arrays.items():
            item = self._items.get(name)
            if item is None or item.scene() is None:
                item = RasterItem(array, table)
                self._items[name] = item
                self.canvas.add_overlay(name, item, z[name])
            else:
                item.set_array(array, table)
            item.setOpacity(self.session.opacity(name))
            item.setVisible(self.session.visible(name))
        self.changed.emit()

    def clear(self) -> None:
        """Nothing predicted for the image on screen (another image was opened)."""
        self.image_id = self.probs = self.labels = self._heat = self._outlines = None
        for item in self._items.values():
            item.setVisible(False)

    def set_labelset(self, labelset: LabelSet) -> None:
        self.labelset = labelset
        self.refresh_colours()

    def refresh_colours(self) -> None:
        """Class colours again (label set edited, or classes hidden on the canvas)."""
        if "prediction" in self._items:
            self._items["prediction"].set_color_table(mask_color_table(self.labelset, self.canvas.hidden_classes))

    # -- display choices (all instant) -----------------------------------------------------------
    def set_outlines(self, on: bool) -> None:
        """Draw the predicted segmentation as outlines (the image shows through) or filled."""
        self.outlines = bool(on)
        item = self._items.get("prediction")
        if item is not None and self.labels is not None:
            item.set_array(self._outlines if self.outlines else self.labels)

    def set_heat_class(self, class_id: int) -> None:
        self.heat_class = int(class_id)
        if self.probs is not None and "heatmap" in self._items and class_id < self.probs.shape[0]:
            self._items["heatmap"].set_array(self._heat[class_id])

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
        item = self._items.get(name)
        if name not in self.LAYERS or item is None:
            return
        item.setOpacity(state.opacity)
        if self.probs is not None:
            item.setVisible(state.visible)

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
