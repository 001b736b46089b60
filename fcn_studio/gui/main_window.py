"""The main window composes: it builds actions and docks and wires panels to the editor.

It does no painting, IO or training itself; each panel is its own widget in its own
module. Long work runs in the background with progress in the status bar.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings, QSignalBlocker, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QMainWindow,
    QMessageBox,
    QWidget,
)

from fcn_studio.data.imageio import IMAGE_SUFFIXES
from fcn_studio.data.project import Project
from fcn_studio.errors import FcnStudioError
from fcn_studio.gui.actions import Actions, build_actions
from fcn_studio.gui.background import Background
from fcn_studio.gui.canvas import Canvas
from fcn_studio.gui.classes_panel import CLASS_KEYS, ClassesPanel
from fcn_studio.gui.editor import MaskEditor
from fcn_studio.gui.image_list import ImageListPanel
from fcn_studio.gui.layers_panel import LayersPanel
from fcn_studio.gui import file_menu, help_pages, project_edits, window_build
from fcn_studio.gui.recent import remember_project
from fcn_studio.gui.status_bar import StatusBar
from fcn_studio.gui.window_fit import place_first_launch, scrolling
from fcn_studio.session import MASK, SessionModel

WARM_UP_DELAY_MS = 1500
class MainWindow(QMainWindow):
    project_opened = Signal(object)
    #: (done, total) of the background job shown in the status bar; emit from any thread
    #: (Qt queues it to the GUI thread), e.g. through :meth:`report_progress`.
    progress_changed = Signal(int, int)
    images_added = Signal(object)  # AddResult

    def __init__(self, project: Project, settings: QSettings | None = None):
        super().__init__()
        self.settings = settings if settings is not None else QSettings("fcn-studio", "fcn-studio")
        self.setAcceptDrops(True)
        self.setDockOptions(QMainWindow.DockOption.AnimatedDocks | QMainWindow.DockOption.AllowTabbedDocks)
        self.last_error: str | None = None
        self._background = Background("fcn-gui-work", self)
        self._stop_requested = False

        self.project = project
        #: what the window shows and chose (layers, project, model, training choices): widgets follow it
        self.session = SessionModel(project)
        self.editor = MaskEditor(project, self)
        self.editor_undo_group = self.editor.undo_group
        self.canvas = Canvas(self.editor, self, session=self.session)
        self.setCentralWidget(self.canvas)

        self.image_list = ImageListPanel()
        self.classes_panel = ClassesPanel()
        self.layers_panel = LayersPanel(self.session)
        self.layers_panel.image_adjust.changed.connect(self.canvas.set_display_adjust)
        self.docks: dict[str, QDockWidget] = {}
        self._add_dock("images", "Images", self.image_list, Qt.DockWidgetArea.LeftDockWidgetArea)
        self._add_dock("classes", "Classes", self.classes_panel, Qt.DockWidgetArea.LeftDockWidgetArea)
        self._add_dock("layers", "Layers", self.layers_panel, Qt.DockWidgetArea.RightDockWidgetArea)

        self.actions_: Actions = build_actions(self)
        window_build.build_menus(self)
        window_build.build_toolbar(self)
        self.status = StatusBar(self)
        self.setStatusBar(self.status)
        self.progress = self.status.work_progress
        self.cancel_button = self.status.cancel
        self.cancel_button.clicked.connect(self._request_stop)
        self.progress_changed.connect(self._show_progress)
        self._class_shortcuts = [
            QShortcut(QKeySequence(sequence), self, activated=lambda n=n: self.classes_panel.select_class_by_number(n))
            for n, (sequence, _) in enumerate(CLASS_KEYS, start=1)
        ]
        self.layers_panel.add_layer(MASK, "Painted mask", key_hint="M")
        self.actions_.toggle_mask.setChecked(self.session.visible(MASK))
        self.session.layer_changed.connect(self._on_layer_changed)
        window_build.build_training(self)

        window_build.wire(self)
        self._set_project(project)
        self._restore_settings()
        QTimer.singleShot(0, self._detect_device)
        # Load torch while the user looks at the window, not when they press Fine-tune: its
        # import holds the interpreter for a moment, better now than mid-stroke.
        QTimer.singleShot(WARM_UP_DELAY_MS, self._warm_up_training)

    # -- construction ----------------------------------------------------------------------
    def _add_dock(self, name: str, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        """A dock whose panel scrolls when the screen is lower than the panel (issue 34: the
        stacked Layers and Training panels made the window at least 1083 px tall)."""
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock_{name}")
        dock.setWidget(scrolling(widget))
        self.addDockWidget(area, dock)
        self.docks[name] = dock
        return dock

    # -- project ---------------------------------------------------------------------------
    def _set_project(self, project: Project) -> None:
        self.project = project
        self.session.set_project(project)
        self.setWindowTitle(f"{project.root.name} — fcn-studio")
        self.classes_panel.set_project(project)
        self.image_list.set_project(project)
        self.editor.set_active_class(self.classes_panel.active_class)
        self._remember_recent(project.root)
        if project.warnings:
            self.show_error("Opened with repairs", "\n".join(project.warnings), warning=True)
        if project.images:
            self.image_list.select(project.images[0].id)
        else:
            self.prediction_layers.clear()
            self.status.showMessage("This project has no images yet: File → Add images… or Add folder…")
        self.project_opened.emit(project)

    def open_project(self, root: str | Path) -> bool:
        """Switch to another project folder (the current one is saved first)."""
        try:
            project = Project.open(root)
        except FcnStudioError as exc:
            self.show_error("Cannot open project", str(exc))
            return False
        self.training.leave_project()
        self.paint_next.forget()
        self.click_segment.forget()
        self.editor.set_project(project)
        self.prediction_layers.set_labelset(project.labelset)
        self.heatmap_legend.set_labelset(project.labelset)
        self._set_project(project)
        self.training.show_project()
        return True

    def _set_hidden_classes(self, hidden: frozenset) -> None:
        self.canvas.set_hidden_classes(hidden)
        self.prediction_layers.refresh_colours()

    def clear_mask(self) -> bool:
        return project_edits.clear_mask(self)

    def remove_selected_images(self, *, confirm: bool = True) -> int:
        return project_edits.remove_selected_images(self, confirm=confirm)

    def show_about(self) -> None:
        help_pages.show_about(self)

    def show_getting_started(self) -> None:
        help_pages.show_getting_started(self)

    def _on_image_selected(self, image_id: str) -> None:
        self.editor.open_image(image_id)

    def _on_image_loaded(self, image_id: str) -> None:
        entry = self.project.entry(image_id)
        self.status.show_passing(f"{entry.file}  ({entry.width}x{entry.height})", 4000)
        # Keys go where the eye is: after a click or an arrow key in the image list, the list
        # keeps the keys (arrows, Home/End move in it); opened any other way, the canvas takes them.
        if not self.image_list.view.hasFocus():
            self.canvas.setFocus()

    # -- slots for actions -----------------------------------------------------------------
    def set_tool(self, name: str) -> None:
        self.canvas.set_tool(name)
        self.actions_.tools[name].setChecked(True)

    def set_only_unpainted(self, on: bool) -> None:
        self.editor.only_unpainted = bool(on)
        self.status.showMessage("The brush paints only unpainted pixels" if on else "The brush paints over everything", 3000)

    def scale_brush(self, factor: float) -> None:
        self.editor.set_brush_radius(self.editor.brush_radius * factor)
        self.status.showMessage(f"Brush size {self.editor.brush_radius * 2:.0f} px", 1500)

    def set_mask_visible(self, visible: bool) -> None:
        """Show or hide the painted mask (the action, the M key): the canvas and the panel follow."""
        self.session.set_visible(MASK, visible)

    def _on_layer_changed(self, name: str, state) -> None:  # noqa: ANN001
        if name == MASK and self.actions_.toggle_mask.isChecked() != state.visible:
            with QSignalBlocker(self.actions_.toggle_mask):
                self.actions_.toggle_mask.setChecked(state.visible)

    def canvas_fit(self) -> None:
        self.canvas.fit_to_window()

    def canvas_actual(self) -> None:
        self.canvas.actual_size()

    def canvas_zoom_in(self) -> None:
        self.canvas.zoom_in()

    def canvas_zoom_out(self) -> None:
        self.canvas.zoom_out()

    def next_image(self) -> None:
        self.image_list.select_next()

    def previous_image(self) -> None:
        self.image_list.select_previous()

    def save_all(self) -> None:
        self.editor.flush()
        try:
            self.project.save()
        except FcnStudioError as exc:
            self.show_error("Could not save", str(exc))
            return
        self.status.showMessage("Saved", 2000)

    def new_project(self) -> None:
        file_menu.new_project(self)

    def open_project_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open project folder")
        if folder:
            self.open_project(folder)

    def add_images_dialog(self) -> None:
        file_menu.add_images_dialog(self)

    def add_folder_dialog(self) -> None:
        file_menu.add_folder_dialog(self)

    def add_images(self, paths: list, mode: str = "copy") -> None:
        """Copy images in the background with progress; one bad file is reported, not fatal."""
        file_menu.add_images(self, paths, mode)

    def import_masks_dialog(self) -> None:
        from fcn_studio.gui.import_dialog import ImportMasksDialog

        self.editor.flush()
        dialog = ImportMasksDialog(self.project, self)
        dialog.imported.connect(self._on_masks_imported)
        dialog.open()

    def _on_masks_imported(self, image_ids: list) -> None:
        if self.editor.image_id in image_ids:
            self.editor.reload_mask()
        self.image_list.refresh()

    def export_dialog(self) -> None:
        from fcn_studio.gui.export_dialog import ExportDialog

        self.editor.flush()
        dialog = ExportDialog(self.project, selected_ids=[i for i in [self.image_list.current_id()] if i], parent=self)
        dialog.open()

    def export_model_dialog(self) -> None:
        from fcn_studio.gui.export_model_dialog import ExportModelDialog

        ExportModelDialog(self.training.checkpoint_path, self).open()

    def _apply_labelset_edit(self, new_labelset, mapping) -> None:
        from fcn_studio.data.labelset_edit import apply_to_project

        self.editor.flush()
        try:
            apply_to_project(self.project, new_labelset, mapping)
        except FcnStudioError as exc:
            self.show_error("Could not change the classes", str(exc))
            return
        self.editor.reload_mask()
        self.canvas.set_labelset(new_labelset)
        self.prediction_layers.set_labelset(new_labelset)
        self.heatmap_legend.set_labelset(new_labelset)
        self.classes_panel.set_project(self.project)
        self.image_list.refresh()

    # -- progress for background work ------------------------------------------------------
    def _start_progress(self, text: str) -> None:
        self._stop_requested = False
        self.progress.setRange(0, 0)
        self.progress.setFormat(f"{text} %v/%m")
        self.progress.setVisible(True)
        self.cancel_button.setVisible(True)

    def report_progress(self, done: int, total: int) -> None:
        """Thread-safe: a worker calls this, the status bar updates on the GUI thread."""
        self.progress_changed.emit(done, total)

    def _show_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, total)
        self.progress.setValue(done)

    def _end_progress(self) -> None:
        self.progress.setVisible(False)
        self.cancel_button.setVisible(False)

    def _request_stop(self) -> None:
        self._stop_requested = True

    # -- status and messages ---------------------------------------------------------------
    def _on_cursor(self, x: int, y: int) -> None:
        self._cursor = (x, y)
        value = self.editor.value_at(x, y) if x >= 0 else None
        self.status.show_cursor(x, y, value, self.project.labelset)

    def _mask_changed_under_cursor(self, *_: object) -> None:
        """The mask changed without the pointer moving (Accept, undo, a click of Accept region):
        the under-cursor class is read again from the live mask, not left at "not painted"."""
        x, y = getattr(self, "_cursor", (-1, -1))
        if x >= 0:
            self._on_cursor(x, y)

    def _detect_device(self) -> None:
        from fcn_studio.device_info import describe_device_in_subprocess as describe_device

        self._background.submit(describe_device, self.status.show_device, lambda exc: self.status.show_device("unknown"))

    def _warm_up_training(self) -> None:
        """Start the next training process ahead (it imports torch meanwhile; this process never
        does, so loading torch cannot stall the window).

        A project that already has a model starts it at the first edit instead: opened to
        review or predict, it does not hold a spare trainer's 0.7 GB (issue 27, memory); the
        user paints before the next Fine-tune, which leaves the spare time to start.
        """
        if self.training.checkpoint_path.exists() and not self.training.controller.running:
            self.editor.region_changed.connect(self._warm_up_on_first_edit)
            return
        self.training.controller.prewarm()

    def _warm_up_on_first_edit(self, *_: object) -> None:
        self.editor.region_changed.disconnect(self._warm_up_on_first_edit)
        self.training.controller.prewarm()

    def show_error(self, title: str, text: str, warning: bool = False) -> None:
        """A readable, non-blocking message; the app stays usable behind it."""
        self.last_error = text
        box = QMessageBox(QMessageBox.Icon.Warning if warning else QMessageBox.Icon.Critical, title, text, parent=self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    def _show_shortcuts(self) -> None:
        help_pages.show_shortcuts(self)

    # -- settings, drag and drop, closing --------------------------------------------------
    def _remember_recent(self, root: Path) -> None:
        recent = remember_project(self.settings, root)
        self.recent_menu.clear()
        for r in recent:
            act = QAction(r, self)
            act.triggered.connect(lambda _=False, r=r: self.open_project(r))
            self.recent_menu.addAction(act)

    def _restore_settings(self) -> None:
        geometry = self.settings.value("geometry")
        state = self.settings.value("window_state")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        else:
            place_first_launch(self)
        if isinstance(state, QByteArray):
            self.restoreState(state)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        paths = []
        for url in event.mimeData().urls():
            p = Path(url.toLocalFile())
            if p.is_dir():
                paths += sorted(q for q in p.iterdir() if q.suffix.lower() in IMAGE_SUFFIXES)
            elif p.suffix.lower() in IMAGE_SUFFIXES:
                paths.append(p)
        if paths:
            self.add_images(paths)
            event.acceptProposedAction()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        self.editor.flush()
        if self.editor.dirty:  # the save failed: ask rather than lose work
            answer = QMessageBox.question(
                self,
                "Unsaved painting",
                "Your last strokes could not be saved (see the message). Close anyway and lose them?",
                QMessageBox.StandardButton.Cancel | QMessageBox.StandardButton.Discard,
            )
            if answer != QMessageBox.StandardButton.Discard:
                event.ignore()
                return
        while True:  # a project that cannot be saved is said, not swallowed (issue 15)
            try:
                self.project.save()
                break
            except (FcnStudioError, OSError) as exc:
                answer = QMessageBox.warning(
                    self, "Could not save the project",
                    f"The project file could not be saved:\n{exc}\n\nFree some space or fix the folder, then save again.",
                    QMessageBox.StandardButton.Retry | QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
                )
                if answer == QMessageBox.StandardButton.Retry:
                    continue
                if answer == QMessageBox.StandardButton.Cancel:
                    event.ignore()
                    return
                break
        self.settings.setValue("geometry", self.saveGeometry())
        self.settings.setValue("window_state", self.saveState())
        self.settings.sync()
        self.click_segment.shutdown()
        self.training.shutdown()
        self.editor.shutdown()
        self._background.shutdown()
        super().closeEvent(event)
