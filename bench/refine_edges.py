"""Does snapping predictions to image edges help? CamVid, trained on dense masks and on scribbles.

    .venv/bin/python bench/refine_edges.py [--minutes 5] [--images 40] [--val-limit 40] [--threads 1] [--protocol unseen-drive]

Trains fcn-studio's default recipe (random init, as ``bench/camvid.py``) twice for
``--minutes`` each: on every dense CamVid training mask, and on ``--images`` images scribbled
at 2% of their pixels (``bench/scribbles.py``'s strokes). Each model then predicts the val
images once, and the same probabilities are scored raw and after
``inference.refine.edge_refine`` with windows of 0.5, 1 and 2 score-grid cells (the app uses
1). Trained on the drives val does not show by default (``--protocol``, see bench/camvid.py).
Last line: JSON with mIoU and per-class IoU of every variant.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from camvid import DATA, add_protocol_argument, load_scored, load_split, protocol_setup, train_fcn_studio, train_names  # noqa: E402
from scribbles import scribble, write_scribble_folder  # noqa: E402

from fcn_studio.data.labelset import LabelSet  # noqa: E402
from fcn_studio.training.metrics import ConfusionMatrix  # noqa: E402
from fcn_studio.inference.refine import edge_refine, refine_radius  # noqa: E402

CELLS = (0.5, 1.0, 2.0)


def score(preds: list[np.ndarray], truths: list[np.ndarray], k: int = 11) -> dict:
    cm = ConfusionMatrix(k)
    for p, t in zip(preds, truths):
        cm.update(torch.from_numpy(t), torch.from_numpy(np.asarray(p)))
    s = cm.compute()
    return {"miou": round(float(s.miou), 4), "per_class_iou": [None if np.isnan(v) else round(float(v), 3) for v in s.per_class_iou]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--images", type=int, default=40, help="scribbled training images")
    ap.add_argument("--val-limit", type=int, default=40)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    add_protocol_argument(ap)
    args = ap.parse_args(argv)
    if not (args.data / "classes.json").exists():
        print(f"camvid not found at {args.data}", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    from fcn_studio.training.samples import FolderSource

    labelset = LabelSet.load(args.data / "classes.json")
    val = load_scored(args.data, args.protocol, args.val_limit)
    names = train_names(args.data, args.protocol)
    full = load_split(args.data, "train", names=names)
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(len(full))
    scribbled = [(n, rgb, scribble(lab, rng, 0.02)) for n, rgb, lab in (full[i] for i in order[: args.images])]
    results: dict = {}
    for training in ("dense", "scribbles"):
        with tempfile.TemporaryDirectory() as tmp:
            if training == "dense":
                source = FolderSource(args.data / "train", args.data / "trainannot", labelset, ids=[Path(n).stem for n in names])
            else:
                source = write_scribble_folder(Path(tmp), scribbled, names, args.data / "classes.json")
            predictor, stats = train_fcn_studio(source, minutes=args.minutes, overrides={}, seed=args.seed)
        probs = [predictor.predict(rgb, want_probs=True, refine_edges=False).probs for _, rgb, _ in val]
        truths = [lab for _, _, lab in val]
        row = {"steps": stats["steps"], "raw": score([p.argmax(0).astype(np.uint8) for p in probs], truths)}
        for cells in CELLS:
            radius = refine_radius(predictor.model.output_stride, predictor.scale, cells)
            refined = [edge_refine(rgb, p, radius=radius)[0] for (_, rgb, _), p in zip(val, probs)]
            row[f"cells_{cells:g}"] = score(refined, truths) | {"radius_px": radius}
        results[training] = row
        print(f"{training:9s} raw mIoU {row['raw']['miou']:.4f}  " + "  ".join(
            f"{c:g} cell(s) {row[f'cells_{c:g}']['miou']:.4f}" for c in CELLS), flush=True)
    print(json.dumps({"minutes": args.minutes, "images": args.images, "val_images": len(val), "threads": args.threads,
                      "setup": protocol_setup(args.data, args.protocol), **results}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
