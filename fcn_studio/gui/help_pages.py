"""The Help menu's pages: *About* (versions and device, for bug reports) and *Getting started*.

PySide6's version is the imported module's own (it may be installed as PySide6-Essentials);
torch's and the others' come from package metadata, never by importing torch: the window's
process does not load torch (training and predictions run in child processes).
"""

from __future__ import annotations

import platform

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from fcn_studio import __version__
from fcn_studio.versions import version_of

GETTING_STARTED = """
<h3>Getting started</h3>
<ol>
<li><b>Add images</b>: File &rarr; Add images or Add folder, or drop them on the window.</li>
<li><b>Pick a class</b> in the Classes list (the key shown beside each class: 1-9, 0, then Shift+1-9).</li>
<li><b>Paint a few strokes</b> of every class: Brush (B), Region brush (Shift+B: the stroke fills the
colour regions it touches), Fill (F), Magic wand (W) for regions of one colour, Polygon (P), Click to
segment (S: one click cuts an object out, Shift+click or right click removes a part, a drag gives a box;
the project's model proposes its class, number keys change it, Enter paints it, Esc drops it). Shift+drag or the Eraser (E) erases; Ctrl+Z undoes. The brush size is in the
toolbar (or [ and ]). Strokes save themselves.</li>
<li><b>Press Fine-tune</b> (Ctrl+T). The loss curve and the prediction over the image update while you
keep painting; 3 minutes or more also learn from the images nobody painted.</li>
<li><b>Review</b>: G, H and C show the prediction, the heatmap and the uncertainty. <i>Paint next</i> (N)
opens the image the model is least sure about, with the uncertainty showing where; paint over what it
got wrong, click right segments with <i>Accept region</i> (R), or <i>Accept prediction</i>
(Ctrl+Return) where all of it is right. <i>Live</i> keeps training from the current model while you paint.</li>
<li><b>Export</b> masks or predictions (Ctrl+E) as indexed PNG, colour PNG, overlay or COCO JSON,
and the model itself (File &rarr; Export model) as ONNX or TorchScript.</li>
</ol>
<p>Help &rarr; Keyboard shortcuts lists every key; this page is under Help &rarr; Getting started.</p>
"""


#: Help > Keyboard shortcuts, one line per group of keys.
SHORTCUTS = [
    "B brush, Shift+B region brush, E eraser (Shift+drag erases too), F fill, W magic wand (colour fill), P polygon, "
    "I pick class, R accept region, S click to segment (click adds, Shift+click or right click removes, drag = box; "
    "Tab shows SAM's next mask, Enter paints the object, Esc drops it, 1-9 change its class)",
    "[ and ] brush size (the Size box in the toolbar too); 1-9, 0 and Shift+1-9 choose the class shown with that key; M show/hide mask",
    "Untick a class in the list to hide it in the mask and prediction layers",
    "Wheel zoom at the cursor; middle-drag or Space+drag pans; Ctrl+0 fit, Ctrl+1 actual pixels",
    "D / PgDown next image, A / PgUp previous image",
    "G prediction, H heatmap, C uncertainty layers; N paint next; Ctrl+T fine-tune, Ctrl+U quick update, "
    "Ctrl+Return accept prediction",
    "Ctrl+Z undo, Ctrl+Shift+Z or Ctrl+Y redo, Ctrl+S save (autosave: a moment after each stroke, never more than 2 s behind)",
]


def versions() -> dict[str, str]:
    """fcn-studio, Python, Qt/PySide6, torch and torchvision versions (torch's from metadata only)."""
    import PySide6
    from PySide6 import QtCore

    return {
        "fcn-studio": __version__,
        "Python": platform.python_version(),
        "PySide6": PySide6.__version__,  # the module's own: installed as PySide6 or PySide6-Essentials
        "Qt": QtCore.qVersion(),
        "torch": version_of("torch"),
        "torchvision": version_of("torchvision"),
        "pyqtgraph": version_of("pyqtgraph"),
        "System": f"{platform.system()} {platform.release()} ({platform.machine()})",
    }


def about_text(device: str) -> str:
    rows = "".join(f"<tr><td>{k}</td><td>&nbsp;{v}</td></tr>" for k, v in versions().items())
    return (
        "<h3>fcn-studio</h3><p>Paint label masks, fine-tune a fully convolutional network, watch it learn.</p>"
        f"<table>{rows}<tr><td>Device</td><td>&nbsp;{device or 'detecting…'}</td></tr></table>"
        "<p>Copy these lines into a bug report.</p>"
    )


def _show(window, title: str, text: str) -> QMessageBox:
    box = QMessageBox(QMessageBox.Icon.Information, title, text, parent=window)
    box.setTextFormat(Qt.TextFormat.RichText)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.open()  # not exec(): the window stays usable behind it
    return box


def show_about(window) -> QMessageBox:
    return _show(window, "About fcn-studio", about_text(window.status.device_text()))


def show_getting_started(window) -> QMessageBox:
    """Shown once on the first launch (the launcher asks), and from Help at any time."""
    window.settings.setValue("seen_getting_started", True)
    return _show(window, "Getting started", GETTING_STARTED)


def show_shortcuts(window) -> QMessageBox:
    box = QMessageBox(QMessageBox.Icon.Information, "Keyboard shortcuts", "\n".join(SHORTCUTS), parent=window)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.open()
    return box
