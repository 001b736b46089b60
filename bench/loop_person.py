"""The simulated person of the annotation-loop bench: their hands, their eyes and their clock.

The dense CamVid label stands for the person's eyes: they see where the prediction on screen
is wrong, and paint there. Every action costs the person time (:data:`COSTS`), and the bench
lets exactly that much wall-clock time pass while *Live* trains (``PersonClock``): a person's
minute is a minute of training. Work the window does for them (predictions, *Paint next*'s
scores, the region brush's cut) runs in the same process on the same core; when it takes
longer than the action it serves, the person waits and the clock shows it.
"""

from __future__ import annotations

import time

import cv2
import numpy as np

from fcn_studio.data.labelset import UNPAINTED
from fcn_studio.data.paint import label_component
from fcn_studio.data.regions import fill_touched

#: Seconds a person spends per action (a stroke, a click, an undo, a key) and per opened image
#: (looking at the prediction before acting). Actions count toward the budget; looking does not.
COSTS = {"stroke": 3.0, "click": 2.0, "undo": 2.0, "key": 1.0, "look": 5.0}
#: The brush a person paints with (pixels of CamVid's 480x360 frames) and a stroke's longest run.
BRUSH = 9
STROKE_LENGTH = 200
#: Wrong regions smaller than this (pixels) are not worth a stroke; segments smaller than
#: ACCEPT_MIN are not worth a click, and are clicked only when this sure of them.
MIN_REGION = 300
ACCEPT_MIN = 2000
ACCEPT_PRECISION = 0.95
#: The region brush fills every touched region; a person keeps the fill when this share of its
#: labelled pixels is the stroke's class, else undoes it and paints the stroke with the plain brush.
REGION_CLEAN = 0.9


#: Click to segment: clicks after the first while the mask is off, and when it is good enough to
#: stop clicking (its share of the clicked class, and of the wrong region covered).
CLICK_CORRECTIONS = 2
CLICK_PRECISION = 0.95
CLICK_RECALL = 0.8


def deepest(mask: np.ndarray, depth: bool = False):  # noqa: ANN201
    """(x, y) of the pixel farthest inside ``mask`` (and that distance, with ``depth``)."""
    if not mask.any():
        return ((0, 0), 0.0) if depth else (0, 0)
    dist = cv2.distanceTransform(np.pad(mask.astype(np.uint8), 1), cv2.DIST_L2, 3)[1:-1, 1:-1]
    y, x = np.unravel_index(int(dist.argmax()), dist.shape)
    return ((int(x), int(y)), float(dist[y, x])) if depth else (int(x), int(y))


class PersonClock:
    """The person's time: each action's cost passes on the wall clock (sleeping while the window
    has nothing to do for them); :attr:`wall` is the minutes they really spent, waits included."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.spent = 0.0  # the actions' own seconds
        self.waited = 0.0  # seconds the person waited for the window on top of them

    def spend(self, seconds: float) -> None:
        self.spent += seconds
        ahead = self.t0 + self.spent + self.waited - time.perf_counter()
        if ahead > 0:
            time.sleep(ahead)
        else:  # the window's work took longer than the action: the person waited for it
            self.waited -= ahead

    @property
    def wall(self) -> float:
        return time.perf_counter() - self.t0


def stroke_through(region: np.ndarray, centre: tuple[int, int] | None, rng: np.random.Generator) -> np.ndarray:
    """A brush stroke (bool HxW) inside ``region``: through ``centre`` (default: the region's
    deepest point) along the region's long axis (a random direction for a random centre),
    at most :data:`STROKE_LENGTH` long, clipped to the region."""
    inner = cv2.erode(region.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (BRUSH, BRUSH)))
    if not inner.any():
        inner = region.astype(np.uint8)
    if centre is None:
        dist = cv2.distanceTransform(inner, cv2.DIST_L2, 3)
        cy, cx = np.unravel_index(int(dist.argmax()), dist.shape)
        ys, xs = np.nonzero(region)
        if len(ys) > 2:  # the long axis: the principal direction of the region's pixels
            w, v = np.linalg.eigh(np.cov(np.stack([xs, ys]).astype(np.float64)))
            dx, dy = v[:, int(np.argmax(w))]
        else:
            dx, dy = 1.0, 0.0
    else:
        cy, cx = centre
        angle = rng.uniform(0, np.pi)
        dx, dy = np.cos(angle), np.sin(angle)
    h, w = region.shape
    ends = []
    for sign in (1, -1):  # walk out from the centre while inside the eroded region
        x, y, n = float(cx), float(cy), 0
        while n < STROKE_LENGTH // 2:
            nx, ny = x + sign * dx, y + sign * dy
            if not (0 <= int(round(nx)) < w and 0 <= int(round(ny)) < h) or not inner[int(round(ny)), int(round(nx))]:
                break
            x, y, n = nx, ny, n + 1
        ends.append((int(round(x)), int(round(y))))
    out = np.zeros((h, w), np.uint8)
    cv2.line(out, ends[0], ends[1], 1, BRUSH)
    return (out > 0) & region


def components(mask: np.ndarray, min_area: int) -> list[tuple[int, np.ndarray]]:
    """(area, bool mask) of the 4-connected components of ``mask`` of at least ``min_area``, largest first."""
    n, lab, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=4)
    order = sorted(range(1, n), key=lambda i: -stats[i, cv2.CC_STAT_AREA])
    return [(int(stats[i, cv2.CC_STAT_AREA]), lab == i) for i in order if stats[i, cv2.CC_STAT_AREA] >= min_area]


class Person:
    """The simulated user's hands on the headless window (``bench/loop_window.py``): every action
    changes the project's mask through the window's own save, and costs its time."""

    def __init__(self, window, truth: dict[str, np.ndarray], fine: dict[str, np.ndarray], tools: set[str],  # noqa: ANN001
                 seed: int) -> None:
        #: ``truth``: the task's labels by image id (what a stroke paints); ``fine``: CamVid's 11
        #: classes, the things a person sees as separate regions (a car and a tree are both "not road")
        self.window, self.truth, self.fine, self.tools = window, truth, fine, tools
        self.rng = np.random.default_rng(seed)
        self.clock = PersonClock()
        self.actions = {"strokes": 0, "region_strokes": 0, "undos": 0, "accepts": 0, "paint_next": 0,
                        "sam_clicks": 0, "sam_keys": 0}

    @property
    def total(self) -> int:
        return sum(self.actions.values())

    def act(self, kind: str, cost: str) -> None:
        self.actions[kind] += 1
        self.clock.spend(COSTS[cost])

    def look(self, image_id: str) -> None:
        """Open an image: the window shows it (the trainer previews it; the region brush cuts it)."""
        self.window.show(image_id)
        if "region" in self.tools:
            self.window.regions(image_id)
        if "sam" in self.tools:
            self.window.embed(image_id)
        self.clock.spend(COSTS["look"])

    # -- tools -------------------------------------------------------------------------------------------
    def stroke(self, image_id: str, region: np.ndarray, cls: int, centre: tuple[int, int] | None = None) -> None:
        """One stroke of class ``cls`` inside ``region`` (one true region of that class)."""
        painted = stroke_through(region, centre, self.rng)
        if not painted.any():
            return
        mask = self.window.mask(image_id)
        if "region" in self.tools:  # the window's region brush: every touched colour region is filled
            fill = fill_touched(self.window.regions(image_id), painted) | painted
            truth = self.truth[image_id]
            seen = fill & (truth != UNPAINTED)
            clean = not seen.any() or (truth[seen] == cls).mean() >= REGION_CLEAN
            self.act("region_strokes", "stroke")
            if clean:
                mask[fill] = cls
                self.window.save(image_id, mask)
                return
            self.act("undos", "undo")  # a wrong fill: undo it, paint the stroke with the plain brush
        mask[painted] = cls
        self.window.save(image_id, mask)
        self.act("strokes", "stroke")

    def click_object(self, image_id: str, region: np.ndarray, cls: int, pred: np.ndarray, left: int) -> bool:
        """Click to segment on one wrong region, within ``left`` actions: a click at its deepest
        point, corrections at the deepest point of the larger error (missed: a positive click,
        spilled: a negative one) while the mask is off, a key when the proposed class is wrong,
        Enter to paint. A mask that stays poor is dropped (Esc) and False returned: the person
        paints a stroke instead. Every click and key is an action and costs its seconds."""
        from fcn_studio.inference.class_proposal import propose_class

        truth = self.truth[image_id]
        target, labelled = truth == cls, truth != UNPAINTED
        points, labels, seg, spent = [], [], None, 0
        x, y = deepest(region)
        precision = recall = 0.0
        while spent < min(left - 1, 1 + CLICK_CORRECTIONS):
            points.append((x + 0.5, y + 0.5))
            labels.append(1 if target[y, x] else 0)
            seg = self.window.click(image_id, points, labels, pred, None if seg is None else seg.logits)
            self.act("sam_clicks", "click")
            spent += 1
            mask = seg.mask
            precision = (mask & target).sum() / max(1, (mask & labelled).sum())
            recall = (mask & region).sum() / max(1, region.sum())
            if precision >= CLICK_PRECISION and recall >= CLICK_RECALL:
                break
            (mx, my), md = deepest(region & ~mask, depth=True)  # missed: a positive click
            (sx, sy), sd = deepest(mask & ~target & labelled, depth=True)  # spilled: a negative one
            if max(md, sd) < 2:
                break
            x, y = (mx, my) if md >= sd else (sx, sy)
        if seg is None or precision < REGION_CLEAN or recall < 0.3:
            self.act("sam_keys", "key")  # Esc: not worth keeping
            return False
        proposal = propose_class(seg.mask, labels=pred)
        if proposal is None or proposal.class_id != cls:
            self.act("sam_keys", "key")  # the class's number key
        mask = self.window.mask(image_id)
        mask[seg.mask] = cls
        self.window.save(image_id, mask)
        self.act("sam_keys", "key")  # Enter
        return True

    def accept(self, image_id: str, pred: np.ndarray, x: int, y: int) -> None:
        """*Accept region* at (x, y): that predicted segment becomes the mask (as the window does)."""
        region = label_component(pred, x, y)
        if region is None:
            return
        mask = self.window.mask(image_id)
        mask[region] = pred[region]
        self.window.save(image_id, mask)
        self.act("accepts", "click")

    # -- what a person does on one image -------------------------------------------------------------------
    def first_strokes(self, image_id: str, count: int) -> None:
        """Round 0 on one image: a stroke through the largest region of each of the ``count``
        largest things in sight (CamVid classes), painted as the task's class."""
        fine, truth = self.fine[image_id], self.truth[image_id]
        largest = []
        for f in [int(f) for f in np.unique(fine) if f != UNPAINTED]:
            comps = components(fine == f, MIN_REGION)
            if comps:
                largest.append(comps[0])
        for _, region in sorted(largest, key=lambda t: -t[0])[:count]:
            ys, xs = np.nonzero(region)
            self.stroke(image_id, region, int(truth[ys[0], xs[0]]))

    def correct(self, image_id: str, pred: np.ndarray, remaining: int, per_image: int, accepts: int) -> None:
        """Strokes through the regions the model got wrong, not painted yet, within ``remaining``
        actions (at most ``per_image``): each class with wrong regions gets its share in turn
        (a person sees the missed pole and sign, not only the largest patch of road), largest
        region first within a class; then up to ``accepts`` *Accept region* clicks on the
        largest segments the model got right (with the ``accept`` tool)."""
        truth, fine = self.truth[image_id], self.fine[image_id]
        free = self.window.mask(image_id) == UNPAINTED
        by_class: dict[int, list[tuple[int, np.ndarray]]] = {}
        for f in [int(f) for f in np.unique(fine) if f != UNPAINTED]:
            thing = fine == f
            c = int(truth[thing][0])  # the task's class of that thing
            by_class.setdefault(c, []).extend(components(thing & (pred != c) & free, MIN_REGION))
        queues = sorted((sorted(v, key=lambda t: -t[0]) for v in by_class.values() if v), key=lambda q: -q[0][0])
        order: list[tuple[np.ndarray, int]] = []
        while any(queues):
            for q in queues:
                if q:
                    area, region = q.pop(0)
                    ys, xs = np.nonzero(region)
                    order.append((region, int(truth[ys[0], xs[0]])))
        start = self.total
        for region, c in order:
            if self.total - start >= min(per_image, remaining):
                break
            if "sam" in self.tools and self.window.mask(image_id)[region].max() == UNPAINTED:
                left = min(per_image, remaining) - (self.total - start)
                if self.click_object(image_id, region, c, pred, left) or self.total - start >= min(per_image, remaining):
                    continue
            self.stroke(image_id, region, c)
        left = remaining - (self.total - start)
        if "accept" not in self.tools or left <= 0:
            return
        labelled = truth != UNPAINTED
        mask = self.window.mask(image_id)
        candidates = []
        for c in [int(c) for c in np.unique(pred)]:
            for area, region in components(pred == c, ACCEPT_MIN):
                seen = region & labelled
                if seen.any() and (truth[seen] == c).mean() >= ACCEPT_PRECISION and (mask[region] == UNPAINTED).mean() > 0.5:
                    candidates.append((area, region))
        for _, region in sorted(candidates, key=lambda t: -t[0])[: min(accepts, left)]:
            ys, xs = np.nonzero(region)
            self.accept(image_id, pred, int(xs[len(xs) // 2]), int(ys[len(ys) // 2]))

    def random_strokes(self, image_id: str, budget: int) -> None:
        """Policy b on one image: strokes through the true region under random pixels."""
        truth, fine = self.truth[image_id], self.fine[image_id]
        ys, xs = np.nonzero(truth != UNPAINTED)
        start = self.total
        while self.total - start < budget:
            i = int(self.rng.integers(len(ys)))
            y, x = int(ys[i]), int(xs[i])
            before = self.total
            self.stroke(image_id, label_component(fine, x, y), int(truth[y, x]), centre=(y, x))
            if self.total == before:  # a stroke that painted nothing still took the person's time
                self.act("strokes", "stroke")
