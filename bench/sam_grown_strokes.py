"""Strokes grown by MobileSAM before training (issue 33 item 6): does the unseen-drive figure move?

The strokes of ``bench/scribbles.py`` (the same seed: 2 % of the pixels of 10 train frames of
the drives other than val's, as short strokes inside each class region) are, with ``--grow sam``,
each turned into SAM prompts (up to 4 points spread along the stroke, positive; one mask), and
the mask's unpainted pixels become pseudo-labels of the stroke's class (larger masks first, so a
car's mask lies over the road's; the strokes themselves on top). Then fcn-studio's default recipe trains ``--minutes`` on one
core and is scored on all 101 val frames (drive ``0016E5``, never seen).

    taskset -c 0 python bench/sam_grown_strokes.py --grow none --minutes 5 --json OUT/none.json &
    taskset -c 1 python bench/sam_grown_strokes.py --grow sam  --minutes 5 --json OUT/sam.json

Also printed: the pseudo-labels' pixel accuracy and coverage against the dense truth of the 10 frames.
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
from camvid import DATA, evaluate, load_split, train_fcn_studio, train_names  # noqa: E402
from scribbles import scribble, write_scribble_folder  # noqa: E402

from fcn_studio.data.labelset import LabelSet  # noqa: E402


def stroke_points(component: np.ndarray, count: int = 4) -> list[tuple[int, int]]:
    """Up to ``count`` pixels spread along a stroke (ordered by their position along its longer axis)."""
    ys, xs = np.nonzero(component)
    order = np.argsort(xs if np.ptp(xs) >= np.ptp(ys) else ys, kind="stable")
    picks = np.linspace(0, len(order) - 1, min(count, len(order))).round().astype(int)
    return [(int(xs[order[i]]), int(ys[order[i]])) for i in picks]


def grow_with_sam(sam, rgb: np.ndarray, strokes: np.ndarray) -> np.ndarray:  # noqa: ANN001
    """``strokes`` (255 = unpainted) grown by SAM masks, one per stroke (see the module)."""
    emb = sam.embed(rgb)
    masks = []
    for c in np.unique(strokes):
        if c == 255:
            continue
        n, comp = cv2.connectedComponents((strokes == c).astype(np.uint8), connectivity=8)
        for i in range(1, n):
            pts = stroke_points(comp == i)
            seg = sam.segment(emb, pts, [1] * len(pts), multimask=False)
            masks.append((int(seg.mask.sum()), int(c), seg.mask))
    out = np.full_like(strokes, 255)
    for _, c, m in sorted(masks, key=lambda t: -t[0]):  # larger first: smaller objects lie over them
        out[m] = c
    painted = strokes != 255
    out[painted] = strokes[painted]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--grow", choices=["none", "sam"], default="sam")
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--images", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    pool = train_names(DATA, "unseen-drive")
    full = load_split(DATA, "train", names=pool)
    rng = np.random.default_rng([args.seed, args.images])  # scribbles.py's strokes for this size
    order = rng.permutation(len(full))
    chosen = [full[i] for i in order[: args.images]]
    strokes = [(name, rgb, scribble(lab, rng, 0.02)) for name, rgb, lab in chosen]
    truth = {name: lab for name, _, lab in chosen}
    result: dict = {"grow": args.grow, "minutes": args.minutes, "images": args.images, "seed": args.seed,
                    "affinity": sorted(os.sched_getaffinity(0))}
    if args.grow == "sam":
        from fcn_studio.inference.click_segment import ClickSegmenter

        sam = ClickSegmenter()
        t = time.perf_counter()
        strokes = [(name, rgb, grow_with_sam(sam, np.array(rgb), s)) for name, rgb, s in strokes]
        result["grow_s"] = time.perf_counter() - t
        del sam
    labelled = [(s != 255) & (truth[n] != 255) for n, _, s in strokes]
    right = sum(int(((s == truth[n]) & m).sum()) for (n, _, s), m in zip(strokes, labelled))
    result["pseudo_label_accuracy"] = right / max(1, sum(int(m.sum()) for m in labelled))
    result["painted_fraction"] = float(np.mean([(s != 255).mean() for _, _, s in strokes]))
    print(f"grow={args.grow}: painted {result['painted_fraction']:.1%} of the pixels, "
          f"{result['pseudo_label_accuracy']:.1%} of them right", flush=True)
    labelset_json = DATA / "classes.json"
    with tempfile.TemporaryDirectory() as tmp:
        source = write_scribble_folder(Path(tmp), strokes, [f[0] for f in full], labelset_json)
        predictor, stats = train_fcn_studio(source, minutes=args.minutes, overrides={}, seed=args.seed)
    del full
    val = load_split(DATA, "val")
    scores, _ = evaluate(lambda rgb: predictor.predict(rgb, want_probs=False).labels, val)
    names = [c.name for c in LabelSet.load(labelset_json).trainable_classes]
    result |= {"miou": scores.miou, "per_class_iou": {n: (None if np.isnan(v) else round(float(v), 4))
                                                       for n, v in zip(names, scores.per_class_iou)},
               "steps": stats["steps"], "train_s": stats["train_s"]}
    print(json.dumps(result))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
