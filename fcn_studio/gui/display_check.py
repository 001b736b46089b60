"""Say which Debian package is missing before Qt's xcb plugin aborts the process.

Qt prints a bare "could not load the Qt platform plugin xcb" and aborts when one of the X11
client libraries is missing. This check runs first (without importing Qt), reads the plugin's
shared-library needs with ``ldd`` and names the packages that provide what is missing.
"""

from __future__ import annotations

import ctypes.util
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

#: shared library (soname prefix) -> Debian/Ubuntu package that ships it
DEBIAN_PACKAGES = {
    "libxcb-cursor.so": "libxcb-cursor0",
    "libxcb-icccm.so": "libxcb-icccm4",
    "libxcb-keysyms.so": "libxcb-keysyms1",
    "libxcb-image.so": "libxcb-image0",
    "libxcb-render-util.so": "libxcb-render-util0",
    "libxcb-randr.so": "libxcb-randr0",
    "libxcb-shape.so": "libxcb-shape0",
    "libxcb-xfixes.so": "libxcb-xfixes0",
    "libxcb-xinerama.so": "libxcb-xinerama0",
    "libxcb-xkb.so": "libxcb-xkb1",
    "libxcb-sync.so": "libxcb-sync1",
    "libxcb-shm.so": "libxcb-shm0",
    "libxcb-render.so": "libxcb-render0",
    "libxcb-xinput.so": "libxcb-xinput0",
    "libxcb.so": "libxcb1",
    "libxkbcommon-x11.so": "libxkbcommon-x11-0",
    "libxkbcommon.so": "libxkbcommon0",
    "libX11-xcb.so": "libx11-xcb1",
    "libX11.so": "libx11-6",
    "libEGL.so": "libegl1",
    "libGL.so": "libgl1",
    "libOpenGL.so": "libopengl0",
    "libfontconfig.so": "libfontconfig1",
    "libfreetype.so": "libfreetype6",
    "libdbus-1.so": "libdbus-1-3",
    "libglib-2.0.so": "libglib2.0-0",
}


def _xcb_plugin() -> Path | None:
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    for base in spec.submodule_search_locations:
        plugin = Path(base) / "Qt" / "plugins" / "platforms" / "libqxcb.so"
        if plugin.exists():
            return plugin
    return None


def missing_xcb_libraries() -> list[str]:
    """Shared libraries the xcb platform plugin needs but cannot find (empty when all is well)."""
    plugin = _xcb_plugin()
    missing: list[str] = []
    if plugin is not None:
        try:
            out = subprocess.run(["ldd", str(plugin)], capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            out = ""
        missing += [line.split()[0] for line in out.splitlines() if "not found" in line]
    # Qt >= 6.5 dlopens xcb-cursor at start-up, so ldd does not list it.
    if ctypes.util.find_library("xcb-cursor") is None:
        missing.append("libxcb-cursor.so.0")
    return sorted(set(missing))


def packages_for(libraries: list[str]) -> list[str]:
    found = []
    for lib in libraries:
        for prefix, package in DEBIAN_PACKAGES.items():
            if lib.startswith(prefix + ".") or lib == prefix:
                found.append(package)
                break
        else:
            found.append(f"(the package providing {lib})")
    return sorted(set(found))


def display_problem() -> str | None:
    """A sentence saying why a window cannot open here and what to do, or None when it can."""
    if not sys.platform.startswith("linux"):
        return None
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if platform and not platform.startswith("xcb"):
        return None  # offscreen, wayland, vnc ...: not the xcb plugin
    if not platform and os.environ.get("WAYLAND_DISPLAY"):
        return None
    if not os.environ.get("DISPLAY"):
        return (
            "no display found (DISPLAY is not set). Run fcn-studio from a desktop session, "
            "under `xvfb-run`, or headless with QT_QPA_PLATFORM=offscreen."
        )
    missing = missing_xcb_libraries()
    if missing:
        pkgs = " ".join(packages_for(missing))
        return (
            f"Qt's X11 (xcb) plugin cannot load: missing {', '.join(missing)}. "
            f"Install them with: sudo apt-get install {pkgs}"
        )
    return None
