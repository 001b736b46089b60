"""Shared fixtures. Qt runs offscreen; nothing here touches the network.

The suite runs on the CPU on every machine, a GPU machine included (``CUDA_VISIBLE_DEVICES``
is emptied before torch loads): tests that train and then look at the result, or repeat a
run and compare, would otherwise meet bf16 autocast and cuDNN's own algorithm choices there.
GPU runs are measured in bench/ instead; ``FCN_STUDIO_TEST_GPU=1`` leaves the GPUs visible.
"""

from __future__ import annotations

import contextlib
import os

if not os.environ.get("FCN_STUDIO_TEST_GPU"):
    os.environ["CUDA_VISIBLE_DEVICES"] = ""
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fcn_studio.training.callbacks import TrainCallbacks

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# The record of verified weight files (fcn_studio/models/file_hash.py) goes to a folder of this
# run, not the user's cache; child processes (training, prediction) inherit it.
if not os.environ.get("FCN_STUDIO_CACHE_DIR"):
    import atexit
    import shutil
    import tempfile

    os.environ["FCN_STUDIO_CACHE_DIR"] = tempfile.mkdtemp(prefix="fcn-studio-test-cache-")
    atexit.register(shutil.rmtree, os.environ["FCN_STUDIO_CACHE_DIR"], True)

REPO = Path(__file__).resolve().parent.parent
CAMVID = REPO.parent / "shared" / "datasets" / "camvid"


@pytest.fixture(scope="module")
def torch_one_thread():  # noqa: ANN201
    """Run a module's (mostly tiny) tensors on one torch thread. On a busy 2-core machine,
    OpenMP barriers stall whenever a sibling thread is descheduled, so two threads can run
    ten times slower; one thread keeps these tests fast and their time stable. Modules opt
    in with ``pytestmark = pytest.mark.usefixtures("torch_one_thread")``."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@contextlib.contextmanager
def deterministic_torch() -> Iterator[None]:
    """One thread and ``torch.use_deterministic_algorithms(True)`` inside, the previous settings after.

    For fixtures that train a model and then assert what it predicts: the same seed then gives
    the same arithmetic on every run of one machine. Across machines, CPUs and torch versions the
    numbers still move a little, which is why such assertions keep a clear margin (measured
    values are written beside each) or use a model whose answer is known (tests/known_models.py).
    """
    import torch

    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(deterministic)
        torch.set_num_threads(threads)


@pytest.fixture
def camvid_dir() -> Path:
    if not (CAMVID / "classes.json").exists():
        pytest.skip("../shared/datasets/camvid is not present")
    return CAMVID


@pytest.fixture
def rgb_files(tmp_path: Path) -> list[Path]:
    """Three small RGB PNGs with distinct content."""
    rng = np.random.default_rng(1)
    out = []
    folder = tmp_path / "src"
    folder.mkdir()
    for i, (h, w) in enumerate([(40, 60), (30, 50), (40, 60)]):
        p = folder / f"img{i}.png"
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(p)
        out.append(p)
    return out


class Recorder(TrainCallbacks):
    """Every report a training run sends, kept in lists (shared by the trainer tests)."""

    def __init__(self) -> None:
        self.steps, self.epochs, self.notices, self.previews, self.checkpoints = [], [], [], [], []

    def on_step(self, r):  # noqa: ANN001
        self.steps.append(r)

    def on_epoch_end(self, r):  # noqa: ANN001
        self.epochs.append(r)

    def on_notice(self, m):  # noqa: ANN001
        self.notices.append(m)

    def on_prediction(self, r):  # noqa: ANN001
        self.previews.append(r)

    def on_checkpoint(self, path, metrics):  # noqa: ANN001
        self.checkpoints.append((path, metrics))


@pytest.fixture(autouse=True)
def unanswered_dialogs_fail(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """A modal dialog in a test has nobody to answer it: offscreen, the suite would wait until
    CI's limit runs out and say nothing of why. Here QMessageBox's, QInputDialog's and
    QFileDialog's static dialogs answer at once (QMessageBox: Discard, Cancel, No or Ok, never
    Retry, which would ask again) and the test fails naming each dialog it met. A test that
    expects a dialog patches it itself, after this fixture, so its own answer wins."""
    import sys

    shown: list[str] = []
    if "PySide6.QtWidgets" not in sys.modules:  # a test without Qt: nothing to guard
        yield shown
        return
    from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox

    button = QMessageBox.StandardButton

    def message_box(kind: str):  # noqa: ANN202
        def answer(_parent, title, text, buttons=None, *_args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
            shown.append(f"QMessageBox.{kind}({title!r}, {text!r})")
            offered = kwargs.get("buttons", buttons)
            if offered is None:
                offered = button.Yes | button.No if kind == "question" else button.Ok
            for choice in (button.Discard, button.Cancel, button.No, button.Ok):
                if offered & choice:
                    return choice
            return button.Ok

        return answer

    def other(kind: str, result: object):  # noqa: ANN202
        def answer(*args, **_kwargs):  # noqa: ANN002, ANN003, ANN202
            shown.append(f"{kind}{tuple(a for a in args[1:3] if isinstance(a, str))!r}")
            return result

        return answer

    for kind in ("question", "warning", "critical", "information"):
        monkeypatch.setattr(QMessageBox, kind, message_box(kind))
    monkeypatch.setattr(QInputDialog, "getText", other("QInputDialog.getText", ("", False)))
    monkeypatch.setattr(QInputDialog, "getItem", other("QInputDialog.getItem", ("", False)))
    for kind in ("getOpenFileName", "getSaveFileName"):
        monkeypatch.setattr(QFileDialog, kind, other(f"QFileDialog.{kind}", ("", "")))
    monkeypatch.setattr(QFileDialog, "getOpenFileNames", other("QFileDialog.getOpenFileNames", ([], "")))
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", other("QFileDialog.getExistingDirectory", ""))
    yield shown
    if shown:
        pytest.fail("a modal dialog nobody answered (answered at once instead of waiting forever): " + "; ".join(shown))
