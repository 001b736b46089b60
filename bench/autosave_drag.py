"""Does autosave stall the brush? A long drag on a big mask, saved by the 2 s deadline meanwhile.

    .venv/bin/python bench/autosave_drag.py                # 4000x4000 and 8000x8000
    .venv/bin/python bench/autosave_drag.py --size 8000

The editor (no widgets, offscreen) gets one brush move every 10 ms for 5 s, corner to corner
and back; the deadline saves about twice during the drag. Printed: saves during the drag and
the gaps between moves as the event loop delivered them (10 ms when nothing stalls). Issue 16:
a full copy of the mask on the GUI thread stalled 8000x8000 for 226 ms; the shadow buffer
keeps the longest gap near a frame.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def drag(n: int, moves: int = 500) -> dict:
    from PIL import Image
    from PySide6.QtCore import QTimer
    from PySide6.QtGui import QGuiApplication

    from fcn_studio.data.project import Project
    from fcn_studio.gui.editor import MaskEditor

    app = QGuiApplication.instance() or QGuiApplication([])
    with tempfile.TemporaryDirectory() as tmp:
        Image.fromarray(np.zeros((n, n, 3), np.uint8)).save(Path(tmp) / "big.png", compress_level=1)
        project = Project.create(Path(tmp) / "p", "road")
        project.add_images([Path(tmp) / "big.png"])
        editor = MaskEditor(project)
        editor.open_image(project.images[0].id)
        while editor.mask is None:
            app.processEvents()
            time.sleep(0.01)
        editor.set_active_class(1)
        editor.set_brush_radius(20)
        saves: list[float] = []
        editor.saved.connect(lambda _id: saves.append(time.perf_counter()))
        gaps: list[float] = []
        state = {"last": time.perf_counter(), "i": 0}
        editor.begin_stroke(100, 100)

        def move() -> None:
            now = time.perf_counter()
            gaps.append(now - state["last"])
            state["last"] = now
            state["i"] += 1
            t = state["i"] / moves
            editor.continue_stroke(100 + (n - 200) * t, 100 + (n - 200) * abs(np.sin(t * 6)))
            if state["i"] >= moves:
                timer.stop()
                editor.end_stroke()
                app.quit()

        timer = QTimer(interval=10)
        timer.timeout.connect(move)
        started = time.perf_counter()
        timer.start()
        app.exec()
        during = sum(1 for t in saves if t >= started)
        editor.shutdown()
    g = np.array(gaps[1:]) * 1000
    return {
        "size": f"{n}x{n}",
        "saves_during_drag": during,
        "gap_median_ms": round(float(np.median(g)), 1),
        "gap_p99_ms": round(float(np.percentile(g, 99)), 1),
        "gap_max_ms": round(float(g.max()), 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, action="append", help="square mask side (repeatable)")
    args = ap.parse_args()
    for n in args.size or [4000, 8000]:
        print(drag(n))


if __name__ == "__main__":
    main()
