"""The region brush (issue 26): a stroke fills exactly the colour regions it touches, in one undo step."""

from __future__ import annotations

import numpy as np
import pytest

from fcn_studio.data.labelset import UNPAINTED
from fcn_studio.data.paint import StrokeRecorder, region_brush, stamp_segment
from fcn_studio.data.regions import fill_touched, image_regions


def _regions() -> np.ndarray:
    """Four known regions of a 60x80 image: ids 0..3 in quadrants."""
    r = np.zeros((60, 80), np.int32)
    r[:30, 40:] = 1
    r[30:, :40] = 2
    r[30:, 40:] = 3
    return r


def _stroke(mask: np.ndarray, points, value: int, radius: float = 2.0, **kw):  # noqa: ANN001, ANN003, ANN202
    rec = StrokeRecorder(mask)
    for p0, p1 in zip(points, points[1:]):
        rec.paint(p0, p1, radius, value, **kw)
    return rec


def test_a_stroke_fills_exactly_the_regions_it_touched_and_one_undo_takes_both_back():
    regions = _regions()
    mask = np.full(regions.shape, UNPAINTED, np.uint8)
    before = mask.copy()
    rec = _stroke(mask, [(10.0, 10.0), (30.0, 10.0)], 4)  # inside region 0 only ...
    rec.paint((30.0, 10.0), (50.0, 10.0), 2.0, 4)  # ... then across into region 1
    edit = region_brush(mask, regions, rec.finish(), rec.footprint(), 4)
    assert edit is not None
    assert (mask[regions <= 1] == 4).all() and (mask[regions >= 2] == UNPAINTED).all()
    edit.undo(mask)
    assert np.array_equal(mask, before)
    edit.redo(mask)
    assert (mask[regions <= 1] == 4).all()


def test_painted_pixels_are_kept_when_only_unpainted_and_a_stroke_over_its_own_class_still_fills():
    regions = _regions()
    mask = np.full(regions.shape, UNPAINTED, np.uint8)
    mask[0:5, 0:5] = 7  # painted before, inside region 0
    mask[15:30, 15:30] = 4
    rec = _stroke(mask, [(22.0, 22.0), (23.0, 22.0)], 4, only_unpainted=True)  # over its own class: no change
    stroke = rec.finish()
    assert stroke is None
    edit = region_brush(mask, regions, stroke, rec.footprint(), 4, only_unpainted=True)
    kept = np.zeros(regions.shape, bool)
    kept[0:5, 0:5] = True
    assert edit is not None and (mask[kept] == 7).all()
    assert (mask[(regions == 0) & ~kept] == 4).all() and (mask[regions != 0] == UNPAINTED).all()


def test_the_footprint_is_every_pixel_the_brush_passed_over():
    mask = np.full((40, 50), UNPAINTED, np.uint8)
    mask[:, :10] = 1  # painted: skipped by only_unpainted, yet touched
    rec = _stroke(mask, [(5.0, 20.0), (30.0, 20.0)], 2, radius=3.0, only_unpainted=True)
    (y0, x0, y1, x1), trace = rec.footprint()
    expected = np.zeros((40, 50), np.uint8)
    stamp_segment(expected, (5.0, 20.0), (30.0, 20.0), 3.0, 1)
    full = np.zeros((40, 50), bool)
    full[y0:y1, x0:x1] = trace
    assert np.array_equal(full, expected.astype(bool)) and full[:, :10].any()


def test_image_regions_follow_colour_and_fill_touched_takes_whole_regions():
    pytest.importorskip("skimage")
    rgb = np.zeros((60, 90, 3), np.uint8)
    rgb[:, :45] = (200, 40, 40)
    rgb[:, 45:] = (30, 60, 220)
    regions = image_regions(rgb)
    # one region each side; the smoothing may leave thin strips along the edge itself
    assert len(np.unique(regions[:, :40])) == 1 and len(np.unique(regions[:, 50:])) == 1
    assert regions[0, 0] != regions[0, -1]
    stroke = np.zeros((60, 90), bool)
    stroke[30, 5:20] = True
    filled = fill_touched(regions, stroke)
    assert filled[:, :40].all() and not filled[:, 45:].any()
