"""The headless workflow: ``new`` + ``import`` round trips, batch ``predict``/``evaluate`` that
skip bad files and never overwrite, ``evaluate --report``, and one clear line for each wrong
command line (issue 16's list)."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from fcn_studio.cli import main
from fcn_studio.data.labelset import load_preset
from fcn_studio.data.masks import write_color_png, write_indexed_png
from fcn_studio.data.project import Project
from known_models import expected_labels, red_threshold_checkpoint

pytestmark = pytest.mark.usefixtures("torch_one_thread")  # see conftest.py

ROAD = load_preset("road")
HW = (40, 56)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:  # noqa: ANN001
    """A road checkpoint whose answer is known by construction: road where red > 90 (tests/known_models.py).

    No training: a model trained for a few steps here predicted both classes on one machine
    and all background on another. ``_scene``'s road is red 120-180 and its background 0-60.
    """
    return red_threshold_checkpoint(tmp_path_factory.mktemp("ckpt") / "road.fcnckpt", ROAD)


def _assert_known_answer(rgb: np.ndarray, labels: np.ndarray) -> None:
    """``labels`` are the known model's answer for ``rgb`` wherever that answer is exact, and hold both classes."""
    want, sure = expected_labels(rgb)
    assert set(np.unique(want[sure])) == {0, 1}
    np.testing.assert_array_equal(labels[sure], want[sure])


def _last_json(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


def _scene(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """An image and a road mask (0 background, 1 road) of size HW."""
    rng = np.random.default_rng(seed)
    mask = np.zeros(HW, np.uint8)
    mask[HW[0] // 2 + seed % 5 :, 5 + seed : 40 + seed] = 1
    image = rng.integers(0, 60, (*HW, 3), dtype=np.uint8)
    image[mask == 1] += np.array([120, 40, 120], np.uint8)
    return image, mask


# -- new + import ------------------------------------------------------------------------------
def _write_mask(path: Path, mask: np.ndarray, fmt: str) -> None:
    if fmt == "color":
        write_color_png(path, mask, ROAD)  # KITTI's colours: red background, magenta road
    elif fmt == "index":
        write_indexed_png(path, mask, ROAD)  # palette PNG
    else:
        Image.fromarray(mask, mode="L").save(path)  # 8-bit ids


@pytest.mark.parametrize("fmt", ["color", "id", "index"])
def test_new_then_import_kitti_style_round_trip(fmt, tmp_path, capsys):  # noqa: ANN001
    kitti = tmp_path / "data_road" / "training"
    images, gt = kitti / "image_2", kitti / "gt_image_2"
    images.mkdir(parents=True)
    gt.mkdir()
    masks = {}
    for i, prefix in enumerate(["um", "umm", "uu"]):
        image, mask = _scene(i)
        Image.fromarray(image).save(images / f"{prefix}_00000{i}.png")
        _write_mask(gt / f"{prefix}_road_00000{i}.png", mask, fmt)
        masks[f"{prefix}_00000{i}"] = mask
    _write_mask(gt / "um_lane_000000.png", np.ones(HW, np.uint8), fmt)  # KITTI's lane file: road wins
    _write_mask(gt / "um_road_000099.png", np.ones(HW, np.uint8), fmt)  # no such image
    _write_mask(gt / "uu_road_000002_copy.png", np.ones((10, 10), np.uint8), fmt)  # unmatched too
    _write_mask(gt / "UMM_ROAD_000001.png", np.ones((10, 10), np.uint8), fmt)  # case-insensitive, but wrong size

    proj = tmp_path / "proj"
    assert main(["new", str(proj), "--labelset", "road", "--images", str(images)]) == 0
    made = _last_json(capsys.readouterr().out)
    assert made["images"] == 3 and made["classes"] == ["background", "road"]

    rc = main(["import", "--project", str(proj), "--masks", str(gt), "--format", fmt])
    captured = capsys.readouterr()
    report = _last_json(captured.out)
    assert rc == 1  # something was refused: the exit status says so
    status = {r["mask"]: (r["status"], r["image"]) for r in report["rows"]}
    assert status["um_road_000000.png"] == ("imported", "um_000000")
    assert status["uu_road_000002.png"] == ("imported", "uu_000002")
    assert status["um_lane_000000.png"] == ("skipped", "um_000000")
    assert status["um_road_000099.png"] == ("unmatched", None)
    assert status["uu_road_000002_copy.png"] == ("unmatched", None)
    # two masks for umm_000001: the exact-case one is as close as the upper-case one; one of them
    # is imported or refused, the other reported as skipped, and nothing is silently dropped
    assert len(report["rows"]) == 7
    assert (report["imported"], report["unmatched"]) in ((3, 2), (2, 2))
    for row in report["rows"]:  # every file not imported is named once on stderr with its reason
        if row["status"] != "imported":
            assert captured.err.count(f" {row['mask']}: ") == 1

    project = Project.open(proj)
    for image_id in ("um_000000", "uu_000002"):
        np.testing.assert_array_equal(project.load_mask(image_id), masks[image_id])
        assert project.entry(image_id).painted > 0


def test_import_with_a_forced_format_refuses_other_kinds(tmp_path, capsys):  # noqa: ANN001
    images, gt = tmp_path / "image_2", tmp_path / "gt_image_2"
    images.mkdir()
    gt.mkdir()
    image, mask = _scene(0)
    Image.fromarray(image).save(images / "um_000000.png")
    write_color_png(gt / "um_road_000000.png", mask, ROAD)
    assert main(["new", str(tmp_path / "p"), "--labelset", "road", "--images", str(images)]) == 0
    assert main(["import", "--project", str(tmp_path / "p"), "--masks", str(gt), "--format", "id"]) == 1
    row = _last_json(capsys.readouterr().out)["rows"][0]
    assert row["status"] == "refused" and "a colour mask, not an id one" in row["detail"]
    assert not Project.open(tmp_path / "p").has_mask("um_000000")


def test_new_with_a_label_set_file_and_the_shared_matcher_in_training(tmp_path, capsys):  # noqa: ANN001
    from fcn_studio.training.samples import match_masks

    ROAD.save(tmp_path / "mine.json")
    assert main(["new", str(tmp_path / "p"), "--labelset", str(tmp_path / "mine.json")]) == 0
    assert _last_json(capsys.readouterr().out)["images"] == 0
    # training's --images/--masks pairing follows the import's rules (here: KITTI, any case)
    (tmp_path / "i").mkdir()
    (tmp_path / "m").mkdir()
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "i" / "um_000007.png")
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "m" / "UM_Road_000007.png")
    pairs, _, _ = match_masks(tmp_path / "i", tmp_path / "m")
    assert [(i.name, m.name) for i, m in pairs] == [("um_000007.png", "UM_Road_000007.png")]


# -- predict over a folder with bad files ---------------------------------------------------------
def _png_header_only(path: Path, w: int, h: int) -> None:
    """A PNG that claims w x h pixels and holds a few bytes of data (a decompression bomb header)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


@pytest.fixture
def messy_folder(tmp_path) -> tuple[Path, list[str], list[str]]:  # noqa: ANN001
    folder = tmp_path / "messy"
    folder.mkdir()
    for i, name in enumerate(["a.png", "plain.png", "plain.jpg", "z.bmp"]):
        image, _ = _scene(i)
        Image.fromarray(image).save(folder / name)
    _png_header_only(folder / "bomb.png", 60000, 60000)  # 3.6 gigapixels
    _png_header_only(folder / "warns.png", 10000, 9500)  # past Pillow's warning limit, below ours
    full = (folder / "a.png").read_bytes()
    (folder / "truncated.png").write_bytes(full[: len(full) // 2])
    (folder / "notes.png").write_text("this is a text file with a .png name\n")
    return folder, ["a.png", "plain.png", "plain.jpg", "z.bmp"], ["bomb.png", "notes.png", "truncated.png", "warns.png"]


@pytest.mark.parametrize("fmt,ext", [("index", ".png"), ("probs", ".npz"), ("overlay", ".png")])
def test_predict_skips_bad_files_and_never_overwrites(fmt, ext, messy_folder, checkpoint, tmp_path, capsys):  # noqa: ANN001
    folder, good, bad = messy_folder
    out = tmp_path / "out"
    rc = main(["predict", "--checkpoint", str(checkpoint), "--images", str(folder), "--out", str(out), "--format", fmt, "--no-progress"])
    captured = capsys.readouterr()
    summary = _last_json(captured.out)
    assert rc == 1  # some failed
    assert summary["written"] == len(good) and summary["images"] == len(good) + len(bad)
    assert sorted(f["file"] for f in summary["failed"]) == bad
    for name in bad:  # each bad file named once, on one line
        lines = [ln for ln in captured.err.splitlines() if f"skipped {name}:" in ln]
        assert len(lines) == 1, captured.err
    assert "Traceback" not in captured.err
    assert "DecompressionBombWarning" not in captured.err  # the warning became a one-line message
    expected = {"a" + ext, "plain.png" + ext, "plain.jpg" + ext, "z" + ext}  # the shared stem keeps its suffix
    assert {p.name for p in out.iterdir()} == expected
    if fmt == "probs":
        with np.load(out / ("plain.png" + ext)) as a, np.load(out / ("plain.jpg" + ext)) as b:
            assert a["probs"].shape == (2, *HW) and not np.array_equal(a["probs"], b["probs"])
    else:
        a, b = (np.array(Image.open(out / (n + ext))) for n in ("plain.png", "plain.jpg"))
        assert a.shape[:2] == HW and not np.array_equal(a, b)  # two predictions, neither overwrote the other
        if fmt == "index":  # each is its own image's prediction
            for name, arr in (("plain.png", a), ("plain.jpg", b)):
                _assert_known_answer(np.array(Image.open(folder / name).convert("RGB")), arr)

    # a second run into the same folder refuses before writing anything
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    rc = main(["predict", "--checkpoint", str(checkpoint), "--images", str(folder), "--out", str(out), "--format", fmt, "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "--overwrite" in err[0]
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before


def test_outputs_that_would_still_clash_are_refused_before_writing(checkpoint, tmp_path, capsys):  # noqa: ANN001
    folder = tmp_path / "clash"
    folder.mkdir()
    for name in ("x.png", "x.jpg", "x.jpg.png"):  # x.jpg -> x.jpg.png, and x.jpg.png -> x.jpg.png
        Image.fromarray(_scene(1)[0]).save(folder / name)
    out = tmp_path / "out"
    assert main(["predict", "--checkpoint", str(checkpoint), "--images", str(folder), "--out", str(out), "--no-progress"]) == 2
    assert "would both be written to x.jpg.png" in capsys.readouterr().err
    assert not out.exists()


def test_predict_overlay_is_the_window_blend(checkpoint, tmp_path, capsys):  # noqa: ANN001
    from fcn_studio.data.overlay import PREDICTION_OPACITY, blend
    from fcn_studio.inference.predictor import Predictor

    folder = tmp_path / "one"
    folder.mkdir()
    image, _ = _scene(3)
    Image.fromarray(image).save(folder / "x.png")
    assert main(["predict", "--checkpoint", str(checkpoint), "--images", str(folder), "--out", str(tmp_path / "o"),
                 "--format", "overlay", "--no-progress", "--device", "cpu"]) == 0  # same device: same labels
    labels = Predictor.from_checkpoint(checkpoint, device="cpu").predict(image, want_probs=False).labels
    _assert_known_answer(image, labels)  # both classes on screen, so the comparison covers both colours
    got = np.array(Image.open(tmp_path / "o" / "x.png"))
    np.testing.assert_array_equal(got, blend(image, labels, ROAD, PREDICTION_OPACITY))


# -- evaluate ----------------------------------------------------------------------------------
@pytest.fixture
def scored(tmp_path) -> tuple[Path, Path, dict[str, np.ndarray]]:  # noqa: ANN001
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir()
    masks.mkdir()
    truth = {}
    for i in range(3):
        image, mask = _scene(i)
        Image.fromarray(image).save(images / f"s{i}.png")
        Image.fromarray(mask, mode="L").save(masks / f"s{i}_mask.png")
        truth[f"s{i}"] = mask
    return images, masks, truth


@pytest.mark.parametrize("suffix", [".json", ".csv"])
def test_evaluate_report_holds_the_confusion_matrix_and_per_class_iou(suffix, scored, checkpoint, tmp_path, capsys):  # noqa: ANN001
    images, masks, truth = scored
    (images / "broken.png").write_bytes(b"not a png")
    Image.fromarray(np.zeros(HW, np.uint8), mode="L").save(masks / "broken.png")
    report = tmp_path / f"report{suffix}"
    rc = main(["evaluate", "--checkpoint", str(checkpoint), "--images", str(images), "--masks", str(masks),
               "--report", str(report), "--no-progress"])
    captured = capsys.readouterr()
    result = _last_json(captured.out)
    assert rc == 1 and [f["file"] for f in result["failed"]] == ["broken.png"] and result["images"] == 3
    assert captured.err.count("skipped broken.png:") == 1
    # the matrix, recomputed here from predict's own index PNGs
    assert main(["predict", "--checkpoint", str(checkpoint), "--images", str(images), "--out", str(tmp_path / "p"), "--no-progress"]) == 1
    capsys.readouterr()
    want = np.zeros((2, 2), np.int64)
    for name, mask in truth.items():
        pred = np.array(Image.open(tmp_path / "p" / f"{name}.png"))
        np.add.at(want, (mask.ravel(), pred.ravel()), 1)
    iou = np.diag(want) / (want.sum(0) + want.sum(1) - np.diag(want))
    if suffix == ".json":
        data = json.loads(report.read_text())
        got = np.array(data["confusion_matrix"]["counts"])
        per_class = [data["per_class_iou"][c] for c in ("background", "road")]
    else:
        rows = [ln.split(",") for ln in report.read_text().splitlines()]
        assert rows[0] == ["class", "iou", "pred:background", "pred:road"]
        got = np.array([[int(v) for v in r[2:]] for r in rows[1:3]])
        per_class = [float(r[1]) for r in rows[1:3]]
    np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(per_class, iou, atol=1e-6)
    assert result["per_class_iou"]["road"] == pytest.approx(iou[1], abs=1e-6)


def test_evaluate_refuses_other_class_names_unless_mapped_by_name(scored, checkpoint, tmp_path, capsys):  # noqa: ANN001
    images, masks, truth = scored
    swapped = tmp_path / "swapped.json"
    swapped.write_text(json.dumps({"name": "swapped", "classes": [
        {"id": 0, "name": "road", "color": [255, 0, 255]}, {"id": 1, "name": "background", "color": [255, 0, 0]}]}))
    args = ["evaluate", "--checkpoint", str(checkpoint), "--images", str(images), "--no-progress"]
    assert main([*args, "--masks", str(masks), "--classes", str(swapped)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "differ from the checkpoint's" in err[0] and "--map-by-name" in err[0]

    assert main([*args, "--masks", str(masks)]) == 0
    plain = _last_json(capsys.readouterr().out)
    flipped = tmp_path / "flipped"  # the same truth written with the swapped label set's ids
    flipped.mkdir()
    for name, mask in truth.items():
        Image.fromarray((1 - mask).astype(np.uint8), mode="L").save(flipped / f"{name}.png")
    assert main([*args, "--masks", str(flipped), "--classes", str(swapped), "--map-by-name"]) == 0
    mapped = _last_json(capsys.readouterr().out)
    assert mapped["per_class_iou"] == plain["per_class_iou"] and mapped["miou"] == plain["miou"]


# -- one line for each wrong command line (issue 16, item 6) ---------------------------------------
def _bad_cases(tmp: Path, ckpt: Path) -> dict[str, list[str]]:
    images = tmp / "images"
    empty = tmp / "empty"
    project = tmp / "proj"
    taken = tmp / "taken.png"
    return {
        "predict --out an existing file": ["predict", "--checkpoint", str(ckpt), "--images", str(images), "--out", str(taken)],
        "predict --tile 0": ["predict", "--checkpoint", str(ckpt), "--images", str(images), "--out", str(tmp / "o"), "--tile", "0"],
        "predict --tile -5": ["predict", "--checkpoint", str(ckpt), "--images", str(images), "--out", str(tmp / "o"), "--tile", "-5"],
        "predict --tile 64 (no core)": ["predict", "--checkpoint", str(ckpt), "--images", str(images), "--out", str(tmp / "o"), "--tile", "64"],
        "predict --opacity 2": ["predict", "--checkpoint", str(ckpt), "--images", str(images), "--out", str(tmp / "o"),
                                "--format", "overlay", "--opacity", "2"],
        "predict on an empty folder": ["predict", "--checkpoint", str(ckpt), "--images", str(empty), "--out", str(tmp / "o")],
        "predict a missing folder": ["predict", "--checkpoint", str(ckpt), "--images", str(tmp / "nope"), "--out", str(tmp / "o")],
        "predict a missing checkpoint": ["predict", "--checkpoint", str(tmp / "no.fcnckpt"), "--images", str(images), "--out", str(tmp / "o")],
        "export --opacity 5": ["export", "--project", str(project), "--out", str(tmp / "o"), "--format", "overlay", "--opacity", "5"],
        "demo --images -3": ["demo", str(tmp / "d"), "--images", "-3"],
        "demo --labelled over --images": ["demo", str(tmp / "d"), "--images", "2", "--labelled", "5"],
        "new with an unknown preset": ["new", str(tmp / "d"), "--labelset", "roads"],
        "new with a missing label-set file": ["new", str(tmp / "d"), "--labelset", str(tmp / "none.json")],
        "new over an existing project": ["new", str(project), "--labelset", "road"],
        "new --images empty folder": ["new", str(tmp / "d"), "--labelset", "road", "--images", str(empty)],
        "import into a non-project": ["import", "--project", str(tmp / "d"), "--masks", str(images)],
        "import from a missing folder": ["import", "--project", str(project), "--masks", str(tmp / "nope")],
        "import from an empty folder": ["import", "--project", str(project), "--masks", str(empty)],
        "evaluate --report .txt": ["evaluate", "--checkpoint", str(ckpt), "--images", str(images), "--masks", str(images),
                                   "--report", str(tmp / "r.txt")],
        "evaluate --classes missing": ["evaluate", "--checkpoint", str(ckpt), "--images", str(images), "--masks", str(images),
                                       "--classes", str(tmp / "none.json")],
        "export-model to a folder": ["export-model", "--checkpoint", str(ckpt), "--format", "onnx", "--out", str(empty)],
        "export-model --trace-size 0": ["export-model", "--checkpoint", str(ckpt), "--format", "onnx", "--out", str(tmp / "m.onnx"),
                                        "--trace-size", "0x10"],
    }


@pytest.fixture(scope="module")
def bad_setup(tmp_path_factory, checkpoint) -> Path:  # noqa: ANN001
    tmp = tmp_path_factory.mktemp("bad")
    (tmp / "images").mkdir()
    Image.fromarray(_scene(0)[0]).save(tmp / "images" / "one.png")
    (tmp / "empty").mkdir()
    (tmp / "taken.png").write_bytes(b"precious")
    Project.create(tmp / "proj", "road")
    return tmp


@pytest.mark.parametrize("case", list(_bad_cases(Path("/x"), Path("/y"))))
def test_a_wrong_command_line_gives_one_line_and_a_non_zero_exit(case, bad_setup, checkpoint, capsys):  # noqa: ANN001
    argv = _bad_cases(bad_setup, checkpoint)[case]
    with pytest.raises(SystemExit) if _is_parse_error(case) else _no_raise() as exited:
        rc = main(argv)
    rc = exited.value.code if exited is not None and hasattr(exited, "value") else rc
    captured = capsys.readouterr()
    assert rc not in (0, None), case
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fcn-studio"), captured.err
    assert "Traceback" not in captured.err and captured.out == ""
    assert (bad_setup / "taken.png").read_bytes() == b"precious"
    assert not (bad_setup / "d").exists() and not (bad_setup / "o").exists()


def _is_parse_error(case: str) -> bool:
    return any(k in case for k in ("--tile", "--opacity", "--images -3", "--trace-size"))


class _no_raise:  # noqa: N801 - used like pytest.raises
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return False


def test_library_warnings_become_one_line(capsys):  # noqa: ANN001
    import warnings

    from fcn_studio.cli import one_line_warnings

    with one_line_warnings("predict"):
        warnings.warn("first line\nsecond line", UserWarning, stacklevel=1)
        warnings.warn_explicit(Image.DecompressionBombWarning("Image size (95000000 pixels) exceeds limit"),
                               Image.DecompressionBombWarning, "x.py", 1)
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["fcn-studio predict: warning: first line",
                   "fcn-studio predict: warning: Image size (95000000 pixels) exceeds limit"]


def test_the_shared_matcher_overlay_and_export_process_are_light():
    """The window imports these; they must bring in neither torch (the window never loads it) nor Qt."""
    import subprocess
    import sys

    code = ("import sys, fcn_studio.data.mask_import, fcn_studio.data.overlay, fcn_studio.models.export_process, "
            "fcn_studio.cli.args; print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'PySide6', 'superqt'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=Path(__file__).parent.parent)
    assert out.stdout.strip() == "[]"


def test_as_a_real_command_every_stderr_line_is_one_message(messy_folder, checkpoint, tmp_path):  # noqa: ANN001
    """Through ``python -m fcn_studio`` with Python's own warning filters (pytest changes them)."""
    import os
    import subprocess
    import sys

    folder, good, bad = messy_folder
    repo = Path(__file__).resolve().parent.parent
    env = dict(os.environ, PYTHONPATH=str(repo), OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-m", "fcn_studio", "predict", "--checkpoint", str(checkpoint), "--images", str(folder),
                           "--out", str(tmp_path / "o"), "--no-progress", "--device", "cpu"],
                          cwd=repo, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert lines and all(ln.startswith("fcn-studio predict: ") for ln in lines), proc.stderr
    assert sum("warning: Image size" in ln for ln in lines) == 1  # Pillow's bomb warning, as one line
    assert sum("skipped" in ln for ln in lines) == len(bad)
    assert _last_json(proc.stdout)["written"] == len(good)


def test_a_mask_goes_to_the_image_of_its_own_file_name_and_one_that_fits_several_is_refused(tmp_path, capsys):  # noqa: ANN001
    """Issue 27 item 11: plain.png, plain.bmp and plain.jpg become plain, plain_2 and plain_3; the
    mask plain.png went to the image from plain.bmp, rc 0."""
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir()
    masks.mkdir()
    for i, ext in enumerate(["png", "bmp", "jpg"]):
        Image.fromarray(_scene(i)[0]).save(images / f"plain.{ext}")
    truth = _scene(0)[1]  # the scene saved as plain.png
    Image.fromarray(truth, mode="L").save(masks / "plain.png")
    Image.fromarray(truth, mode="L").save(masks / "plain_mask.png")  # fits all three: no way to tell

    proj = tmp_path / "proj"
    assert main(["new", str(proj), "--labelset", "road", "--images", str(images)]) == 0
    capsys.readouterr()
    rc = main(["import", "--project", str(proj), "--masks", str(masks), "--format", "id"])
    captured = capsys.readouterr()
    report = _last_json(captured.out)
    assert rc == 0  # a mask no image can be told for is reported, as an unmatched one always was
    assert "unmatched plain_mask.png: its name fits several images" in captured.err
    rows = {r["mask"]: r for r in report["rows"]}
    project = Project.open(proj)
    source = {e.id: Path(e.source).name for e in project.images}
    assert rows["plain.png"]["status"] == "imported" and source[rows["plain.png"]["image"]] == "plain.png"
    assert rows["plain_mask.png"]["status"] == "unmatched" and rows["plain_mask.png"]["image"] is None
    painted = [e.id for e in project.images if e.painted > 0]
    assert [source[i] for i in painted] == ["plain.png"]
    np.testing.assert_array_equal(project.load_mask(painted[0]), truth)
