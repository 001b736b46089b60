"""Mask import (indexed, ids, colours), validation messages, export, overlay, statistics."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fcn_studio.data.labelset import UNPAINTED, UNPAINTED_COLOR, LabelClass, LabelSet, load_preset
from fcn_studio.data.masks import (
    check_mask,
    class_histogram,
    colorize,
    overlay,
    painted_fraction,
    read_mask,
    write_color_png,
    write_indexed_png,
    write_overlay_png,
)
from fcn_studio.errors import MaskError

RED, MAGENTA = (255, 0, 0), (255, 0, 255)


@pytest.fixture
def road() -> LabelSet:
    return load_preset("road")


@pytest.fixture
def camvid() -> LabelSet:
    return load_preset("camvid11")


def _kitti_gt(h: int = 12, w: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """A KITTI-road-style colour ground truth and the ids it means (road = bottom rows)."""
    rgb = np.zeros((h, w, 3), np.uint8)
    rgb[:] = RED
    rgb[h // 2 :, 3:-3] = MAGENTA
    ids = np.zeros((h, w), np.uint8)
    ids[h // 2 :, 3:-3] = 1
    return rgb, ids


# -- colour masks ----------------------------------------------------------------------------
def test_kitti_colour_mask_with_road_preset(tmp_path: Path, road: LabelSet) -> None:
    rgb, ids = _kitti_gt()
    p = tmp_path / "um_road_000012.png"
    Image.fromarray(rgb).save(p)
    mask, report = check_mask(p, road, expected_hw=(12, 20))
    assert report.kind == "color" and report.ok
    np.testing.assert_array_equal(mask, ids)
    np.testing.assert_array_equal(read_mask(p, road), ids)
    assert mask.dtype == np.uint8 and mask.flags.c_contiguous


def test_colour_mask_unknown_colours_listed(tmp_path: Path, road: LabelSet) -> None:
    rgb, _ = _kitti_gt()
    rgb[0, :6] = (0, 255, 0)
    rgb[1, :2] = (0, 0, 0)  # black is not guessed to mean anything
    p = tmp_path / "um_road_000013.png"
    Image.fromarray(rgb).save(p)
    with pytest.raises(MaskError) as err:
        read_mask(p, road)
    msg = str(err.value)
    assert "um_road_000013.png" in msg and "2 colours" in msg
    assert "#00ff00 (6 px)" in msg and "#000000 (2 px)" in msg
    mask, report = check_mask(p, road)
    assert report.unknown_colors == {(0, 255, 0): 6, (0, 0, 0): 2}
    assert (mask[0, :6] == UNPAINTED).all() and (mask[1, :2] == UNPAINTED).all()
    assert mask[0, 6] == 0  # the rest still mapped


def test_grey_rgb_mask_gets_a_hint(tmp_path: Path, road: LabelSet) -> None:
    grey = np.repeat(np.array([[0, 1], [1, 0]], np.uint8)[..., None], 3, axis=2)
    Image.fromarray(grey).save(tmp_path / "g.png")
    with pytest.raises(MaskError, match="id mask saved as RGB"):
        read_mask(tmp_path / "g.png", road)


def test_colour_roundtrip_including_unpainted(tmp_path: Path, camvid: LabelSet) -> None:
    mask = np.random.default_rng(3).integers(0, 12, (9, 14)).astype(np.uint8)
    mask[0, :5] = UNPAINTED
    write_color_png(tmp_path / "c.png", mask, camvid)
    assert Image.open(tmp_path / "c.png").mode == "RGB"
    assert tuple(np.array(Image.open(tmp_path / "c.png"))[0, 0]) == UNPAINTED_COLOR
    np.testing.assert_array_equal(read_mask(tmp_path / "c.png", camvid), mask)


def test_rgba_transparent_pixels_are_unpainted(tmp_path: Path, road: LabelSet) -> None:
    rgba = np.zeros((3, 4, 4), np.uint8)
    rgba[..., :3] = MAGENTA
    rgba[..., 3] = 255
    rgba[0, 0] = (1, 2, 3, 0)  # transparent: colour underneath does not matter
    Image.fromarray(rgba).save(tmp_path / "t.png")
    mask, report = check_mask(tmp_path / "t.png", road)
    assert report.ok and report.transparent_px == 1
    assert mask[0, 0] == UNPAINTED and (mask.ravel()[1:] == 1).all()


def test_duplicate_colours_refused(tmp_path: Path) -> None:
    ls = LabelSet("dup", (LabelClass(0, "a", (1, 2, 3)), LabelClass(1, "b", (1, 2, 3))))
    Image.fromarray(np.full((2, 2, 3), 1, np.uint8)).save(tmp_path / "d.png")
    with pytest.raises(MaskError, match="share the colour #010203"):
        read_mask(tmp_path / "d.png", ls)


def test_colour_mapping_is_vectorised(tmp_path: Path, camvid: LabelSet) -> None:
    # 6 MP colour mask: a Python loop over pixels would take far longer than the limit.
    ids = (np.arange(2000 * 3000, dtype=np.int64) % 11).astype(np.uint8).reshape(2000, 3000)
    p = tmp_path / "big.png"
    Image.fromarray(camvid.color_lut()[ids]).save(p, compress_level=1)
    t0 = time.perf_counter()
    mask = read_mask(p, camvid)
    assert time.perf_counter() - t0 < 5.0
    np.testing.assert_array_equal(mask, ids)


# -- id and indexed masks ------------------------------------------------------------------
def test_indexed_png_ids_ignore_palette(tmp_path: Path, road: LabelSet) -> None:
    idx = np.array([[0, 1, 255], [1, 1, 0]], np.uint8)
    img = Image.fromarray(idx)
    img.putpalette([9, 9, 9] * 256)  # a foreign palette: indices still mean class ids
    img.save(tmp_path / "voc.png")
    mask, report = check_mask(tmp_path / "voc.png", road)
    assert report.kind == "indexed" and report.ok
    np.testing.assert_array_equal(mask, idx)


def test_id_png_L(tmp_path: Path, camvid: LabelSet) -> None:
    ids = np.array([[0, 3, 11], [255, 10, 5]], np.uint8)
    Image.fromarray(ids).save(tmp_path / "ids.png")
    mask, report = check_mask(tmp_path / "ids.png", camvid)
    assert report.kind == "ids" and report.ok
    np.testing.assert_array_equal(mask, ids)


def test_id_png_16bit(tmp_path: Path, camvid: LabelSet) -> None:
    ids = np.array([[0, 3], [11, 255]], np.uint16)
    Image.fromarray(ids).save(tmp_path / "ids16.png")
    np.testing.assert_array_equal(read_mask(tmp_path / "ids16.png", camvid), ids.astype(np.uint8))
    Image.fromarray(np.array([[0, 1000]], np.uint16)).save(tmp_path / "depth.png")
    with pytest.raises(MaskError, match=r"depth.png holds .* values from 0 to 1000"):
        read_mask(tmp_path / "depth.png", camvid)


def test_unknown_ids_listed_with_counts(tmp_path: Path, road: LabelSet) -> None:
    ids = np.zeros((40, 50), np.uint8)
    ids.ravel()[:1204] = 17
    ids.ravel()[1204:1207] = 40
    ids.ravel()[1207:1208] = 2
    p = tmp_path / "um_road_000012.png"
    Image.fromarray(ids).save(p)
    with pytest.raises(MaskError) as err:
        read_mask(p, road)
    msg = str(err.value)
    assert "mask um_road_000012.png has 3 unknown class ids: 17 (1,204 px), 40 (3 px), 2 (1 px)" in msg
    mask, report = check_mask(p, road)
    assert report.unknown_ids == {17: 1204, 40: 3, 2: 1}
    assert (mask.ravel()[:1208] == UNPAINTED).all() and (mask.ravel()[1208:] == 0).all()


def test_many_unknown_ids_are_summarised(tmp_path: Path, road: LabelSet) -> None:
    Image.fromarray(np.arange(100, 120, dtype=np.uint8).reshape(4, 5)).save(tmp_path / "m.png")
    with pytest.raises(MaskError, match="20 unknown class ids: .* and 14 more"):
        read_mask(tmp_path / "m.png", road)


def test_wrong_size_names_both_sizes(tmp_path: Path, road: LabelSet) -> None:
    Image.fromarray(np.zeros((10, 21), np.uint8)).save(tmp_path / "s.png")
    with pytest.raises(MaskError, match=r"s.png is 21x10 px \(width x height\) but its image is 20x10"):
        read_mask(tmp_path / "s.png", road, expected_hw=(10, 20))
    assert read_mask(tmp_path / "s.png", road, expected_hw=(10, 21)).shape == (10, 21)


def test_mode_1_mask_gives_ids_0_and_1(tmp_path: Path, road: LabelSet) -> None:
    bits = np.array([[True, False], [False, True]])
    Image.fromarray(bits).save(tmp_path / "bin.png")
    np.testing.assert_array_equal(read_mask(tmp_path / "bin.png", road), bits.astype(np.uint8))


def test_unreadable_masks_raise_mask_error(tmp_path: Path, road: LabelSet) -> None:
    with pytest.raises(MaskError, match="nothere.png does not exist"):
        read_mask(tmp_path / "nothere.png", road)
    noisy = np.random.default_rng(4).integers(0, 2, (200, 200), dtype=np.uint8)
    p = tmp_path / "cut.png"
    Image.fromarray(noisy).save(p)
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
    with pytest.raises(MaskError, match="cut.png is truncated"):
        read_mask(p, road)
    (tmp_path / "txt.png").write_text("no")
    with pytest.raises(MaskError, match="txt.png is not an image"):
        read_mask(tmp_path / "txt.png", road)


# -- export --------------------------------------------------------------------------------
def test_write_indexed_png_palette_and_roundtrip(tmp_path: Path, camvid: LabelSet) -> None:
    mask = np.random.default_rng(5).integers(0, 12, (17, 23)).astype(np.uint8)
    mask[3, :] = UNPAINTED
    p = tmp_path / "m.png"
    write_indexed_png(p, mask, camvid)
    img = Image.open(p)
    assert img.mode == "P"
    np.testing.assert_array_equal(np.array(img), mask)
    pal = np.array(img.getpalette()[:768]).reshape(-1, 3)
    for c in camvid.classes:
        assert tuple(pal[c.id]) == c.color
    assert tuple(pal[UNPAINTED]) == UNPAINTED_COLOR
    np.testing.assert_array_equal(read_mask(p, camvid, expected_hw=(17, 23)), mask)


def test_write_indexed_png_refuses_non_masks(tmp_path: Path, road: LabelSet) -> None:
    with pytest.raises(ValueError, match="HxW uint8"):
        write_indexed_png(tmp_path / "x.png", np.zeros((2, 2), np.int32), road)
    assert not (tmp_path / "x.png").exists()


def test_colorize(road: LabelSet) -> None:
    out = colorize(np.array([[0, 1, 255]], np.uint8), road)
    assert out.shape == (1, 3, 3) and out.dtype == np.uint8
    assert [tuple(v) for v in out[0]] == [RED, MAGENTA, UNPAINTED_COLOR]


def test_overlay_math(tmp_path: Path, road: LabelSet) -> None:
    image = np.zeros((2, 2, 3), np.uint8)
    image[:] = (100, 40, 200)
    mask = np.array([[1, 255], [0, 1]], np.uint8)
    out = overlay(image, mask, road, opacity=0.25)
    # 0.75 * image + 0.25 * magenta(255, 0, 255)
    assert out[0, 0].tolist() == [139, 30, 214]
    # 0.75 * image + 0.25 * red(255, 0, 0)
    assert out[1, 0].tolist() == [139, 30, 150]
    assert out[0, 1].tolist() == [100, 40, 200]  # unpainted: unchanged
    assert (overlay(image, mask, road, opacity=0.0) == image).all()
    full = overlay(image, mask, road, opacity=1.0)
    assert full[0, 0].tolist() == list(MAGENTA) and full[0, 1].tolist() == [100, 40, 200]
    with pytest.raises(ValueError, match="opacity"):
        overlay(image, mask, road, opacity=1.5)
    with pytest.raises(ValueError, match="differ in size"):
        overlay(image, mask[:1], road)

    write_overlay_png(tmp_path / "o.png", image, mask, road, 0.25)
    np.testing.assert_array_equal(np.array(Image.open(tmp_path / "o.png")), out)


# -- statistics ----------------------------------------------------------------------------
def test_painted_fraction_and_histogram(camvid: LabelSet) -> None:
    mask = np.full((4, 5), UNPAINTED, np.uint8)
    mask[0, :3] = 3
    mask[1, 0] = 11
    assert painted_fraction(mask) == pytest.approx(4 / 20)
    assert painted_fraction(np.zeros((0, 3), np.uint8)) == 0.0
    hist = class_histogram(mask, camvid)
    assert set(hist) == {c.id for c in camvid.classes}
    assert hist[3] == 3 and hist[11] == 1 and sum(hist.values()) == 4
