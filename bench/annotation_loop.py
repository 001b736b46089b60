"""A person in the loop: paint a little, train a minute, look, correct, train again.

Simulated on the unseen-drive protocol (``../shared/datasets/camvid/README.md``): the project
holds the 163 train frames of the drives other than val's, nothing painted; every round ends
with mIoU on all 101 val frames (drive ``0016E5``, never seen). The dense label stands for the
person's eyes: they see where the prediction on screen is wrong, and paint there.

Round 0: the person opens 3 images (the same seeded ones for every policy) and paints one
stroke through the largest region of each of the largest things they see (CamVid classes:
for road vs not road, the sky and a building are both "not road" but two strokes). Each later round they spend a
fixed budget of actions (a stroke or a click is one action), then the model trains for
``--train-s`` seconds (one core) from the last round's model, and is scored.

Policies:

* ``a``: the app's *Paint next* (``inference.paint_next``: the image whose unpainted pixels
  the model is least sure of), strokes through the largest regions the model got wrong (one
  stroke per region, largest first, each inside one true region), and with ``accept`` in
  ``--tools`` a click on each of the largest predicted segments that are right (*Accept
  region*: the segment becomes the mask);
* ``b``: the same number of actions on random images at random places (one stroke through
  the true region under a random pixel): a person without guidance;
* ``c``: the napari-convpaint method (frozen Lite0 features at strides 4-16 plus RGB,
  gradient-boosted trees; ``bench/scribbles.py``) refitted each round on policy (a)'s
  masks (``--masks-from`` the folder a's run wrote).

Tools (``--tools``, comma-separated): ``region`` (the region brush: a stroke fills the colour
regions it touches, ``data.regions``; the person, who sees the fill's preview, keeps a
region only when at least 90 % of its labelled pixels are the stroke's class, otherwise just
the stroke's own pixels), ``accept`` (policy a only). ``--schedule`` ``continue`` (what *Live* does: from the last
model, one cosine cycle of the learning rate per round, no head-only phase, no warm-up),
``restart`` (a *Fine-tune* from the last model each round: head phase, warm-up, one-cycle) or
``constant`` (Live before its cycles: the peak rate throughout) or ``fresh`` (each round a
Fine-tune from ImageNet on everything painted so far).

    python bench/annotation_loop.py --policy a --task camvid11 --out bench/results/loop/a11
    python bench/annotation_loop.py --policy c --task camvid11 --masks-from bench/results/loop/a11 --out .../c11
    bash bench/annotation_loop_sitting.sh          # the whole table, one core per run

Writes ``<out>/rounds.json`` (one row per round) and, for policy a, the painted masks of
every round (``masks_rN.npz``) for policy c. ``bench/annotation_loop_plot.py`` draws the curves.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from camvid import DATA, evaluate, load_split, protocol_setup, train_names  # noqa: E402
from scribbles import ROAD_LABELSET, convpaint, to_road  # noqa: E402

from fcn_studio.data.labelset import UNPAINTED, LabelSet  # noqa: E402
from fcn_studio.data.paint import label_component  # noqa: E402
from fcn_studio.data.regions import fill_touched, image_regions  # noqa: E402
from fcn_studio.inference.paint_next import pick_next, score_from_probs  # noqa: E402
from fcn_studio.training.presets import INTERACTIVE_TRUNK_LR_MULT  # noqa: E402

#: The brush a person paints with, in pixels of CamVid's 960x720 frames, and a stroke's longest run.
BRUSH = 9
STROKE_LENGTH = 200
#: Wrong regions smaller than this (pixels) are not worth a stroke; segments smaller than
#: ACCEPT_MIN are not worth a click, and are clicked only when this sure of them.
MIN_REGION = 300
ACCEPT_MIN = 2000
ACCEPT_PRECISION = 0.95
#: The region brush's preview: a region is kept when this share of its labelled pixels is the stroke's class.
REGION_CLEAN = 0.9
#: Round sizes per task: (actions per round, actions per opened image, accepted segments per
#: image, round 0's strokes per image on its 3 images).
BUDGETS = {"camvid11": (22, 8, 2, 8), "road": (6, 3, 1, 4)}


# -- one stroke, as a person draws it ------------------------------------------------------------------
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
            cov = np.cov(np.stack([xs, ys]).astype(np.float64))
            w, v = np.linalg.eigh(cov)
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


class Person:
    """The simulated user's hands: paints strokes (optionally with the region brush) and
    accepts segments on the masks of the project, counting every action."""

    def __init__(self, images: dict[str, np.ndarray], truth: dict[str, np.ndarray], fine: dict[str, np.ndarray],
                 tools: set[str], seed: int) -> None:
        #: ``truth``: the task's labels (what a stroke paints); ``fine``: CamVid's 11 classes, the
        #: things a person sees as separate regions (a car and a tree are both "not road")
        self.images, self.truth, self.fine, self.tools = images, truth, fine, tools
        self.masks: dict[str, np.ndarray] = {}
        self.rng = np.random.default_rng(seed)
        self.actions = {"strokes": 0, "accepts": 0}
        self._regions: dict[str, np.ndarray] = {}

    @property
    def total(self) -> int:
        return sum(self.actions.values())

    def mask(self, name: str) -> np.ndarray:
        if name not in self.masks:
            self.masks[name] = np.full(self.truth[name].shape, UNPAINTED, np.uint8)
        return self.masks[name]

    def regions(self, name: str) -> np.ndarray:
        if name not in self._regions:
            self._regions[name] = image_regions(self.images[name])
        return self._regions[name]

    def stroke(self, name: str, region: np.ndarray, cls: int, centre: tuple[int, int] | None = None) -> None:
        """One stroke of class ``cls`` inside ``region`` (one true region of that class)."""
        painted = stroke_through(region, centre, self.rng)
        if not painted.any():
            return
        if "region" in self.tools:
            painted = self._region_fill(name, painted, cls)
        self.mask(name)[painted] = cls
        self.actions["strokes"] += 1

    def _region_fill(self, name: str, stroke: np.ndarray, cls: int) -> np.ndarray:
        """The region brush's fill, as the person keeps it after seeing the preview: the
        touched regions that are clean (see REGION_CLEAN), plus the stroke itself."""
        regions, truth = self.regions(name), self.truth[name]
        ids = np.unique(regions[stroke])
        n = int(regions.max()) + 1
        labelled = truth != UNPAINTED
        total = np.bincount(regions[labelled], minlength=n)
        right = np.bincount(regions[labelled & (truth == cls)], minlength=n)
        clean = np.zeros(n, bool)
        clean[ids] = right[ids] >= REGION_CLEAN * np.maximum(total[ids], 1)
        keep = stroke.copy()
        keep[clean[regions] & fill_touched(regions, stroke)] = True
        return keep

    def accept(self, name: str, pred: np.ndarray, x: int, y: int) -> int:
        """Click *Accept region* at (x, y): that predicted segment becomes the mask (as the window does)."""
        region = label_component(pred, x, y)
        if region is None:
            return 0
        self.mask(name)[region] = pred[region]
        self.actions["accepts"] += 1
        return int(region.sum())

    def painted_pixels(self) -> int:
        return int(sum((m != UNPAINTED).sum() for m in self.masks.values()))


def components(mask: np.ndarray, min_area: int) -> list[tuple[int, np.ndarray]]:
    """(area, bool mask) of the 4-connected components of ``mask`` of at least ``min_area``, largest first."""
    n, lab, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=4)
    order = sorted(range(1, n), key=lambda i: -stats[i, cv2.CC_STAT_AREA])
    return [(int(stats[i, cv2.CC_STAT_AREA]), lab == i) for i in order if stats[i, cv2.CC_STAT_AREA] >= min_area]


def first_strokes(person: Person, name: str, count: int) -> None:
    """Round 0 on one image: a stroke through the largest region of each of the ``count``
    largest things in sight (CamVid classes), painted as the task's class."""
    fine, truth = person.fine[name], person.truth[name]
    largest = []
    for f in [int(f) for f in np.unique(fine) if f != UNPAINTED]:
        comps = components(fine == f, MIN_REGION)
        if comps:
            largest.append(comps[0])
    for _, region in sorted(largest, key=lambda t: -t[0])[:count]:
        ys, xs = np.nonzero(region)
        person.stroke(name, region, int(truth[ys[0], xs[0]]))


def correct(person: Person, name: str, pred: np.ndarray, remaining: int, per_image: int, accepts: int) -> None:
    """Policy a on one opened image, within ``remaining`` actions: strokes through the largest
    wrongly predicted regions not painted yet (at most ``per_image``), then up to ``accepts``
    clicks accepting the largest segments the model got right (with the ``accept`` tool)."""
    truth, fine, mask = person.truth[name], person.fine[name], person.mask(name)
    free = mask == UNPAINTED
    wrong = []
    for f in [int(f) for f in np.unique(fine) if f != UNPAINTED]:
        thing = fine == f
        c = int(truth[thing][0])  # the task's class of that thing
        wrong += [(area, region, c) for area, region in components(thing & (pred != c) & free, MIN_REGION)]
    wrong.sort(key=lambda t: -t[0])
    start = person.total
    for _, region, c in wrong[: min(per_image, remaining)]:
        person.stroke(name, region, c)
    left = remaining - (person.total - start)
    if "accept" not in person.tools or left <= 0:
        return
    labelled = truth != UNPAINTED
    candidates = []
    for c in [int(c) for c in np.unique(pred)]:
        for area, region in components(pred == c, ACCEPT_MIN):
            seen = region & labelled
            if seen.any() and (truth[seen] == c).mean() >= ACCEPT_PRECISION and (mask[region] == UNPAINTED).mean() > 0.5:
                candidates.append((area, region))
    for _, region in sorted(candidates, key=lambda t: -t[0])[: min(accepts, left)]:
        ys, xs = np.nonzero(region)
        person.accept(name, pred, int(xs[len(xs) // 2]), int(ys[len(ys) // 2]))


def random_strokes(person: Person, name: str, budget: int) -> None:
    """Policy b on one image: strokes through the true region under random pixels."""
    truth, fine = person.truth[name], person.fine[name]
    ys, xs = np.nonzero(truth != UNPAINTED)
    for _ in range(budget):
        i = int(person.rng.integers(len(ys)))
        y, x = int(ys[i]), int(xs[i])
        region = label_component(fine, x, y)
        person.stroke(name, region, int(truth[y, x]), centre=(y, x))


# -- the model's side --------------------------------------------------------------------------------
class StudioModel:
    """fcn-studio's default recipe, trained for a fixed time per round from the last round's model."""

    def __init__(self, root: Path, names: list[str], labelset_json: Path, schedule: str, seed: int,
                 overrides: dict | None = None) -> None:
        self.root, self.schedule, self.seed = root, schedule, seed
        self.overrides = overrides or {}
        (root / "images").mkdir(parents=True)
        (root / "masks").mkdir()
        for name in names:
            (root / "images" / name).symlink_to(DATA_TRAIN / name)
        self.labelset = LabelSet.load(labelset_json)
        self.source = None  # made at the first round, once a mask is on disk
        self.ckpt = root / "model.fcnckpt"
        self.predictor = None
        self.rounds = 0

    def train(self, masks: dict[str, np.ndarray], seconds: float) -> dict:
        from fcn_studio.inference.predictor import Predictor
        from fcn_studio.training import TrainConfig, train

        from fcn_studio.training.samples import FolderSource

        for name, m in masks.items():
            Image.fromarray(m).save(self.root / "masks" / name)
        if self.source is None:
            self.source = FolderSource(self.root / "images", self.root / "masks", self.labelset)
        cfg = TrainConfig(epochs=None, minutes=seconds / 60, seed=self.seed + self.rounds, val_fraction=0.0, out=self.ckpt,
                          preview_every_s=None, checkpoint_every_s=1e9, num_threads=1,
                          trunk_lr_mult=INTERACTIVE_TRUNK_LR_MULT)  # as the window's presets
        if self.rounds == 0 or self.schedule == "fresh":  # a Fine-tune from ImageNet, head phase first
            cfg = cfg.replace(fast_mode=True)
        elif self.schedule == "restart":  # Fine-tune again from the last model
            cfg = cfg.replace(resume=self.ckpt, weights=None, fast_mode=True)
        elif self.schedule == "continue":  # Live: one cosine cycle from the last model, no head phase, no warm-up
            cfg = cfg.replace(resume=self.ckpt, weights=None, fast_mode=True, continue_schedule=True, warmup_fraction=0.0)
        else:  # "constant": Live before its cycles: the peak rate throughout
            cfg = cfg.replace(resume=self.ckpt, weights=None, fast_mode=True, continue_schedule=True,
                              schedule="constant", warmup_fraction=0.0)
        cfg = cfg.replace(**self.overrides)
        t = time.perf_counter()
        result = train(cfg, self.source)
        s = result.summary
        self.predictor = Predictor(result.model, self.source.labelset, scale=s["input_scale"], device="cpu",
                                   working_pixels=s.get("working_pixels"))
        self.rounds += 1
        return {"train_s": s["seconds"], "wall_s": time.perf_counter() - t, "steps": s["step"]}

    def predict(self, rgb: np.ndarray, probs: bool = False):  # noqa: ANN201
        p = self.predictor.predict(rgb, want_probs=probs)
        return p if probs else p.labels


DATA_TRAIN = DATA / "train"


def run(args: argparse.Namespace) -> dict:
    pool = train_names(args.data, "unseen-drive")
    train_set = load_split(args.data, "train", names=pool)
    val = load_split(args.data, "val", args.val_limit)
    road = args.task == "road"
    images = {n: rgb for n, rgb, _ in train_set}
    fine = {n: lab for n, _, lab in train_set}
    truth = {n: (to_road(lab) if road else lab) for n, _, lab in train_set}
    val = [(n, rgb, to_road(lab)) for n, rgb, lab in val] if road else val
    k = 2 if road else 11
    labelset_json = ROAD_LABELSET if road else args.data / "classes.json"
    per_round, per_image, accepts, first_count = BUDGETS[args.task]
    tools = {t for t in args.tools.split(",") if t}
    person = Person(images, truth, fine, tools, args.seed)
    first = [pool[i] for i in np.random.default_rng(args.seed).permutation(len(pool))[:3]]  # the same for every policy
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    train_total = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        from camvid import parse_sets

        model = (StudioModel(Path(tmp), pool, labelset_json, args.schedule, args.seed, parse_sets(args.set))
                 if args.policy != "c" else None)
        for r in range(args.rounds):
            t_round = time.perf_counter()
            opened: list[str] = []
            if args.policy == "c":  # policy a's masks of this round
                f = args.masks_from / f"masks_r{r}.npz"
                if not f.exists():
                    break
                with np.load(f) as z:
                    person.masks = {n: z[n] for n in z.files}
                a_rows = json.loads((args.masks_from / "rounds.json").read_text())["rounds"]
                person.actions = dict(a_rows[r]["actions_by_kind"])
            elif r == 0:
                for name in first:
                    first_strokes(person, name, first_count)
                opened = list(first)
            elif args.policy == "a":
                scores = {}
                for name in pool:  # the app's Paint next scores (what Predict all writes)
                    m = person.masks.get(name)
                    scores[name] = score_from_probs(model.predict(images[name], probs=True).probs,
                                                    None if m is None else m != UNPAINTED)
                start = person.total
                while person.total - start < per_round:
                    name = pick_next(scores, set(opened))
                    if name is None:
                        break
                    opened.append(name)
                    before = person.total
                    correct(person, name, model.predict(images[name]), per_round - (person.total - start), per_image, accepts)
                    if person.total == before and len(opened) > len(pool) // 2:
                        break
            else:  # b: random images, random places
                start = person.total
                while person.total - start < per_round:
                    name = pool[int(person.rng.integers(len(pool)))]
                    opened.append(name)
                    random_strokes(person, name, min(per_image, per_round - (person.total - start)))
            pick_s = time.perf_counter() - t_round
            if args.policy == "a":
                np.savez_compressed(out / f"masks_r{r}.npz", **person.masks)
            # -- train, score ------------------------------------------------------------------
            if args.policy == "c":
                samples = [(n, images[n], m) for n, m in person.masks.items()]
                stats, predict = convpaint(samples, 1, seed=args.seed)
                train_total += stats["train_s"]
            else:
                stats = model.train(person.masks, args.train_s)
                train_total += stats["train_s"]
                predict = model.predict
            scores, _ = evaluate(predict, val, num_classes=k)
            snapped = None
            if model is not None:  # what the window shows a scribbled project: snapped to image edges
                snapped, _ = evaluate(lambda rgb: model.predictor.predict(rgb, want_probs=False, refine_edges=True).labels,
                                      val, num_classes=k)
            row = {"round": r, "actions": person.total, "actions_by_kind": dict(person.actions),
                   "train_s_total": round(train_total, 1), "train_s": round(stats["train_s"], 1),
                   "painted_pixels": person.painted_pixels(), "images_painted": len(person.masks),
                   "opened": opened, "miou": round(float(scores.miou), 4),
                   "miou_snapped": None if snapped is None else round(float(snapped.miou), 4),
                   "per_class_iou": [None if np.isnan(v) else round(float(v), 4) for v in scores.per_class_iou],
                   "pick_s": round(pick_s, 1), "round_wall_s": round(time.perf_counter() - t_round, 1)}
            rows.append(row)
            print(f"{args.policy} {args.task} round {r}: actions {row['actions']:4d}  train {row['train_s_total']:6.0f} s  "
                  f"painted {row['painted_pixels']:8d} px on {row['images_painted']:3d} images  mIoU {row['miou']:.4f}  "
                  f"snapped {row['miou_snapped'] if snapped is not None else '-'}  "
                  f"(round {row['round_wall_s']:.0f} s)", flush=True)
            result = {"rounds": rows, "setup": {
                "policy": args.policy, "task": args.task, "tools": sorted(tools), "schedule": args.schedule, "overrides": args.set,
                "train_s_per_round": args.train_s, "budgets": dict(zip(("per_round", "per_image", "accepts", "first_per_image"), BUDGETS[args.task])),
                "brush": BRUSH, "stroke_length": STROKE_LENGTH, "seed": args.seed, "val_images": len(val),
                "train_images": len(pool), "torch": torch.__version__, "threads": torch.get_num_threads(),
                "affinity": sorted(os.sched_getaffinity(0))} | protocol_setup(args.data, "unseen-drive")}
            (out / "rounds.json").write_text(json.dumps(result) + "\n")
    return result


def main(argv: list[str] | None = None) -> int:
    global DATA_TRAIN
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--policy", choices=("a", "b", "c"), default="a")
    ap.add_argument("--task", choices=tuple(BUDGETS), default="camvid11")
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--train-s", type=float, default=60.0, help="training seconds per round (one core)")
    ap.add_argument("--tools", default="region", help="region (region brush), accept (Accept region; policy a)")
    ap.add_argument("--schedule", choices=("continue", "restart", "constant", "fresh"), default="continue")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override fcn-studio's TrainConfig")
    ap.add_argument("--masks-from", type=Path, help="policy c: the --out folder of a policy-a run")
    ap.add_argument("--val-limit", type=int, help="score on the first N val frames only (quick looks)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    if not (args.data / "classes.json").exists():
        print(f"camvid not found at {args.data}", file=sys.stderr)
        return 2
    if args.policy == "c" and args.masks_from is None:
        ap.error("policy c needs --masks-from (a policy-a run's folder)")
    DATA_TRAIN = args.data / "train"
    torch.set_num_threads(1)
    run(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
