"""Export masks to a folder, off the UI thread, with progress, cancel and a plain summary.

Exporting hundreds of overlays takes minutes, so :func:`fcn_studio.data.export.export_masks`
runs in a superqt worker; its ``progress`` callback is forwarded to the dialog through a
queued Qt signal and its ``should_stop`` polls a flag the Cancel button sets (cooperative:
the image being written is finished, files already written stay). A full disk or read-only
folder arrives as a :class:`~fcn_studio.errors.ProjectError` and is shown in the dialog as
its message; the dialog stays open so the user can pick another folder and try again.

``start(out_dir, formats, ...)`` drives it without the file chooser (tests, scripted use),
and ``export_finished(summary)`` / ``export_failed(message)`` report the end.
(Not named ``finished``: that would shadow ``QDialog.finished(int)``.)
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Iterable, Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)
from fcn_studio.gui.background import Background

from fcn_studio.data.export import FORMATS, ExportSummary, export_masks
from fcn_studio.data.project import Project
from fcn_studio.errors import FcnStudioError

log = logging.getLogger(__name__)

FORMAT_LABELS = {
    "index": "Indexed PNG (pixel value = class id; for training)",
    "color": "Colour PNG (class colours)",
    "overlay": "Overlay PNG (image with class colours blended in)",
    "coco": "COCO JSON (compressed RLE masks, one file)",
}
SOURCE_LABELS = {
    "painted": "Painted masks",
    "predicted": "Predictions",
    "merged": "Painted where painted, predictions elsewhere",
}


class ExportDialog(QDialog):
    """Choose folder, formats, source and scope; export in the background; report what happened."""

    export_finished = Signal(object)  # ExportSummary (also when cancelled: summary.cancelled)
    export_failed = Signal(str)  # a message for the user; nothing more was written
    _progress = Signal(int, int)  # from the worker thread, queued to the dialog

    def __init__(self, project: Project, selected_ids: Sequence[str] = (), parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Export masks")
        self.project = project
        known = {e.id for e in project.images}
        self.selected_ids = [i for i in selected_ids if i in known]
        self._jobs = Background("fcn-export", self)
        self._running = False
        self._stop = threading.Event()
        self._close_when_done = False

        self.folder_edit = QLineEdit(placeholderText="Folder to write into")
        browse = QPushButton("Browse\u2026")
        browse.setToolTip("Choose the folder to export into")
        browse.clicked.connect(self._browse)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder_edit, 1)
        folder_row.addWidget(browse)

        self.format_boxes = {f: QCheckBox(FORMAT_LABELS.get(f, f)) for f in FORMATS}
        self.format_boxes["index"].setChecked(True)
        self.opacity_spin = QDoubleSpinBox(minimum=0.05, maximum=1.0, singleStep=0.05, value=0.5, decimals=2)
        self.opacity_spin.setToolTip("How strongly class colours cover the image in overlays (1 = solid)")
        self.opacity_spin.setEnabled(False)
        self.format_boxes["overlay"].toggled.connect(self.opacity_spin.setEnabled)
        formats = QVBoxLayout()
        for f, box in self.format_boxes.items():
            if f == "overlay":
                row = QHBoxLayout()
                row.addWidget(box)
                row.addWidget(QLabel("opacity"))
                row.addWidget(self.opacity_spin)
                row.addStretch(1)
                formats.addLayout(row)
            else:
                formats.addWidget(box)

        self.source_combo = QComboBox()
        for key, label in SOURCE_LABELS.items():
            self.source_combo.addItem(label, key)

        n_all, n_sel = len(project.images), len(self.selected_ids)
        self.scope_all = QRadioButton(f"All images ({n_all})")
        self.scope_selected = QRadioButton(f"Selected images ({n_sel})")
        self.scope_selected.setEnabled(n_sel > 0)
        self.scope_all.setChecked(True)  # a dataset export is the common case; selection is opt-in
        self._scope_group = QButtonGroup(self)
        self._scope_group.addButton(self.scope_all)
        self._scope_group.addButton(self.scope_selected)
        scope = QHBoxLayout()
        scope.addWidget(self.scope_all)
        scope.addWidget(self.scope_selected)
        scope.addStretch(1)

        form = QFormLayout()
        form.addRow("Folder", folder_row)
        form.addRow("Formats", formats)
        form.addRow("Masks", self.source_combo)
        form.addRow("Images", scope)
        self._options = [browse, self.folder_edit, self.source_combo, self.scope_all, self.scope_selected, self.opacity_spin]
        self._options += list(self.format_boxes.values())

        self.progress_bar = QProgressBar()
        self.progress_bar.setVisible(False)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.report = QPlainTextEdit(readOnly=True)
        self.report.setVisible(False)
        self.export_button = QPushButton("Export")
        self.export_button.setDefault(True)
        self.export_button.clicked.connect(lambda: self.start(self.folder_edit.text()))
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop after the image being written; files already written stay")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.reject)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        for b in (self.export_button, self.cancel_button, self.close_button):
            buttons.addWidget(b)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.status)
        layout.addWidget(self.report, 1)
        layout.addLayout(buttons)
        self._progress.connect(self._on_progress, Qt.ConnectionType.QueuedConnection)

    # -- driving -----------------------------------------------------------------------------
    @property
    def is_running(self) -> bool:
        return self._running

    def start(
        self,
        out_dir: str | Path,
        formats: Iterable[str] | None = None,
        *,
        source: str | None = None,
        opacity: float | None = None,
        image_ids: Iterable[str] | None = None,
    ) -> bool:
        """Start exporting; options left None come from the dialog's controls. False if refused.

        ``image_ids`` None means the scope the radio buttons say (all, or the selected ids).
        The result arrives as ``export_finished(summary)`` or ``export_failed(message)``.
        """
        if self.is_running:
            return False
        out_text = str(out_dir).strip()
        formats = [f for f, box in self.format_boxes.items() if box.isChecked()] if formats is None else list(formats)
        source = source or self.source_combo.currentData()
        opacity = self.opacity_spin.value() if opacity is None else float(opacity)
        if image_ids is None:
            image_ids = self.selected_ids if self.scope_selected.isChecked() else None
        ids = None if image_ids is None else list(image_ids)
        if not out_text:
            return self._refuse("Choose a folder to export into.")
        if not formats:
            return self._refuse("Tick at least one format.")
        unknown = [f for f in formats if f not in FORMATS]
        if unknown:
            return self._refuse(f"Unknown format(s) {', '.join(unknown)}; choose from {', '.join(FORMATS)}.")
        if source not in SOURCE_LABELS:
            return self._refuse(f"Unknown mask source {source!r}; choose from {', '.join(SOURCE_LABELS)}.")
        out = Path(out_text).expanduser()
        self.folder_edit.setText(str(out))
        self._stop.clear()
        self._close_when_done = False
        total = len(ids) if ids is not None else len(self.project.images)
        self._set_running(True, total)
        self.status.setText(f"Exporting {total} image{'s' if total != 1 else ''} to {out}\u2026")
        project = self.project
        self._running = self._jobs.submit(
            lambda: export_masks(project, out, formats=tuple(formats), opacity=opacity, source=source, image_ids=ids,
                                 progress=self._progress.emit, should_stop=self._stop.is_set),
            lambda summary: self._on_returned(summary, out, formats),
            self._on_errored,
        )
        return True

    def cancel(self) -> None:
        """Ask the export to stop after the current image (no-op when idle)."""
        if self.is_running:
            self._stop.set()
            self.cancel_button.setEnabled(False)
            self.status.setText("Cancelling after the current image\u2026")

    def reject(self) -> None:
        """Close; a running export is cancelled first and the dialog closes when it stopped."""
        if self.is_running:
            self._close_when_done = True
            self.cancel()
            return
        super().reject()

    # -- worker results (GUI thread) ---------------------------------------------------------
    def _on_progress(self, done: int, total: int) -> None:
        self.progress_bar.setMaximum(max(total, 1))
        self.progress_bar.setValue(done)

    def _on_returned(self, summary: ExportSummary, out: Path, formats: Sequence[str]) -> None:
        self._set_running(False)
        self.status.setText(summary_headline(summary, out, formats))
        details = summary_details(summary, formats)
        self.report.setPlainText(details)
        self.report.setVisible(bool(details))
        self.export_finished.emit(summary)
        self._close_if_asked()

    def _on_errored(self, exc: BaseException) -> None:
        self._set_running(False)
        if isinstance(exc, FcnStudioError):
            message = f"Export stopped: {exc}"
        else:  # a bug: say so plainly, keep the traceback for the log
            log.error("export failed", exc_info=exc)
            message = f"Export failed unexpectedly ({type(exc).__name__}: {exc}). Files written so far are kept."
        self.status.setText(message)
        self.export_failed.emit(message)
        self._close_if_asked()

    def _close_if_asked(self) -> None:
        if self._close_when_done:
            self._close_when_done = False
            super().reject()

    # -- helpers -----------------------------------------------------------------------------
    def _refuse(self, message: str) -> bool:
        self.status.setText(message)
        return False

    def _set_running(self, running: bool, total: int = 0) -> None:
        if not running:
            self._running = False
        for w in self._options:
            w.setEnabled(not running)
        if not running:
            self.scope_selected.setEnabled(bool(self.selected_ids))
            self.opacity_spin.setEnabled(self.format_boxes["overlay"].isChecked())
        self.export_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        if running:
            self.progress_bar.setMaximum(max(total, 1))
            self.progress_bar.setValue(0)
            self.progress_bar.setVisible(True)
            self.report.clear()
            self.report.setVisible(False)

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export masks into", self.folder_edit.text() or str(self.project.root))
        if folder:
            self.folder_edit.setText(folder)


def summary_headline(summary: ExportSummary, out: Path, formats: Sequence[str]) -> str:
    """One sentence: how many images were written where, and whether it was cancelled."""
    n = len(summary.written)
    what = f"Exported {n} image{'s' if n != 1 else ''} ({', '.join(formats)}) to {out}."
    if summary.cancelled:
        what = f"Cancelled. {what} Files already written are kept."
    if summary.skipped:
        what += f" Skipped {len(summary.skipped)}; see below."
    return what


def summary_details(summary: ExportSummary, formats: Sequence[str]) -> str:
    """The skipped images with the reason for each, and notes on files not written."""
    lines = []
    if summary.skipped:
        lines.append("Skipped:")
        lines += [f"  {name}: {why}" for name, why in summary.skipped]
    if "coco" in formats and summary.cancelled:
        lines.append("coco.json was not written because the export was cancelled.")
    elif "coco" in formats and not summary.written:
        lines.append("coco.json was not written: no image had a mask to export.")
    return "\n".join(lines)
