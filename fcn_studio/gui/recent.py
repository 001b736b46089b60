"""The recent-projects list in QSettings, read back as a list whatever Qt stored.

An INI file keeps a one-item list as a plain string (``recent_projects=/home/me/roads``), and Qt
gives it back as that string after a restart: iterated, it was one "project" per character, and
a plain launch opened the demo instead of the last project. Every read goes through here.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings

KEY = "recent_projects"
MAX_RECENT = 8


def recent_projects(settings: QSettings) -> list[str]:
    """The remembered project folders, most recent first (never a bare string)."""
    value = settings.value(KEY)
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value else []
    return [str(v) for v in value if v]


def remember_project(settings: QSettings, root: str | Path) -> list[str]:
    """Put ``root`` first in the list (once), keep ``MAX_RECENT``; returns the new list."""
    root = str(root)
    recent = [root, *(r for r in recent_projects(settings) if r != root)][:MAX_RECENT]
    settings.setValue(KEY, recent)
    return recent
