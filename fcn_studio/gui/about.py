"""Help texts: *About* (versions and device, for bug reports) and *Getting started*.

Versions are read from package metadata, never by importing torch: the window's process
does not load torch (training and predictions run in child processes).
"""

from __future__ import annotations

import platform
from importlib import metadata

from fcn_studio import __version__

GETTING_STARTED = """
<h3>Getting started</h3>
<ol>
<li><b>Add images</b>: File &rarr; Add images or Add folder, or drop them on the window.</li>
<li><b>Pick a class</b> in the Classes list (keys 1-9, the number shown beside each class).</li>
<li><b>Paint a few strokes</b> of every class: Brush (B), Fill (F), Magic wand (W) for regions of one
colour, Polygon (P). Shift+drag or the Eraser (E) erases; Ctrl+Z undoes. The brush size is in the
toolbar (or [ and ]). Strokes save themselves.</li>
<li><b>Press Fine-tune</b> (Ctrl+T). The loss curve and the prediction over the image update while you
keep painting; 3 minutes or more also learn from the images nobody painted.</li>
<li><b>Review</b>: G, H and C show the prediction, the heatmap and the uncertainty. <i>Worst first</i>
sorts the images the model is least sure about to the top; paint those next, or <i>Accept
prediction</i> (Ctrl+Return) where it is right.</li>
<li><b>Export</b> masks (Ctrl+E) as PNG, colour, COCO or a training folder.</li>
</ol>
<p>Help &rarr; Keyboard shortcuts lists every key; this page is under Help &rarr; Getting started.</p>
"""


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def versions() -> dict[str, str]:
    """fcn-studio, Python, Qt/PySide6, torch and torchvision versions (metadata only)."""
    from PySide6 import QtCore

    return {
        "fcn-studio": __version__,
        "Python": platform.python_version(),
        "PySide6": _version("PySide6"),
        "Qt": QtCore.qVersion(),
        "torch": _version("torch"),
        "torchvision": _version("torchvision"),
        "pyqtgraph": _version("pyqtgraph"),
        "System": f"{platform.system()} {platform.release()} ({platform.machine()})",
    }


def about_text(device: str) -> str:
    rows = "".join(f"<tr><td>{k}</td><td>&nbsp;{v}</td></tr>" for k, v in versions().items())
    return (
        "<h3>fcn-studio</h3><p>Paint label masks, fine-tune a fully convolutional network, watch it learn.</p>"
        f"<table>{rows}<tr><td>Device</td><td>&nbsp;{device or 'detecting…'}</td></tr></table>"
        "<p>Copy these lines into a bug report.</p>"
    )
