"""Start the desktop app: one QApplication, the theme, a project, the main window."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication

from fcn_studio.data.project import Project
from fcn_studio.errors import FcnStudioError
from fcn_studio.gui.recent import recent_projects
from fcn_studio.gui.theme import apply_theme, icon


def make_app() -> QApplication:
    app = QApplication.instance()
    if app is None:
        app = QApplication(sys.argv[:1])
    app.setApplicationName("fcn-studio")
    app.setOrganizationName("fcn-studio")
    apply_theme(app)  # type: ignore[arg-type]
    app.setDesktopFileName("fcn-studio")  # Wayland matches the window to resources/fcn-studio.desktop
    app.setWindowIcon(icon("app/fcn-studio"))  # resources/icons/app/fcn-studio.svg
    return app  # type: ignore[return-value]


def default_demo_dir() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("fcn-studio", appauthor=False)) / "demo-project"


def choose_project(project: Path | None, demo: Path | None, settings: QSettings) -> Project:
    """The project to open: the one named, else the demo asked for, else the last one, else a demo."""
    from fcn_studio.data.demo import create_demo_project

    if project is not None:
        return Project.open(project)
    if demo is not None:
        return create_demo_project(demo)
    for recent in recent_projects(settings):
        try:
            return Project.open(recent)
        except FcnStudioError:
            continue
    return create_demo_project(default_demo_dir())


def run_gui(
    project: Path | None = None,
    demo: Path | None = None,
    self_test: bool = False,
    screenshot: Path | None = None,
    quit_after_ms: int | None = None,
) -> int:
    app = make_app()
    if self_test:
        from fcn_studio.gui.self_test import run_self_test

        return run_self_test(app)
    custom = os.environ.get("FCN_STUDIO_SETTINGS")  # tests and benchmarks keep the user's settings untouched
    settings = QSettings(custom, QSettings.Format.IniFormat) if custom else QSettings()
    try:
        chosen = choose_project(project, demo, settings)
    except FcnStudioError as exc:
        print(f"fcn-studio: {exc}", file=sys.stderr)
        return 2
    from fcn_studio.gui.main_window import MainWindow

    window = MainWindow(chosen, settings)
    window.show()
    if screenshot is None and quit_after_ms is None and not settings.value("seen_getting_started", False, type=bool):
        QTimer.singleShot(600, window.show_getting_started)  # the first launch explains the loop once
    if os.environ.get("FCN_STUDIO_REPORT_SHOWN"):  # used by bench/ui_latency.py
        QTimer.singleShot(0, lambda: print("window shown", flush=True))
    if screenshot is not None:

        def shoot() -> None:
            window.grab().save(str(screenshot))
            print(f"screenshot saved to {screenshot}")
            window.close()

        window.editor.image_loaded.connect(lambda _id: QTimer.singleShot(300, shoot))
        if not chosen.images:
            QTimer.singleShot(500, shoot)
    if quit_after_ms is not None:
        QTimer.singleShot(quit_after_ms, window.close)
    return app.exec()
