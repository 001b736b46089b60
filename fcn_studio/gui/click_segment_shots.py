"""Screenshots of the click-to-segment tool (issue 33) in the real window, offscreen.

    python -m fcn_studio.gui.click_segment_shots docs --model strokes10.fcnckpt [--camvid ../shared/datasets/camvid]

* ``click_segment_camvid.png``: a CamVid val frame (a drive the model never saw), the project's
  model (``--model``: e.g. the one ``bench/click_segment.py --save-model`` trained on strokes of
  10 frames) loaded, one click on the largest car: the tinted preview in the proposed class,
  its share and the runner-up beside the click;
* ``click_segment_demo.png``: the demo after strokes on three images and a 30-second Fine-tune,
  one click on a vehicle.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402
from PySide6.QtCore import QSettings, Qt  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402


def _deepest(mask: np.ndarray) -> tuple[int, int]:
    import cv2

    dist = cv2.distanceTransform(np.pad(mask.astype(np.uint8), 1), cv2.DIST_L2, 5)[1:-1, 1:-1]
    y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
    return int(x), int(y)


def _largest_component(mask: np.ndarray) -> np.ndarray:
    import cv2

    n, comp, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if n <= 1:
        return mask
    return comp == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))


def click_and_grab(window, x: int, y: int, path: Path) -> Path:  # noqa: ANN001
    """Switch to the tool, wait for the image's embedding, click (x, y), wait for the preview, grab."""
    from fcn_studio.gui.screenshots import settle
    from fcn_studio.gui.self_test import wait_until

    ctl = window.click_segment
    window.layers_panel.rows["prediction"].checkbox.setChecked(False)  # the preview's tint alone
    window.set_tool("click_segment")
    key = ctl.key_of(window.editor.image_id)
    wait_until(lambda: key in ctl.ready, 120000, "the image's embedding")
    canvas = window.canvas
    QTest.mouseMove(canvas.viewport(), canvas.mapFromScene(x + 0.5, y + 0.5))
    QTest.mouseClick(canvas.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     canvas.mapFromScene(x + 0.5, y + 0.5))
    wait_until(lambda: ctl.preview is not None, 60000, "the preview")
    settle(600)
    window.grab().save(str(path))
    return path


def camvid_shot(out: Path, tmp: Path, model: Path, camvid: Path) -> Path:
    from fcn_studio.data.project import Project
    from fcn_studio.gui.main_window import MainWindow
    from fcn_studio.gui.self_test import wait_for, wait_until

    frames = ["0016E5_07959.png", "0016E5_07961.png", "0016E5_07963.png"]
    project = Project.create(tmp / "camvid-click", "camvid11")
    project.add_images([camvid / "val" / f for f in frames])
    window = MainWindow(project, QSettings(str(tmp / "click.ini"), QSettings.Format.IniFormat))
    window.resize(1440, 880)
    window.show()
    wait_until(lambda: window.editor.image_id is not None, 30000, "the first frame")
    window.training.load_checkpoint(model)
    wait_for(window.training.prediction_shown, 120000, "the model's prediction")
    truth = np.asarray(Image.open(camvid / "valannot" / frames[0]))
    car = next(c.id for c in project.labelset.classes if c.name == "Car")
    x, y = _deepest(_largest_component(truth == car))
    path = click_and_grab(window, x, y, out / "click_segment_camvid.png")
    window.close()
    return path


def demo_shot(out: Path, tmp: Path) -> Path:
    from fcn_studio.data.demo import create_demo_project
    from fcn_studio.gui.screenshots import trained_window
    from fcn_studio.gui.self_test import wait_for

    project = create_demo_project(tmp / "demo-click", n_images=12, n_labelled=0, seed=0)
    window = trained_window(project, tmp / "click-demo.ini")
    entry = project.images[5]
    window.image_list.select(entry.id)
    wait_for(window.training.prediction_shown, 60000, "the prediction")
    truth = np.asarray(Image.open(project.root / "ground_truth" / f"{entry.id}.png"))
    vehicle = next(c.id for c in project.labelset.classes if c.name == "vehicle")
    target = _largest_component(truth == vehicle)
    x, y = _deepest(target)
    path = click_and_grab(window, x, y, out / "click_segment_demo.png")
    # the person's second click: the deepest point of what the first one missed, if anything
    ctl, p = window.click_segment, window.click_segment.preview
    shown = np.zeros(target.shape, bool)
    shown[p.box[0]:p.box[2], p.box[1]:p.box[3]] = p.inside
    if (target & ~shown).sum() > 0.05 * target.sum():
        from fcn_studio.gui.screenshots import settle
        from fcn_studio.gui.self_test import wait_until

        x, y = _deepest(target & ~shown)
        canvas = window.canvas
        QTest.mouseClick(canvas.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                         canvas.mapFromScene(x + 0.5, y + 0.5))
        wait_until(lambda: ctl.preview is not None and ctl.preview is not p, 60000, "the refined preview")
        settle(600)
        path = out / "click_segment_demo_2clicks.png"
        window.grab().save(str(path))
    window.close()
    return path


def main(argv: list[str] | None = None) -> int:
    import argparse

    from fcn_studio.gui.launch import make_app

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path, nargs="?", default=Path("docs"))
    ap.add_argument("--model", type=Path, help="the project model for the CamVid shot")
    ap.add_argument("--camvid", type=Path, default=Path(__file__).resolve().parents[2] / ".." / "shared" / "datasets" / "camvid")
    ap.add_argument("--skip-demo", action="store_true")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    make_app()
    with tempfile.TemporaryDirectory() as tmp:
        if args.model is not None and (args.camvid / "val").is_dir():
            print(camvid_shot(args.out, Path(tmp), args.model, args.camvid))
        if not args.skip_demo:
            print(demo_shot(args.out, Path(tmp)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
