"""A segmentation's class boundaries as polylines, for drawing with a pen of screen width.

Why lines and not a raster: a one-pixel boundary raster of a 6000x4000 prediction, shown fitted
in a window (zoom ~0.2), is sampled at one image pixel in five: most of it vanished and the
rest flickered (issue 34 item 6). Lines drawn with a cosmetic pen keep their width in screen
pixels at every zoom. The lines are traced on a copy of the labels at most
:data:`~fcn_studio.data.display_size.DISPLAY_MAX_PIXELS` big (nearest neighbour), so a
24-megapixel prediction yields a few ten thousand points, not millions; at 100 % zoom on such
a photo they sit within a pixel or two of the full-size boundary. Numpy and OpenCV only: the
window computes them off its thread.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fcn_studio.data.display_size import display_shape

#: Largest distance (in traced pixels) a simplified line may leave the traced boundary.
SIMPLIFY_PX = 0.7


@dataclass(frozen=True)
class ClassOutline:
    """One class's boundaries: points ``x``, ``y`` in image pixels and ``connect`` (point i joins
    point i+1), the shape pyqtgraph's ``arrayToQPath(x, y, connect)`` draws in one call."""

    class_id: int
    x: np.ndarray
    y: np.ndarray
    connect: np.ndarray


def class_outlines(labels: np.ndarray, *, skip: int = 255, max_pixels: int | None = None) -> list[ClassOutline]:
    """The boundary of every class region in ``labels`` (HxW uint8), ``skip`` left out.

    Each region's outer and hole boundaries run through its edge pixels' centres. Stretches
    along the image's own border are left out: that is the picture's edge, not a boundary.
    """
    import cv2

    h, w = labels.shape
    th, tw = display_shape(h, w, max_pixels)
    small = labels if (th, tw) == (h, w) else cv2.resize(labels, (tw, th), interpolation=cv2.INTER_NEAREST)
    sx, sy = w / tw, h / th
    out = []
    for c in np.unique(small):
        if int(c) == skip:
            continue
        contours, _ = cv2.findContours((small == c).view(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
        xs, ys, joins = [], [], []
        for contour in contours:
            pts = cv2.approxPolyDP(contour, SIMPLIFY_PX, True)[:, 0, :]
            if len(pts) < 2:
                continue
            pts = np.concatenate([pts, pts[:1]])  # closed
            px, py = pts[:, 0], pts[:, 1]
            # a segment whose two ends lie on the same image border is the picture's edge
            on_border = np.stack([px == 0, px == tw - 1, py == 0, py == th - 1])
            along_edge = (on_border[:, :-1] & on_border[:, 1:]).any(0)
            join = np.append(~along_edge, False)  # the last point ends this contour
            xs.append((px + 0.5) * sx)
            ys.append((py + 0.5) * sy)
            joins.append(join)
        if xs:
            out.append(ClassOutline(int(c), np.concatenate(xs).astype(np.float64), np.concatenate(ys).astype(np.float64),
                                    np.concatenate(joins)))
    return out
