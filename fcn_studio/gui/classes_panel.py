"""The label set as a list: pick the class to paint with, and ask for edits of the set.

The panel *proposes* edits and never writes: an edit of the class list can renumber the ids
stored in every saved mask, and only the main window knows which canvas edits are not saved
yet. So each edit is computed with the Qt-free :mod:`fcn_studio.data.labelset_edit` and sent
as ``labelset_edit_requested(new_labelset, mapping)``; the main window flushes pending saves,
calls ``labelset_edit.apply_to_project`` and the project's ``labelset_changed`` brings the new
set back here (the active class follows its renumbering).

Deleting a class that has painted pixels asks first and says how much work it undoes; the
count reads every mask, so it runs off the UI thread.

Dialogs go through ``_ask_name``, ``_ask_color``, ``_confirm`` and ``_show_error`` so tests
replace them instead of clicking through modal boxes.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QIcon, QKeySequence, QPainter, QPixmap, QShortcut
from PySide6.QtWidgets import (
    QColorDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from fcn_studio.data import labelset_edit
from fcn_studio.data.labelset import UNPAINTED, LabelClass, LabelSet
from fcn_studio.data.labelset_edit import ClassUsage, Mapping
from fcn_studio.data.project import Project
from fcn_studio.errors import FcnStudioError
from fcn_studio.gui.background import Background

log = logging.getLogger(__name__)

RGB = tuple[int, int, int]


def swatch_icon(color: RGB, size: int = 16) -> QIcon:
    """A filled square in ``color`` with a thin dark border (visible on white and black)."""
    pixmap = QPixmap(size, size)
    pixmap.fill(QColor(60, 60, 60))
    inner = QPixmap(size - 2, size - 2)
    inner.fill(QColor(*color))
    painter = QPainter(pixmap)
    painter.drawPixmap(1, 1, inner)
    painter.end()
    return QIcon(pixmap)


#: (shortcut, what the class list shows) for the n-th trainable class: 1-9, then 0 for the
#: tenth, then Shift with 1-9 and 0 for the 11th-20th (CamVid's 11 classes all get a key).
CLASS_KEYS: tuple[tuple[str, str], ...] = (
    *((str(n), str(n)) for n in range(1, 10)),
    ("0", "0"),
    *((f"Shift+{n}", f"⇧{n}") for n in range(1, 10)),
    ("Shift+0", "⇧0"),
)


def class_key(labelset: LabelSet, class_id: int) -> str | None:
    """The key that picks ``class_id`` as the list shows it ("3", "0", "⇧1"), from its place
    among the trainable classes; None past the 20th."""
    for (_, shown), c in zip(CLASS_KEYS, labelset.trainable_classes, strict=False):
        if c.id == class_id:
            return shown
    return None


class ClassesPanel(QWidget):
    """Class list with colour swatches, the active (painting) class, and edit buttons."""

    active_class_changed = Signal(int)
    hidden_classes_changed = Signal(object)  # frozenset of class ids left out of the overlays
    #: (new LabelSet, mapping old id -> new id for renumbered ids; 255 = becomes unpainted)
    labelset_edit_requested = Signal(object, object)
    _labelset_bridge = Signal(object)  # project.labelset_changed, from any thread

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.project: Project | None = None
        self.labelset: LabelSet | None = None
        self._active: int | None = None
        self._follow: tuple[LabelSet, Mapping] | None = None  # the edit last requested
        self._jobs = Background("fcn-class-usage", self)
        self._counting = False  # a usage count runs
        self._hidden: set[int] = set()  # classes unticked: left out of the mask and prediction layers

        self.list = QListWidget()
        self.list.setAccessibleName("Classes")
        self.list.setToolTip("Click a class to paint with it; the key shown picks it (1-9, 0, then Shift+1…)")
        self.status = QLabel()
        self.status.setWordWrap(True)

        def button(text: str, tip: str, slot) -> QToolButton:
            b = QToolButton()
            b.setText(text)
            b.setToolTip(tip)
            b.setAccessibleName(tip.split(" (")[0])
            b.clicked.connect(lambda _checked=False: slot())  # not slot(checked): False would read as id 0
            return b

        self.add_button = button("+", "Add a class at the end", self.add_class)
        self.rename_button = button("Rename", "Rename the selected class (F2, or double-click)", self.rename_class)
        self.recolor_button = button("Colour", "Change the selected class's colour", self.recolor_class)
        self.up_button = button("\u2191", "Move the selected class up (its id and the ids it passes change)", self.move_up)
        self.down_button = button("\u2193", "Move the selected class down (its id and the ids it passes change)", self.move_down)
        self.delete_button = button(
            "\u2212", "Delete the selected class (its pixels become unpainted; asks first if it is in use)", self.delete_class
        )
        buttons = QHBoxLayout()
        for b in (self.add_button, self.rename_button, self.recolor_button, self.up_button, self.down_button, self.delete_button):
            buttons.addWidget(b)
        buttons.addStretch(1)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.list, 1)
        layout.addLayout(buttons)
        layout.addWidget(self.status)

        self.list.currentItemChanged.connect(self._on_current_item)
        self.list.itemChanged.connect(self._on_item_changed)
        self.list.itemDoubleClicked.connect(lambda item: self.rename_class(item.data(Qt.ItemDataRole.UserRole)))
        for key, slot in ((Qt.Key.Key_F2, self.rename_class), (QKeySequence.StandardKey.Delete, self.delete_class)):
            shortcut = QShortcut(QKeySequence(key), self.list)
            shortcut.setContext(Qt.ShortcutContext.WidgetShortcut)
            shortcut.activated.connect(slot)
        self._labelset_bridge.connect(self.set_labelset, Qt.ConnectionType.QueuedConnection)
        self._update_buttons()

    # -- model -------------------------------------------------------------------------------
    def set_project(self, project: Project | None) -> None:
        """Show ``project``'s label set and follow its ``labelset_changed``.

        Calling it again with the same project (after applying an edit) is a refresh: the
        active class still follows the renumbering of the edit last requested.
        """
        if project is not self.project:
            self._follow = None
        if self.project is not None:
            self.project.labelset_changed.disconnect(self._on_labelset_changed)
        self.project = project
        if project is not None:
            project.labelset_changed.connect(self._on_labelset_changed)
        self.set_labelset(project.labelset if project is not None else None)

    def refresh(self) -> None:
        """Re-read the project's label set (after an edit was applied)."""
        self.set_labelset(self.project.labelset if self.project is not None else None)

    def set_labelset(self, labelset: LabelSet | None) -> None:
        """Show ``labelset``; the active class keeps its meaning across a renumbering."""
        active = self._active
        if self._follow is not None and labelset is not None and self._follow[0] == labelset and active is not None:
            active = self._follow[1].get(active, active)
            self._follow = None
        self.labelset = labelset
        ids = {c.id for c in labelset.classes} if labelset is not None else set()
        if not self._hidden <= ids:
            self._hidden &= ids
            self.hidden_classes_changed.emit(frozenset(self._hidden))
        self.status.clear()
        self.list.blockSignals(True)
        self.list.clear()
        for c in labelset.classes if labelset is not None else ():
            self.list.addItem(self._make_item(labelset, c))
        self.list.blockSignals(False)
        if labelset is None:
            self._set_active(None)
        elif active is not None and active != UNPAINTED and any(c.id == active for c in labelset.classes):
            self.select_class(active)
        else:
            self.select_class(labelset.trainable_classes[0].id)
        self._update_buttons()

    def _make_item(self, ls: LabelSet, c: LabelClass) -> QListWidgetItem:
        ignored = c.id == ls.ignore_index
        key = class_key(ls, c.id)
        # the number shown is the key that picks the class (what users read it as); the id
        # that masks store is in the tooltip
        text = f"{key or ' '}  {c.name}" + ("  (ignored in training)" if ignored else "")
        item = QListWidgetItem(swatch_icon(c.color), text)
        item.setData(Qt.ItemDataRole.UserRole, c.id)
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
        item.setCheckState(Qt.CheckState.Unchecked if c.id in self._hidden else Qt.CheckState.Checked)
        tip = f"untick to hide it in the overlays; id {c.id} in masks, colour #{c.color[0]:02x}{c.color[1]:02x}{c.color[2]:02x}"
        if ignored:
            tip += "; painted pixels of this class are skipped by training and metrics"
        elif key:
            tip += f"; press {key.replace('⇧', 'Shift+')} to paint with it"
        item.setToolTip(tip)
        return item

    # -- active class ------------------------------------------------------------------------
    @property
    def active_class(self) -> int | None:
        """Id of the class the brush paints with (None without a label set)."""
        return self._active

    def select_class(self, class_id: int) -> bool:
        """Make ``class_id`` the active class; False if the label set has no such class."""
        for row in range(self.list.count()):
            if self.list.item(row).data(Qt.ItemDataRole.UserRole) == class_id:
                self.list.setCurrentRow(row)
                self._set_active(class_id)  # also when the row was already current
                return True
        return False

    def select_class_by_number(self, n: int) -> bool:
        """The n-th key of :data:`CLASS_KEYS` picks the n-th trainable class; False if there is none."""
        if self.labelset is None or not 1 <= n <= len(self.labelset.trainable_classes):
            return False
        return self.select_class(self.labelset.trainable_classes[n - 1].id)

    @property
    def hidden_classes(self) -> frozenset[int]:
        return frozenset(self._hidden)

    def set_class_visible(self, class_id: int, visible: bool) -> None:
        for i in range(self.list.count()):
            item = self.list.item(i)
            if item.data(Qt.ItemDataRole.UserRole) == class_id:
                item.setCheckState(Qt.CheckState.Checked if visible else Qt.CheckState.Unchecked)

    def _on_item_changed(self, item: QListWidgetItem) -> None:
        class_id = item.data(Qt.ItemDataRole.UserRole)
        hidden = item.checkState() != Qt.CheckState.Checked
        if (class_id in self._hidden) != hidden:
            (self._hidden.add if hidden else self._hidden.discard)(class_id)
            self.hidden_classes_changed.emit(frozenset(self._hidden))

    def _on_current_item(self, item: QListWidgetItem | None, _previous: QListWidgetItem | None) -> None:
        if item is not None:
            self._set_active(item.data(Qt.ItemDataRole.UserRole))
        self._update_buttons()

    def _set_active(self, class_id: int | None) -> None:
        if class_id == self._active:
            return
        self._active = class_id
        if class_id is not None:
            self.active_class_changed.emit(class_id)

    # -- edits -------------------------------------------------------------------------------
    def add_class(self) -> None:
        """Ask for a name and colour, then request a new class at the end of the order."""
        if self.labelset is None:
            return
        name = self._ask_name("Add class", "Name of the new class:", "")
        if name is None:
            return
        try:  # a taken name is refused now, not after the colour dialog
            labelset_edit.add_class(self.labelset, name)
        except FcnStudioError as exc:
            self._show_error(str(exc))
            return
        color = self._ask_color(labelset_edit.suggest_color(self.labelset), f"Colour of {name}")
        if color is None:
            return
        self._request(lambda ls: labelset_edit.add_class(ls, name, color), follow_new=True)

    def rename_class(self, class_id: int | None = None) -> None:
        cls = self._class(class_id)
        if cls is None:
            return
        name = self._ask_name("Rename class", f"New name of {cls.name!r}:", cls.name)
        if name is None or name.strip() == cls.name:
            return
        self._request(lambda ls: (labelset_edit.rename(ls, cls.id, name), {}))

    def recolor_class(self, class_id: int | None = None) -> None:
        cls = self._class(class_id)
        if cls is None:
            return
        color = self._ask_color(cls.color, f"Colour of {cls.name}")
        if color is None or tuple(color) == tuple(cls.color):
            return
        self._request(lambda ls: (labelset_edit.recolor(ls, cls.id, color), {}))

    def move_up(self) -> None:
        self._move(-1)

    def move_down(self) -> None:
        self._move(+1)

    def _move(self, delta: int) -> None:
        cls = self._class(None)
        if cls is None or self.labelset is None or cls.id == self.labelset.ignore_index:
            return
        position = cls.id + delta  # trainable ids are positions
        if 0 <= position < self.labelset.num_classes:
            self._request(lambda ls: labelset_edit.move(ls, cls.id, position))

    def delete_class(self, class_id: int | None = None) -> None:
        """Request deleting a class; if its pixels are painted anywhere, count them and ask first."""
        cls = self._class(class_id)
        if cls is None or self._counting:
            return
        try:
            labelset_edit.delete(self.labelset, cls.id)  # refuse (e.g. the last class) before counting
        except FcnStudioError as exc:
            self._show_error(str(exc))
            return
        if self.project is None:
            self._request(lambda ls: labelset_edit.delete(ls, cls.id))
            return
        self.status.setText(f"Checking where {cls.name!r} is painted\u2026")
        self._set_buttons_enabled(False)
        project, labelset = self.project, self.labelset
        self._counting = self._jobs.submit(
            lambda: labelset_edit.class_usage(project, cls.id),
            lambda usage: self._on_usage(project, labelset, cls, usage),
            lambda exc: self._on_usage(project, labelset, cls, exc),
        )

    def _on_usage(self, project: Project, labelset: LabelSet, cls: LabelClass, usage: ClassUsage | BaseException) -> None:
        self._counting = False
        self.status.clear()
        self._set_buttons_enabled(True)
        if project is not self.project or labelset != self.labelset:
            return  # the project or label set changed meanwhile: that answer is stale
        if isinstance(usage, BaseException):
            if not isinstance(usage, FcnStudioError):
                log.error("counting class usage failed", exc_info=usage)
            self._show_error(f"Could not check where {cls.name!r} is painted: {usage}")
            return
        if usage.pixels or usage.unreadable:
            text = delete_warning(cls, usage, labelset)
            if not self._confirm(f"Delete class {cls.name!r}?", text):
                return
        self._request(lambda ls: labelset_edit.delete(ls, cls.id))

    def _request(self, edit, follow_new: bool = False) -> None:
        """Compute an edit of the shown label set and emit it; show the reason if it is refused."""
        if self.labelset is None:
            return
        if self.project is not None and self.project.labelset != self.labelset:
            # the last edit is applied but not shown yet: an edit of the old set would undo it
            self.status.setText("Applying the last change; try again in a moment.")
            return
        try:
            new_ls, mapping = edit(self.labelset)
        except FcnStudioError as exc:
            self._show_error(str(exc))
            return
        if new_ls == self.labelset and not mapping:
            return
        follow = dict(mapping)
        if follow_new and self._active is not None:
            follow[self._active] = new_ls.num_classes - 1  # paint with the class just added
        self._follow = (new_ls, follow)
        self.labelset_edit_requested.emit(new_ls, dict(mapping))

    # -- helpers -----------------------------------------------------------------------------
    def _class(self, class_id: int | None) -> LabelClass | None:
        if self.labelset is None:
            return None
        class_id = self._active if class_id is None else class_id
        try:
            return self.labelset.by_id(class_id) if class_id is not None else None
        except KeyError:
            return None

    def _update_buttons(self) -> None:
        cls = self._class(None)
        ls = self.labelset
        trainable = cls is not None and ls is not None and cls.id != ls.ignore_index
        self.add_button.setEnabled(ls is not None)
        self.rename_button.setEnabled(cls is not None)
        self.recolor_button.setEnabled(cls is not None)
        self.up_button.setEnabled(trainable and cls.id > 0)  # type: ignore[union-attr]
        self.down_button.setEnabled(trainable and cls.id < ls.num_classes - 1)  # type: ignore[union-attr]
        self.delete_button.setEnabled(cls is not None and (not trainable or ls.num_classes > 1))  # type: ignore[union-attr]

    def _set_buttons_enabled(self, enabled: bool) -> None:
        for b in (self.add_button, self.rename_button, self.recolor_button, self.up_button, self.down_button, self.delete_button):
            b.setEnabled(enabled)
        if enabled:
            self._update_buttons()

    def _on_labelset_changed(self, labelset: LabelSet) -> None:
        try:
            self._labelset_bridge.emit(labelset)
        except RuntimeError:
            pass  # the widget is gone

    # -- dialogs (tests replace these) -------------------------------------------------------
    def _ask_name(self, title: str, label: str, text: str) -> str | None:
        name, ok = QInputDialog.getText(self, title, label, text=text)
        return name if ok and name.strip() else None

    def _ask_color(self, initial: RGB, title: str) -> RGB | None:
        color = QColorDialog.getColor(QColor(*initial), self, title)
        return (color.red(), color.green(), color.blue()) if color.isValid() else None

    def _confirm(self, title: str, text: str) -> bool:
        answer = QMessageBox.question(
            self, title, text, QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Cancel
        )
        return answer == QMessageBox.StandardButton.Yes

    def _show_error(self, message: str) -> None:
        QMessageBox.warning(self, "Label set", message)


def delete_warning(cls: LabelClass, usage: ClassUsage, labelset: LabelSet) -> str:
    """The question before deleting a class in use: how much painted work becomes unpainted."""
    images = f"{usage.images} image{'s' if usage.images != 1 else ''}"
    text = f"{usage.pixels:,} painted pixels in {images} are {cls.name!r}; they will become unpainted."
    if cls.id != labelset.ignore_index and cls.id < labelset.num_classes - 1:
        text += " The classes after it get ids one lower, so models trained so far no longer match."
    if usage.unreadable:
        text += f"\n\n{len(usage.unreadable)} mask(s) could not be read and were not counted: {usage.unreadable[0]}"
    return text + "\n\nDelete it?"
