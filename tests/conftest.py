"""Shared fixtures. Qt runs offscreen; nothing here touches the network."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

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
