"""``fcn-studio train / predict / evaluate`` end to end, and one clear line for every mistake."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from fcn_studio.cli import main
from fcn_studio.training.toydata import write_folder

REPO = Path(__file__).resolve().parent.parent
TINY = ["--backbone", "resnet18", "--weights", "none", "--batch-size", "2", "--crop", "32", "--scale", "1", "--threads", "1"]


pytestmark = pytest.mark.usefixtures("torch_one_thread")  # see conftest.py


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> dict:  # noqa: ANN001
    root = tmp_path_factory.mktemp("cli")
    images, masks, classes = write_folder(root, n=3, hw=(48, 64), seed=0)
    return {"root": root, "images": str(images), "masks": str(masks), "classes": str(classes)}


def _run(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "fcn_studio", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=240)


def test_train_then_predict_as_commands(toy, tmp_path):  # noqa: ANN001
    ckpt = tmp_path / "out" / "toy.fcnckpt"
    proc = _run("train", "--images", toy["images"], "--masks", toy["masks"], "--classes", toy["classes"],
                "--val-images", toy["images"], "--val-masks", toy["masks"], "--max-steps", "3", "--out", str(ckpt), *TINY)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["step"] == 3 and summary["checkpoint"] == str(ckpt) and ckpt.is_file()
    assert summary["metrics_on"] == "validation" and summary["val_images"] == 3
    assert set(summary["per_class_iou"]) == {"background", "box", "disc"}
    assert "train" in proc.stderr  # the progress bar lives on stderr, stdout holds only the JSON
    assert summary["trunk"] == "ResNet-18 FCN-4s" and summary["started_from"] == "random init"  # issue 34 item 14
    assert "note: training ResNet-18 FCN-4s from random init" in proc.stderr
    assert len(proc.stdout.strip().splitlines()) == 1

    out = tmp_path / "pred"
    proc = _run("predict", "--checkpoint", str(ckpt), "--images", toy["images"], "--out", str(out), "--format", "color", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1])["written"] == 3
    assert sorted(p.name for p in out.iterdir()) == ["toy_000.png", "toy_001.png", "toy_002.png"]


def test_train_on_a_project_writes_into_its_checkpoints_folder(tmp_path, capsys):  # noqa: ANN001
    from fcn_studio.data.demo import create_demo_project

    project = create_demo_project(tmp_path / "demo", n_images=3, n_labelled=2, seed=0, size=(48, 64))
    argv = ["train", "--project", str(project.root), "--max-steps", "2", "--no-progress", "--fast", "--fast-steps", "2", *TINY]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["checkpoint"] == str(project.root / "checkpoints" / "model.fcnckpt")
    assert summary["step"] == 4  # 2 fast (heads) + 2 full steps
    # a second run continues the project's model, and says so
    assert main(["train", "--project", str(project.root), "--resume", summary["checkpoint"], "--max-steps", "1",
                 "--no-progress", *TINY]) == 0
    again = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert again["started_from"] == "the checkpoint model.fcnckpt (step 4)" and again["trunk"] == summary["trunk"]
    # evaluate the model against the demo's exact truth of all images, painted or not
    argv = ["evaluate", "--checkpoint", summary["checkpoint"], "--images", str(project.root / "images"),
            "--masks", str(project.root / "ground_truth"), "--no-progress"]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["images"] == 3 and 0 <= result["miou"] <= 1 and len(result["per_class_iou"]) == 5
    # the same, with predictions snapped to image edges
    assert main([*argv, "--snap-edges"]) == 0
    snapped = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert snapped["images"] == 3 and 0 <= snapped["miou"] <= 1 and len(snapped["per_class_iou"]) == 5


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["train", "--images", "X"], "missing --masks, --classes"),
        (["train", "--project", "P", "--images", "X"], "either --project or --images"),
        (["train", "--images", "{images}", "--masks", "{masks}", "--classes", "{classes}"], "--out CKPT is required"),
        (["train", "--images", "{images}", "--masks", "{masks}", "--classes", "{classes}", "--out", "o.ckpt", "--weights", "nope.pth"],
         "neither imagenet, coco, none nor an existing file"),
        (["train", "--images", "{images}", "--masks", "{masks}", "--classes", "{classes}", "--out", "o.ckpt", "--epochs", "0"],
         "epochs must be at least 1"),
        (["train", "--images", "{images}", "--masks", "{masks}", "--classes", "{root}/missing.json", "--out", "o.ckpt"],
         "cannot read label set"),
        (["train", "--images", "{images}", "--masks", "{masks}", "--classes", "{classes}", "--val-images", "{images}", "--out", "o"],
         "--val-images and --val-masks together"),
        (["predict", "--checkpoint", "{root}/none.fcnckpt", "--images", "{images}", "--out", "{root}/p"], "does not exist"),
        (["predict", "--checkpoint", "{classes}", "--images", "{images}", "--out", "{root}/p"], "not a PyTorch file"),
        (["predict", "--checkpoint", "{classes}", "--images", "{root}/nothing", "--out", "{root}/p"], "images folder"),
        (["evaluate", "--checkpoint", "{root}/none.fcnckpt", "--images", "{images}", "--masks", "{masks}"], "does not exist"),
    ],
)
def test_mistakes_give_one_line_and_exit_2(toy, argv, expected, capsys, tmp_path, monkeypatch):  # noqa: ANN001
    monkeypatch.chdir(tmp_path)
    argv = [a.format(**toy) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and expected in err[0], err


def test_cuda_requested_without_a_gpu_is_one_line(toy, tmp_path, capsys):  # noqa: ANN001
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    argv = ["train", "--images", toy["images"], "--masks", toy["masks"], "--classes", toy["classes"], "--out",
            str(tmp_path / "o.ckpt"), "--device", "cuda", "--weights", "none", "--no-progress"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no CUDA GPU" in err[0]


def test_a_broken_image_in_predict_names_the_file(toy, tmp_path, capsys):  # noqa: ANN001
    import shutil

    folder = tmp_path / "imgs"
    shutil.copytree(toy["images"], folder)
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    ckpt = tmp_path / "c.fcnckpt"
    assert main(["train", "--images", toy["images"], "--masks", toy["masks"], "--classes", toy["classes"], "--out", str(ckpt),
                 "--max-steps", "1", "--no-progress", *TINY]) == 0
    capsys.readouterr()
    # skipped and named on one line; the rest are predicted and the exit status says one failed (issue 17)
    assert main(["predict", "--checkpoint", str(ckpt), "--images", str(folder), "--out", str(tmp_path / "p"), "--no-progress"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "broken.png" in err[0]
    assert len(list((tmp_path / "p").iterdir())) == 3


def test_cli_module_stays_free_of_torch():
    code = ("import sys, fcn_studio.cli, fcn_studio.cli.training_commands; from fcn_studio.training import TrainConfig, "
            "ProjectSource; TrainConfig().validate(); print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_train_learns_from_images_without_a_mask_unless_told_not_to(tmp_path, capsys):  # noqa: ANN001
    """``--images DIR --masks DIR``: images without a mask are the unlabelled set (``--unlabelled auto|on|off``)."""
    import numpy as np
    from PIL import Image

    images, masks, classes = write_folder(tmp_path / "d", n=6, hw=(48, 64), seed=3)
    for p in sorted(masks.iterdir())[2:]:
        p.unlink()  # four images nobody painted
    for p in masks.iterdir():  # and the two painted ones are scribbles: one row per class
        full = np.asarray(Image.open(p))
        sparse = np.full_like(full, 255)
        sparse[::12] = full[::12]
        Image.fromarray(sparse).save(p)
    before = sorted(p.name for p in masks.iterdir())
    common = ["train", "--images", str(images), "--masks", str(masks), "--classes", str(classes), "--max-steps", "3", "--no-progress", *TINY]
    assert main([*common, "--out", str(tmp_path / "auto.fcnckpt")]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["unlabelled"]["unpainted_images"] == 4 and summary["unlabelled"]["painted_images"] == 2
    assert summary["selection"]["kept"] == "last" and summary["val_images"] == 2  # none held out: scored on the painted ones
    assert summary["grow_regions"] > 0 and summary["grow_radius"] > 0  # scribbles: grown by default
    assert main([*common, "--unlabelled", "off", "--grow-regions", "0", "--grow-radius", "3",
                 "--out", str(tmp_path / "off.fcnckpt")]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert "unlabelled" not in summary and summary["selection"]["kept"] == "last"
    assert summary["grow_regions"] == 0 and summary["grow_radius"] == 3
    assert sorted(p.name for p in masks.iterdir()) == before  # no pseudo-label became a mask
    with pytest.raises(SystemExit):
        main([*common, "--unlabelled", "sometimes", "--out", str(tmp_path / "x.fcnckpt")])
