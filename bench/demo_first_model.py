"""How soon does a first useful segmentation appear on the demo after pressing Fine-tune?

    .venv/bin/python bench/demo_first_model.py [--seed 0] [--budget 60] [--backbone ...] [--weights imagenet|none]
    for s in 0 1 2 3 4; do .venv/bin/python bench/demo_first_model.py --seed $s | tail -1; done

Builds a demo project with nothing painted, scribbles a few strokes on three images (about
2% of their pixels, inside each class region, as a person would), then runs exactly what the
GUI's Fine-tune button runs with the panel's defaults (``interactive_config("fine-tune")``:
EfficientNet-Lite0 from its installed ImageNet weights, so the heads train on cached trunk
features first; ``--weights none`` for random init; the default time budget, one core left
to the GUI). After every epoch it scores the segmentation the user would see (the live
model, snapped to image edges as the app does for scribbled projects; ``road_iou_raw`` is the
network's own argmax) by road IoU on the five images nobody painted, against the demo's
exact ground truth; the clock is paused while it scores. Target (issue 7): road IoU > 0.8 within 60 s on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scribbles import scribble  # noqa: E402

from fcn_studio.data.demo import ROAD, create_demo_project  # noqa: E402
from fcn_studio.training.callbacks import TrainCallbacks  # noqa: E402
from fcn_studio.training.presets import DEFAULT_MINUTES, interactive_config  # noqa: E402
from fcn_studio.inference.refine import edge_refine, model_radius, sparse_labels  # noqa: E402
from fcn_studio.training.samples import ProjectSource  # noqa: E402
from fcn_studio.training.evaluation import preview  # noqa: E402
from fcn_studio.training.trainer import Trainer  # noqa: E402


def road_iou(pred: np.ndarray, truth: np.ndarray) -> float:
    inter = np.logical_and(pred == ROAD, truth == ROAD).sum()
    union = np.logical_or(pred == ROAD, truth == ROAD).sum()
    return float(inter / max(union, 1))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--budget", type=float, default=DEFAULT_MINUTES * 60, help="seconds of training (default: the panel's)")
    ap.add_argument("--backbone", default=None)
    ap.add_argument("--variant", default=None)
    ap.add_argument("--weights", default="imagenet", help="imagenet (the panel's default), none, or a file")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=JSON", help="override a TrainConfig field, e.g. crop_size=[128,128]")
    args = ap.parse_args(argv)

    from fcn_studio.training.config import TrainConfig

    defaults = TrainConfig()
    backbone = args.backbone or defaults.backbone
    variant = args.variant or defaults.variant
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "demo"
        project = create_demo_project(root, n_images=8, n_labelled=0, seed=args.seed)
        rng = np.random.default_rng(args.seed)
        truths = {e.id: np.asarray(Image.open(root / "ground_truth" / f"{e.id}.png")) for e in project.images}
        painted = [e.id for e in project.images[:3]]
        for image_id in painted:
            project.save_mask(image_id, scribble(truths[image_id], rng, fraction=0.02), save_project=False)
        project.save()
        fraction = float(np.mean([e.painted for e in project.images[:3]]))
        unpainted = [(e.id, project.load_image(e.id)) for e in project.images[3:]]

        timeline: list[dict] = []
        scoring = {"s": 0.0}
        t_start = time.perf_counter()
        holder: dict = {}

        class Score(TrainCallbacks):
            """Scores the model the user sees (the live one, after every epoch), clock paused."""

            def on_epoch_end(self, report):
                t0 = time.perf_counter()
                trainer = holder["trainer"]
                model = trainer._deployed()  # what the previews show: the teacher when there is one
                radius = model_radius(model, trainer.scale)
                raw, shown = [], []
                for i, img in unpainted:
                    probs, labels = preview(model, img, normalizer=trainer.eval_normalizer, scale=trainer.scale, amp=False)
                    raw.append(road_iou(labels, truths[i]))
                    if config.refine_edges:
                        labels = edge_refine(img, probs, radius=radius)[0]
                    shown.append(road_iou(labels, truths[i]))
                train_s = t0 - t_start - scoring["s"]
                scoring["s"] += time.perf_counter() - t0
                timeline.append({"train_s": round(train_s, 1), "phase": report.phase, "road_iou": round(float(np.mean(shown)), 4),
                                 "road_iou_raw": round(float(np.mean(raw)), 4)})
                print(json.dumps(timeline[-1]), flush=True)

        config = interactive_config(
            "fine-tune", backbone=backbone, variant=variant, weights=None if args.weights == "none" else args.weights,
            epochs=None, minutes=args.budget / 60.0, out=root / "checkpoints" / "model.pt", preview_image=None,
            **{"refine_edges": sparse_labels([e.painted for e in project.images])}  # what the app decides
            | {k: json.loads(v) for k, v in (item.split("=", 1) for item in args.set)},
        )
        (root / "checkpoints").mkdir(exist_ok=True)
        trainer = holder["trainer"] = Trainer(config, ProjectSource(project), callbacks=Score())
        trainer.run()
        first = next((t for t in timeline if t["road_iou"] > 0.8), None)
        print(json.dumps({
            "backbone": backbone, "variant": variant, "weights": args.weights, "budget_s": args.budget, "overrides": args.set,
            "painted_fraction_of_3_images": round(fraction, 4),
            "first_road_iou_over_0.8_at_s": first["train_s"] if first else None,
            "final_road_iou": timeline[-1]["road_iou"] if timeline else None,
            "refine_edges": config.refine_edges,
            "road_iou_at_or_after_50s": [t["road_iou"] for t in timeline if t["train_s"] >= 50],
            "first_raw_road_iou_over_0.8_at_s": next((t["train_s"] for t in timeline if t["road_iou_raw"] > 0.8), None),
            "final_road_iou_raw": timeline[-1]["road_iou_raw"] if timeline else None,
        }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
