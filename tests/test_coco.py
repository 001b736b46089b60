"""COCO export: RLE strings identical to pycocotools, decodable by it and by our own decoder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fcn_studio.data.coco import (
    CATEGORY_ID_OFFSET,
    counts_to_string,
    decode_rle,
    encode_rle,
    export_coco,
    read_coco_masks,
    rle_counts,
    string_to_counts,
)
from fcn_studio.data.labelset import UNPAINTED, LabelSet, load_preset
from fcn_studio.errors import MaskError

mask_util = pytest.importorskip("pycocotools.mask")
# pycocotools' own numpy-2 deprecation noise, not ours.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


@pytest.fixture
def camvid() -> LabelSet:
    return load_preset("camvid11")


def _binary_masks() -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    big = np.ones((300, 500), np.uint8)  # long runs: multi-group numbers and negative deltas
    big[100:180, 40:60] = 0
    big[5, 7] = 0
    return [
        np.zeros((4, 6), np.uint8),
        np.ones((4, 6), np.uint8),
        (rng.random((37, 53)) < 0.5).astype(np.uint8),
        (rng.random((64, 64)) < 0.02).astype(np.uint8),
        big,
        np.eye(1, 1, dtype=np.uint8),
    ]


@pytest.mark.parametrize("index", range(6))
def test_encode_matches_pycocotools_exactly(index: int) -> None:
    m = _binary_masks()[index]
    ours = encode_rle(m)
    theirs = mask_util.encode(np.asfortranarray(m))
    assert ours["size"] == list(theirs["size"])
    assert ours["counts"] == theirs["counts"].decode("ascii")


@pytest.mark.parametrize("index", range(6))
def test_decode_matches_pycocotools(index: int) -> None:
    m = _binary_masks()[index]
    theirs = mask_util.encode(np.asfortranarray(m))
    decoded = decode_rle({"size": list(theirs["size"]), "counts": theirs["counts"].decode("ascii")})
    assert decoded.dtype == np.uint8
    np.testing.assert_array_equal(decoded, m)
    np.testing.assert_array_equal(decode_rle(theirs), m)  # bytes counts, as pycocotools returns


def test_counts_string_roundtrip_large_and_negative_deltas() -> None:
    counts = np.array([0, 5, 1_000_000, 3, 7, 2_000_000_000, 1, 1, 40, 39, 2**31], dtype=np.int64)
    assert np.array_equal(string_to_counts(counts_to_string(counts)), counts)
    assert rle_counts(np.array([[1, 1], [0, 1]], np.uint8)).tolist() == [0, 1, 1, 2]  # column-major


def test_uncompressed_and_malformed_rle() -> None:
    np.testing.assert_array_equal(
        decode_rle({"size": [2, 2], "counts": [1, 2, 1]}), np.array([[0, 1], [1, 0]], np.uint8)
    )
    with pytest.raises(ValueError, match="add up to 3 pixels but its size 2x2 has 4"):
        decode_rle({"size": [2, 2], "counts": [1, 2]})
    with pytest.raises(ValueError, match="middle of a number"):
        decode_rle({"size": [2, 2], "counts": "0P"})  # 'P' = 0x20 set: "more follows", then nothing


def _scene_masks() -> list[tuple[str, int, np.ndarray]]:
    rng = np.random.default_rng(11)
    a = rng.integers(0, 12, (30, 40)).astype(np.uint8)  # includes 11 = CamVid's ignore_index
    a[:5, :] = UNPAINTED
    b = np.full((25, 17), UNPAINTED, np.uint8)
    b[3:9, 2:15] = 4
    b[20:, :4] = 0
    c = np.full((8, 8), UNPAINTED, np.uint8)  # nothing painted
    return [("a.png", 1, a), ("sub/b.jpg", 7, b), ("c.png", 3, c)]


def test_export_structure_and_pycocotools_decode(tmp_path: Path, camvid: LabelSet) -> None:
    items = _scene_masks()
    out = tmp_path / "coco.json"
    summary = export_coco(out, items, camvid)
    data = json.loads(out.read_text())
    assert set(data) >= {"info", "images", "categories", "annotations"}
    assert summary == {"images": 3, "annotations": len(data["annotations"])}

    assert [im["file_name"] for im in data["images"]] == ["a.png", "sub/b.jpg", "c.png"]
    assert data["images"][1] == {"id": 7, "file_name": "sub/b.jpg", "height": 25, "width": 17}
    cats = {c["id"]: c for c in data["categories"]}
    assert sorted(cats) == [i + CATEGORY_ID_OFFSET for i in range(11)]  # 11 (ignore) not exported
    assert cats[1]["name"] == "Sky" and cats[1]["fcn_studio_class_id"] == 0
    assert all(set(c) >= {"id", "name", "supercategory"} for c in cats.values())

    by_id = {image_id: mask for _, image_id, mask in items}
    seen: set[tuple[int, int]] = set()
    ann_ids = [a["id"] for a in data["annotations"]]
    assert len(set(ann_ids)) == len(ann_ids)
    for ann in data["annotations"]:
        mask = by_id[ann["image_id"]]
        class_id = ann["category_id"] - CATEGORY_ID_OFFSET
        expected = (mask == class_id).astype(np.uint8)
        seg = ann["segmentation"]
        assert seg["size"] == list(mask.shape) and isinstance(seg["counts"], str)
        rle = {"size": seg["size"], "counts": seg["counts"].encode("ascii")}
        np.testing.assert_array_equal(mask_util.decode(rle), expected)
        np.testing.assert_array_equal(decode_rle(seg), expected)
        assert ann["area"] == int(expected.sum()) == int(mask_util.area(rle))
        np.testing.assert_allclose(ann["bbox"], mask_util.toBbox(rle))
        assert ann["iscrowd"] == 0
        seen.add((ann["image_id"], class_id))
    expected_pairs = {
        (image_id, int(v))
        for _, image_id, mask in items
        for v in np.unique(mask)
        if v not in (UNPAINTED, camvid.ignore_index)
    }
    assert seen == expected_pairs
    assert (7, 4) in seen and (7, 0) in seen and not any(i == 3 for i, _ in seen)


def test_export_loads_in_pycocotools_coco(tmp_path: Path, camvid: LabelSet) -> None:
    coco_mod = pytest.importorskip("pycocotools.coco")
    items = _scene_masks()
    export_coco(tmp_path / "coco.json", items, camvid)
    coco = coco_mod.COCO(str(tmp_path / "coco.json"))
    ann_ids = coco.getAnnIds(imgIds=[7], catIds=[4 + CATEGORY_ID_OFFSET])
    assert len(ann_ids) == 1
    np.testing.assert_array_equal(coco.annToMask(coco.loadAnns(ann_ids)[0]), (items[1][2] == 4).astype(np.uint8))


def test_read_back_roundtrip(tmp_path: Path, camvid: LabelSet) -> None:
    items = _scene_masks()
    export_coco(tmp_path / "coco.json", items, camvid)
    back = read_coco_masks(tmp_path / "coco.json", camvid)
    assert set(back) == {"a.png", "sub/b.jpg", "c.png"}
    for name, _, mask in items:
        expected = mask.copy()
        expected[expected == camvid.ignore_index] = UNPAINTED  # not exported, comes back unpainted
        np.testing.assert_array_equal(back[name], expected)


def test_read_foreign_categories_by_name(tmp_path: Path) -> None:
    road = load_preset("road")
    m = np.zeros((3, 4), np.uint8)
    m[1:, 1:3] = 1
    rle = encode_rle(m)
    doc = {
        "images": [{"id": 5, "file_name": "x.png", "height": 3, "width": 4}],
        "categories": [{"id": 90, "name": "Road", "supercategory": "ground"}],
        "annotations": [{"id": 1, "image_id": 5, "category_id": 90, "segmentation": rle, "iscrowd": 0}],
    }
    (tmp_path / "f.json").write_text(json.dumps(doc))
    got = read_coco_masks(tmp_path / "f.json", road)["x.png"]
    expected = np.where(m == 1, 1, UNPAINTED).astype(np.uint8)
    np.testing.assert_array_equal(got, expected)

    doc["categories"] = [{"id": 90, "name": "sky"}]
    (tmp_path / "g.json").write_text(json.dumps(doc))
    with pytest.raises(MaskError, match="g.json has categories the label set 'Road' lacks: sky"):
        read_coco_masks(tmp_path / "g.json", road)


def test_read_refuses_broken_files(tmp_path: Path, camvid: LabelSet) -> None:
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(MaskError, match="bad.json is not valid JSON"):
        read_coco_masks(tmp_path / "bad.json", camvid)
    with pytest.raises(MaskError, match="cannot read COCO file"):
        read_coco_masks(tmp_path / "none.json", camvid)


def test_export_refuses_duplicates(tmp_path: Path, camvid: LabelSet) -> None:
    m = np.zeros((2, 2), np.uint8)
    with pytest.raises(ValueError, match="listed twice"):
        export_coco(tmp_path / "d.json", [("a.png", 1, m), ("b.png", 1, m)], camvid)
    assert not (tmp_path / "d.json").exists()
