"""Import a folder of existing masks into a project, with a report of what happened to each file.

Datasets ship ground truth beside their images under related names, so each mask file is
matched to a project image by name (:func:`match_masks`):

* the same stem (``0001TP_006690.png`` for image ``0001TP_006690.png``: CamVid's annot folders);
* the stem with a mask suffix removed: ``_L`` (CamVid colour labels), ``_mask``, ``_label(s)``,
  ``_gt``, ``_labelIds`` / ``_gtFine_labelIds`` (Cityscapes, whose images end ``_leftImg8bit``);
* KITTI road: image ``um_000012`` <- masks ``um_road_000012`` (preferred) or ``um_lane_000012``.

When several masks match one image the closest match wins (exact, then suffix, then KITTI road,
then lane) and the others are reported as skipped. Matching is case-insensitive.

Each matched mask is read with :func:`~fcn_studio.data.masks.read_mask` against the image's size
and the project's label set, in a worker thread; a refused mask (wrong size, unknown ids or
colours, unreadable) is listed with the reader's message, the rest are written with
``project.save_mask``. Images that already have painted pixels are skipped unless "replace" is
ticked: an import must not silently overwrite a person's work.

``project.mask_saved`` is held back while the worker writes (so no listener runs on the worker
thread) and re-emitted on the GUI thread for each imported image when the import ends, then
``imported(image_ids)`` and ``import_finished(report)`` fire.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Generator, Literal

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
from superqt.utils import create_worker

from fcn_studio.data.imageio import is_image_file
from fcn_studio.data.labelset import UNPAINTED
from fcn_studio.data.project import ImageEntry, Project
from fcn_studio.errors import FcnStudioError, MaskError, ProjectError

log = logging.getLogger(__name__)

Status = Literal["imported", "refused", "unmatched", "skipped"]

#: Suffixes that turn an image stem into a mask stem, longest first (compared case-folded).
MASK_SUFFIXES = (
    "_gtfine_labeltrainids",
    "_gtfine_labelids",
    "_gtfine_color",
    "_labeltrainids",
    "_labelids",
    "_labels",
    "_label",
    "_masks",
    "_mask",
    "_annot",
    "_seg",
    "_gt",
    "_l",
)
#: Suffixes some datasets put on image stems (Cityscapes).
IMAGE_SUFFIXES = ("_leftimg8bit",)
_KITTI = re.compile(r"^(?P<scene>[a-z]+)_(?P<kind>road|lane)_(?P<num>\d+)$")


@dataclass(frozen=True)
class ImportRow:
    """What happened to one mask file."""

    mask: str  # file name in the chosen folder
    image_id: str | None
    status: Status
    detail: str = ""


@dataclass
class ImportReport:
    """All rows of one import, plus what stopped it early (cancel, a full disk)."""

    folder: Path
    rows: list[ImportRow] = field(default_factory=list)
    cancelled: bool = False
    error: str = ""

    def ids(self, status: Status = "imported") -> list[str]:
        return [r.image_id for r in self.rows if r.status == status and r.image_id]

    @property
    def imported(self) -> list[str]:
        """Ids of images whose mask was written."""
        return self.ids("imported")

    def count(self, status: Status) -> int:
        return sum(r.status == status for r in self.rows)

    def headline(self) -> str:
        parts = [f"{self.count(s)} {s}" for s in ("imported", "refused", "unmatched", "skipped") if self.count(s)]
        text = ", ".join(parts) if parts else "no mask files found"
        if self.cancelled:
            text = f"Cancelled: {text}. Masks already imported are kept."
        if self.error:
            text += f". Stopped: {self.error}"
        return text[0].upper() + text[1:]


# -- matching (no Qt, no IO) -----------------------------------------------------------------
def mask_keys(stem: str) -> list[tuple[str, int]]:
    """Image names a mask stem may belong to, with a rank (lower = closer match)."""
    s = stem.casefold()
    keys = [(s, 0)]
    for suffix in MASK_SUFFIXES:
        if s.endswith(suffix) and len(s) > len(suffix):
            keys.append((s[: -len(suffix)], 1))
            break
    m = _KITTI.match(s)
    if m:
        keys.append((f"{m['scene']}_{m['num']}", 2 if m["kind"] == "road" else 3))
    return keys


def image_keys(entry: ImageEntry) -> list[tuple[str, int]]:
    """Names an image answers to: its id, its file stem, its original stem (ranked in that order)."""
    names = [entry.id, Path(entry.file).stem]
    if entry.source:
        names.append(Path(entry.source).stem)
    keys: dict[str, int] = {}
    for rank, name in enumerate(names):
        for key in (name.casefold(), *(name.casefold()[: -len(s)] for s in IMAGE_SUFFIXES if name.casefold().endswith(s))):
            keys.setdefault(key, rank)
    return sorted(keys.items(), key=lambda kv: kv[1])


def match_masks(images: list[ImageEntry], files: list[Path]) -> tuple[dict[str, Path], list[ImportRow]]:
    """Pair mask files with images: ``({image id: mask path}, rows for unmatched/skipped files)``."""
    index: dict[str, list[tuple[int, str]]] = {}
    for e in images:
        for key, rank in image_keys(e):
            index.setdefault(key, []).append((rank, e.id))
    rows: list[ImportRow] = []
    candidates: dict[str, list[tuple[tuple[int, int, str], Path]]] = {}
    for path in files:
        found = None
        for key, mask_rank in mask_keys(path.stem):
            hits = index.get(key)
            if not hits:
                continue
            best = min(rank for rank, _ in hits)
            ids = sorted({i for rank, i in hits if rank == best})
            if len(ids) > 1:
                found = ImportRow(path.name, None, "unmatched", f"its name fits several images ({', '.join(ids)}); rename it to one image's name")
            else:
                found = (ids[0], (mask_rank, best, path.name))
            break
        if found is None:
            rows.append(ImportRow(path.name, None, "unmatched", "no image in the project has a matching name"))
        elif isinstance(found, ImportRow):
            rows.append(found)
        else:
            image_id, rank = found
            candidates.setdefault(image_id, []).append((rank, path))
    plan: dict[str, Path] = {}
    for image_id, options in candidates.items():
        options.sort(key=lambda o: o[0])
        plan[image_id] = options[0][1]
        for _, other in options[1:]:
            rows.append(ImportRow(other.name, image_id, "skipped", f"{options[0][1].name} matches image {image_id} more closely"))
    return plan, rows


def import_masks(
    project: Project,
    folder: str | Path,
    *,
    overwrite: bool = False,
    should_stop: Callable[[], bool] | None = None,
) -> Generator[tuple[int, int, ImportRow | None], None, int]:
    """Import a folder of masks, yielding ``(done, total, row)`` after each file (row None at start).

    A generator so a worker can report progress and stop between files; it returns the number
    of files handled. Writes masks with ``project.save_mask`` while holding back
    ``project.mask_saved`` (the caller re-emits it in its own thread), saves ``project.json``
    once at the end, and raises :class:`~fcn_studio.errors.ProjectError` when the folder cannot
    be listed or a mask cannot be written (a full disk: the rest would fail too).
    """
    from fcn_studio.data.masks import read_mask

    folder = Path(folder)
    try:
        files = sorted(p for p in folder.iterdir() if p.is_file() and is_image_file(p) and not p.name.startswith("."))
    except OSError as exc:
        raise ProjectError(f"cannot list {folder}: {exc.strerror or exc}") from None
    total = len(files)
    plan, early_rows = match_masks(list(project.images), files)
    done = 0
    yield done, total, None
    for row in early_rows:
        done += 1
        yield done, total, row
    wrote = False
    try:
        for image_id, path in sorted(plan.items(), key=lambda kv: kv[1].name):
            if should_stop is not None and should_stop():
                return done
            entry = project.entry(image_id)
            if not overwrite and entry.painted > 0 and project.has_mask(image_id):
                row = ImportRow(path.name, image_id, "skipped", f"{entry.file} is already painted; tick \u201creplace\u201d to overwrite it")
            else:
                try:
                    mask = read_mask(path, project.labelset, expected_hw=(entry.height, entry.width))
                except MaskError as exc:
                    row = ImportRow(path.name, image_id, "refused", str(exc))
                else:
                    with project.mask_saved.blocked():
                        project.save_mask(image_id, mask, save_project=False)
                    wrote = True
                    row = ImportRow(path.name, image_id, "imported", f"{entry.file}: {float((mask != UNPAINTED).mean()):.0%} painted")
            done += 1
            yield done, total, row
    finally:
        if wrote:
            project.save()  # painted fractions; also when stopped part-way
    return done  # never None: superqt sends it through a queued signal (see background.py)


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
        self._worker = None
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
        return self._worker is not None

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
        worker = create_worker(
            import_masks,
            self.project,
            path,
            overwrite=overwrite,
            should_stop=self._stop.is_set,
            _start_thread=False,
            _ignore_errors=True,
        )
        queued = Qt.ConnectionType.QueuedConnection  # explicit: these run on the GUI thread, in order
        worker.yielded.connect(self._on_yielded, queued)
        worker.errored.connect(self._on_errored, queued)
        worker.finished.connect(self._on_finished, queued)
        self._worker = worker
        worker.start()
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
            self._worker = None
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
