"""The training dock: one Fine-tune button, good defaults, progress, live curves, Stop.

The panel only collects choices and shows reports; it emits requests and the training
coordinator acts on them. Curves are pyqtgraph items created once and fed with ``setData``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QMenu,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from fcn_studio.gui.focus import click_to_focus
from fcn_studio.gui.theme import icon
from fcn_studio.models.packaged_weights import PACKAGED_IMAGENET, packaged_imagenet_path
from fcn_studio.models.registry import NO_WEIGHTS
from fcn_studio.training.choices import CHECKPOINT, DEFAULT_EPOCHS, IMAGENET, TrainingChoices, default_start
from fcn_studio.session import SessionModel
from fcn_studio.training.presets import DEFAULT_MINUTES

#: The "Learn from" choices: (text, TrainConfig.unlabelled, tooltip).
UNLABELLED_CHOICES = (
    ("Painted + unpainted (auto)", "auto", "Unpainted images and pixels join in when the masks are scribbles, most of the project is unpainted and the run lasts 3 minutes or more"),
    ("Painted + unpainted", "on", "Always learn from the unpainted pixels and images too"),
    ("Painted pixels only", "off", "Train on the strokes alone"),
)

#: Pixels for the plots' left axes, the same for both so their x axes line up.
AXIS_WIDTH = 52
#: What the mIoU curve is measured on, by ``EpochReport.on``.
MIOU_TITLES = {"validation": "mIoU on held-out images", "training": "mIoU on the painted pixels (nothing held out)"}

#: The defaults live in one place, TrainingChoices (reading TrainConfig, as the CLI does).
DEFAULT_BACKBONE = TrainingChoices.backbone
DEFAULT_VARIANT = TrainingChoices.variant


def torch_hub_checkpoints() -> Path:
    """torch.hub's cache folder, found the way torch finds it but without importing torch."""
    home = os.environ.get("TORCH_HOME")
    if home:
        return Path(home) / "hub" / "checkpoints"
    cache = os.environ.get("XDG_CACHE_HOME", str(Path.home() / ".cache"))
    return Path(cache) / "torch" / "hub" / "checkpoints"


def imagenet_on_disk(backbone: str) -> bool:
    """Whether ``backbone``'s ImageNet file is installed (a pip package) or in torchvision's cache (no torch import)."""
    if backbone in PACKAGED_IMAGENET:
        return packaged_imagenet_path(backbone) is not None
    folder = torch_hub_checkpoints()
    return folder.is_dir() and any(folder.glob(f"{backbone}-*.pth"))


def format_eta(seconds: float | None) -> str:
    if seconds is None or not np.isfinite(seconds):
        return ""
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d} left" if seconds >= 60 else f"{seconds} s left"


class TrainingPanel(QWidget):
    fine_tune_requested = Signal()
    update_requested = Signal()
    live_toggled = Signal(bool)
    stop_requested = Signal()
    accept_requested = Signal(bool)  # True: only unpainted pixels
    predict_all_requested = Signal()
    paint_next_requested = Signal()
    sort_by_uncertainty = Signal(bool)
    imagenet_view_requested = Signal()
    load_checkpoint_requested = Signal()
    save_checkpoint_requested = Signal()

    def __init__(self, session: SessionModel | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        #: holds the choices; the widgets write through it and follow its ``choices_changed``
        self.session = session if session is not None else SessionModel()
        self._showing = self._writing = False
        outer = QVBoxLayout(self)
        outer.setContentsMargins(6, 6, 6, 6)

        buttons = QGridLayout()
        self.fine_tune = QPushButton(icon("train"), "Fine-tune")
        self.fine_tune.setObjectName("primary")
        self.fine_tune.setToolTip("Train on what is painted, watching the heatmaps refresh (Ctrl+T)")
        self.fine_tune.setShortcut("Ctrl+T")
        self.fine_tune.clicked.connect(self.fine_tune_requested)
        self.update_button = QPushButton("Update")
        self.update_button.setToolTip("Train the heads briefly on what is painted, predict this image, stop (Ctrl+U)")
        self.update_button.setShortcut("Ctrl+U")
        self.update_button.clicked.connect(self.update_requested)
        self.live = QPushButton("Live")
        self.live.setCheckable(True)
        self.live.setToolTip("Keep refining while you paint; new strokes join the next epoch")
        self.live.toggled.connect(self.live_toggled)
        self.stop = QPushButton(icon("stop"), "Stop")
        self.stop.setEnabled(False)
        self.stop.clicked.connect(self.stop_requested)
        buttons.addWidget(self.fine_tune, 0, 0, 1, 2)
        buttons.addWidget(self.stop, 0, 2)
        buttons.addWidget(self.update_button, 1, 0)
        buttons.addWidget(self.live, 1, 1)
        outer.addLayout(buttons)

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.backbone = QComboBox()
        self.variant = QComboBox()
        self._fill_models()
        self.length_kind = QComboBox()
        self.length_kind.addItems(["minutes", "epochs"])
        self.length_kind.setToolTip("A time budget ends when you expect it; epochs scale with the number of painted images")
        self.epochs = QSpinBox()
        self.epochs.setRange(1, 1000)
        self.epochs.setValue(DEFAULT_EPOCHS)
        self.epochs.setVisible(False)
        self.minutes = QDoubleSpinBox()
        self.minutes.setRange(0.1, 600)
        self.minutes.setSingleStep(0.5)
        self.minutes.setValue(DEFAULT_MINUTES)
        self.length_kind.currentTextChanged.connect(self._length_kind_changed)
        length_row = QHBoxLayout()
        length_row.addWidget(self.epochs, 1)
        length_row.addWidget(self.minutes, 1)
        length_row.addWidget(self.length_kind)
        self.weights = QComboBox()
        self.weights.setToolTip("Where the network starts: ImageNet features learn fastest")
        self.backbone.currentIndexChanged.connect(self._refresh_weights)
        self._refresh_weights()
        form.addRow("Backbone", self.backbone)
        form.addRow("Variant", self.variant)
        form.addRow("Length", length_row)
        form.addRow("Start from", self.weights)
        self.unlabelled = QComboBox()
        for text, value, tip in UNLABELLED_CHOICES:
            self.unlabelled.addItem(text, value)
            self.unlabelled.setItemData(self.unlabelled.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
        self.unlabelled.setToolTip(
            "Images nobody painted teach too: a teacher model's confident guesses on them train the network "
            "(they never become masks unless you accept a prediction)"
        )
        form.addRow("Learn from", self.unlabelled)
        outer.addLayout(form)
        # digits pick classes unless Length was clicked into (issue 27 item 4)
        click_to_focus(self.backbone, self.variant, self.length_kind, self.epochs, self.minutes, self.weights,
                       self.unlabelled)

        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setValue(0)
        self.progress.setFormat("idle")
        self.status = QLabel("Paint a few strokes, then press Fine-tune.")
        self.status.setWordWrap(True)
        outer.addWidget(self.progress)
        outer.addWidget(self.status)

        pg.setConfigOptions(antialias=True)
        self.loss_plot = pg.PlotWidget()
        self.loss_plot.setBackground(None)
        self.loss_plot.setMinimumHeight(70)
        # names as titles, not rotated axis labels: a low dock cut those ("train mIo"); the two
        # plots share one x axis, named once under the lower one
        self.loss_plot.setTitle("training loss", size="8pt")
        self.loss_plot.showGrid(x=True, y=True, alpha=0.2)
        self.loss_curve = self.loss_plot.plot(pen=pg.mkPen("#88c0d0", width=1.5))
        self.miou_plot = pg.PlotWidget()
        self.miou_plot.setBackground(None)
        self.miou_plot.setMinimumHeight(70)
        self.miou_plot.setTitle(MIOU_TITLES["validation"], size="8pt")
        self.miou_plot.setLabel("bottom", "step")
        self.miou_plot.setYRange(0, 1, padding=0.05)
        self.miou_plot.enableAutoRange(axis="y", enable=False)  # always 0..1: comparable between runs
        self.miou_plot.getAxis("left").setTicks([[(0.0, "0"), (0.5, "0.5"), (1.0, "1")]])  # legible in a low dock
        self.miou_plot.showGrid(x=True, y=True, alpha=0.2)
        self.miou_curve = self.miou_plot.plot(pen=pg.mkPen("#a3be8c", width=2), symbol="o", symbolSize=5, symbolBrush="#a3be8c")
        # one x axis for both curves, and room for either axis label ("train mIoU" was cut)
        self.miou_plot.setXLink(self.loss_plot)
        for plot in (self.loss_plot, self.miou_plot):
            plot.getAxis("left").setWidth(AXIS_WIDTH)

        review = QGridLayout()
        self.accept = QToolButton()
        self.accept.setText("Accept prediction")
        self.accept.setToolTip("Turn the prediction into the mask as one undoable step (Ctrl+Return); the arrow offers 'only where not painted'")
        self.accept.setPopupMode(QToolButton.ToolButtonPopupMode.MenuButtonPopup)
        self.accept.clicked.connect(lambda: self.accept_requested.emit(False))
        self.accept.setShortcut("Ctrl+Return")
        menu = QMenu(self.accept)
        menu.addAction("Everywhere", lambda: self.accept_requested.emit(False))
        menu.addAction("Only where not painted", lambda: self.accept_requested.emit(True))
        self.accept.setMenu(menu)
        self.accept.setEnabled(False)
        self.predict_all = QPushButton("Predict all")
        self.predict_all.setToolTip("Predict every image in the background and mark them predicted")
        self.predict_all.clicked.connect(self.predict_all_requested)
        self.predict_all.setEnabled(False)
        self.sort_uncertain = QPushButton("Worst first")
        self.sort_uncertain.setCheckable(True)
        self.sort_uncertain.setToolTip(
            "Sort the image list by how unsure the model is, most unsure first, and show each score: the mean "
            "per-pixel uncertainty (normalised entropy) of the image's last prediction, 0 sure to 1 undecided. "
            "Paint the top ones next. Predict all scores every image; unscored images go last."
        )
        self.sort_uncertain.toggled.connect(self.sort_by_uncertainty)
        from fcn_studio.inference.paint_next import REASON

        self.paint_next = QPushButton(icon("paint_next"), "Paint next")
        self.paint_next.setShortcut("N")
        self.paint_next.setToolTip(
            f"Open the image the model most wants painted (N), with the uncertainty layer showing where: {REASON}. "
            "Every image is scored with the current model first when the scores are older than it."
        )
        self.paint_next.clicked.connect(self.paint_next_requested)
        self.paint_next.setEnabled(False)
        # the model's files and the ImageNet demonstration are used now and then: one menu button
        # (three more button rows pushed the panel below a laptop screen's edge, issue 34)
        self.model_menu = QMenu(self)
        self.load_ckpt = self.model_menu.addAction("Load model…", self.load_checkpoint_requested.emit)
        self.load_ckpt.setToolTip("Use a model trained elsewhere (a .fcnckpt file) for this project")
        self.save_ckpt = self.model_menu.addAction("Save model…", self.save_checkpoint_requested.emit)
        self.save_ckpt.setToolTip("Copy this project's model to a file")
        self.save_ckpt.setEnabled(False)
        self.model_menu.addSeparator()
        self.imagenet = self.model_menu.addAction("ImageNet heatmaps…", self.imagenet_view_requested.emit)
        self.imagenet.setToolTip("The classic demonstration: a classifier turned fully convolutional, as coarse heatmaps")
        self.model_button = QToolButton()
        self.model_button.setText("Model")
        self.model_button.setToolTip("Load or save the model; the ImageNet heatmaps demonstration")
        self.model_button.setMenu(self.model_menu)
        self.model_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        for i, w in enumerate([self.paint_next, self.accept, self.predict_all, self.sort_uncertain, self.model_button]):
            review.addWidget(w, i // 2, i % 2)
        for w in (self.accept, self.model_button):
            w.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
            w.setSizePolicy(self.predict_all.sizePolicy())
        outer.addLayout(review)
        # the curves last: on a low screen they give up room first, the buttons stay in view
        outer.addWidget(self.loss_plot, 1)
        outer.addWidget(self.miou_plot, 1)

        self._steps: list[int] = []
        self._losses: list[float] = []
        self._val_steps: list[int] = []
        self._mious: list[float] = []

        for box in (self.backbone, self.variant, self.length_kind, self.weights, self.unlabelled):
            box.currentIndexChanged.connect(self._write_choices)
        for spin in (self.minutes, self.epochs):
            spin.valueChanged.connect(self._write_choices)
        self.session.choices_changed.connect(self._follow_choices)
        self._write_choices()

    # -- choices --------------------------------------------------------------------------------
    def _fill_models(self) -> None:
        from fcn_studio.models.registry import list_models

        infos = list_models()
        backbones: list[str] = []
        for info in infos:
            if info.backbone not in backbones:
                backbones.append(info.backbone)
        for b in backbones:
            some = next(i for i in infos if i.backbone == b)
            self.backbone.addItem(b, b)
            self.backbone.setItemData(self.backbone.count() - 1, some.description, Qt.ItemDataRole.ToolTipRole)
        self._infos = infos
        self.backbone.currentIndexChanged.connect(self._fill_variants)
        self.backbone.setCurrentIndex(max(0, self.backbone.findData(DEFAULT_BACKBONE)))
        self._fill_variants()

    def _fill_variants(self) -> None:
        current = self.variant.currentData() or DEFAULT_VARIANT
        self.variant.clear()
        for info in self._infos:
            if info.backbone == self.backbone.currentData():
                label = f"{info.variant}  ({info.num_params(5) / 1e6:.1f} M params, stride {info.output_stride})"
                self.variant.addItem(label, info.variant)
        index = self.variant.findData(current)
        self.variant.setCurrentIndex(index if index >= 0 else 0)

    def _refresh_weights(self) -> None:
        current = self.weights.currentData()
        self.weights.clear()
        cached = imagenet_on_disk(self.backbone.currentData() or "")
        installed = (self.backbone.currentData() or "") in PACKAGED_IMAGENET
        on_disk = "ImageNet (installed)" if installed else "ImageNet (on disk)"
        self.weights.addItem(on_disk if cached else "ImageNet (needs a download)", IMAGENET)
        self.weights.addItem("Last checkpoint", CHECKPOINT)
        self.weights.addItem("Random init", NO_WEIGHTS)
        default = current or default_start(cached)
        self.weights.setCurrentIndex(max(0, self.weights.findData(default)))

    def _length_kind_changed(self, kind: str) -> None:
        self.epochs.setVisible(kind == "epochs")
        self.minutes.setVisible(kind == "minutes")

    def choices(self) -> TrainingChoices:
        """What the user chose, as one value (:func:`~fcn_studio.training.choices.config_from_choices`
        turns it into a TrainConfig; its ``to_json`` is what the project keeps)."""
        return self.session.choices.replace(  # choices shown elsewhere (snap to edges) are kept
            backbone=self.backbone.currentData(),
            variant=self.variant.currentData(),
            length=self.length_kind.currentText(),
            minutes=self.minutes.value(),
            epochs=self.epochs.value(),
            weights=self.weights.currentData(),
            unlabelled=self.unlabelled.currentData(),
        )

    def settings(self) -> dict:
        """The panel's state as JSON values, kept in the project so a reopened one trains on."""
        return self.choices().to_json()

    def apply_settings(self, saved: dict | None, *, has_checkpoint: bool) -> None:
        """Show what a project was last trained with (the rules: :meth:`TrainingChoices.from_json`)."""
        cached = imagenet_on_disk(self.backbone.currentData() or "")
        self.session.set_choices(TrainingChoices.from_json(
            saved, has_checkpoint=has_checkpoint, imagenet_cached=cached, base=self.session.choices
        ))

    def _write_choices(self, *_: object) -> None:
        if self._showing or self._writing:  # mid-way through show_choices the widgets disagree
            return
        self._writing = True  # our own write: no need to show it back
        try:
            self.session.set_choices(self.choices())
        finally:
            self._writing = False

    def _follow_choices(self, choices: TrainingChoices) -> None:
        if not (self._showing or self._writing):
            self.show_choices(choices)

    def show_choices(self, choices: TrainingChoices) -> None:
        """Set the widgets to ``choices``; a backbone or variant the list lacks keeps the current one
        (and the session is told what the widgets then show)."""
        self._showing = True
        try:
            self._show_choices(choices)
        finally:
            self._showing = False
        self._write_choices()

    def _show_choices(self, choices: TrainingChoices) -> None:

        def pick(box: QComboBox, value) -> None:
            index = box.findData(value) if value is not None else -1
            if index >= 0:
                box.setCurrentIndex(index)

        pick(self.backbone, choices.backbone)
        pick(self.variant, choices.variant)
        self.length_kind.setCurrentText(choices.length)
        self.minutes.setValue(choices.minutes)
        self.epochs.setValue(choices.epochs)
        pick(self.unlabelled, choices.unlabelled)
        pick(self.weights, choices.weights)

    # -- reports --------------------------------------------------------------------------------
    def set_running(self, running: bool, mode: str = "") -> None:
        settings = (self.backbone, self.variant, self.weights, self.unlabelled, self.minutes, self.epochs, self.length_kind)
        for w in (self.fine_tune, self.update_button, self.load_ckpt, *settings):
            w.setEnabled(not running)
        self.live.setEnabled(not running or mode == "live")
        self.stop.setEnabled(running)
        if running:
            self.progress.setRange(0, 0)
            self.progress.setFormat("starting…")
        elif self.live.isChecked():
            self.live.blockSignals(True)
            self.live.setChecked(False)
            self.live.blockSignals(False)

    def reset_curves(self) -> None:
        self._steps, self._losses, self._val_steps, self._mious = [], [], [], []
        self.loss_curve.setData([], [])
        self.miou_curve.setData([], [])

    def on_step(self, report) -> None:
        self._steps.append(report.step)
        self._losses.append(report.loss)
        self.loss_curve.setData(self._steps, self._losses)
        phase = "heads on cached features" if report.phase == "fast" else (getattr(report, "detail", "") or "full fine-tuning")
        eta = format_eta(report.eta_s)
        if report.eta_s is not None and report.elapsed_s > 0:
            done = report.elapsed_s / (report.elapsed_s + max(report.eta_s, 0.0))
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(done * 1000))
            self.progress.setFormat(f"{done * 100:.0f}%  {eta}")
        else:
            self.progress.setRange(0, 0)
        self.status.setText(
            f"{phase}: step {report.step}, epoch {report.epoch}, loss {report.loss:.3f}, {report.images_per_s:.1f} img/s"
        )

    def on_epoch(self, report) -> None:
        if np.isfinite(report.miou):
            self._val_steps.append(report.step)
            self._mious.append(report.miou)
            self.miou_curve.setData(self._val_steps, self._mious)
        self.miou_plot.setTitle(MIOU_TITLES.get(report.on, MIOU_TITLES["training"]), size="8pt")

    def on_finished(self, summary: dict, message: str) -> None:
        self.progress.setRange(0, 100)
        self.progress.setValue(100 if summary.get("stopped") != "error" else 0)
        self.progress.setFormat(summary.get("stopped", "done"))
        self.status.setText(message)
