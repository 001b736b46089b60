"""Real photo sizes and real label sets through every path a prediction takes (issue 34 item 1).

A 1920x1080 dashcam frame with CamVid-11 classes got no snapped prediction (OpenCV refused an
area resize of more than 4 channels at a non-integer factor), and nothing had run a
prediction at that size with that many classes. Here every pairing of 480x360, 1920x1080 and
4000x3000 with 2, 11 and 19 classes (the road, CamVid-11 and Cityscapes-19 presets) goes
through *Predict all* with edges snapped (the app's default once strokes are painted), with
the same predictor Paint next's scores, *Export* of the predicted masks in every format and
``fcn-studio evaluate`` (edges not snapped), with a model whose answer is known
(tests/known_models.py). Its checkpoint records the working size of 480x360 frames at scale
0.5, as a CamVid project's does, so each photo is scaled to about that many pixels; the snap
then subsamples at non-integer factors (about 1.9 and 4.5 for the larger sizes).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fcn_studio.cli import main
from fcn_studio.data.export import export_masks
from fcn_studio.data.labelset import load_preset
from fcn_studio.data.masks import read_mask, write_indexed_png
from fcn_studio.data.project import Project
from fcn_studio.errors import FcnStudioError, one_line
from fcn_studio.inference.paint_next import pick_next
from fcn_studio.inference.predictor import Predictor
from fcn_studio.inference.project_batch import predict_project
from known_models import red_threshold_checkpoint

pytestmark = pytest.mark.usefixtures("torch_one_thread")  # see conftest.py

SIZES = [(360, 480), (1080, 1920), (3000, 4000)]
LABEL_SETS = {"road": 2, "camvid11": 11, "cityscapes19": 19}
#: what a CamVid project's checkpoint records: 480x360 frames at the CPU's working scale 0.5
INPUT_SCALE, WORKING_PIXELS = 0.5, 480 * 360 // 4


def scene(hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """A photo-sized image, red (class 1 by the known model's rule) left of 45% of its width and
    grey (class 0) right of it, with a little noise; and its true labels."""
    h, w = hw
    edge = int(w * 0.45)
    rng = np.random.default_rng(h)
    image = np.empty((h, w, 3), np.uint8)
    image[:, :edge] = (200, 40, 40)
    image[:, edge:] = (60, 60, 60)
    image[::7, ::5] += rng.integers(0, 8, (len(range(0, h, 7)), len(range(0, w, 5)), 3), dtype=np.uint8)
    truth = np.zeros((h, w), np.uint8)
    truth[:, :edge] = 1
    return image, truth


def sure_pixels(hw: tuple[int, int]) -> np.ndarray:
    """Where the known model's answer is exact at the scale this size is predicted at: a few
    score cells away from the edge and from the bottom and right borders (the input padding)."""
    h, w = hw
    margin = math.ceil(3 * 4 / math.sqrt(WORKING_PIXELS / (h * w))) + 6  # 3 stride-4 cells in image pixels
    x = np.arange(w)
    sure = np.zeros((h, w), bool)
    sure[: h - margin] = (np.abs(x - int(w * 0.45)) > margin) & (x < w - margin)
    return sure


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> tuple[Path, Path]:  # noqa: ANN001
    """A folder of the three photos (JPEG, as cameras write them) and one of their true labels per label set."""
    root = tmp_path_factory.mktemp("photos")
    images = root / "images"
    images.mkdir()
    for hw in SIZES:
        image, _ = scene(hw)
        Image.fromarray(image).save(images / f"photo_{hw[1]}x{hw[0]}.jpg", quality=92)
    return root, images


@pytest.mark.parametrize("preset", list(LABEL_SETS))
def test_every_size_through_predict_all_paint_next_export_and_evaluate(preset, sources, tmp_path, capsys):  # noqa: ANN001
    labelset = load_preset(preset)
    assert labelset.num_classes == LABEL_SETS[preset]
    root, images = sources
    ckpt = red_threshold_checkpoint(tmp_path / "model.fcnckpt", labelset, input_scale=INPUT_SCALE,
                                    working_pixels=WORKING_PIXELS)

    # Predict all, edges snapped; each prediction checked as it is made
    project = Project.create(tmp_path / "project", labelset)
    added = project.add_images(sorted(images.iterdir()))
    assert len(project.images) == 3, added
    first = project.images[0]
    strokes = np.full((first.height, first.width), 255, np.uint8)
    strokes[: first.height // 2, : first.width // 4] = 1  # a painted stroke: Paint next counts it settled
    project.save_mask(first.id, strokes)
    predictor = Predictor.from_checkpoint(ckpt, device="cpu", refine_edges=True)
    seen = {}
    real_predict = predictor.predict

    def checked_predict(image, **kwargs):  # noqa: ANN001, ANN003, ANN202
        pred = real_predict(image, **kwargs)
        seen[image.shape[:2]] = True
        _, truth = scene(image.shape[:2])
        sure = sure_pixels(image.shape[:2])
        assert pred.labels.shape == image.shape[:2] and pred.labels.dtype == np.uint8
        np.testing.assert_array_equal(pred.labels[sure], truth[sure])
        assert pred.probs is not None and pred.probs.shape == (labelset.num_classes, *image.shape[:2])
        assert np.isfinite(pred.confidence).all()
        # the rule of Prediction: the label's stored probability is the largest stored one
        assert (np.take_along_axis(pred.probs, pred.labels[None].astype(np.int64), 0)[0] == pred.probs.max(0)).all()
        return pred

    predictor.predict = checked_predict
    failures: list[tuple[str, str]] = []
    summary = predict_project(project, predictor, refine_edges=True, on_failure=lambda i, r: failures.append((i, r)))
    assert failures == [] and summary == {"predicted": 3, "total": 3, "failed": [], "stopped": False}
    assert set(seen) == set(SIZES)

    # Paint next's scores: one per image, the painted image lower than its uncertainty
    reopened = Project.open(project.root)
    scores = {e.id: e.extra["paint_next"] for e in reopened.images}
    assert all(0 <= s <= 1 for s in scores.values()) and pick_next(scores) in scores
    assert scores[first.id] <= reopened.entry(first.id).extra["uncertainty"]

    # Export the predicted masks in every format
    out = tmp_path / "export"
    result = export_masks(reopened, out, formats=("index", "color", "overlay", "coco"), source="predicted")
    assert result.skipped == [] and len(result.written) == 3
    for entry in reopened.images:
        _, truth = scene((entry.height, entry.width))
        sure = sure_pixels((entry.height, entry.width))
        exported = read_mask(out / "index" / f"{entry.id}.png", labelset, expected_hw=(entry.height, entry.width))
        np.testing.assert_array_equal(exported[sure], truth[sure])
        for fmt in ("color", "overlay"):
            with Image.open(out / fmt / f"{entry.id}.png") as im:
                assert im.size == (entry.width, entry.height)
    coco = json.loads((out / "coco.json").read_text())
    assert len(coco["images"]) == 3 and {a["category_id"] for a in coco["annotations"]} >= {1}

    # fcn-studio evaluate against the true labels, edges not snapped
    masks = root / f"masks_{preset}"
    masks.mkdir(exist_ok=True)
    for hw in SIZES:
        write_indexed_png(masks / f"photo_{hw[1]}x{hw[0]}.png", scene(hw)[1], labelset)
    capsys.readouterr()
    rc = main(["evaluate", "--checkpoint", str(ckpt), "--images", str(images), "--masks", str(masks), "--device", "cpu",
               "--no-progress"])
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rc == 0 and report["images"] == 3 and report["failed"] == []
    assert report["pixel_acc"] > 0.95, report


def test_a_library_error_is_one_readable_line():
    import cv2

    try:
        cv2.resize(np.zeros((10, 10, 5), np.float32), (3, 3), interpolation=cv2.INTER_AREA)
    except cv2.error as exc:  # the very message of issue 34, however OpenCV words it next
        line = one_line(exc)
        assert "\n" not in line and "resize.cpp" not in line and line.startswith("unexpected error")
    assert one_line(FcnStudioError("photo.jpg is truncated: copy it again")) == "photo.jpg is truncated: copy it again"
    assert one_line(MemoryError()) == "out of memory"
    assert len(one_line(ValueError("x" * 5000))) <= 200


def test_predict_all_goes_on_after_an_image_that_fails_for_any_reason(tmp_path):
    """Not only our own errors: whatever one image raises, the others are predicted."""
    from fcn_studio.data.demo import create_demo_project

    project = create_demo_project(tmp_path / "demo", n_images=3, n_labelled=0, size=(48, 64))
    predictor = Predictor.from_checkpoint(red_threshold_checkpoint(tmp_path / "m.fcnckpt", project.labelset), device="cpu")
    bad = project.images[1].id
    real = predictor.predict
    shapes = iter([None, ValueError("library says\nno\n  in function 'resize'"), None])

    def sometimes_failing(image, **kwargs):  # noqa: ANN001, ANN003, ANN202
        exc = next(shapes)
        if exc is not None:
            raise exc
        return real(image, **kwargs)

    predictor.predict = sometimes_failing
    failures = []
    summary = predict_project(project, predictor, on_failure=lambda i, r: failures.append((i, r)))
    assert summary["predicted"] == 2 and not summary["stopped"]
    assert failures == [(bad, "unexpected ValueError: library says no in function 'resize'")]
    assert [e.predicted for e in project.images] == [True, False, True]


def test_export_goes_on_after_an_image_that_fails_for_any_reason(tmp_path, monkeypatch):  # noqa: ANN001
    from fcn_studio.data import masks
    from fcn_studio.data.demo import create_demo_project

    project = create_demo_project(tmp_path / "demo", n_images=3, n_labelled=3, size=(48, 64))
    real = masks.write_overlay_png
    bad = project.images[1].id

    def overlay(path, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        if Path(path).stem == bad:
            raise ValueError("OpenCV(5.1.0) /io/x.cpp:1: error: (-215:Assertion failed) cn <= 4 in function 'resize'\n")
        return real(path, *args, **kwargs)

    monkeypatch.setattr(masks, "write_overlay_png", overlay)
    summary = export_masks(project, tmp_path / "out", formats=("index", "overlay"))
    assert len(summary.written) == 2
    assert summary.skipped == [(project.images[1].file, "unexpected ValueError: cn <= 4 in function 'resize'")]
