"""Painting on a label mask in place, touching only the region a tool covers.

Each operation returns an :class:`Edit`: the bounding box it changed plus the old and new
pixels of that box. Undo restores ``old``, redo writes ``new``; a brush stroke on a
4000x3000 mask stores a few kilobytes, not a copy of the mask. Pure numpy (Pillow for
polygons), no Qt, so the same code serves the GUI, tests and scripts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fcn_studio.data.labelset import UNPAINTED as UNPAINTED_VALUE

Box = tuple[int, int, int, int]  # y0, x0, y1, x1 (half-open)


@dataclass
class Edit:
    """The pixels an operation changed: ``mask[y0:y1, x0:x1]`` went from ``old`` to ``new``."""

    box: Box
    old: np.ndarray
    new: np.ndarray

    @property
    def nbytes(self) -> int:
        return self.old.nbytes + self.new.nbytes

    def undo(self, mask: np.ndarray) -> None:
        y0, x0, y1, x1 = self.box
        mask[y0:y1, x0:x1] = self.old

    def redo(self, mask: np.ndarray) -> None:
        y0, x0, y1, x1 = self.box
        mask[y0:y1, x0:x1] = self.new

    @property
    def changed(self) -> bool:
        return self.old.size > 0 and not np.array_equal(self.old, self.new)


def union(a: Box | None, b: Box | None) -> Box | None:
    if a is None:
        return b
    if b is None:
        return a
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def clip_box(box: Box, shape: tuple[int, int]) -> Box | None:
    y0, x0, y1, x1 = max(box[0], 0), max(box[1], 0), min(box[2], shape[0]), min(box[3], shape[1])
    return (y0, x0, y1, x1) if y0 < y1 and x0 < x1 else None


_DISC_CACHE: dict[float, np.ndarray] = {}


def _disc(radius: float) -> np.ndarray:
    disc = _DISC_CACHE.get(radius)
    if disc is None:
        r = int(np.ceil(radius))
        yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
        disc = (yy * yy + xx * xx) <= radius * radius + 1e-6
        _DISC_CACHE[radius] = disc
    return disc


def segment_box(p0: tuple[float, float], p1: tuple[float, float], radius: float, shape: tuple[int, int]) -> Box | None:
    """Box covered by a round brush of ``radius`` moved from ``p0`` to ``p1`` ((x, y) points)."""
    r = int(np.ceil(radius)) + 1
    x0, x1 = sorted((p0[0], p1[0]))
    y0, y1 = sorted((p0[1], p1[1]))
    return clip_box((int(np.floor(y0)) - r, int(np.floor(x0)) - r, int(np.ceil(y1)) + r + 1, int(np.ceil(x1)) + r + 1), shape)


def stamp_segment(
    mask: np.ndarray, p0: tuple[float, float], p1: tuple[float, float], radius: float, value: int,
    *, only_unpainted: bool = False,
) -> Box | None:
    """Paint a round brush along the segment p0 -> p1 (x, y in pixels); returns the box touched.

    ``only_unpainted`` leaves painted pixels as they are (a stroke along a boundary fills the
    gap without eating the neighbouring class).

    The cost is proportional to the segment's area, never to the mask's size, which keeps
    strokes smooth on 8000x8000 masks.
    """
    box = segment_box(p0, p1, radius, mask.shape[:2])
    if box is None:
        return None
    y0, x0, y1, x1 = box
    yy = np.arange(y0, y1, dtype=np.float32)[:, None]
    xx = np.arange(x0, x1, dtype=np.float32)[None, :]
    ax, ay = p0
    bx, by = p1
    dx, dy = bx - ax, by - ay
    seg2 = dx * dx + dy * dy
    if seg2 < 1e-12:
        d2 = (xx - ax) ** 2 + (yy - ay) ** 2
    else:
        t = np.clip(((xx - ax) * dx + (yy - ay) * dy) / seg2, 0.0, 1.0)
        d2 = (xx - (ax + t * dx)) ** 2 + (yy - (ay + t * dy)) ** 2
    inside = d2 <= radius * radius + 0.25
    region = mask[y0:y1, x0:x1]
    if only_unpainted:
        inside &= region == UNPAINTED_VALUE
    region[inside] = value
    return box


def flood_fill(mask: np.ndarray, x: int, y: int, value: int) -> Edit | None:
    """Fill the 4-connected region of equal value around (x, y) in place; None if nothing changes.

    OpenCV's scanline fill finds the region and its bounding box in tens of milliseconds
    even when it covers half of a 5000x5000 mask; only that box is kept for undo.
    """
    import cv2

    h, w = mask.shape
    if not (0 <= x < w and 0 <= y < h) or int(mask[y, x]) == value:
        return None
    region = np.zeros((h + 2, w + 2), np.uint8)
    flags = 4 | cv2.FLOODFILL_MASK_ONLY | (1 << 8)
    _, _, _, rect = cv2.floodFill(mask, region, (int(x), int(y)), 0, 0, 0, flags)
    return _fill_region(mask, region, rect, value)


def _fill_region(mask: np.ndarray, region: np.ndarray, rect: tuple[int, int, int, int], value: int) -> Edit:
    """Give ``value`` to the pixels a cv2.floodFill ``region`` (1-px border) marked within its
    bounding ``rect`` (x, y, w, h); only that box is kept for undo."""
    rx, ry, rw, rh = rect
    inside = region[ry + 1 : ry + rh + 1, rx + 1 : rx + rw + 1].view(bool)
    view = mask[ry : ry + rh, rx : rx + rw]
    old = view.copy()
    view[inside] = value
    return Edit((ry, rx, ry + rh, rx + rw), old, view.copy())


def colour_region(image: np.ndarray, x: int, y: int, tolerance: int) -> tuple[np.ndarray, tuple[int, int, int, int]] | None:
    """The magic wand's region: (cv2.floodFill region with a 1-px border, bounding rect x, y, w, h)
    of the 4-connected pixels within ``tolerance`` (per channel, 0-255) of the colour at (x, y).

    Each pixel is compared with the seed's colour, not its neighbour's, so a soft gradient
    does not leak across the whole image. None outside the image or for a non-uint8 image.
    """
    import cv2

    h, w = image.shape[:2]
    if not (0 <= x < w and 0 <= y < h):
        return None
    pixels = np.ascontiguousarray(image[..., :3] if image.ndim == 3 else image)
    if pixels.dtype != np.uint8:
        return None
    region = np.zeros((h + 2, w + 2), np.uint8)
    t = int(np.clip(tolerance, 0, 255))
    diff = (t, t, t) if pixels.ndim == 3 else t
    flags = 4 | cv2.FLOODFILL_MASK_ONLY | cv2.FLOODFILL_FIXED_RANGE | (1 << 8)
    _, _, _, rect = cv2.floodFill(pixels, region, (int(x), int(y)), 0, diff, diff, flags)
    return region, rect


def region_inside(region: np.ndarray, rect: tuple[int, int, int, int]) -> np.ndarray:
    """The bool pixels of a :func:`colour_region` within its bounding rect (a view)."""
    rx, ry, rw, rh = rect
    return region[ry + 1 : ry + rh + 1, rx + 1 : rx + rw + 1].view(bool)


def colour_fill(mask: np.ndarray, image: np.ndarray, x: int, y: int, value: int, tolerance: int) -> Edit | None:
    """The magic wand: give ``value`` to the :func:`colour_region` at (x, y); None if nothing
    changes. Like :func:`flood_fill`, only the box is kept for undo."""
    if image.shape[:2] != mask.shape:
        return None
    found = colour_region(image, x, y, tolerance)
    if found is None:
        return None
    edit = _fill_region(mask, found[0], found[1], value)
    return edit if edit.changed else None


def label_component(labels: np.ndarray, x: int, y: int) -> np.ndarray | None:
    """The 4-connected region of equal label around (x, y) in ``labels`` (bool, labels' shape);
    None outside. Accepting one predicted segment takes exactly this region."""
    import cv2

    h, w = labels.shape
    if not (0 <= x < w and 0 <= y < h):
        return None
    region = np.zeros((h + 2, w + 2), np.uint8)
    flags = 4 | cv2.FLOODFILL_MASK_ONLY | (1 << 8)
    cv2.floodFill(np.ascontiguousarray(labels, dtype=np.uint8), region, (int(x), int(y)), 0, 0, 0, flags)
    return region[1:-1, 1:-1].view(bool)


def fill_polygon(mask: np.ndarray, points: list[tuple[float, float]], value: int) -> Edit | None:
    """Fill the polygon through ``points`` ((x, y) pixels) in place; also serves as lasso fill."""
    import cv2

    if len(points) < 3:
        return None
    pts = np.round(np.asarray(points, dtype=np.float64)).astype(np.int32)
    box = clip_box(
        (int(pts[:, 1].min()), int(pts[:, 0].min()), int(pts[:, 1].max()) + 1, int(pts[:, 0].max()) + 1), mask.shape[:2]
    )
    if box is None:
        return None
    y0, x0, y1, x1 = box
    view = mask[y0:y1, x0:x1]
    old = view.copy()
    cv2.fillPoly(view, [pts - np.array([x0, y0], np.int32)], int(value))
    edit = Edit(box, old, view.copy())
    return edit if edit.changed else None


class StrokeRecorder:
    """Collects a drag stroke into one :class:`Edit` without copying the whole mask.

    Before each segment is painted, the pixels it is about to cover that were not saved yet
    are saved; at the end the union box's old pixels are rebuilt from those pieces.
    """

    def __init__(self, mask: np.ndarray):
        self.mask = mask
        self.box: Box | None = None
        self._pieces: list[tuple[Box, np.ndarray]] = []
        self._segments: list[tuple[tuple[float, float], tuple[float, float], float]] = []

    def paint(
        self, p0: tuple[float, float], p1: tuple[float, float], radius: float, value: int, *, only_unpainted: bool = False
    ) -> Box | None:
        box = segment_box(p0, p1, radius, self.mask.shape[:2])
        if box is None:
            return None
        y0, x0, y1, x1 = box
        self._pieces.append((box, self.mask[y0:y1, x0:x1].copy()))
        stamp_segment(self.mask, p0, p1, radius, value, only_unpainted=only_unpainted)
        self._segments.append((p0, p1, radius))
        self.box = union(self.box, box)
        return box

    def footprint(self) -> tuple[Box, np.ndarray] | None:
        """(box, bool array of the box): every pixel the brush passed over, painted or not
        (``only_unpainted`` skips painted pixels, yet they were touched). None before any paint."""
        if self.box is None:
            return None
        y0, x0, y1, x1 = self.box
        trace = np.zeros((y1 - y0, x1 - x0), np.uint8)
        for (ax, ay), (bx, by), radius in self._segments:
            stamp_segment(trace, (ax - x0, ay - y0), (bx - x0, by - y0), radius, 1)
        return self.box, trace.view(bool)

    def finish(self) -> Edit | None:
        if self.box is None:
            return None
        y0, x0, y1, x1 = self.box
        new = self.mask[y0:y1, x0:x1].copy()
        old = new.copy()
        # the first save of a pixel holds its value before the stroke: apply pieces newest first
        for (by0, bx0, by1, bx1), piece in reversed(self._pieces):
            old[by0 - y0 : by1 - y0, bx0 - x0 : bx1 - x0] = piece
        edit = Edit(self.box, old, new)
        return edit if edit.changed else None


def region_brush(
    mask: np.ndarray, regions: np.ndarray, stroke: Edit | None, footprint: tuple[Box, np.ndarray], value: int,
    *, only_unpainted: bool = False,
) -> Edit | None:
    """Grow a finished brush stroke into the colour regions it touched, as one :class:`Edit`.

    ``mask`` holds the stroke already (the user saw it while dragging); ``stroke`` is its edit
    (None when it changed nothing, e.g. painted over its own class), ``footprint`` the pixels
    the brush passed over (:meth:`StrokeRecorder.footprint`), ``regions`` the image's region
    ids (``data.regions.image_regions``). Every pixel of each touched region gets ``value``
    (unpainted ones only with ``only_unpainted``). The returned edit spans stroke and fill, so
    one undo takes both back. None if nothing changed at all.
    """
    from fcn_studio.data.regions import fill_touched

    inside = fill_touched(regions, footprint[1], footprint[0])
    if only_unpainted:
        inside &= mask == UNPAINTED_VALUE
    inside &= mask != value
    box = stroke.box if stroke is not None else None
    ys = np.flatnonzero(inside.any(axis=1))
    if ys.size:
        xs = np.flatnonzero(inside[ys[0] : ys[-1] + 1].any(axis=0))
        box = union(box, (int(ys[0]), int(xs[0]), int(ys[-1]) + 1, int(xs[-1]) + 1))
    if box is None:
        return None
    by0, bx0, by1, bx1 = box
    old = mask[by0:by1, bx0:bx1].copy()
    if stroke is not None:  # the pixels as they were before the stroke
        sy0, sx0, sy1, sx1 = stroke.box
        old[sy0 - by0 : sy1 - by0, sx0 - bx0 : sx1 - bx0] = stroke.old
    mask[by0:by1, bx0:bx1][inside[by0:by1, bx0:bx1]] = value
    edit = Edit(box, old, mask[by0:by1, bx0:bx1].copy())
    return edit if edit.changed else None
