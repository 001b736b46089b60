"""Predictions in a child process match the in-process predictor; failures are messages."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest
import torch

from fcn_studio.data.labelset import load_preset
from fcn_studio.models import build_model
from fcn_studio.models.checkpoint import save_checkpoint
from fcn_studio.inference.prediction_process import PredictionError, RemotePredictor
from fcn_studio.inference.predictor import Predictor

pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    labelset = load_preset("demo")
    model = build_model("resnet18", "fcn32s", num_classes=labelset.num_classes, weights=None)
    path = tmp_path_factory.mktemp("ckpt") / "model.pt"
    norm = {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
    return save_checkpoint(path, model, labelset=labelset, backbone="resnet18", variant="fcn32s", normalization=norm,
                           summary={"input_scale": 0.5})


@pytest.fixture
def remote():
    r = RemotePredictor()
    yield r
    r.close()


def test_remote_prediction_matches_the_local_one_and_survives_a_killed_process(checkpoint, remote):
    image = np.random.default_rng(0).integers(0, 255, (72, 96, 3), dtype=np.uint8)
    local = Predictor.from_checkpoint(checkpoint, device="cpu")
    remote.load(checkpoint)
    assert remote.refine_radius == local.refine_radius and remote.num_classes == local.num_classes
    for refine in (False, True):
        want = local.predict(image, want_probs=True, probs_dtype=np.float32, refine_edges=refine)
        got = remote.predict(image, want_probs=True, probs_dtype=np.float32, refine_edges=refine)
        assert got.probs is not None and got.probs.dtype == np.float32 and got.probs.shape == want.probs.shape
        np.testing.assert_allclose(got.probs, want.probs, atol=1e-4)
        assert (got.labels == want.labels).mean() > 0.999
    assert remote.predict(image, want_probs=False).probs is None
    # what the window asks for (issue 34): probabilities at display size, labels at the image's
    small = remote.predict(image, want_probs=True, display_pixels=24 * 32)
    assert small.probs.shape == (local.num_classes, 24, 32) and small.labels.shape == (72, 96) and small.confidence is None
    assert (small.labels == want.labels).mean() > 0.999

    os.kill(remote._process.pid, signal.SIGKILL)  # as the out-of-memory killer would
    remote._process.join(5)
    again = remote.predict(image, want_probs=False)  # a new process, the model loaded again
    assert again.labels.shape == (72, 96)


def test_a_bad_checkpoint_is_a_message(tmp_path, remote):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(PredictionError, match="not a PyTorch file"):
        remote.load(bad)
    with pytest.raises(PredictionError, match="no model is loaded"):
        remote.predict(np.zeros((8, 8, 3), np.uint8))


def _cv2_loader_window():
    """The path OpenCV's loader puts first on ``sys.path`` while ``import cv2`` runs."""
    import cv2

    return os.path.dirname(cv2.__file__)


def test_the_child_starts_while_cv2_is_being_imported(checkpoint):
    """Issue 18: a child started while another thread imported cv2 copied ``site-packages/cv2``
    onto its path; its ``import typing`` found ``cv2/typing`` and numpy failed to import."""
    import sys
    import threading

    cv2_dir = _cv2_loader_window()
    image = np.zeros((40, 56, 3), np.uint8)
    stop = threading.Event()

    def loader_windows():  # what `import cv2` does to sys.path, again and again, as fast as it can
        while not stop.is_set():
            sys.path.insert(0, cv2_dir)
            stop.wait(0.002)
            sys.path.remove(cv2_dir)
            stop.wait(0.001)

    sys.path.insert(0, cv2_dir)  # the worst moment, for certain: the start copies this path
    try:
        first = RemotePredictor()
        try:
            first.load(checkpoint)
            assert first.predict(image, want_probs=False).labels.shape == (40, 56)
        finally:
            first.close()
    finally:
        sys.path.remove(cv2_dir)
    toggler = threading.Thread(target=loader_windows, daemon=True)
    toggler.start()
    try:
        for _ in range(3):  # reopening a project: a new prediction process each time
            r = RemotePredictor()
            try:
                r.load(checkpoint)
                assert r.predict(image, want_probs=False).labels.shape == (40, 56)
            finally:
                r.close()
    finally:
        stop.set()
        toggler.join(2)
    assert cv2_dir not in sys.path
