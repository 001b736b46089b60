"""*File > Export model...*: write the project's trained model as ONNX or TorchScript.

The same export as ``fcn-studio export-model`` (:func:`fcn_studio.models.export.export_checkpoint`):
the file takes any image height and width, and carries the label set, normalisation and working
scale. The export runs in a child process (:mod:`fcn_studio.models.export_process`, so the window's
process never imports torch), waited on by a superqt worker thread so the window stays live.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)
from fcn_studio.gui.background import Background

from fcn_studio.errors import FcnStudioError
from fcn_studio.models.export_process import export_in_child

log = logging.getLogger(__name__)

#: Format key -> (label, file suffix). Kept here so the dialog does not import torch via models.export.
FORMATS = {"onnx": ("ONNX (.onnx)", ".onnx"), "torchscript": ("TorchScript (.pt)", ".pt")}
#: What a suggested file name adds to the checkpoint's stem (the window's checkpoint is a .pt too).
NAME_TAGS = {"onnx": "", "torchscript": "_torchscript"}


class ExportModelDialog(QDialog):
    """Pick a checkpoint, a format and a file; export in the background; say what was written."""

    export_finished = Signal(dict)  # the export's summary (out, format, classes, input_scale, ...)
    export_failed = Signal(str)  # one sentence for the user

    def __init__(self, checkpoint: str | Path | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Export model")
        self.resize(620, 240)
        self._jobs = Background("fcn-export-model", self)
        self._running = False
        self._out_edited = False

        self.checkpoint_edit = QLineEdit(placeholderText="Checkpoint (.fcnckpt) made by training")
        if checkpoint is not None:
            self.checkpoint_edit.setText(str(checkpoint))
        browse_ckpt = QPushButton("Browse\u2026")
        browse_ckpt.clicked.connect(self._browse_checkpoint)
        self.format_combo = QComboBox()
        for key, (label, _) in FORMATS.items():
            self.format_combo.addItem(label, key)
        self.format_combo.currentIndexChanged.connect(self._suggest_out)
        self.out_edit = QLineEdit(placeholderText="File to write")
        self.out_edit.textEdited.connect(lambda _: setattr(self, "_out_edited", True))
        browse_out = QPushButton("Browse\u2026")
        browse_out.clicked.connect(self._browse_out)
        self.replace_box = QCheckBox("Replace the file if it exists")
        self.any_size = QCheckBox("Any image size (dynamic height and width)")
        self.any_size.setChecked(True)
        self.any_size.setEnabled(False)  # every export takes any size; shown so nobody has to guess
        self.any_size.setToolTip("The exported model takes any height and width and returns logits of the same size")

        def row(edit: QWidget, button: QWidget) -> QHBoxLayout:
            box = QHBoxLayout()
            box.addWidget(edit, 1)
            box.addWidget(button)
            return box

        form = QFormLayout()
        form.addRow("Checkpoint", row(self.checkpoint_edit, browse_ckpt))
        form.addRow("Format", self.format_combo)
        form.addRow("Save as", row(self.out_edit, browse_out))
        form.addRow("", self.replace_box)
        form.addRow("", self.any_size)
        info = QLabel(
            "The file carries the classes, the input normalisation and the working scale: resize the image by "
            "the scale, feed RGB/255 normalised by mean and std, upsample the logits to the image size."
        )
        info.setWordWrap(True)

        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 0)  # busy: tracing has no steps to count
        self.progress_bar.setVisible(False)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.export_button = QPushButton("Export")
        self.export_button.setDefault(True)
        self.export_button.clicked.connect(lambda: self.start())
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.reject)
        buttons = QHBoxLayout()
        buttons.addWidget(self.status, 1)
        buttons.addWidget(self.export_button)
        buttons.addWidget(self.close_button)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(info)
        layout.addWidget(self.progress_bar)
        layout.addLayout(buttons)
        self._suggest_out()

    @property
    def is_running(self) -> bool:
        return self._running

    def start(self, *, fmt: str | None = None, out: str | Path | None = None, overwrite: bool | None = None) -> bool:
        """Export in the background; False (and a sentence in the status line) when refused."""
        if self.is_running:
            return False
        if fmt is not None:
            index = self.format_combo.findData(fmt)
            if index < 0:
                return self._refuse(f"Unknown format {fmt!r}; choose ONNX or TorchScript.")
            self.format_combo.setCurrentIndex(index)
        if out is not None:
            self.out_edit.setText(str(out))
            self._out_edited = True
        fmt = self.format_combo.currentData()
        replace = self.replace_box.isChecked() if overwrite is None else bool(overwrite)
        ckpt_text, out_text = self.checkpoint_edit.text().strip(), self.out_edit.text().strip()
        if not ckpt_text:
            return self._refuse("Choose a checkpoint; training writes one into the project's checkpoints folder.")
        ckpt = Path(ckpt_text).expanduser()
        if not ckpt.is_file():
            return self._refuse(f"{ckpt} does not exist; train a model first or choose another checkpoint.")
        if not out_text:
            return self._refuse("Choose the file to write.")
        target = Path(out_text).expanduser()
        if target.is_dir():
            return self._refuse(f"{target} is a folder; give a file name such as model{FORMATS[fmt][1]}.")
        if not target.parent.is_dir():
            return self._refuse(f"Folder {target.parent} does not exist.")
        if target.resolve() == ckpt.resolve():
            return self._refuse("That is the checkpoint itself; choose another file name.")
        if target.exists() and not replace:
            return self._refuse(f"{target.name} exists; tick \u201cReplace\u201d or choose another name.")
        self._set_running(True)
        self.status.setText(f"Exporting {ckpt.name} as {FORMATS[fmt][0]}\u2026")
        self._running = self._jobs.submit(lambda: export_in_child(ckpt, target, fmt=fmt), self._on_returned, self._on_errored)
        return True

    def reject(self) -> None:
        """Close, unless an export is running (it cannot be cut short safely; it takes seconds)."""
        if self.is_running:
            self.status.setText("Wait for the export to finish (a few seconds).")
            return
        super().reject()

    # -- worker results (GUI thread) ---------------------------------------------------------
    def _on_returned(self, summary: dict) -> None:
        self._set_running(False)
        classes = ", ".join(summary.get("classes", []))
        self.status.setText(f"Wrote {summary['out']} (classes: {classes}; working scale {summary.get('input_scale', 1):g}).")
        self.export_finished.emit(summary)

    def _on_errored(self, exc: BaseException) -> None:
        self._set_running(False)
        if isinstance(exc, FcnStudioError):
            message = f"Export failed: {exc}"
        else:  # a bug: say so plainly, keep the traceback for the log
            log.error("model export failed", exc_info=exc)
            message = f"Export failed unexpectedly ({type(exc).__name__}: {exc})."
        self.status.setText(message)
        self.export_failed.emit(message)

    # -- helpers ------------------------------------------------------------------------------
    def _refuse(self, message: str) -> bool:
        self.status.setText(message)
        return False

    def _set_running(self, running: bool) -> None:
        if not running:
            self._running = False
        for w in (self.checkpoint_edit, self.format_combo, self.out_edit, self.replace_box, self.export_button):
            w.setEnabled(not running)
        self.progress_bar.setVisible(running)

    def _suggest_out(self) -> None:
        """Beside the checkpoint, named after it, with the format's suffix (until the user types a name)."""
        fmt = self.format_combo.currentData()
        suffix = FORMATS[fmt][1]
        text = self.out_edit.text().strip()
        if self._out_edited and text:
            self.out_edit.setText(str(Path(text).with_suffix(suffix)))
            return
        ckpt = self.checkpoint_edit.text().strip()
        if ckpt:
            self.out_edit.setText(str(Path(ckpt).with_name(Path(ckpt).stem + NAME_TAGS[fmt] + suffix)))

    def _browse_checkpoint(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Checkpoint", self.checkpoint_edit.text(), "Checkpoints (*.fcnckpt *.pt);;All files (*)")
        if path:
            self.checkpoint_edit.setText(path)
            self._suggest_out()

    def _browse_out(self) -> None:
        label, suffix = FORMATS[self.format_combo.currentData()]
        path, _ = QFileDialog.getSaveFileName(self, "Save model as", self.out_edit.text(), f"{label};;All files (*)")
        if path:
            self.out_edit.setText(path)
            self._out_edited = True
            self.replace_box.setChecked(Path(path).exists())  # the file dialog already asked
