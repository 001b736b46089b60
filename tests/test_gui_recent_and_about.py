"""Issue 27, items 8 and 10: Help > About names the PySide6 that is installed (PySide6-Essentials
is a PySide6 too), and one recent project comes back after a restart as one project."""

from __future__ import annotations

import shutil

import pytest
from PySide6.QtCore import QSettings

from fcn_studio.data.demo import create_demo_project
from fcn_studio.gui.launch import choose_project
from fcn_studio.gui.main_window import MainWindow

pytestmark = pytest.mark.gui


def test_about_gives_the_pyside6_version_that_is_imported():
    import PySide6

    from fcn_studio.gui.help_pages import about_text, versions

    assert versions()["PySide6"] == PySide6.__version__
    assert f"PySide6</td><td>&nbsp;{PySide6.__version__}" in about_text("cpu")


def test_a_single_recent_project_comes_back_as_one_entry_after_a_restart(tmp_path, qtbot):  # noqa: ANN001
    ini = str(tmp_path / "settings.ini")
    project = create_demo_project(tmp_path / "only", n_images=2, n_labelled=1, size=(40, 56))
    win = MainWindow(project, QSettings(ini, QSettings.Format.IniFormat))
    qtbot.addWidget(win)
    win.settings.sync()
    win.close()

    # What the next launch reads: a copy under another name, since Qt answers a file it already
    # read in this process from memory (where the value is still a list); on disk it is one string.
    shutil.copy(ini, tmp_path / "after_restart.ini")
    restarted = QSettings(str(tmp_path / "after_restart.ini"), QSettings.Format.IniFormat)
    assert restarted.value("recent_projects") == str(project.root)  # how Qt reads a one-item list back
    from fcn_studio.gui.recent import recent_projects

    assert recent_projects(restarted) == [str(project.root)]
    assert choose_project(None, None, restarted).root == project.root  # a plain launch opens it, not the demo

    again = MainWindow(project, restarted)
    qtbot.addWidget(again)
    assert [a.text() for a in again.recent_menu.actions()] == [str(project.root)]  # not one entry per character
    again.close()
