"""Click-to-segment on the unseen drive: a simulated person clicks objects of CamVid's val frames.

Issue 33 item 5. The protocol (``../shared/datasets/camvid/README.md``): the project's model
is trained on strokes of 10 train frames of the drives other than val's; the clicks are made on
val frames (drive ``0016E5``), never a training frame.

The person: for every connected region of one class of at least ``--min-region`` pixels
(8-connected), one positive click at its deepest point (the pixel farthest from its edge), then
up to ``--clicks`` - 1 corrections, each at the deepest point of the larger error (the missed
part: a positive click; the spilled part: a negative click; "larger" = the deeper of the two,
as RITM and SAM's own evaluation do). Reported per method: mean IoU after 1, 3 and 5 clicks,
NoC@85 and NoC@90 (clicks to reach that IoU; a region that never does counts clicks + 1),
per class, with the thin classes (Pole, SignSymbol, Fence) apart; the class proposal's
accuracy (the model's most-predicted class inside the 1-click mask against the region's class).

Methods:

* ``sam``: the plain MobileSAM predictor: the first click asks for three masks and takes the
  one SAM scores highest; later clicks send every point and the last mask's logits, one mask;
* ``sam+model``: the first click's mask chosen among SAM's three by the project's model (the
  one with the best IoU with the model's connected region of its class under the click, whatever SAM's scores);
* ``sam+model-guarded``: the same among the masks SAM scores within ``MAX_SCORE_DROP`` of its
  best (what the app does);
* ``sam+model-box``: the same, and the box of that model region as an extra prompt;
* ``sam+model-points``: ``sam+model``, then up to two corrections made against the model's
  region (as the person makes them against the truth), kept when they bring the mask closer to it;
* ``model-region``: the project's model alone: its connected region of its class under the
  click (what *Accept region* takes), the same for every click count;
* ``oracle-of-3``: the first click's best of SAM's three masks by the truth: a ceiling for any
  way of choosing among them, not a method;
* ``wand``: the magic wand at its default tolerance at the same points (positive: add the
  region, negative: remove it), one action per click;
* ``region``: the region brush (a dot of the app's brush at the point, grown into the colour
  regions it touches), one action per click; negatives remove the touched regions.

    taskset -c 1 python bench/click_segment.py --frames 12 --train-minutes 5 \\
        --save-model /tmp/strokes10.fcnckpt --out bench/results/click_segment
    taskset -c 1 python bench/click_segment.py --frames 12 --model /tmp/strokes10.fcnckpt ...

Writes ``<out>/results.json`` and ``<out>/table.md``.
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from camvid import DATA, add_protocol_argument, load_split, protocol_setup, scored_names, train_names  # noqa: E402
from scribbles import scribble, write_scribble_folder  # noqa: E402

from fcn_studio.data.labelset import LabelSet  # noqa: E402
from fcn_studio.data.paint import colour_region, region_inside  # noqa: E402
from fcn_studio.data.regions import fill_touched, image_regions  # noqa: E402
from fcn_studio.inference.class_proposal import propose_class  # noqa: E402
from fcn_studio.inference.click_segment import MAX_SCORE_DROP, upsample_mask  # noqa: E402

THIN = ("Pole", "SignSymbol", "Fence")
WAND_TOLERANCE = 24  # the tool's default (gui.tools.MagicWandTool.tolerance)
BRUSH = 9  # the brush radius the other benches paint with (annotation_loop.BRUSH)
#: method -> how the first click's mask is chosen among SAM's three ("oracle": by the truth, a
#: ceiling for any chooser, never a result), and whether later clicks feed the last logits back
SAM_METHODS = {"sam": ("score", True), "sam-no-prev": ("score", False), "sam+model": ("model", True),
               "sam+model-guarded": ("model", True),
               "sam+model-box": ("model_box", True),
               "sam+model-points": ("model_points", True), "oracle-of-3": ("oracle", True)}


def regions_of(label: np.ndarray, min_region: int) -> list[tuple[int, np.ndarray]]:
    """(class, bool mask) of every 8-connected one-class region of at least ``min_region`` px."""
    out = []
    for c in np.unique(label):
        if c == 255:
            continue
        n, comp, stats, _ = cv2.connectedComponentsWithStats((label == c).astype(np.uint8), connectivity=8)
        for i in range(1, n):
            if stats[i, cv2.CC_STAT_AREA] >= min_region:
                out.append((int(c), comp == i))
    return out


def deepest(mask: np.ndarray) -> tuple[tuple[int, int], float]:
    """((x, y), depth) of the pixel of ``mask`` farthest from its edge (the image border is an edge)."""
    padded = np.pad(mask.astype(np.uint8), 1)
    dist = cv2.distanceTransform(padded, cv2.DIST_L2, 5)[1:-1, 1:-1]
    y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
    return (int(x), int(y)), float(dist[y, x])


def next_click(gt: np.ndarray, pred: np.ndarray) -> tuple[int, int, bool] | None:
    """The correction: the deepest point of the deeper error, positive where the mask missed."""
    missed, spilled = gt & ~pred, pred & ~gt
    (pm, dm), (ps, ds) = deepest(missed), deepest(spilled)
    if max(dm, ds) <= 0:
        return None
    return (pm[0], pm[1], True) if dm >= ds else (ps[0], ps[1], False)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


def simulate(first: tuple[int, int], gt: np.ndarray, act, clicks: int) -> list[float]:  # noqa: ANN001
    """IoU after each click; ``act(points, labels, pred) -> pred`` is the method."""
    points, labels = [first], [1]
    pred = act(points, labels, None)
    ious = [iou(pred, gt)]
    while len(ious) < clicks:
        nxt = next_click(gt, pred)
        if nxt is None:
            ious.append(ious[-1])
            continue
        points.append(nxt[:2])
        labels.append(1 if nxt[2] else 0)
        pred = act(points, labels, pred)
        ious.append(iou(pred, gt))
    return ious


def noc(ious: list[float], threshold: float) -> int:
    return next((i + 1 for i, v in enumerate(ious) if v >= threshold), len(ious) + 1)


def train_model(pool: list, minutes: float, seed: int, out: Path, labelset_json: Path):  # noqa: ANN201
    """fcn-studio's default recipe on strokes (2 % of the pixels) of 10 train frames of other drives."""
    from fcn_studio.training import TrainConfig, train

    rng = np.random.default_rng([seed, 10])
    order = rng.permutation(len(pool))
    chosen = [pool[i] for i in order[:10]]
    strokes = [(name, rgb, scribble(lab, rng, 0.02)) for name, rgb, lab in chosen]
    with tempfile.TemporaryDirectory() as tmp:
        source = write_scribble_folder(Path(tmp), strokes, [p[0] for p in pool], labelset_json)
        cfg = TrainConfig(epochs=None, minutes=minutes, seed=seed, val_fraction=0.0, out=out,
                          preview_every_s=None, checkpoint_every_s=1e9)
        result = train(cfg, source)
    return result.summary, [s[0] for s in strokes]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--frames", type=int, default=12, help="val frames, evenly spaced over the 101")
    ap.add_argument("--clicks", type=int, default=5)
    ap.add_argument("--min-region", type=int, default=400)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--methods", default="sam,sam+model,sam+model-box,sam+model-points,model-region,oracle-of-3,wand,region")
    ap.add_argument("--model", type=Path, help="the project model's checkpoint (else one is trained)")
    ap.add_argument("--train-minutes", type=float, default=5.0)
    ap.add_argument("--save-model", type=Path, help="where the trained model's checkpoint goes")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, required=True)
    add_protocol_argument(ap)
    args = ap.parse_args(argv)
    if not (args.data / "classes.json").exists():
        print(f"camvid not found at {args.data}", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    labelset = LabelSet.load(args.data / "classes.json")
    names = [c.name for c in labelset.trainable_classes]
    from fcn_studio.inference.click_segment import ClickSegmenter
    from fcn_studio.inference.predictor import Predictor

    train_summary, stroke_frames = None, None
    model_path = args.model
    if model_path is None:
        pool = load_split(args.data, "train", names=train_names(args.data, args.protocol))
        model_path = args.save_model or Path(tempfile.mkdtemp()) / "strokes10.fcnckpt"
        t = time.perf_counter()
        train_summary, stroke_frames = train_model(pool, args.train_minutes, args.seed, model_path, args.data / "classes.json")
        print(f"trained the project model on strokes of 10 frames in {time.perf_counter() - t:.0f} s -> {model_path}", flush=True)
        del pool
    predictor = Predictor.from_checkpoint(model_path, device="cpu")
    sam = ClickSegmenter()

    split, scored = scored_names(args.data, args.protocol)  # tune on tune-drive (0006R0), never on val's drive
    step = len(scored) / args.frames
    frames = [scored[int(i * step)] for i in range(args.frames)]
    val = load_split(args.data, split, names=frames)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    rows: list[dict] = []
    enc_s, dec_s, wand_s, region_s = [], [], [], []
    for name, rgb, lab in val:
        rgb = np.array(rgb)  # writable, as the app's images are (OpenCV's flood fill insists)
        emb = sam.embed(rgb)
        enc_s.append(emb.seconds)
        labels_map = predictor.predict(rgb, want_probs=False, refine_edges=True).labels  # as the app shows a scribbled project
        cut = None
        for c, gt in regions_of(lab, args.min_region):
            first, _ = deepest(gt)
            row = {"frame": name, "class": names[c], "pixels": int(gt.sum()), "ious": {}}
            for method in methods:
                if method in SAM_METHODS:
                    state: dict = {}

                    def act(points, labels, pred, spec=SAM_METHODS[method]):  # noqa: ANN001, ANN202
                        choose, feed_back = spec
                        t = time.perf_counter()
                        previous = state.get("logits") if feed_back else None
                        if choose == "oracle" and len(points) == 1:
                            logits, _ = sam.decode(emb, points, labels, multimask=True)
                            masks = [upsample_mask(lg, emb.input_size, emb.image_size)[0] for lg in logits]
                            best = int(np.argmax([iou(m, gt) for m in masks]))
                            state["logits"], mask = logits[best], masks[best]
                        else:
                            seg = sam.segment(emb, points, labels, previous=previous,
                                              guide=labels_map if choose not in ("score", "oracle") else None,
                                              choose="score" if choose == "oracle" else choose,
                                              max_score_drop=MAX_SCORE_DROP if method == "sam+model-guarded" else 1e9)
                            dec_s.append(time.perf_counter() - t)
                            state["logits"], mask = seg.logits, seg.mask
                        state.setdefault("first", mask)
                        return mask

                    row["ious"][method] = simulate(first, gt, act, args.clicks)
                    prop = propose_class(state["first"], labels=labels_map, allowed=set(labelset.train_ids))
                    row.setdefault("proposal", {})[method] = None if prop is None else names[prop.class_id]
                elif method == "model-region":  # the project's model alone: its region under the click
                    def act(points, labels, pred):  # noqa: ANN001, ANN202
                        x, y = points[0]
                        same = (labels_map == labels_map[y, x]).astype(np.uint8)
                        _, comp = cv2.connectedComponents(same, connectivity=4)
                        return comp == comp[y, x]

                    row["ious"][method] = simulate(first, gt, act, 1) * args.clicks
                elif method == "wand":
                    def act(points, labels, pred):  # noqa: ANN001, ANN202
                        t = time.perf_counter()
                        (x, y), positive = points[-1], labels[-1]
                        found = colour_region(rgb, x, y, WAND_TOLERANCE)
                        new = np.zeros(gt.shape, bool) if pred is None else pred.copy()
                        if found is not None:
                            region, (rx, ry, rw, rh) = found
                            part = np.zeros(gt.shape, bool)
                            part[ry:ry + rh, rx:rx + rw] = region_inside(region, (rx, ry, rw, rh))
                            new = new | part if positive else new & ~part
                        wand_s.append(time.perf_counter() - t)
                        return new

                    row["ious"][method] = simulate(first, gt, act, args.clicks)
                elif method == "region":
                    if cut is None:
                        cut = image_regions(rgb)

                    def act(points, labels, pred):  # noqa: ANN001, ANN202
                        t = time.perf_counter()
                        (x, y), positive = points[-1], labels[-1]
                        dot = np.zeros(gt.shape, np.uint8)
                        cv2.circle(dot, (int(x), int(y)), BRUSH, 1, -1)
                        touched = fill_touched(cut, dot.astype(bool)) | dot.astype(bool)
                        new = np.zeros(gt.shape, bool) if pred is None else pred.copy()
                        new = new | touched if positive else new & ~touched
                        region_s.append(time.perf_counter() - t)
                        return new

                    row["ious"][method] = simulate(first, gt, act, args.clicks)
            rows.append(row)
        print(f"{name}: {sum(r['frame'] == name for r in rows)} regions, encoder {emb.seconds:.2f} s; "
              + "  ".join(f"{m} {np.mean([r['ious'][m][0] for r in rows]):.3f}" for m in methods), flush=True)

    summary = summarise(rows, methods, names)
    summary["timing"] = {"encoder_s_per_frame": float(np.mean(enc_s)), "decoder_and_full_res_s_per_click": float(np.median(dec_s)),
                         "wand_s_per_click": float(np.median(wand_s)) if wand_s else None,
                         "region_s_per_click": float(np.median(region_s)) if region_s else None}
    summary["setup"] = {"frames": frames, "scored_on": f"{split} frames of the {args.protocol} protocol", "regions": len(rows), "min_region": args.min_region, "clicks": args.clicks,
                        "threads": args.threads, "affinity": sorted(os.sched_getaffinity(0)), "torch": torch.__version__,
                        "model": str(model_path), "train_summary": _plain(train_summary), "stroke_frames": stroke_frames,
                        "cpu": _cpu_name()} | protocol_setup(args.data, args.protocol)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps({"summary": summary, "rows": rows}) + "\n")
    table = markdown(summary, methods, names)
    (args.out / "table.md").write_text(table)
    print(table)
    return 0


def summarise(rows: list[dict], methods: list[str], names: list[str]) -> dict:
    out: dict = {"methods": {}}
    for m in methods:
        ious = np.array([r["ious"][m] for r in rows])
        thin = np.array([r["class"] in THIN for r in rows])
        per_class = {}
        for c in names:
            sel = np.array([r["class"] == c for r in rows])
            if sel.any():
                per_class[c] = {"regions": int(sel.sum()), "iou1": float(ious[sel, 0].mean()),
                                "iou3": float(ious[sel, min(2, ious.shape[1] - 1)].mean()), "iou5": float(ious[sel, -1].mean()),
                                "noc85": float(np.mean([noc(list(v), 0.85) for v in ious[sel]]))}
        entry = {"iou": [float(v) for v in ious.mean(0)],
                 "noc85": float(np.mean([noc(list(v), 0.85) for v in ious])),
                 "noc90": float(np.mean([noc(list(v), 0.90) for v in ious])),
                 "iou1_not_thin": float(ious[~thin, 0].mean()) if (~thin).any() else None,
                 "iou1_thin": float(ious[thin, 0].mean()) if thin.any() else None,
                 "noc85_not_thin": float(np.mean([noc(list(v), 0.85) for v in ious[~thin]])) if (~thin).any() else None,
                 "per_class": per_class}
        props = [r.get("proposal", {}).get(m) for r in rows]
        if any(p is not None for p in props):
            right = [p == r["class"] for p, r in zip(props, rows)]
            entry["proposal_accuracy"] = float(np.mean(right))
            main4 = [ok for ok, r in zip(right, rows) if r["class"] in ("Road", "Sky", "Building", "Car")]
            entry["proposal_accuracy_road_sky_building_car"] = float(np.mean(main4)) if main4 else None
            entry["proposal_per_class"] = {c: float(np.mean([ok for ok, r in zip(right, rows) if r["class"] == c]))
                                           for c in names if any(r["class"] == c for r in rows)}
        out["methods"][m] = entry
    return out


def markdown(summary: dict, methods: list[str], names: list[str]) -> str:
    s = summary["setup"]
    lines = [f"# Click to segment on the unseen drive ({len(s['frames'])} {s['scored_on']} frames, {s['regions']} regions >= {s['min_region']} px)", "",
             f"One torch thread, pinned to CPU {s['affinity']} ({s['cpu']}); up to {s['clicks']} clicks; "
             "NoC counts a region that never reaches the IoU as clicks + 1.", "",
             "| method | IoU@1 | IoU@3 | IoU@5 | NoC@85 | NoC@90 | IoU@1 not thin | IoU@1 thin | class proposal | proposal Road/Sky/Building/Car |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for m in methods:
        e = summary["methods"][m]
        i = e["iou"]
        pa = e.get("proposal_accuracy")
        pa4 = e.get("proposal_accuracy_road_sky_building_car")
        lines.append(f"| {m} | {i[0]:.3f} | {i[min(2, len(i) - 1)]:.3f} | {i[-1]:.3f} | {e['noc85']:.2f} | {e['noc90']:.2f} | "
                     f"{_f(e['iou1_not_thin'])} | {_f(e['iou1_thin'])} | {_f(pa)} | {_f(pa4)} |")
    lines += ["", "IoU after one click per class (regions):", "",
              "| class | regions | " + " | ".join(methods) + " |", "|---|---|" + "---|" * len(methods)]
    for c in names:
        per = [summary["methods"][m]["per_class"].get(c) for m in methods]
        if per[0] is None:
            continue
        lines.append(f"| {c} | {per[0]['regions']} | " + " | ".join(f"{p['iou1']:.3f}" for p in per) + " |")
    t = summary["timing"]
    lines += ["", f"Encoder {t['encoder_s_per_frame']:.2f} s per frame; decoder with the full-resolution mask "
              f"{t['decoder_and_full_res_s_per_click']:.3f} s per click (median).", ""]
    return "\n".join(lines)


def _f(v) -> str:  # noqa: ANN001
    return "-" if v is None else f"{v:.3f}"


def _plain(d):  # noqa: ANN001, ANN202
    return None if d is None else json.loads(json.dumps(d, default=str))


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


if __name__ == "__main__":
    raise SystemExit(main())
