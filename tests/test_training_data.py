"""Training data: mask matching, label mapping, augmentation, refresh of painted images, metrics."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from fcn_studio.data.labelset import LabelSet
from fcn_studio.data.masks import write_color_png, write_indexed_png
from fcn_studio.errors import TrainingError
from fcn_studio.training.augment import augment, random_crop
from fcn_studio.training.dataset import IGNORE, SegmentationDataset, balanced_weights, target_lut
from fcn_studio.training.metrics import score_arrays, scores_from_confusion
from fcn_studio.training.samples import FolderSource, ProjectSource, match_masks, split_validation

ROAD = LabelSet.from_json(
    {"name": "road", "ignore_index": 2, "classes": [
        {"id": 0, "name": "other", "color": [255, 0, 0]},
        {"id": 1, "name": "road", "color": [255, 0, 255]},
        {"id": 2, "name": "void", "color": [0, 0, 0]},
    ]}
)


def _touch_png(path, hw=(4, 6), value=0):  # noqa: ANN001
    Image.fromarray(np.full(hw, value, np.uint8)).save(path)


def test_masks_match_by_stem_suffix_kitti_and_cityscapes(tmp_path):  # noqa: ANN001
    images, masks = tmp_path / "img", tmp_path / "gt"
    images.mkdir()
    masks.mkdir()
    for name in ("a.jpg", "b.png", "um_000012.png", "umm_000003.png", "x_leftImg8bit.png", "lonely.png"):
        _touch_png(images / name)
    for name in ("a.png", "b_L.png", "um_road_000012.png", "um_lane_000012.png", "umm_road_000003.png",
                 "x_gtFine_labelIds.png", "orphan.png"):
        _touch_png(masks / name)
    pairs, unmatched, orphans = match_masks(images, masks)
    got = {i.name: m.name for i, m in pairs}
    assert got == {
        "a.jpg": "a.png",
        "b.png": "b_L.png",
        "um_000012.png": "um_road_000012.png",  # road wins over lane
        "umm_000003.png": "umm_road_000003.png",
        "x_leftImg8bit.png": "x_gtFine_labelIds.png",
    }
    assert [p.name for p in unmatched] == ["lonely.png"]
    assert sorted(p.name for p in orphans) == ["orphan.png", "um_lane_000012.png"]


def test_folder_source_reads_colour_masks_and_maps_ignored_values(tmp_path):  # noqa: ANN001
    images, masks = tmp_path / "img", tmp_path / "gt"
    images.mkdir()
    masks.mkdir()
    Image.fromarray(np.zeros((4, 6, 3), np.uint8)).save(images / "um_000001.png")
    mask = np.array([[0, 1, 2, 255, 1, 0]] * 4, np.uint8)
    write_color_png(masks / "um_road_000001.png", mask, ROAD)  # KITTI-style colour ground truth
    src = FolderSource(images, masks, ROAD)
    (sample,) = src.refresh()
    np.testing.assert_array_equal(sample.read_mask(), mask)
    ds = SegmentationDataset(src, train=False)
    _, target = ds.load(0)
    # class ids stay, the label set's ignore id (void) and unpainted both become IGNORE
    np.testing.assert_array_equal(target[0], [0, 1, IGNORE, IGNORE, 1, 0])


def test_target_lut_covers_every_value():
    lut = target_lut(ROAD)
    assert lut[0] == 0 and lut[1] == 1 and lut[2] == IGNORE and lut[255] == IGNORE and lut[7] == IGNORE


def test_folder_source_errors_name_the_problem(tmp_path):  # noqa: ANN001
    with pytest.raises(TrainingError, match="does not exist"):
        FolderSource(tmp_path / "nope", tmp_path, ROAD)
    (tmp_path / "i").mkdir()
    (tmp_path / "m").mkdir()
    _touch_png(tmp_path / "i" / "a.png")
    _touch_png(tmp_path / "m" / "b.png")
    with pytest.raises(TrainingError, match="no image in .* has a mask"):
        FolderSource(tmp_path / "i", tmp_path / "m", ROAD)


def test_unpainted_masks_are_skipped_until_painted_and_edits_are_seen(tmp_path):  # noqa: ANN001
    images, masks = tmp_path / "img", tmp_path / "gt"
    images.mkdir()
    masks.mkdir()
    for n in ("a", "b"):
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(images / f"{n}.png")
        write_indexed_png(masks / f"{n}.png", np.full((8, 8), 255, np.uint8), ROAD)
    m = np.full((8, 8), 255, np.uint8)
    m[0, 0] = 1
    write_indexed_png(masks / "a.png", m, ROAD)
    src = FolderSource(images, masks, ROAD)
    ds = SegmentationDataset(src, train=False)
    assert [s.id for s in ds.samples] == ["a"]
    # the user paints more while training runs: the next read sees it, the next refresh lists b
    m[1, 1] = 0
    write_indexed_png(masks / "a.png", m, ROAD)
    assert ds.load(0)[1][1, 1] == 0
    b = np.full((8, 8), 255, np.uint8)
    b[2, 2] = 0
    write_indexed_png(masks / "b.png", b, ROAD)
    assert ds.refresh() == 2


def test_project_source_follows_the_project(tmp_path):  # noqa: ANN001
    from fcn_studio.data.demo import create_demo_project

    project = create_demo_project(tmp_path / "p", n_images=3, n_labelled=1, seed=0, size=(48, 64))
    src = ProjectSource(project)
    assert [s.id for s in src.refresh()] == [project.images[0].id]
    # strokes saved by the GUI on another image: listed at the next refresh (epoch start)
    stroke = np.full((48, 64), 255, np.uint8)
    stroke[10:12, 10:30] = 1
    project.save_mask(project.images[2].id, stroke)
    ids = [s.id for s in src.refresh()]
    assert ids == [project.images[0].id, project.images[2].id]
    assert src.find_image(project.images[1].id) == project.path_of(project.images[1].file)
    held = src.subset([ids[1]]).refresh()
    rest = src.without([ids[1]]).refresh()
    assert [s.id for s in held] == [ids[1]] and [s.id for s in rest] == [ids[0]]


def test_augmentation_shapes_and_label_aware_crops():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (90, 120, 3), dtype=np.uint8)
    mask = np.full((90, 120), IGNORE, np.uint8)
    mask[80, 5] = 1  # one painted pixel in a corner
    for seed in range(20):
        img, tgt = augment(image, mask, rng=np.random.default_rng(seed), base_scale=1.0, scale_range=(1.0, 1.0),
                           crop_hw=(32, 48), hflip=True, jitter=0.3)
        assert img.shape == (32, 48, 3) and img.dtype == np.uint8 and tgt.shape == (32, 48)
        assert (tgt == 1).sum() == 1  # every crop holds the painted pixel
    # an image smaller than the crop is padded with ignored pixels
    small_img, small_tgt = random_crop(image[:10, :10], mask[:10, :10], (16, 16), rng)
    assert small_img.shape == (16, 16, 3) and (small_tgt[10:] == IGNORE).all()


def test_augmentation_is_a_function_of_seed_epoch_and_index(tmp_path):  # noqa: ANN001
    from fcn_studio.training.toydata import write_folder

    images, masks, classes = write_folder(tmp_path, n=2, hw=(48, 64))
    src = FolderSource(images, masks, LabelSet.load(classes))
    ds = SegmentationDataset(src, train=True, crop_size=(32, 32), color_jitter=0.2, seed=3, min_length=8)
    assert len(ds) == 8
    a, b = ds[5], ds[5]
    assert (a[0] == b[0]).all() and (a[1] == b[1]).all()
    ds.set_epoch(1)
    c = ds[5]
    assert not ((a[0] == c[0]).all() and (a[1] == c[1]).all())


def test_validation_split_only_with_enough_images():
    from fcn_studio.training.samples import Sample

    samples = [Sample(id=f"s{i}", image_path=None, read_mask=None) for i in range(10)]  # type: ignore[arg-type]
    held = split_validation(samples, 0.2, seed=0)
    assert len(held) == 2 and held == split_validation(samples, 0.2, seed=0)
    assert split_validation(samples[:2], 0.5, seed=0) == []  # keep both for training


def test_balanced_weights_favour_rare_classes():
    w = balanced_weights(np.array([9000, 100, 0]))
    assert w[1] > w[0] and w[2] == 1.0 and np.isclose(w[:2].mean(), 1.0)


def test_metrics_on_a_hand_computed_example():
    target = np.array([[0, 0, 1, 1], [2, 2, 255, 255]], np.uint8)
    pred = np.array([[0, 1, 1, 1], [2, 0, 0, 2]], np.uint8)
    s = score_arrays(target, pred, 3)
    # class 0: tp 1, fp 1 (pixel 5), fn 1 -> 1/3; class 1: tp 2, fp 1 -> 2/3; class 2: tp 1, fn 1 -> 1/2
    np.testing.assert_allclose(s.per_class_iou, [1 / 3, 2 / 3, 1 / 2])
    assert s.miou == pytest.approx((1 / 3 + 2 / 3 + 1 / 2) / 3)
    assert s.pixel_acc == pytest.approx(4 / 6) and s.pixels == 6
    # a class absent from target and prediction has no IoU and does not count in the mean
    absent = scores_from_confusion(np.array([[5, 0], [0, 0]]))
    assert np.isnan(absent.per_class_iou[1]) and absent.miou == 1.0
    assert json.dumps(absent.to_json(["a", "b"]))  # NaN becomes null, JSON stays valid
