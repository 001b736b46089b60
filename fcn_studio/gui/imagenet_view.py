"""The classic FCN demonstration: an ImageNet classifier, convolutionalized, as heatmaps.

The classifier's pooling and fully connected layers become convolutions (EfficientNet-Lite0,
whose weights come installed: a 7x7 average pool and a 1x1 convolution), so an image larger
than 224x224 gives a grid of 1000-class scores (6x6 for 384x384). The dialog lists the image's top classes and
overlays the coarse map of the chosen one, upsampled bilinearly. The classifier runs in the
prediction process (:meth:`RemotePredictor.imagenet_heatmaps`): the window's process never
imports torch (in it, the first opening froze the window 9 times, issue 34 item 8); the dialog
asks from its own background thread and gets the top classes' grids back. Choosing another
class only re-upsamples a stored grid, to screen size (a photo's full size is not needed).
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QGraphicsScene,
    QGraphicsView,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSlider,
    QVBoxLayout,
)

from collections.abc import Callable
from typing import Any

from fcn_studio.data.display_size import display_shape
from fcn_studio.errors import WeightsUnavailableError
from fcn_studio.gui.background import Background
from fcn_studio.gui.prediction_layers import HEATMAP_CMAP, HeatmapLegend, colormap_table, quantize
from fcn_studio.gui.raster_item import RasterItem


def upsample(grid: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Bilinear upsampling of a small float grid to (h, w), as F.interpolate(align_corners=False)."""
    return np.asarray(Image.fromarray(grid.astype(np.float32), mode="F").resize((hw[1], hw[0]), Image.BILINEAR))


class ImageNetView(QDialog):
    computed = Signal()
    failed = Signal(str)

    def __init__(self, image: np.ndarray, compute: Callable[[np.ndarray, str | None], Any], weights: str | None = "imagenet",
                 parent=None):
        """``compute(image, weights)`` returns an :class:`~fcn_studio.inference.messages.ImageNetGrids`
        (the window passes its prediction process's ``imagenet_heatmaps``); it runs off the UI thread."""
        super().__init__(parent)
        self._compute = compute
        self.setWindowTitle("ImageNet heatmaps — EfficientNet-Lite0, convolutionalized")
        self.resize(1100, 640)
        self.image = np.ascontiguousarray(image)
        self.result = None
        self._bg = Background("fcn-imagenet", self)

        self.scene = QGraphicsScene(self)
        self.view = QGraphicsView(self.scene)
        self.view.setBackgroundBrush(Qt.GlobalColor.black)
        self.image_item = RasterItem(self.image)
        self.scene.addItem(self.image_item)
        self.heat_item: RasterItem | None = None
        self.top = QListWidget()
        self.top.setMinimumWidth(300)
        self.top.currentRowChanged.connect(self._choose)
        self.info = QLabel("Computing the class-score grid…")
        self.info.setWordWrap(True)
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(60)
        self.opacity.valueChanged.connect(lambda v: self.heat_item and self.heat_item.setOpacity(v / 100))
        self.legend = HeatmapLegend()
        self.legend.combo.setVisible(False)
        self.legend.label.setVisible(False)
        self.legend.bar.getAxis("bottom").setLabel("probability (%)")
        self.random_button = QPushButton("Use random weights (shows the mechanics only)")
        self.random_button.setVisible(False)
        self.random_button.clicked.connect(lambda: self.compute(None))
        side = QVBoxLayout()
        side.addWidget(QLabel("Top classes of this image"))
        side.addWidget(self.top, 1)
        side.addWidget(self.info)
        side.addWidget(QLabel("Heatmap opacity"))
        side.addWidget(self.opacity)
        side.addWidget(self.legend)
        side.addWidget(self.random_button)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        side.addWidget(buttons)
        layout = QHBoxLayout(self)
        layout.addWidget(self.view, 3)
        layout.addLayout(side, 1)
        self.compute(weights)

    def compute(self, weights: str | None) -> None:
        self.random_button.setVisible(False)
        self.info.setText("Computing the class-score grid…")
        image, compute = self.image, self._compute

        def run():
            return compute(image, weights), weights

        self._bg.submit(run, self._done, self._error)

    def _error(self, exc: BaseException) -> None:
        if isinstance(exc, WeightsUnavailableError):
            self.info.setText(f"{exc}")
            self.random_button.setVisible(True)
        else:
            self.info.setText(f"Could not compute the heatmaps: {exc}")
        self.failed.emit(str(exc))

    def _done(self, payload) -> None:
        result, weights = payload
        self.result = result
        gh, gw = result.grid_shape
        h, w = self.image.shape[:2]
        source = (
            "EfficientNet-Lite0's ImageNet weights (installed with the app)"
            if weights
            else "random weights: the map shows the mechanics, not meaning"
        )
        self.info.setText(
            f"Class-score grid: {gh}x{gw} for this {w}x{h} image: the classifier's global pool became "
            f"a 7x7 pool and its fully connected layer a 1x1 convolution, so it slides in 32-pixel "
            f"steps, each score pooled over a 224-pixel window; upsampled bilinearly. {source}."
        )
        self.top.clear()
        for row, (index, name, p) in enumerate(result.top_classes):
            item = QListWidgetItem(f"{name}   {p * 100:.1f}%")
            item.setData(Qt.ItemDataRole.UserRole, row)  # the class's grid in result.grids
            item.setToolTip(f"ImageNet class {index}")
            self.top.addItem(item)
        self.top.setCurrentRow(0)
        self.view.fitInView(self.image_item.boundingRect(), Qt.AspectRatioMode.KeepAspectRatio)
        self.computed.emit()

    def _choose(self, row: int) -> None:
        if self.result is None or row < 0:
            return
        grid = self.result.grids[self.top.item(row).data(Qt.ItemDataRole.UserRole)]
        h, w = self.image.shape[:2]
        heat = np.clip(upsample(grid, display_shape(h, w)), 0, 1)  # at screen size, stretched over the image
        peak = float(heat.max()) or 1.0
        array = quantize(heat / peak)  # stretched to the class's peak so weak classes still show
        if self.heat_item is None:
            self.heat_item = RasterItem(array, colormap_table(HEATMAP_CMAP))
            self.heat_item.setOpacity(self.opacity.value() / 100)
            self.scene.addItem(self.heat_item)
        self.heat_item.set_array(array, extent=(h, w))
        # percent, plainly: a weak class's peak of 0.004 read "probability (x0.001)" with ticks 1-4
        self.legend.bar.setLevels((0, peak * 100))

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        self.view.fitInView(self.image_item.boundingRect(), Qt.AspectRatioMode.KeepAspectRatio)

    def done(self, result: int) -> None:  # noqa: D401 - Qt's name
        self._bg.shutdown()
        super().done(result)
