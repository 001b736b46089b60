"""File-menu jobs of the main window: a new project, adding images (files or a folder).

Kept out of the main window (which only composes, labelme's lesson), like
:mod:`fcn_studio.gui.project_edits`: each function takes the window for its project, image list,
status bar and background queue, asks the user where that is due, and reports.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QInputDialog

from fcn_studio.data.imageio import IMAGE_SUFFIXES
from fcn_studio.data.labelset import preset_names
from fcn_studio.data.project import Project
from fcn_studio.errors import FcnStudioError


def new_project(window) -> None:
    """Ask for a folder and a label-set preset, create the project there and open it."""
    folder = QFileDialog.getExistingDirectory(window, "Folder for the new project")
    if not folder:
        return
    names = preset_names()
    preset, ok = QInputDialog.getItem(window, "Label set", "Start from the classes of:", names, names.index("road") if "road" in names else 0, False)
    if not ok:
        return
    try:
        Project.create(folder, preset)
    except FcnStudioError as exc:
        window.show_error("Cannot create project", str(exc))
        return
    window.open_project(folder)


def add_images_dialog(window) -> None:
    """Pick image files to add (copied into the project)."""
    patterns = " ".join(f"*{s}" for s in IMAGE_SUFFIXES)
    files, _ = QFileDialog.getOpenFileNames(window, "Add images", "", f"Images ({patterns})")
    if files:
        window.add_images(files)


def add_folder_dialog(window) -> None:
    """Pick a folder; every image in it is added."""
    folder = QFileDialog.getExistingDirectory(window, "Add every image in a folder")
    if folder:
        window.add_images(sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES))


def add_images(window, paths: list, mode: str = "copy") -> None:
    """Copy images in the background with progress; one bad file is reported, not fatal."""
    project = window.project
    window._start_progress("Adding images")

    def work():
        return project.add_images(paths, mode=mode, progress=window.report_progress, should_stop=lambda: window._stop_requested)

    def done(result) -> None:
        window._end_progress()
        window.image_list.refresh()
        msg = f"Added {len(result.added)} image(s)"
        if result.duplicates:
            msg += f", {len(result.duplicates)} already in the project"
        window.status.showMessage(msg, 5000)
        if result.refused:
            lines = [f"{Path(p).name}: {why}" for p, why in result.refused[:20]]
            window.show_error("Some files were not added", "\n".join(lines), warning=True)
        if result.added and window.editor.image_id is None:
            window.image_list.select(result.added[0].id)
        window.images_added.emit(result)

    def failed(exc: BaseException) -> None:
        window._end_progress()
        window.show_error("Could not add images", str(exc))

    window._background.submit(work, done, failed)
