"""Learning from scribbles: a few short strokes per class on 10 or 40 CamVid images.

Scribbles are simulated the way a person paints them: for every class present in an image,
a few short strokes (3 px wide, 15-45 px long) inside that class's region (eroded, so a stroke
never crosses a boundary), until about 2 % of the image's pixels are painted; everything else
is unpainted (255). Every method sees exactly the same painted pixels and is scored on the
dense labels of CamVid's val images (11 classes, void ignored):

* ``fcn-studio``: the default recipe (EfficientNet-Lite0 from the ImageNet weights pip
  installs, the same wall-clock budget); ``fcn-studio-random``: the default before it
  (MobileNetV3, random init); ``fcn-studio-strokes``: the default with unpainted images ignored;
* ``lite0-ce``: the same pretrained FCN trained on the strokes alone with plain
  cross-entropy (AdamW, half scale, bench/camvid.py's reference loop): what pretraining alone gives;
* ``convpaint``: the napari-convpaint method on the same trunk: frozen multi-layer features
  (strides 4, 8, 16) upsampled to the pixels, plus gradient-boosted trees (scikit-learn's
  HistGradientBoostingClassifier) fitted on the painted pixels; trains to completion;
* ``skimage-rf``: scikit-image's trainable segmenter, ``multiscale_basic_features`` plus a
  random forest (``skimage.future.fit_segmenter`` / ``predict_segmenter``), as in its
  gallery example; it trains to completion (its time is reported, not capped);
* ``lraspp``: torchvision's reference recipe (bench/camvid.py) for
  ``lraspp_mobilenet_v3_large`` on the scribbles, unpainted pixels ignored.

The remaining train images sit in the images folder without masks, as in a real project, so
fcn-studio's default (which learns from unpainted images) sees them; the peers ignore them.
Under the default ``--protocol unseen-drive`` (see bench/camvid.py) the strokes and that
unpainted pool come only from the 163 train frames of other drives than val's (``0016E5``),
so nothing of the scored drive is seen, painted or not; ``same-drive`` is the old protocol.
Two tasks: the 11 classes, and road vs not road from the same strokes.

    python bench/scribbles.py --methods fcn-studio --sizes 10 --tasks camvid11 --minutes 10
    bash bench/scribbles_sitting.sh 10        # the full table, methods side by side, one core each

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
from camvid import (  # noqa: E402
    DATA, PROTOCOLS, REFERENCE_SETTINGS, add_protocol_argument, build_peer, evaluate, load_scored, load_split, protocol_setup,
    reference_predict, studio_overrides, train_fcn_studio, train_names, train_reference,
)

from fcn_studio.data.labelset import LabelSet  # noqa: E402

STROKE_WIDTH = 3


def scribble(label: np.ndarray, rng: np.random.Generator, fraction: float = 0.02) -> np.ndarray:
    """Sparse strokes inside each class region of ``label`` (255 = void/unpainted).

    ``fraction >= 1`` gives the dense label itself: the same images fully painted, the
    ceiling a scribble recipe on those images is measured against.
    """
    if fraction >= 1:
        return label.copy()
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


def convpaint(train: list, threads: int, *, scale: float = 0.5, max_pixels: int = 200_000, seed: int = 0):  # noqa: ANN201
    """napari-convpaint's method on the pretrained trunk: (stats, predict).

    Features: the frozen EfficientNet-Lite0 trunk's maps at strides 4, 8 and 16 (24 + 40 + 112
    channels) and the image's own colour, all bilinearly upsampled to the image at ``scale``
    (the working resolution fcn-studio uses on a CPU); a HistGradientBoostingClassifier is
    fitted on the painted pixels (at most ``max_pixels``, drawn at random), and predicts every
    pixel of a new image at that scale; labels are resized to the image with nearest neighbour.
    """
    import torch.nn.functional as F
    from sklearn.ensemble import HistGradientBoostingClassifier

    from fcn_studio.models.builder import build_model

    net = build_model("efficientnet_lite0", "fcn4s", num_classes=1, weights="imagenet").eval()  # taps s4..s32
    mean = torch.tensor(net.normalization["mean"]).view(1, 3, 1, 1)
    std = torch.tensor(net.normalization["std"]).view(1, 3, 1, 1)
    taps = ("s4", "s8", "s16")

    def features(rgb: np.ndarray) -> np.ndarray:
        h, w = rgb.shape[:2]
        sh, sw = round(h * scale), round(w * scale)
        x = torch.from_numpy(np.array(rgb)).permute(2, 0, 1)[None].float() / 255
        x = F.interpolate(x, size=(sh, sw), mode="bilinear", align_corners=False, antialias=True)
        with torch.inference_mode():
            maps = net.forward_features((x - mean) / std)
            up = [F.interpolate(maps[t], size=(sh + (-sh % 32), sw + (-sw % 32)), mode="bilinear",
                                align_corners=False)[..., :sh, :sw] for t in taps]
        stack = torch.cat([x, *up], 1)[0]
        return stack.permute(1, 2, 0).reshape(sh * sw, -1).numpy()

    def small_labels(lab: np.ndarray) -> np.ndarray:
        h, w = lab.shape
        return np.asarray(Image.fromarray(lab).resize((round(w * scale), round(h * scale)), Image.NEAREST)).reshape(-1)

    t = time.perf_counter()
    X, y = [], []
    for _, rgb, scrib in train:
        lab = small_labels(scrib)
        keep = lab != 255
        X.append(features(rgb)[keep])
        y.append(lab[keep])
    X, y = np.concatenate(X), np.concatenate(y)
    rng = np.random.default_rng(seed)
    if len(y) > max_pixels:
        pick = rng.choice(len(y), max_pixels, replace=False)
        X, y = X[pick], y[pick]
    # l2_regularization: without it scikit-learn's softmax boosting diverges when a class has a
    # handful of pixels (seen on the annotation loop's masks: the fit agreed with its own training
    # pixels on 3-49% and called most of every image one class; with 1.0, 99.7-100%).
    clf = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.1, l2_regularization=1.0, early_stopping=False,
                                         random_state=seed)
    clf.fit(X, y)
    seconds = time.perf_counter() - t

    def predict(rgb: np.ndarray) -> np.ndarray:
        h, w = rgb.shape[:2]
        sh, sw = round(h * scale), round(w * scale)
        small = clf.predict(features(rgb)).astype(np.uint8).reshape(sh, sw)
        return np.asarray(Image.fromarray(small).resize((w, h), Image.NEAREST))

    return {"train_s": seconds, "steps": int(clf.n_iter_), "images": len(train), "images_per_s": len(train) / seconds,
            "painted_pixels_used": int(len(y))}, predict


ROAD = 3  # CamVid's "Road" class id


def to_road(label: np.ndarray) -> np.ndarray:
    """CamVid labels (void 255) -> road (1) vs not road (0), void kept."""
    out = (label == ROAD).astype(np.uint8)
    out[label == 255] = 255
    return out


def write_scribble_folder(root: Path, train: list, everything: list, labelset_json: Path) -> object:
    """A folder pair as a real project holds it: every train image, masks only for the scribbled ones.

    Images are symbolic links into the dataset (nothing is copied); the masks are the strokes.
    """
    from fcn_studio.training.samples import FolderSource

    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for name in everything:
        (root / "images" / name).symlink_to(DATA_TRAIN / name)
    for name, _, scrib in train:
        Image.fromarray(scrib).save(root / "masks" / name)
    return FolderSource(root / "images", root / "masks", LabelSet.load(labelset_json))


DATA_TRAIN = DATA / "train"
ROAD_LABELSET = Path(__file__).resolve().parent.parent / "resources" / "labelsets" / "road.json"


def main(argv: list[str] | None = None) -> int:
    global DATA_TRAIN
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--minutes", type=float, default=10.0, help="training budget of the network methods")
    ap.add_argument("--sizes", default="10,40", help="numbers of scribbled training images")
    ap.add_argument("--tasks", default="camvid11,road", help="camvid11 (11 classes) and/or road (road vs not road)")
    ap.add_argument("--methods", default="fcn-studio,skimage-rf,lraspp",
                    help="fcn-studio (default recipe), fcn-studio-random, fcn-studio-strokes (unpainted images "
                         "ignored), lite0-ce, convpaint, skimage-rf, lraspp")
    ap.add_argument("--fraction", type=float, default=0.02, help="share of pixels painted per image (1 = the dense masks of the same images)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--val-limit", type=int, help="score only the first N val images (quick looks only)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override fcn-studio's TrainConfig")
    add_protocol_argument(ap)
    args = ap.parse_args(argv)
    if not (args.data / "classes.json").exists():
        print(f"camvid not found at {args.data}", file=sys.stderr)
        return 2
    DATA_TRAIN = args.data / "train"
    torch.set_num_threads(args.threads)
    from camvid import parse_sets

    pool = train_names(args.data, args.protocol)  # strokes and the unpainted images come only from these
    print(f"protocol {args.protocol}: {len(pool)} train images ({PROTOCOLS[args.protocol]})", flush=True)
    full = load_split(args.data, "train", names=pool)
    val = load_scored(args.data, args.protocol, args.val_limit)  # tune with --protocol tune-drive, never on val's drive
    results: dict = {}
    for n in [int(s) for s in args.sizes.split(",")]:
        rng = np.random.default_rng([args.seed, n])  # the same strokes whichever methods or tasks run
        order = rng.permutation(len(full))
        chosen = [full[i] for i in order[:n]]
        strokes = [(name, rgb, scribble(lab, rng, args.fraction)) for name, rgb, lab in chosen]
        for task in [t.strip() for t in args.tasks.split(",") if t.strip()]:
            road = task == "road"
            train = [(name, rgb, to_road(s) if road else s) for name, rgb, s in strokes]
            val_t = [(name, rgb, to_road(lab)) for name, rgb, lab in val] if road else val
            k = 2 if road else 11
            labelset_json = ROAD_LABELSET if road else args.data / "classes.json"
            names = [c.name for c in LabelSet.load(labelset_json).trainable_classes]
            painted = float(np.mean([(s != 255).mean() for _, _, s in train]))
            for method in [m.strip() for m in args.methods.split(",") if m.strip()]:
                if method.startswith("fcn-studio"):
                    overrides = studio_overrides(method, parse_sets(args.set))
                    with tempfile.TemporaryDirectory() as tmp:
                        source = write_scribble_folder(Path(tmp), train, [f[0] for f in full], labelset_json)
                        predictor, stats = train_fcn_studio(source, minutes=args.minutes, overrides=overrides, seed=args.seed)
                    predict = lambda rgb: predictor.predict(rgb, want_probs=False).labels  # noqa: E731
                elif method == "skimage-rf":
                    stats, predict = skimage_rf(train, val_t, args.threads)
                elif method == "convpaint":
                    stats, predict = convpaint(train, args.threads, seed=args.seed)
                else:
                    model = build_peer(method, num_classes=k)
                    stats = train_reference(model, train, minutes=args.minutes, seed=args.seed,
                                            **REFERENCE_SETTINGS[method])
                    predict = reference_predict(model)
                scores, infer = evaluate(predict, val_t, num_classes=k)
                key = f"{task}:{n}:{method}"
                per_class = {nm: (None if np.isnan(v) else round(float(v), 4)) for nm, v in zip(names, scores.per_class_iou)}
                results[key] = stats | {"miou": scores.miou, "pixel_acc": scores.pixel_acc, "infer_images_per_s": infer,
                                        "painted_fraction": painted, "per_class_iou": per_class}
                if method.startswith("fcn-studio"):  # what the app shows a scribbled project: snapped to edges
                    snapped, _ = evaluate(lambda rgb: predictor.predict(rgb, want_probs=False, refine_edges=True).labels,
                                          val_t, num_classes=k)
                    results[key]["miou_snapped"] = snapped.miou
                    results[key]["per_class_iou_snapped"] = {
                        nm: (None if np.isnan(v) else round(float(v), 4)) for nm, v in zip(names, snapped.per_class_iou)}
                print(f"{task:8s} {n:3d} images  {method:18s} mIoU {scores.miou:.4f}  pixel acc {scores.pixel_acc:.4f}  "
                      f"train {stats['train_s']:.0f} s  infer {infer:.2f} img/s  painted {painted:.3%}  "
                      + (f"snapped {results[key]['miou_snapped']:.4f}  " if "miou_snapped" in results[key] else "")
                      + " ".join(f"{nm[:5]}={v}" for nm, v in per_class.items()), flush=True)
    results["setup"] = {"minutes": args.minutes, "threads": args.threads, "val_images": len(val), "fraction": args.fraction,
                        "train_images_present": len(full), "seed": args.seed, "overrides": args.set, "torch": torch.__version__,
                        "affinity": sorted(os.sched_getaffinity(0)), "loadavg_end": os.getloadavg()[0]} | protocol_setup(args.data, args.protocol)
    text = json.dumps(results)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
