"""A tiny model trained once on synthetic shapes: it must fit them, and predict the same whole or tiled.

One module-scoped training run (ResNet-18 FCN-8s, random init, 64x96 images) serves every
test here, so the expensive part runs once.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from fcn_studio.data.labelset import LabelSet
from fcn_studio.training import FolderSource, TrainCallbacks, TrainConfig, train
from fcn_studio.training.metrics import score_arrays
from fcn_studio.inference.predictor import Predictor
from fcn_studio.training.toydata import make_scenes, write_folder
from conftest import Recorder




pytestmark = pytest.mark.usefixtures("torch_one_thread")  # see conftest.py


@pytest.fixture(scope="module")
def trained(torch_one_thread, tmp_path_factory):  # noqa: ANN001, ANN201
    root = tmp_path_factory.mktemp("toy")
    images, masks, classes = write_folder(root, n=4, hw=(64, 96), seed=0)
    cfg = TrainConfig(
        backbone="resnet18", variant="fcn8s", weights=None, epochs=None, max_steps=60, batch_size=4,
        crop_size=(64, 64), scale=1.0, num_threads=1, val_fraction=0, preview_every_s=None,
        min_epoch_steps=10, out=root / "toy.fcnckpt", seed=0,
        # Unweighted: this asserts the model can fit the shapes in 60 steps; the dense default's
        # balanced weights trade a little big-class IoU for the small ones (0.88 here).
        class_weights="none",
    )
    rec = Recorder()
    result = train(cfg, FolderSource(images, masks, LabelSet.load(classes)), rec)
    return {"root": root, "images": images, "masks": masks, "classes": classes, "result": result, "rec": rec}


def test_tiny_model_overfits_synthetic_shapes(trained):  # noqa: ANN001
    predictor = Predictor.from_checkpoint(trained["result"].checkpoint, device="cpu")
    scenes = make_scenes(4, (64, 96), seed=0)
    labels = np.concatenate([predictor.predict(rgb, want_probs=False).labels for rgb, _ in scenes])
    truth = np.concatenate([lab for _, lab in scenes])
    assert score_arrays(truth, labels, 3).miou > 0.9
    # the checkpoint is the best-scoring epoch, and remembers how it was trained
    summary = predictor.meta.summary
    best = max(trained["rec"].epochs, key=lambda r: r.miou)
    assert summary["step"] == best.step and summary["miou"] == pytest.approx(best.miou, abs=1e-6)
    assert summary["input_scale"] == 1.0 and summary["metrics_on"] == "training"


def test_reports_hold_plain_numbers_and_cpu_arrays(trained):  # noqa: ANN001
    rec = trained["rec"]
    assert [r.step for r in rec.steps] == list(range(1, 61))
    for r in rec.steps:
        assert all(isinstance(getattr(r, f), (int, float, str, type(None))) for f in ("loss", "lr", "images_per_s", "eta_s", "step", "epoch"))
    first, last = rec.steps[0], rec.steps[-1]
    assert last.loss < first.loss and last.lr < first.lr  # it learned, and the one-cycle decay ran
    ep = rec.epochs[-1]
    assert isinstance(ep.per_class_iou, np.ndarray) and ep.per_class_iou.shape == (3,)
    assert isinstance(ep.miou, float) and 0 <= ep.pixel_acc <= 1


def test_prediction_outputs_are_consistent(trained):  # noqa: ANN001
    predictor = Predictor.from_checkpoint(trained["result"].checkpoint, device="cpu")
    rgb, _ = make_scenes(1, (70, 100), seed=5)[0]  # a size that is not a multiple of 32
    pred = predictor.predict(rgb)
    assert pred.probs.shape == (3, 70, 100) and pred.probs.dtype == np.float16
    assert pred.labels.shape == (70, 100) and pred.labels.dtype == np.uint8
    np.testing.assert_allclose(pred.probs.astype(np.float32).sum(0), 1.0, atol=2e-3)
    np.testing.assert_array_equal(pred.labels, pred.probs.argmax(0))
    np.testing.assert_allclose(pred.confidence, pred.probs.max(0).astype(np.float32), atol=1e-3)
    ent = pred.entropy()
    assert ent.shape == (70, 100) and (ent >= 0).all() and (ent <= np.log(3) + 1e-3).all()


def test_tiled_inference_matches_whole_image(trained):  # noqa: ANN001
    """Tiles aligned to stride 32 with 64 px margins, blended, against one whole-image pass.

    Not bit-identical: a ResNet's receptive field exceeds the margin, so a tile border still
    leaks a little. Measured on this model: labels agree on 99.9 % of the pixels, probabilities
    differ by 0.001 on average and 0.07 at most (at a few pixels on object boundaries); the
    bounds below leave room for other seeds and CPUs.
    """
    predictor = Predictor.from_checkpoint(trained["result"].checkpoint, device="cpu", tile=192, margin=64)
    rng = np.random.default_rng(3)
    from fcn_studio.training.toydata import make_scene

    # a large canvas of several scenes side by side, so tiles cut through objects
    rows = [np.concatenate([make_scene(rng, (96, 128))[0] for _ in range(3)], axis=1) for _ in range(2)]
    image = np.concatenate(rows, axis=0)  # 192 x 384
    whole = predictor.predict(image, probs_dtype=np.float32)
    tiled = predictor.predict(image, probs_dtype=np.float32, force_tiles=True)
    agree = (whole.labels == tiled.labels).mean()
    diff = np.abs(whole.probs - tiled.probs)
    assert agree > 0.99, agree
    assert diff.mean() < 0.01 and diff.max() < 0.25, (diff.mean(), diff.max())


def test_tiles_cover_every_pixel_once_and_are_aligned():
    from fcn_studio.inference.tiling import plan_tiles

    h, w = 333, 517
    cover = np.zeros((h, w), int)
    for t in plan_tiles(h, w, tile=256, margin=50):
        assert t.y0 % 32 == 0 and t.x0 % 32 == 0
        assert t.y1 - t.y0 <= 256 + 64 and t.x1 - t.x0 <= 256 + 64
        cover[t.cy0 : t.cy1, t.cx0 : t.cx1] += 1
    assert (cover == 1).all()
    with pytest.raises(ValueError):
        plan_tiles(100, 100, tile=64, margin=32)


def test_tiling_is_exact_when_margins_cover_the_receptive_field():
    """A model whose receptive field fits in the margin gives the same logits tiled or whole."""
    from fcn_studio.inference.tiling import run_tiled

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 5, padding=2), torch.nn.ReLU(), torch.nn.Conv2d(8, 4, 5, padding=2))
    x = torch.randn(1, 3, 150, 230)
    with torch.no_grad():
        whole = net(x)
        tiled = run_tiled(net, x, num_classes=4, tile=128, margin=32)
    torch.testing.assert_close(tiled, whole, atol=1e-5, rtol=1e-5)


def test_cli_predict_and_evaluate_on_the_trained_checkpoint(trained, tmp_path, capsys):  # noqa: ANN001
    from fcn_studio.cli import main

    ckpt = str(trained["result"].checkpoint)
    for fmt, suffix in (("index", ".png"), ("color", ".png"), ("overlay", ".png"), ("probs", ".npz")):
        out = tmp_path / fmt
        assert main(["predict", "--checkpoint", ckpt, "--images", str(trained["images"]), "--out", str(out), "--format", fmt, "--no-progress"]) == 0
        line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert line["written"] == 4 and len(list(out.glob(f"*{suffix}"))) == 4
    probs = np.load(next((tmp_path / "probs").glob("*.npz")))
    assert probs["probs"].shape == (3, 64, 96)
    # the indexed predictions read back as masks with the checkpoint's classes
    from fcn_studio.data.masks import read_mask

    labelset = LabelSet.load(trained["classes"])
    mask = read_mask(next((tmp_path / "index").glob("*.png")), labelset)
    assert mask.shape == (64, 96) and set(np.unique(mask)) <= {0, 1, 2}

    argv = ["evaluate", "--checkpoint", ckpt, "--images", str(trained["images"]), "--masks", str(trained["masks"]),
            "--classes", str(trained["classes"]), "--no-progress"]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["miou"] > 0.9 and set(result["per_class_iou"]) == {"background", "box", "disc"}
    assert 0.9 < result["pixel_acc"] <= 1


def test_cli_evaluate_refuses_a_label_set_of_another_size(trained, tmp_path, capsys):  # noqa: ANN001
    from fcn_studio.cli import main

    other = tmp_path / "two.json"
    other.write_text(json.dumps({"name": "two", "classes": [{"id": 0, "name": "a", "color": [0, 0, 0]}, {"id": 1, "name": "b", "color": [9, 9, 9]}]}))
    argv = ["evaluate", "--checkpoint", str(trained["result"].checkpoint), "--images", str(trained["images"]),
            "--masks", str(trained["masks"]), "--classes", str(other), "--no-progress"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "2 trainable classes" in err[0]


def test_one_entropy_for_the_predictor_and_the_window():
    """Prediction.entropy (nats) and the window's uncertainty (normalised) are one function."""
    from fcn_studio.inference.prediction_types import Prediction, entropy

    probs = np.array([[[1.0, 0.5]], [[0.0, 0.5]]], dtype=np.float16)  # 2 classes, 1x2 pixels
    nats = entropy(probs)
    np.testing.assert_allclose(nats, [[0.0, np.log(2)]], atol=1e-6)
    np.testing.assert_allclose(entropy(probs, normalized=True), [[0.0, 1.0]], atol=1e-6)
    pred = Prediction(labels=np.zeros((1, 2), np.uint8), confidence=np.ones((1, 2), np.float32), probs=probs)
    np.testing.assert_array_equal(pred.entropy(), nats)
