import numpy as np

from fcn_studio.data.paint import StrokeRecorder, fill_polygon, flood_fill, stamp_segment


def test_stamp_segment_paints_a_capsule_and_reports_its_box():
    m = np.full((50, 80), 255, np.uint8)
    box = stamp_segment(m, (10, 20), (60, 20), 3, 1)
    assert m[20, 10] == 1 and m[20, 60] == 1 and m[20, 35] == 1 and m[23, 35] == 1
    assert m[24, 35] == 255 and m[20, 64] == 255
    y0, x0, y1, x1 = box
    ys, xs = np.nonzero(m == 1)
    assert y0 <= ys.min() and ys.max() < y1 and x0 <= xs.min() and xs.max() < x1
    assert (y1 - y0) * (x1 - x0) < 15 * 65  # proportional to the segment, not the mask


def test_stamp_outside_is_clipped():
    m = np.full((10, 10), 255, np.uint8)
    assert stamp_segment(m, (-50, -50), (-40, -40), 2, 1) is None
    stamp_segment(m, (-1, 5), (1, 5), 2, 0)
    assert m[5, 0] == 0


def test_stroke_recorder_undo_restores_exactly():
    rng = np.random.default_rng(0)
    m = rng.integers(0, 3, (60, 60)).astype(np.uint8)
    before = m.copy()
    rec = StrokeRecorder(m)
    pts = [(5, 5), (30, 10), (50, 50), (10, 40), (12, 42)]
    for a, b in zip(pts, pts[1:]):
        rec.paint(a, b, 4, 2)
    edit = rec.finish()
    after = m.copy()
    assert not np.array_equal(before, after)
    edit.undo(m)
    np.testing.assert_array_equal(m, before)
    edit.redo(m)
    np.testing.assert_array_equal(m, after)
    assert edit.nbytes < 2 * m.size + 1


def test_flood_fill_is_four_connected_and_undoable():
    m = np.zeros((20, 20), np.uint8)
    m[:, 10] = 1  # a wall
    m[5, 5] = 1
    before = m.copy()
    edit = flood_fill(m, 2, 2, 3)
    assert (m[:, :10][before[:, :10] == 0] == 3).all()
    assert (m[:, 11:] == 0).all() and m[5, 5] == 1
    assert edit.box == (0, 0, 20, 10)
    edit.undo(m)
    np.testing.assert_array_equal(m, before)
    assert flood_fill(m, 2, 2, 0) is None  # same value: nothing to do
    assert flood_fill(m, 99, 2, 1) is None


def test_polygon_fill():
    m = np.full((40, 40), 255, np.uint8)
    edit = fill_polygon(m, [(10, 10), (30, 10), (30, 30), (10, 30)], 4)
    assert (m[10:31, 10:31] == 4).all() and m[9, 9] == 255 and m[31, 31] == 255
    assert edit.box == (10, 10, 31, 31)
    edit.undo(m)
    assert (m == 255).all()
    assert fill_polygon(m, [(1, 1), (2, 2)], 4) is None


def test_colour_fill_takes_the_connected_region_within_tolerance_of_the_seed():
    from fcn_studio.data.paint import colour_fill

    image = np.zeros((20, 30, 3), np.uint8)
    image[:, :10] = (100, 100, 100)
    image[:, 10:20] = (100, 100, 130)  # 30 away in blue: in at tolerance 30, out at 29
    image[:, 20:] = (100, 100, 100)  # like the seed, but only reachable across the blue band
    image[5, 3] = (160, 100, 100)  # one far pixel inside the seed's region
    mask = np.full((20, 30), 255, np.uint8)
    edit = colour_fill(mask, image, 2, 2, 4, tolerance=29)
    assert edit is not None and edit.box == (0, 0, 20, 10)
    want = np.zeros((20, 30), bool)
    want[:, :10] = True
    want[5, 3] = False
    np.testing.assert_array_equal(mask == 4, want)
    edit.undo(mask)
    assert (mask == 255).all()
    assert colour_fill(mask, image, 2, 2, 4, tolerance=30) is not None
    assert (mask == 4).sum() == 20 * 30 - 1  # the band joins, and through it the right side
    assert colour_fill(mask, image, 2, 2, 4, tolerance=30) is None  # nothing changes twice
    assert colour_fill(mask, image, 99, 2, 4, tolerance=30) is None  # outside the image
