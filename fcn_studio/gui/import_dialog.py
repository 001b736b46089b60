"""The window's *Import masks* dialog: pick a folder, import in the background, a row per file.

The matching rules and the import itself live in :mod:`fcn_studio.data.mask_import` (Qt-free,
shared with ``fcn-studio import`` and the training CLI's folder pairing); this module only
runs :func:`~fcn_studio.data.mask_import.import_masks` in a worker thread and shows its rows.

``project.mask_saved`` is held back while the worker writes (so no listener runs on the worker
thread) and re-emitted on the GUI thread for each imported image when the import ends, then
``imported(image_ids)`` and ``import_finished(report)`` fire.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)
from fcn_studio.gui.background import Background

from fcn_studio.data.mask_import import ImportReport, ImportRow, image_keys, import_masks, mask_keys, match_masks
from fcn_studio.data.project import Project
from fcn_studio.errors import FcnStudioError

log = logging.getLogger(__name__)

__all__ = ["ImportMasksDialog", "ImportReport", "ImportRow", "import_masks", "image_keys", "mask_keys", "match_masks"]


# -- dialog ---------------------------------------------------------------------------------
class ImportMasksDialog(QDialog):
    """Pick a folder of masks, import what matches, show a row per file with what happened."""

    imported = Signal(list)  # ids of images whose mask changed; the main window reloads them
    import_finished = Signal(object)  # ImportReport

    COLUMNS = ("Mask file", "Image", "Result", "Details")

    def __init__(self, project: Project, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Import masks")
        self.resize(760, 420)
        self.project = project
        self._jobs = Background("fcn-import", self)
        self._running = False
        self._stop = threading.Event()
        self._report: ImportReport | None = None
        self._close_when_done = False
        self._progress = (0, 0)  # (done, total) last yielded

        self.folder_edit = QLineEdit(placeholderText="Folder with mask files (indexed, id or colour PNGs)")
        self.browse_button = QPushButton("Browse\u2026")
        self.browse_button.setToolTip("Choose the folder that holds the masks")
        self.browse_button.clicked.connect(self._browse)
        self.overwrite_box = QCheckBox("Replace masks of images already painted")
        self.overwrite_box.setToolTip("Off: images with painted pixels keep their mask and are listed as skipped")
        row = QHBoxLayout()
        row.addWidget(QLabel("Folder"))
        row.addWidget(self.folder_edit, 1)
        row.addWidget(self.browse_button)

        help_text = QLabel(
            "Masks are matched to images by file name: the same name, the name plus _L, _mask, _label or "
            "_labelIds, or KITTI's um_road_000012 for um_000012. Each must have its image's size and only "
            f"classes of the label set \u201c{project.labelset.name}\u201d."
        )
        help_text.setWordWrap(True)

        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setHorizontalHeaderLabels(list(self.COLUMNS))
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.table.setWordWrap(True)

        self.progress_bar = QProgressBar()
        self.progress_bar.setVisible(False)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.import_button = QPushButton("Import")
        self.import_button.setDefault(True)
        self.import_button.clicked.connect(lambda: self.start(self.folder_edit.text()))
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop after the current file; masks already imported are kept")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.reject)
        buttons = QHBoxLayout()
        buttons.addWidget(self.status, 1)
        for b in (self.import_button, self.cancel_button, self.close_button):
            buttons.addWidget(b)

        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.overwrite_box)
        layout.addWidget(help_text)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.progress_bar)
        layout.addLayout(buttons)

    @property
    def is_running(self) -> bool:
        return self._running

    @property
    def report(self) -> ImportReport | None:
        """The report of the last import (also while one runs: the rows so far)."""
        return self._report

    def start(self, folder: str | Path, *, overwrite: bool | None = None) -> bool:
        """Import from ``folder`` in the background; False if refused (running, no folder).

        ``overwrite`` None takes the checkbox. Ends with ``imported`` and ``import_finished``.
        """
        if self.is_running:
            return False
        text = str(folder).strip()
        if not text:
            self.status.setText("Choose the folder that holds the masks.")
            return False
        path = Path(text).expanduser()
        if not path.is_dir():
            self.status.setText(f"{path} is not a folder; choose the folder that holds the masks.")
            return False
        self.folder_edit.setText(str(path))
        overwrite = self.overwrite_box.isChecked() if overwrite is None else bool(overwrite)
        self._report = ImportReport(folder=path)
        self._stop.clear()
        self._close_when_done = False
        self._progress = (0, 0)
        self.table.setRowCount(0)
        self._set_running(True)
        self.status.setText(f"Reading masks in {path}\u2026")
        project = self.project

        def errored(exc: BaseException) -> None:
            self._on_errored(exc)
            self._on_finished()

        self._running = self._jobs.stream(
            lambda: import_masks(project, path, overwrite=overwrite, should_stop=self._stop.is_set),
            self._on_yielded,
            lambda _handled: self._on_finished(),
            errored,
        )
        return True

    def cancel(self) -> None:
        """Stop after the current file (no-op when idle)."""
        if self.is_running:
            self._stop.set()
            self.cancel_button.setEnabled(False)
            self.status.setText("Cancelling after the current file\u2026")

    def reject(self) -> None:
        """Close; a running import is cancelled first and the dialog closes when it stopped."""
        if self.is_running:
            self._close_when_done = True
            self.cancel()
            return
        super().reject()

    # -- worker results (GUI thread) ---------------------------------------------------------
    def _on_yielded(self, item: tuple[int, int, ImportRow | None]) -> None:
        done, total, row = item
        self._progress = (done, total)
        self.progress_bar.setMaximum(max(total, 1))
        self.progress_bar.setValue(done)
        if row is None or self._report is None:
            return
        self._report.rows.append(row)
        r = self.table.rowCount()
        self.table.insertRow(r)
        for col, text in enumerate((row.mask, row.image_id or "", row.status, row.detail)):
            cell = QTableWidgetItem(text)
            cell.setToolTip(text)
            self.table.setItem(r, col, cell)

    def _on_errored(self, exc: BaseException) -> None:
        if self._report is None:
            return
        if isinstance(exc, FcnStudioError):
            self._report.error = str(exc)
        else:
            log.error("mask import failed", exc_info=exc)
            self._report.error = f"unexpected error ({type(exc).__name__}: {exc})"

    def _on_finished(self) -> None:
        report = self._report or ImportReport(folder=Path(self.folder_edit.text()))
        done, total = self._progress
        report.cancelled = self._stop.is_set() and done < total  # a late cancel stopped nothing
        self._set_running(False)
        self.status.setText(report.headline())
        ids = report.imported
        for image_id in ids:  # what the worker held back, now in the GUI thread
            self.project.mask_saved.emit(image_id)
        if ids:
            self.imported.emit(ids)
        self.import_finished.emit(report)
        if self._close_when_done:
            self._close_when_done = False
            super().reject()

    def _set_running(self, running: bool) -> None:
        if not running:
            self._running = False
        for w in (self.folder_edit, self.browse_button, self.overwrite_box, self.import_button):
            w.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        if running:
            self.progress_bar.setValue(0)
            self.progress_bar.setVisible(True)

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder of masks", self.folder_edit.text() or str(self.project.root))
        if folder:
            self.folder_edit.setText(folder)
