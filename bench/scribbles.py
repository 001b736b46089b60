"""Learning from scribbles: a few short strokes per class on 10 or 40 CamVid images.

Scribbles are simulated the way a person paints them: for every class present in an image,
a few short strokes (3 px wide, 15-45 px long) inside that class's region (eroded, so a stroke
never crosses a boundary), until about 2 % of the image's pixels are painted; everything else
is unpainted (255). Every method sees exactly the same painted pixels and is scored on the
dense labels of CamVid's val images (11 classes, void ignored):

* ``fcn-studio``: the default recipe (random init, the same wall-clock budget);
* ``skimage-rf``: scikit-image's trainable segmenter, ``multiscale_basic_features`` plus a
  random forest (``skimage.future.fit_segmenter`` / ``predict_segmenter``), as in its
  gallery example; it trains to completion (its time is reported, not capped);
* ``lraspp``: torchvision's reference recipe (bench/camvid.py) for
  ``lraspp_mobilenet_v3_large`` on the scribbles, unpainted pixels ignored.

    python bench/scribbles.py --minutes 5               # 10 and 40 images, all methods
    python bench/scribbles.py --minutes 1 --val-limit 30 --threads 1

Prints a line per (images, method) and a last line of JSON.
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
from camvid import DATA, build_peer, evaluate, load_split, reference_predict, train_fcn_studio, train_reference  # noqa: E402

from fcn_studio.data.labelset import LabelSet  # noqa: E402

STROKE_WIDTH = 3


def scribble(label: np.ndarray, rng: np.random.Generator, fraction: float = 0.02) -> np.ndarray:
    """Sparse strokes inside each class region of ``label`` (255 = void/unpainted)."""
    h, w = label.shape
    out = np.full_like(label, 255)
    budget = int(fraction * h * w)
    classes = [c for c in np.unique(label) if c != 255]
    kernel = np.ones((2 * STROKE_WIDTH + 1, 2 * STROKE_WIDTH + 1), np.uint8)
    inner = {c: cv2.erode((label == c).astype(np.uint8), kernel) for c in classes}
    classes = [c for c in classes if inner[c].any()]
    painted, rounds = 0, 0
    while painted < budget and classes and rounds < 50:
        rounds += 1
        for c in rng.permutation(classes):
            ys, xs = np.nonzero(inner[c])
            i = int(rng.integers(len(ys)))
            length = rng.uniform(15, 45)
            angle = rng.uniform(0, np.pi)
            x0, y0 = int(xs[i]), int(ys[i])
            x1, y1 = int(x0 + length * np.cos(angle)), int(y0 + length * np.sin(angle))
            stroke = np.zeros((h, w), np.uint8)
            cv2.line(stroke, (x0, y0), (x1, y1), 1, STROKE_WIDTH)
            stroke &= (label == c).astype(np.uint8)  # stay inside the region
            new = (stroke > 0) & (out == 255)
            out[new] = c
            painted += int(new.sum())
            if painted >= budget:
                break
    return out


def skimage_rf(train: list, val: list, threads: int) -> tuple[dict, object]:
    """Fit skimage's trainable segmenter on the painted pixels; returns (stats, predict)."""
    from functools import partial

    from skimage.feature import multiscale_basic_features
    from skimage.future import fit_segmenter, predict_segmenter
    from sklearn.ensemble import RandomForestClassifier

    features = partial(multiscale_basic_features, intensity=True, edges=True, texture=True,
                       sigma_min=1, sigma_max=16, channel_axis=-1)
    t = time.perf_counter()
    feats, labels = [], []
    for _, rgb, scrib in train:
        f = features(rgb)
        painted = scrib != 255
        feats.append(f[painted])
        labels.append(scrib[painted].astype(np.int64) + 1)  # skimage: 0 = unlabelled
    X = np.concatenate(feats)[:, None, :]  # fit_segmenter wants an image-shaped array; a column works
    y = np.concatenate(labels)[:, None]
    clf = RandomForestClassifier(n_estimators=50, n_jobs=threads, max_depth=10, max_samples=0.05, random_state=0)
    clf = fit_segmenter(y, X, clf)
    seconds = time.perf_counter() - t

    def predict(rgb: np.ndarray) -> np.ndarray:
        return (predict_segmenter(features(rgb), clf) - 1).astype(np.uint8)

    return {"train_s": seconds, "steps": 0, "images": len(train), "images_per_s": len(train) / seconds}, predict


def write_scribble_folder(root: Path, train: list, labelset_json: Path) -> object:
    from fcn_studio.training.samples import FolderSource

    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for name, rgb, scrib in train:
        Image.fromarray(rgb).save(root / "images" / name)
        Image.fromarray(scrib).save(root / "masks" / name)
    return FolderSource(root / "images", root / "masks", LabelSet.load(labelset_json))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--minutes", type=float, default=5.0, help="training budget of the network methods")
    ap.add_argument("--sizes", default="10,40", help="numbers of scribbled training images")
    ap.add_argument("--methods", default="fcn-studio,skimage-rf,lraspp")
    ap.add_argument("--fraction", type=float, default=0.02, help="share of pixels painted per image")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--val-limit", type=int, help="score only the first N val images")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override fcn-studio's TrainConfig")
    args = ap.parse_args(argv)
    if not (args.data / "classes.json").exists():
        print(f"camvid not found at {args.data}", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    from camvid import parse_sets

    full = load_split(args.data, "train")
    val = load_split(args.data, "val", args.val_limit)
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(len(full))
    results: dict = {}
    for n in [int(s) for s in args.sizes.split(",")]:
        chosen = [full[i] for i in order[:n]]
        train = [(name, rgb, scribble(lab, rng, args.fraction)) for name, rgb, lab in chosen]
        painted = float(np.mean([(s != 255).mean() for _, _, s in train]))
        for method in [m.strip() for m in args.methods.split(",") if m.strip()]:
            if method == "fcn-studio":
                with tempfile.TemporaryDirectory() as tmp:
                    source = write_scribble_folder(Path(tmp), train, args.data / "classes.json")
                    predictor, stats = train_fcn_studio(source, minutes=args.minutes, overrides=parse_sets(args.set), seed=args.seed)
                predict = lambda rgb: predictor.predict(rgb, want_probs=False).labels  # noqa: E731
            elif method == "skimage-rf":
                stats, predict = skimage_rf(train, val, args.threads)
            else:
                model = build_peer(method)
                stats = train_reference(model, train, minutes=args.minutes, seed=args.seed)
                predict = reference_predict(model)
            scores, infer = evaluate(predict, val)
            key = f"{n}:{method}"
            results[key] = stats | {"miou": scores.miou, "pixel_acc": scores.pixel_acc, "infer_images_per_s": infer,
                                    "painted_fraction": painted}
            print(f"{n:3d} images  {method:11s} mIoU {scores.miou:.4f}  pixel acc {scores.pixel_acc:.4f}  "
                  f"train {stats['train_s']:.0f} s  infer {infer:.2f} img/s  painted {painted:.3%}", flush=True)
        ours = results.get(f"{n}:fcn-studio")
        peers = {k: v for k, v in results.items() if k.startswith(f"{n}:") and not k.endswith("fcn-studio")}
        if ours and peers:
            best = max(peers, key=lambda k: peers[k]["miou"])
            ratio = ours["miou"] / max(peers[best]["miou"], 1e-9)
            results[f"{n}:ratio"] = {"peer": best.split(":")[1], "miou_ratio": ratio}
            print(f"{n:3d} images  fcn-studio / {best.split(':')[1]}: mIoU x{ratio:.2f}", flush=True)
    results["setup"] = {"minutes": args.minutes, "threads": args.threads, "val_images": len(val), "fraction": args.fraction}
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
