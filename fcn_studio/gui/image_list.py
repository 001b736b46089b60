"""The project's images as a filterable list with thumbnails and per-image painting state.

It only shows and selects: the main window listens to ``current_changed`` and loads the image.
What a person needs from it while labelling a few hundred images:

* where they are: the current image stays highlighted even while the canvas has focus, and
  stays listed even when it no longer matches the filter (painting an image under the
  "not painted" filter must not make it vanish mid-stroke; it leaves at the next refresh
  after the selection moved on);
* what is left: each row says "not painted", "37% painted" or "predicted", and the filter
  narrows the list to one state and/or a name;
* to move on without the mouse: PageDown/PageUp here, and ``select_next``/``select_previous``
  for the main window's global shortcuts, both within the filtered, sorted order.

Thumbnails are decoded in the background (:mod:`fcn_studio.gui.thumbnails`), only for rows
that are on screen.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QEvent, QModelIndex, QObject, QPoint, QSize, QSortFilterProxyModel, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QIcon, QImage, QPalette, QPixmap, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QLineEdit, QListView, QVBoxLayout, QWidget

from fcn_studio.data.project import ImageEntry, Project
from fcn_studio.gui.background import call_in_gui_thread
from fcn_studio.gui.thumbnails import ThumbnailLoader

log = logging.getLogger(__name__)

ID_ROLE = Qt.ItemDataRole.UserRole + 1
NAME_ROLE = Qt.ItemDataRole.UserRole + 2
PAINTED_ROLE = Qt.ItemDataRole.UserRole + 3
PREDICTED_ROLE = Qt.ItemDataRole.UserRole + 4
RANK_ROLE = Qt.ItemDataRole.UserRole + 5

#: Choices of the state filter, in the order the combo shows them.
STATE_FILTERS = ("all", "not painted", "painted", "predicted")

SortKey = Callable[[ImageEntry], Any]


def state_text(entry: ImageEntry) -> str:
    """What the list says about an image: "not painted", "37% painted", "predicted", or both.

    Percentages round down (99.7% shows as 99%, so "100%" means fully painted) and a sliver
    shows as "<1%" rather than "0%", which would read as "not painted".
    """
    parts = []
    if entry.painted > 0:
        pct = entry.painted * 100
        parts.append("<1% painted" if pct < 1 else f"{int(pct)}% painted")
    if entry.predicted:
        parts.append("predicted")
    return ", ".join(parts) if parts else "not painted"


class _Filter(QSortFilterProxyModel):
    """Name + state filter; the pinned (current) image always passes."""

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.text = ""
        self.state = "all"
        self.pinned: str | None = None
        self.setSortRole(RANK_ROLE)
        self.setDynamicSortFilter(False)  # re-filter only when asked: rows must not jump while painting

    def refilter(self) -> None:
        """Run the filter again over all rows (Qt 6.9+ API, with the older one as fallback)."""
        if hasattr(self, "beginFilterChange"):
            self.beginFilterChange()
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:  # Qt < 6.9
            self.invalidateFilter()

    def filterAcceptsRow(self, source_row: int, source_parent: QModelIndex) -> bool:  # noqa: N802 (Qt name)
        index = self.sourceModel().index(source_row, 0, source_parent)
        if self.pinned is not None and index.data(ID_ROLE) == self.pinned:
            return True
        if self.text and self.text not in str(index.data(NAME_ROLE)).casefold():
            return False
        painted = float(index.data(PAINTED_ROLE) or 0.0)
        if self.state == "not painted":
            return painted <= 0
        if self.state == "painted":
            return painted > 0
        if self.state == "predicted":
            return bool(index.data(PREDICTED_ROLE))
        return True


class ImageListPanel(QWidget):
    """List of a project's images; emits ``current_changed(image_id)`` when the selection moves.

    ``current_changed`` fires for every change of the current image, whether by the user or by
    :meth:`select`/:meth:`select_next`, and never for re-selecting the same image. The panel
    follows ``project.images_changed`` and ``project.mask_saved`` itself (those may fire in a
    worker thread; :func:`call_in_gui_thread` forwards them, and drops them once the panel is
    deleted), and the main window may call :meth:`refresh` too.
    """

    current_changed = Signal(str)

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        thumbnail_size: int = 64,
        thumbnails: ThumbnailLoader | None = None,
    ):
        super().__init__(parent)
        self.project: Project | None = None
        self._current: str | None = None
        self._items: dict[str, QStandardItem] = {}
        self._sort_key: SortKey | None = None
        self._score_text: Callable[[ImageEntry], str] | None = None
        self.thumbnails = thumbnails or ThumbnailLoader(size=thumbnail_size, parent=self)
        self._placeholder = _placeholder_icon(thumbnail_size)

        self.filter_edit = QLineEdit(placeholderText="Filter by name")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.setToolTip("Show only images whose file name contains this text")
        self.state_combo = QComboBox()
        self.state_combo.addItems(list(STATE_FILTERS))
        self.state_combo.setToolTip("Show only images in this state")
        self.count_label = QLabel()

        self._model = QStandardItemModel(self)
        self._proxy = _Filter(self)
        self._proxy.setSourceModel(self._model)
        self.view = QListView()
        self.view.setModel(self._proxy)
        self.view.setIconSize(QSize(thumbnail_size, thumbnail_size))
        self.view.setUniformItemSizes(True)
        self.view.setEditTriggers(QListView.EditTrigger.NoEditTriggers)
        # Ctrl/Shift+click select several (to remove them); the current image is the one shown
        self.view.setSelectionMode(QListView.SelectionMode.ExtendedSelection)
        self.view.setAccessibleName("Images")
        _keep_highlight_without_focus(self.view)
        self.view.installEventFilter(self)

        top = QHBoxLayout()
        top.addWidget(self.filter_edit, 1)
        top.addWidget(self.state_combo)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.count_label)

        self._thumb_timer = QTimer(self, singleShot=True, interval=30)
        self._thumb_timer.timeout.connect(self._request_visible_thumbnails)
        self.filter_edit.textChanged.connect(self._apply_filter)
        self.filter_edit.returnPressed.connect(self.view.setFocus)
        self.state_combo.currentTextChanged.connect(self._apply_filter)
        self.view.selectionModel().currentChanged.connect(self._on_view_current)
        self.view.verticalScrollBar().valueChanged.connect(self._thumb_timer.start)
        self.thumbnails.thumbnail_ready.connect(self._on_thumbnail)
        self._update_count()

    # -- project -----------------------------------------------------------------------------
    def set_project(self, project: Project | None) -> None:
        """Show ``project``'s images (None: show nothing). The first image is not auto-selected."""
        if self.project is not None:
            self.project.images_changed.disconnect(self._on_images_changed)
            self.project.mask_saved.disconnect(self._on_mask_saved)
        self.project = project
        self._current = None
        self._proxy.pinned = None
        self.thumbnails.clear()
        if project is not None:
            project.images_changed.connect(self._on_images_changed)
            project.mask_saved.connect(self._on_mask_saved)
        self._rebuild()

    def current_id(self) -> str | None:
        """The selected image's id, or None."""
        return self._current

    # -- selection ---------------------------------------------------------------------------
    def selected_ids(self) -> list[str]:
        """The selected images in list order, or the current one when none is selected."""
        rows = sorted(self.view.selectionModel().selectedIndexes(), key=lambda i: i.row())
        ids = [self._proxy.mapToSource(i).data(ID_ROLE) for i in rows]
        ids = [i for i in ids if i]
        return ids or ([self._current] if self._current else [])

    def select(self, image_id: str) -> bool:
        """Make ``image_id`` current (shown even if the filter hides it); False if unknown."""
        if image_id not in self._items:
            return False
        if self._proxy.pinned != image_id:
            self._proxy.pinned = image_id
            if not self._proxy_index(image_id).isValid():
                self._proxy.refilter()  # let the filter pass it
                self._proxy.sort(0)
        index = self._proxy_index(image_id)
        self.view.setCurrentIndex(index)
        self.view.scrollTo(index)
        return True

    def select_next(self) -> bool:
        """Select the next image in the shown (filtered, sorted) order; False at the end."""
        return self._step(+1)

    def select_previous(self) -> bool:
        """Select the previous image in the shown order; False at the start."""
        return self._step(-1)

    def visible_ids(self) -> list[str]:
        """Image ids in the shown order (after filtering and sorting)."""
        return [self._proxy.index(r, 0).data(ID_ROLE) for r in range(self._proxy.rowCount())]

    def _step(self, delta: int) -> bool:
        rows = self._proxy.rowCount()
        if rows == 0:
            return False
        current = self._proxy_index(self._current) if self._current else QModelIndex()
        if not current.isValid():
            row = 0 if delta > 0 else rows - 1
        else:
            row = current.row() + delta
            if not 0 <= row < rows:
                return False
        return self.select(self._proxy.index(row, 0).data(ID_ROLE))

    def _on_view_current(self, current: QModelIndex, _previous: QModelIndex) -> None:
        image_id = current.data(ID_ROLE) if current.isValid() else None
        if image_id is None or image_id == self._current:
            return
        self._current = image_id
        self._proxy.pinned = image_id
        self.current_changed.emit(image_id)

    # -- filter and sort ---------------------------------------------------------------------
    def set_filter(self, text: str | None = None, state: str | None = None) -> None:
        """Set the name filter and/or the state filter (one of :data:`STATE_FILTERS`)."""
        if text is not None:
            self.filter_edit.setText(text)
        if state is not None:
            if state not in STATE_FILTERS:
                raise ValueError(f"state filter must be one of {STATE_FILTERS}, got {state!r}")
            self.state_combo.setCurrentText(state)

    def set_score_text(self, score: Callable[[ImageEntry], str] | None) -> None:
        """A third line per image (the score the list is sorted by), or none."""
        self._score_text = score
        if self.project is not None:
            for e in self.project.images:
                if e.id in self._items:
                    self._update_item(e)

    def set_sort_key(self, key: SortKey | None) -> None:
        """Order the list by ``key(entry)`` (ascending), or by project order when None.

        For instance, most uncertain first: ``set_sort_key(lambda e: -uncertainty.get(e.id, 0))``.
        The order is computed now and again on :meth:`resort` or a full :meth:`refresh`, not on
        every mask save, so the list does not reshuffle under the user while they paint.
        """
        self._sort_key = key
        self.resort()

    def resort(self) -> None:
        """Recompute the sort key for every image and re-order the list."""
        if self.project is None:
            return
        entries = list(self.project.images)
        order = list(range(len(entries)))
        if self._sort_key is not None:
            try:
                order.sort(key=lambda i: self._sort_key(entries[i]))  # type: ignore[misc]
            except Exception:  # a broken key must not break the list: keep project order
                log.exception("image list sort key failed; keeping project order")
        for rank, i in enumerate(order):
            item = self._items.get(entries[i].id)
            if item is not None:
                item.setData(rank, RANK_ROLE)
        self._proxy.sort(0)
        self._thumb_timer.start()

    def _apply_filter(self, *_args: object) -> None:
        self._proxy.text = self.filter_edit.text().strip().casefold()
        self._proxy.state = self.state_combo.currentText()
        self._proxy.refilter()
        self._proxy.sort(0)
        if self._current:
            self.view.scrollTo(self._proxy_index(self._current))
        self._update_count()
        self._thumb_timer.start()

    # -- refresh -----------------------------------------------------------------------------
    def refresh(self, image_id: str | None = None) -> None:
        """Update the state text of one image (its mask was saved) or of all (re-reads the project).

        Refreshing one image keeps the order (no re-sort); refreshing all re-sorts.
        """
        if self.project is None:
            return
        if image_id is None:
            if {e.id for e in self.project.images} != set(self._items):
                self._rebuild()
                return
            for e in self.project.images:
                self._update_item(e)
            self.resort()
        else:
            try:
                entry = self.project.entry(image_id)
            except Exception:
                return
            if image_id not in self._items:
                self._rebuild()
                return
            self._update_item(entry)
        if self._proxy.state != "all" or image_id is None:
            self._proxy.pinned = self._current
            self._proxy.refilter()
            self._proxy.sort(0)
            self._update_count()

    def _rebuild(self) -> None:
        """Recreate every row from the project (images were added or removed)."""
        model = QStandardItemModel(self)
        self._items = {}
        if self.project is not None:
            items = []
            for e in list(self.project.images):
                item = QStandardItem()
                item.setData(e.id, ID_ROLE)
                item.setData(Path(e.file).name, NAME_ROLE)
                item.setEditable(False)
                item.setIcon(self._placeholder)
                self._update_item(e, item)
                items.append(item)
                self._items[e.id] = item
            if items:
                model.invisibleRootItem().appendRows(items)
        if self._current not in self._items:
            self._current = None
            self._proxy.pinned = None
        old = self._model
        self._proxy.setSourceModel(model)
        self._model = model
        old.deleteLater()
        self.resort()
        if self._current is not None:
            self.view.setCurrentIndex(self._proxy_index(self._current))  # same id: no signal
        self._update_count()
        self._thumb_timer.start()

    def _update_item(self, e: ImageEntry, item: QStandardItem | None = None) -> None:
        item = item or self._items[e.id]
        state = state_text(e)
        score = self._score_text(e) if self._score_text is not None else ""
        item.setText(f"{Path(e.file).name}\n{state}" + (f" \u00b7 {score}" if score else ""))
        item.setData(e.painted, PAINTED_ROLE)
        item.setData(e.predicted, PREDICTED_ROLE)
        item.setToolTip(f"{e.file}\n{e.width} x {e.height} px, {state}" + (f"\nfrom {e.source}" if e.source else ""))
        item.setAccessibleText(f"{Path(e.file).name}, {state}")

    def _update_count(self) -> None:
        shown, total = self._proxy.rowCount(), self._model.rowCount()
        self.count_label.setText(f"{total} images" if shown == total else f"{shown} of {total} images shown")

    def _proxy_index(self, image_id: str | None) -> QModelIndex:
        item = self._items.get(image_id) if image_id else None
        if item is None:
            return QModelIndex()
        return self._proxy.mapFromSource(item.index())

    # -- thumbnails --------------------------------------------------------------------------
    def _request_visible_thumbnails(self) -> None:
        """Queue thumbnails for the rows on screen (and a few below), skipping cached ones."""
        if self.project is None or not self.isVisible() or self._proxy.rowCount() == 0:
            return
        top = self.view.indexAt(QPoint(2, 2))
        bottom = self.view.indexAt(QPoint(2, self.view.viewport().height() - 2))
        first = top.row() if top.isValid() else 0
        last = bottom.row() if bottom.isValid() else self._proxy.rowCount() - 1
        for row in range(first, min(last + 8, self._proxy.rowCount() - 1) + 1):
            image_id = self._proxy.index(row, 0).data(ID_ROLE)
            try:
                path = self.project.path_of(self.project.entry(image_id).file)
            except Exception:
                continue
            image = self.thumbnails.request(image_id, path)
            if image is not None:
                self._on_thumbnail(image_id, image)

    def _on_thumbnail(self, image_id: str, image: QImage) -> None:
        item = self._items.get(image_id)
        if item is not None:
            item.setIcon(QIcon(QPixmap.fromImage(image)))

    def showEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt name)
        super().showEvent(event)
        self._thumb_timer.start()

    def resizeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt name)
        super().resizeEvent(event)
        self._thumb_timer.start()

    # -- keys --------------------------------------------------------------------------------
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt name)
        """PageDown/PageUp in the list step one image (not one page): the labelling rhythm."""
        if watched is self.view and event.type() == QEvent.Type.KeyPress:
            key = event.key()  # type: ignore[attr-defined]
            if key == Qt.Key.Key_PageDown:
                self.select_next()
                return True
            if key == Qt.Key.Key_PageUp:
                self.select_previous()
                return True
        return super().eventFilter(watched, event)

    # -- project signals (any thread) --------------------------------------------------------
    def _on_images_changed(self) -> None:  # any thread
        call_in_gui_thread(self, ImageListPanel._rebuild)

    def _on_mask_saved(self, image_id: str) -> None:  # any thread
        call_in_gui_thread(self, ImageListPanel.refresh, image_id)


def _placeholder_icon(size: int) -> QIcon:
    pixmap = QPixmap(size, size * 3 // 4)
    pixmap.fill(QColor(200, 200, 200))
    return QIcon(pixmap)


def _keep_highlight_without_focus(view: QListView) -> None:
    """Show the current image as strongly when the canvas has focus (Qt greys it out by default)."""
    palette = view.palette()
    for role in (QPalette.ColorRole.Highlight, QPalette.ColorRole.HighlightedText):
        palette.setColor(QPalette.ColorGroup.Inactive, role, palette.color(QPalette.ColorGroup.Active, role))
    view.setPalette(palette)
