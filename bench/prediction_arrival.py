"""How long the window's thread stalls when a large prediction arrives (issue 34 item 2).

    taskset -c 1 QT_QPA_PLATFORM=offscreen .venv/bin/python bench/prediction_arrival.py [--size 6000x4000]

Opens a CamVid-11 project with one photo of ``--size``, gives the window a stand-in predictor
(a child process sends the Prediction a model returns through a pipe, as the prediction
process does: float16 probabilities of every class at the image's size, smooth like an FCN's
upsampled output) and asks for the on-screen prediction twice, as
opening an image or snapping to edges does. A 5 ms timer on the window's thread records every
gap between its ticks from the request until the prediction has been on screen for half a
second (drawn, the previous one freed): the longest gap is the freeze a user feels. The
heatmap, uncertainty and outline layers are switched on, so every layer is built and drawn.
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def stand_in_prediction(h: int, w: int, num_classes: int, seed: int = 0):
    """What a model returns for an h x w photo: float16 probabilities of every class, smooth
    like an FCN's upsampled output, and their argmax."""
    import cv2

    from fcn_studio.inference.prediction_types import Prediction

    rng = np.random.default_rng(seed)
    coarse = rng.random((h // 32 + 1, w // 32 + 1, num_classes)).astype(np.float32) ** 4
    coarse /= coarse.sum(2, keepdims=True)
    probs = np.stack([cv2.resize(coarse[..., c], (w, h), interpolation=cv2.INTER_LINEAR) for c in range(num_classes)])
    return Prediction(labels=probs.argmax(0).astype(np.uint8), confidence=probs.max(0), probs=probs.astype(np.float16))


def _serve(conn) -> None:  # noqa: ANN001
    """The stand-in prediction process: answers (h, w, classes, seed, display_pixels) with a Prediction."""
    while True:
        request = conn.recv()
        if request is None:
            return
        *shape, display_pixels = request
        pred = stand_in_prediction(*shape)
        if display_pixels is not None:  # as the prediction process does (fcn_studio.inference.prediction_process)
            from fcn_studio.data.display_size import shrink_probs

            pred = type(pred)(labels=pred.labels, confidence=None, probs=shrink_probs(pred.probs, display_pixels))
        conn.send(pred)


class StandInPredictor:
    """Answers like RemotePredictor.predict, through a pipe from a child process as the real one."""

    def __init__(self, num_classes: int) -> None:
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._process = ctx.Process(target=_serve, args=(child,), daemon=True)
        self._process.start()
        self.num_classes, self.calls = num_classes, 0

    def predict(self, image: np.ndarray, *, want_probs: bool = True, refine_edges: bool | None = None,
                display_pixels: int | None = None, **_: object):
        self.calls += 1
        self._conn.send((image.shape[0], image.shape[1], self.num_classes, self.calls, display_pixels))
        return self._conn.recv()

    def close(self) -> None:
        self._conn.send(None)
        self._process.join(5)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", default="6000x4000")
    args = parser.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    from PIL import Image
    from PySide6.QtCore import QElapsedTimer, QSettings, QTimer

    from fcn_studio.data.project import Project
    from fcn_studio.gui.launch import make_app
    from fcn_studio.gui.main_window import MainWindow
    from fcn_studio.gui.self_test import wait_until

    app = make_app()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        rng = np.random.default_rng(0)
        Image.fromarray(rng.integers(0, 255, (h // 16 + 1, w // 16 + 1, 3), dtype=np.uint8)).resize((w, h)).save(
            tmp / "photo.png", compress_level=1)
        project = Project.create(tmp / "p", "camvid11")
        project.add_images([tmp / "photo.png"])
        win = MainWindow(project, QSettings(str(tmp / "s.ini"), QSettings.Format.IniFormat))
        win.resize(1366, 740)
        win.show()
        wait_until(lambda: win.editor.image is not None, 120000, "the photo to load")
        for name in ("prediction", "heatmap", "uncertainty"):
            win.session.set_visible(name, True)
        win.prediction_outlines.setChecked(True)
        session = win.training
        session._predictor = StandInPredictor(project.labelset.num_classes)  # noqa: SLF001
        gaps: list[float] = []
        clock = QElapsedTimer()
        ticker = QTimer(interval=5)
        ticker.timeout.connect(lambda: (gaps.append(clock.restart() / 1000.0)))
        runs = []
        for _ in range(2):
            shown = []
            session.prediction_shown.connect(shown.append)
            gaps.clear()
            clock.start()
            ticker.start()
            t0 = time.perf_counter()
            session._predict_current()  # noqa: SLF001
            wait_until(lambda: bool(shown), 300000, "the prediction")
            t_shown = time.perf_counter() - t0
            end = time.monotonic() + 0.5
            wait_until(lambda: time.monotonic() > end, 5000, "the window to settle")
            ticker.stop()
            session.prediction_shown.disconnect(shown.append)
            g = np.asarray(gaps)
            runs.append({"until_shown_s": round(t_shown, 2), "longest_stall_ms": round(float(g.max()) * 1000, 1),
                         "stalls_over_100ms": int((g > 0.1).sum()), "stalled_s": round(float(g[g > 0.05].sum()), 2)})
        heat = win.prediction_layers.item("heatmap").array
        print(json.dumps({"size": [w, h], "heatmap_drawn_from": list(heat.shape), "runs": runs}))
        session._predictor.close()  # noqa: SLF001
        win.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
