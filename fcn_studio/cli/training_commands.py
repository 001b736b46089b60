"""``fcn-studio train | predict | evaluate | export-model``: the training engine from the command line.

:func:`register` adds the sub-commands to :mod:`fcn_studio.cli`'s parser. This module must
stay cheap to import (the GUI entry point imports the CLI): torch and the engine are imported
inside the command functions only.

Every command ends with one line of JSON on stdout (rank 0 only under ``torchrun``); progress
goes to stderr; bad arguments or files raise :class:`~fcn_studio.errors.FcnStudioError`
subclasses, which the CLI prints as one line before exiting with status 2.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path
from typing import Any

from fcn_studio.cli.args import UsageError, positive_int, unit_float
from fcn_studio.data.checkpoint_files import PROJECT_CHECKPOINT
from fcn_studio.errors import TrainingError, one_line
from fcn_studio.training.config import LOSS_KINDS, TrainConfig

FORMATS = ("index", "color", "overlay", "probs")
#: Smallest ``--tile``: two margins of 128 px (the predictor's) and a 32 px core.
MIN_TILE = 2 * 128 + 32


SNAP_HELP = "move predicted boundaries onto image edges (helps models trained on scribbles; see inference/refine.py)"

def _crop(text: str) -> tuple[int, int]:
    try:
        parts = [int(v) for v in text.lower().replace("x", ",").split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"crop size must be HxW or one number, got {text!r}") from None
    if len(parts) == 1:
        parts *= 2
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"crop size must be HxW or one number, got {text!r}")
    return parts[0], parts[1]


def _tile(text: str) -> int:
    value = positive_int(text)
    if value < MIN_TILE:
        raise argparse.ArgumentTypeError(f"must be at least {MIN_TILE} (two 128 px margins and a 32 px core), got {value}")
    return value


def _hw(text: str) -> tuple[int, int]:
    h, w = _crop(text)
    if h < 1 or w < 1:
        raise argparse.ArgumentTypeError(f"size must be positive, got {text!r}")
    return h, w


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``train``, ``predict``, ``evaluate`` and ``export-model`` to the CLI's sub-parsers."""
    from fcn_studio.models.registry import BACKBONES

    p = sub.add_parser("train", help="fine-tune a model on a project or on folders of images and masks")
    d = p.add_argument_group("data (a project, or images + masks + classes)")
    d.add_argument("--project", type=Path, help="fcn-studio project folder (its painted masks)")
    d.add_argument("--images", type=Path, help="folder of training images")
    d.add_argument("--masks", type=Path, help="folder of masks matched by name (id, indexed or colour PNGs)")
    d.add_argument("--classes", type=Path, help="label-set JSON (names, ids, colours, ignore_index)")
    d.add_argument("--val-images", type=Path, help="folder of validation images (default: hold out some training images)")
    d.add_argument("--val-masks", type=Path, help="folder of validation masks")
    d.add_argument("--val-fraction", type=float, help="share of painted images held out when no validation folders are given "
                   "(default: 0.1 when at least 20 images are densely painted, else none)")
    d.add_argument("--unlabelled", default="auto", choices=("auto", "on", "off"),
                   help="also learn from unpainted pixels and images (with --images/--masks: the images without a mask) "
                   "through a mean teacher's confident pseudo-labels; auto: on when some images are unpainted and "
                   "under half of all pixels are painted")
    d.add_argument("--keep", default="auto", choices=("auto", "best", "last"),
                   help="weights to save: best on held-out images, or last (the teacher's average when learning from "
                   "unpainted images); auto: best when images are held out, else last")
    m = p.add_argument_group("model")
    m.add_argument("--backbone", default=TrainConfig.backbone, choices=BACKBONES)
    m.add_argument("--variant", default=TrainConfig.variant, help="fcn32s, fcn16s, fcn8s or fcn4s (ignored for torchvision models)")
    m.add_argument("--weights", default="imagenet", help="imagenet, coco, none, or a state-dict file")
    m.add_argument("--resume", type=Path, metavar="CKPT", help="continue from a checkpoint (step count continues)")
    r = p.add_argument_group("length and recipe")
    r.add_argument("--epochs", type=int, help="number of epochs (default 30 unless --minutes or --max-steps is given)")
    r.add_argument("--minutes", type=float, help="wall-clock budget in minutes")
    r.add_argument("--max-steps", type=int, help="stop after this many optimisation steps")
    r.add_argument("--batch-size", type=int, help="images per step (default: 4 on CPU, 8 on GPU)")
    r.add_argument("--crop", type=_crop, metavar="HxW", help="training crop at working resolution (default: 192 on CPU, 384 on GPU)")
    r.add_argument("--scale", type=float, help="working resolution relative to the images (default: 0.5 on CPU, 1 on GPU)")
    r.add_argument("--lr", type=float, help="peak learning rate (default: 5e-3 from random init, 1e-3 from pretrained weights)")
    r.add_argument("--optimizer", default="adamw", choices=("adamw", "sgd"))
    r.add_argument("--schedule", default="onecycle", choices=("onecycle", "poly", "constant"))
    r.add_argument("--class-weights", default="auto", choices=("auto", "balanced", "none"),
                   help="weight rare classes up (auto: balanced for dense masks, none for scribbles)")
    r.add_argument("--loss", default="auto", choices=("auto", *LOSS_KINDS),
                   help="cross-entropy alone, over hard pixels (ohem) or with a Lovász IoU term (auto: by mask kind)")
    r.add_argument("--grow-regions", type=float, metavar="SCALE",
                   help="fill the colour regions (Felzenszwalb segmentation at this scale) that strokes of one class touch, "
                   "for training only; 0 = off (default: 100 for scribbles, off for dense masks)")
    r.add_argument("--grow-radius", type=float, metavar="PX",
                   help="then grow strokes up to this many pixels to the nearest colour edge; 0 = off "
                   "(default: 5 for scribbles, off for dense masks)")
    r.add_argument("--fast", action="store_true", help="first train the heads on cached trunk features (seconds)")
    r.add_argument("--fast-only", action="store_true", help="only the fast head training")
    r.add_argument("--fast-steps", type=int, default=150)
    r.add_argument("--seed", type=int, default=0)
    h = p.add_argument_group("machine and output")
    h.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    h.add_argument("--threads", type=int, help="CPU threads for torch")
    h.add_argument("--workers", type=int, help="data-loading processes (default: 0 on CPU, up to 4 on GPU)")
    h.add_argument("--out", type=Path, help=f"checkpoint to write (default: <project>/{PROJECT_CHECKPOINT}, where the window finds it)")
    h.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("predict", help="predict masks for a folder of images")
    p.add_argument("--checkpoint", type=Path, required=True)
    p.add_argument("--images", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--format", default="index", choices=FORMATS, help="index/color/overlay PNGs, or probs (.npz)")
    p.add_argument("--opacity", type=unit_float, help="overlay opacity 0..1 (default: the window's prediction layer, 0.45)")
    p.add_argument("--overwrite", action="store_true", help="replace outputs already in --out (default: refuse)")
    p.add_argument("--device", default="auto")
    p.add_argument("--tile", type=_tile, help=f"tile size for large images (default 1024 at working resolution, at least {MIN_TILE})")
    p.add_argument("--snap-edges", action="store_true", help=SNAP_HELP)
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("evaluate", help="score a checkpoint against masks (mIoU, pixel accuracy)")
    p.add_argument("--checkpoint", type=Path, required=True)
    p.add_argument("--images", type=Path, required=True)
    p.add_argument("--masks", type=Path, required=True)
    p.add_argument("--classes", type=Path, help="label-set JSON of the masks (default: the checkpoint's)")
    p.add_argument("--map-by-name", action="store_true",
                   help="match the masks' classes to the checkpoint's by name (default: refuse when the names differ)")
    p.add_argument("--report", type=Path, metavar="FILE", help="write per-class IoU and the confusion matrix (.json or .csv)")
    p.add_argument("--snap-edges", action="store_true", help=SNAP_HELP)
    p.add_argument("--device", default="auto")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("export-model", help="export a checkpoint as ONNX or TorchScript (any image size)")
    p.add_argument("--checkpoint", type=Path, required=True)
    p.add_argument("--format", required=True, choices=("onnx", "torchscript"))
    p.add_argument("--out", type=Path, required=True, help="file to write (.onnx / .pt)")
    p.add_argument("--trace-size", type=_hw, metavar="HxW", help="example size the export is traced at (any size works afterwards)")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    p.set_defaults(func=cmd_export_model)


# -- train ---------------------------------------------------------------------------------------
def _sources(args: argparse.Namespace) -> tuple[Any, Any, Path | None]:
    """(training source, validation source or None, default checkpoint path)."""
    from fcn_studio.data.labelset import LabelSet
    from fcn_studio.training.samples import FolderSource, ProjectSource

    folders = [args.images, args.masks, args.classes]
    if args.project is not None:
        if any(v is not None for v in folders):
            raise UsageError("give either --project or --images/--masks/--classes, not both")
        from fcn_studio.data.project import Project

        project = Project.open(args.project)
        for w in project.warnings:
            print(f"warning: {w}", file=sys.stderr)
        source, default_out = ProjectSource(project), project.path_of(PROJECT_CHECKPOINT)
        labelset = project.labelset
    else:
        if any(v is None for v in folders):
            missing = [n for n, v in zip(("--images", "--masks", "--classes"), folders) if v is None]
            raise UsageError(f"training needs --project, or --images, --masks and --classes (missing {', '.join(missing)})")
        labelset = LabelSet.load(args.classes)
        source, default_out = FolderSource(args.images, args.masks, labelset), None
    val = None
    if (args.val_images is None) != (args.val_masks is None):
        raise UsageError("give --val-images and --val-masks together")
    if args.val_images is not None:
        val = FolderSource(args.val_images, args.val_masks, labelset)
    return source, val, default_out


def _config(args: argparse.Namespace, out: Path | None) -> Any:
    from fcn_studio.training.config import TrainConfig

    from fcn_studio.models.registry import weights_from_name

    weights: Any = weights_from_name(args.weights)
    if weights not in (None, "imagenet", "coco") and not Path(weights).is_file():
        raise UsageError(f"--weights {weights!r} is neither imagenet, coco, none nor an existing file")
    epochs = args.epochs
    if epochs is None and args.minutes is None and args.max_steps is None:
        epochs = 30
    return TrainConfig(
        backbone=args.backbone, variant=args.variant, weights=weights, epochs=epochs, minutes=args.minutes,
        max_steps=args.max_steps, batch_size=args.batch_size, crop_size=args.crop, scale=args.scale, lr=args.lr,
        optimizer=args.optimizer, schedule=args.schedule, class_weights=args.class_weights, loss=args.loss, fast_mode=args.fast or args.fast_only,
        fast_only=args.fast_only, fast_steps=args.fast_steps, seed=args.seed, device=args.device,
        num_threads=args.threads, workers=args.workers, out=out, resume=args.resume, preview_every_s=None,
        val_fraction=args.val_fraction, unlabelled=args.unlabelled, keep=args.keep,
        grow_regions=args.grow_regions, grow_radius=args.grow_radius,
    ).validate()


def _is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def cmd_train(args: argparse.Namespace) -> int:
    source, val, default_out = _sources(args)
    out = args.out or default_out
    if out is None:
        raise UsageError("--out CKPT is required when training on folders")
    config = _config(args, out)
    from fcn_studio.training.progress import TqdmCallbacks
    from fcn_studio.training.trainer import train

    show = not args.no_progress and _is_main_process()
    with TqdmCallbacks(enabled=show) as bar:
        result = train(config, source, bar, val_source=val)
    if _is_main_process():
        summary = {k: v for k, v in result.summary.items() if k != "config"}
        summary["checkpoint"] = str(result.checkpoint) if result.checkpoint else None
        print(json.dumps(_json_safe(summary)))
    return 0


# -- predict / evaluate ----------------------------------------------------------------------------
def _predictor(args: argparse.Namespace) -> Any:
    from fcn_studio.inference.predictor import Predictor

    kwargs: dict[str, Any] = {} if getattr(args, "tile", None) is None else {"tile": args.tile, "max_pixels": args.tile * args.tile}
    kwargs["refine_edges"] = bool(getattr(args, "snap_edges", False))
    try:
        return Predictor.from_checkpoint(args.checkpoint, device=args.device, **kwargs)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _folder(path: Path, what: str) -> Path:
    if not path.is_dir():
        raise UsageError(f"{what} folder {path} does not exist or is not a folder")
    return path


def _checkpoint_file(path: Path) -> Path:
    if not path.is_file():
        raise UsageError(f"checkpoint {path} does not exist or is not a file")
    return path


def _report_failure(command: str) -> Any:
    def report(path: Path, reason: str) -> None:
        print(f"fcn-studio {command}: skipped {path.name}: {reason}", file=sys.stderr)

    return report


def cmd_predict(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from fcn_studio.inference.batch_predict import list_images, plan_outputs

    _checkpoint_file(args.checkpoint)
    if args.opacity is not None and args.format != "overlay":
        raise UsageError("--opacity is for --format overlay")
    plan_outputs(list_images(_folder(args.images, "images")), args.out, args.format, overwrite=args.overwrite)  # refuse early
    predictor = _predictor(args)
    bar = tqdm(disable=args.no_progress, unit="img", file=sys.stderr, desc="predict")

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    try:
        summary = predictor.predict_folder(
            args.images, args.out, fmt=args.format, opacity=args.opacity, overwrite=args.overwrite,
            progress=progress, on_failure=_report_failure("predict"),
        )
    finally:
        bar.close()
    print(json.dumps(summary))
    return 1 if summary["failed"] else 0


def _class_map(mask_labels: Any, model_labels: Any, by_name: bool, source: Path | None) -> Any:
    """(256,) uint8 table: mask value -> the checkpoint's class index (255 = not scored).

    Same names in the same order: the identity. Otherwise refused, unless ``by_name``, where
    every trainable class of the masks must be one of the checkpoint's.
    """
    import numpy as np

    from fcn_studio.training.dataset import IGNORE, target_lut

    lut = target_lut(mask_labels)
    theirs = [c.name for c in mask_labels.trainable_classes]
    ours = [c.name for c in model_labels.trainable_classes]
    if [n.casefold() for n in theirs] == [n.casefold() for n in ours]:
        return lut
    if not by_name:
        if len(theirs) != len(ours):
            raise UsageError(
                f"{source} has {len(theirs)} trainable classes but the checkpoint predicts {len(ours)}; "
                "use the label set the model was trained with, or --map-by-name"
            )
        diff = next(f"{a!r} vs {b!r}" for a, b in zip(theirs, ours) if a.casefold() != b.casefold())
        raise UsageError(
            f"the classes of {source} differ from the checkpoint's ({diff}); use the label set the model was "
            "trained with, or --map-by-name to score classes by name"
        )
    index = {name.casefold(): i for i, name in enumerate(ours)}
    missing = [n for n in theirs if n.casefold() not in index]
    if missing:
        raise UsageError(f"--map-by-name: the checkpoint has no class {', '.join(map(repr, missing))} (it knows {', '.join(ours)})")
    remap = np.full(256, IGNORE, np.uint8)
    for c in mask_labels.trainable_classes:  # a trainable class's id is its training index (target_lut)
        remap[c.id] = index[c.name.casefold()]
    return remap[lut]


def cmd_evaluate(args: argparse.Namespace) -> int:
    import torch
    from tqdm import tqdm

    from fcn_studio.data.imageio import read_image
    from fcn_studio.data.labelset import LabelSet
    from fcn_studio.data.masks import read_mask
    from fcn_studio.training.metrics import ConfusionMatrix
    from fcn_studio.training.samples import match_masks

    _checkpoint_file(args.checkpoint)
    images, masks = _folder(args.images, "images"), _folder(args.masks, "masks")
    if args.report is not None:
        _report_path(args.report)
    if args.classes is not None and not args.classes.is_file():
        raise UsageError(f"--classes {args.classes} does not exist or is not a file")
    mask_labels = None if args.classes is None else LabelSet.load(args.classes)
    pairs, _, _ = match_masks(images, masks)
    if not pairs:
        raise UsageError(f"no image in {args.images} has a mask in {args.masks} (masks are matched by file name)")
    predictor = _predictor(args)
    mask_labels = mask_labels or predictor.labelset
    lut = _class_map(mask_labels, predictor.labelset, args.map_by_name, args.classes)
    names = [c.name for c in predictor.labelset.trainable_classes]
    cm = ConfusionMatrix(predictor.num_classes)
    failed: list[dict[str, str]] = []
    report_failure = _report_failure("evaluate")
    for image_path, mask_path in tqdm(pairs, disable=args.no_progress, unit="img", file=sys.stderr, desc="evaluate"):
        try:
            image = read_image(image_path)
            mask = read_mask(mask_path, mask_labels, expected_hw=image.shape[:2])
            pred = predictor.predict(image, want_probs=False)
        except Exception as exc:  # noqa: BLE001 - one image's failure is reported; the others are scored
            failed.append({"file": image_path.name, "reason": one_line(exc)})
            report_failure(image_path, one_line(exc))
            continue
        cm.update(torch.from_numpy(lut[mask]), torch.from_numpy(pred.labels))
    scores = cm.compute()
    result = scores.to_json(names)
    result["images"] = len(pairs) - len(failed)
    result["failed"] = failed
    if args.report is not None:
        write_report(args.report, names, cm.numpy(), scores)
        result["report"] = str(args.report)
    print(json.dumps(_json_safe(result)))
    if len(failed) == len(pairs):
        print("fcn-studio evaluate: no image could be scored", file=sys.stderr)
        return 2
    return 1 if failed else 0


def _report_path(path: Path) -> Path:
    if path.suffix.lower() not in (".json", ".csv"):
        raise UsageError(f"--report {path}: the file name must end in .json or .csv")
    if path.is_dir():
        raise UsageError(f"--report {path} is a folder; give a file name ending in .json or .csv")
    if not path.parent.is_dir():
        raise UsageError(f"--report {path}: folder {path.parent} does not exist")
    return path


def write_report(path: Path, names: list[str], matrix: Any, scores: Any) -> None:
    """Per-class IoU and the confusion matrix (rows: true class, columns: predicted) as JSON or CSV."""
    import csv
    import io

    from fcn_studio.data.atomic import atomic_write_text

    ious = [None if not math.isfinite(float(v)) else round(float(v), 6) for v in scores.per_class_iou]
    if path.suffix.lower() == ".json":
        data = {
            "classes": names, "miou": round(scores.miou, 6), "pixel_acc": round(scores.pixel_acc, 6),
            "per_class_iou": dict(zip(names, ious)), "pixels": scores.pixels,
            "confusion_matrix": {"rows": "true class", "columns": "predicted class", "counts": matrix.tolist()},
        }
        atomic_write_text(path, json.dumps(data, indent=2) + "\n")
        return
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["class", "iou", *(f"pred:{n}" for n in names)])
    for name, iou, row in zip(names, ious, matrix.tolist()):
        writer.writerow([name, "" if iou is None else iou, *row])
    writer.writerow(["mIoU", round(scores.miou, 6)])
    writer.writerow(["pixel_acc", round(scores.pixel_acc, 6)])
    atomic_write_text(path, buf.getvalue())


def cmd_export_model(args: argparse.Namespace) -> int:
    from fcn_studio.models.export import FORMATS as EXPORT_FORMATS, export_checkpoint

    _checkpoint_file(args.checkpoint)
    if args.out.is_dir():
        raise UsageError(f"--out {args.out} is a folder; give a file name such as model{EXPORT_FORMATS[args.format]}")
    if args.out.exists() and args.out.resolve() == args.checkpoint.resolve():
        raise UsageError(f"--out {args.out} is the checkpoint itself; choose another file name")
    if args.out.exists() and not args.overwrite:
        raise UsageError(f"--out {args.out} exists; pass --overwrite to replace it")
    if not args.out.parent.is_dir():
        raise UsageError(f"--out {args.out}: folder {args.out.parent} does not exist")
    summary = export_checkpoint(args.checkpoint, args.out, fmt=args.format, input_hw=args.trace_size)
    print(json.dumps(summary))
    return 0


def _json_safe(value: Any) -> Any:
    """NaN/inf (not JSON) become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


__all__ = ["register", "cmd_train", "cmd_predict", "cmd_evaluate", "cmd_export_model", "write_report", "UsageError", "TrainingError"]
