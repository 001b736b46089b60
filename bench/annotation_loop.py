"""A person in the loop, on the window's own path: they paint while *Live* learns.

What it measures is what a person takes home: masks per minute of their time. The project is
a real project folder holding the train frames of a protocol (``bench/camvid.py``; by default
the 163 frames of the drives val does not show), nothing painted. A simulated person
(``bench/loop_person.py``) acts on it through the window's path (``bench/loop_window.py``):
masks saved as the window saves them, *Live* training in the window's training process all the
time, reading what they saved at its next epoch, the prediction on screen from the model the
trainer last wrote. Every action costs the person seconds (``loop_person.COSTS``) and exactly
that much wall-clock time passes, on one core shared with the trainer and the window's work.

Round 0: the person opens 3 seeded images and paints one stroke through the largest region of
each of the largest things in sight, then presses *Live* (from ImageNet, the panel's default).
Every later round is a fixed budget of actions (a stroke, a click, an undo, *Paint next*, opening
an image: one each). At each round's end the bench copies the project's model and masks; when
the loop is over, it scores each round (so scoring never takes the trainer's core):

* ``val``: mIoU of that model on the protocol's scored frames (all 101 val frames of the unseen
  drive), plain and snapped to image edges;
* ``exported``: the masks *Export* (merged) writes for the whole project, painted where painted
  and the model's prediction elsewhere (snapped as the window snaps), against the ground truth of
  every frame of the project: what the person takes home.

Policies: ``a`` *Paint next* (the image the model is least sure of) and corrections where the
prediction is wrong, each class getting its share; ``b`` the same tools on random images at
random places; (``c`` in the sitting is ``a`` without ``sam``); ``d`` the napari-convpaint method (``bench/scribbles.py``) fitted on (a)'s masks of
each round (``--masks-from``). Tools (``--tools``): ``region`` (the window's region brush: fills
every touched region; a wrong fill costs an undo and a plain stroke), ``accept`` (*Accept region*),
``sam`` (click to segment: a click, corrections while the mask is off, a key when the class the
model proposes is wrong, Enter; a poor mask is dropped for a stroke).

    taskset -c 0 python bench/annotation_loop.py --policy a --task camvid11 --out bench/results/annotation_loop/a11
    taskset -c 1 python bench/annotation_loop.py --policy d --task camvid11 --masks-from .../a11 --out .../d11
    bash bench/annotation_loop_sitting.sh            # the whole table, one core per run

Tune with ``--protocol tune-drive`` (scored on drive 0006R0); confirm on ``unseen-drive``.
Writes ``<out>/rounds.json``; ``bench/annotation_loop_plot.py`` draws the curves. The run fails
(exit 3) when the trainer's own count of painted images does not follow the person's.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from camvid import DATA, add_protocol_argument, load_scored, load_split, parse_sets, protocol_setup, train_names  # noqa: E402
from loop_person import BRUSH, COSTS, STROKE_LENGTH, Person  # noqa: E402
from scribbles import ROAD_LABELSET, convpaint, to_road  # noqa: E402

from fcn_studio.data.labelset import UNPAINTED, LabelSet  # noqa: E402
from fcn_studio.training.metrics import ConfusionMatrix  # noqa: E402

#: Per task: (actions per round, actions per opened image, Accept clicks per image, round 0's
#: strokes per image on its 3 images, rounds).
BUDGETS = {"camvid11": (22, 8, 2, 8, 18), "road": (6, 3, 1, 4, 10)}


def stem(name: str) -> str:
    return Path(name).stem


# -- the loop -------------------------------------------------------------------------------------------
def loop(args: argparse.Namespace, pool: list[str], truth: dict, fine: dict, labelset_json: Path, work: Path) -> list[dict]:
    from loop_window import HeadlessWindow

    per_round, per_image, accepts, first_count, _ = BUDGETS[args.task]
    rounds = args.rounds or BUDGETS[args.task][4]
    tools = {t for t in args.tools.split(",") if t}
    overrides = {"num_threads": 1} | parse_sets(args.set)
    window = HeadlessWindow(work / "project", [args.data / "train" / n for n in pool], LabelSet.load(labelset_json),
                            overrides=overrides)
    ids = window.ids
    person = Person(window, truth, fine, tools, args.seed)
    rng = np.random.default_rng(args.seed)
    first = [ids[i] for i in rng.permutation(len(ids))[:3]]  # the same for every policy
    for image_id in first:
        person.look(image_id)
        person.first_strokes(image_id, first_count)
    window.live()
    person.clock.spend(COSTS["click"])
    window.wait_for_model()  # the person looks on while the first model comes (Live's head phase)
    rows: list[dict] = []
    painted_before = window.painted_images()
    try:
        for r in range(1, rounds + 1):
            start, opened = person.total, []
            while person.total - start < per_round:
                left = per_round - (person.total - start)
                if args.policy == "a":
                    pick = window.paint_next()
                    person.act("paint_next", "click")
                    if pick is None:
                        break
                    person.look(pick)
                    opened.append(pick)
                    person.correct(pick, window.predict(pick), left - 1, per_image, accepts)
                else:
                    pick = ids[int(person.rng.integers(len(ids)))]
                    person.act("paint_next", "click")  # opening an image in the list: a click too
                    person.look(pick)
                    opened.append(pick)
                    person.random_strokes(pick, min(per_image, left - 1))
            state = window.run.state
            with window.run.lock:
                trainer_painted, steps, failure = state.painted_images, state.steps, state.failure
            if failure:
                raise SystemExit(f"training failed: {failure}")
            snap = window.snapshot(work / "models", f"r{r}")
            masks = {i: window.mask(i) for i in ids if window.project.entry(i).painted > 0}
            np.savez_compressed(work / "models" / f"masks_r{r}.npz", **masks)
            row = {"round": r, "actions": person.total, "actions_by_kind": dict(person.actions),
                   "person_s": round(person.clock.wall, 1), "person_waited_s": round(person.clock.waited, 1),
                   "person_painted_images": len(masks), "trainer_painted_images": trainer_painted,
                   "trainer_steps": steps, "painted_pixels": int(sum((m != UNPAINTED).sum() for m in masks.values())),
                   "opened": opened, "snap": window.snap(), "model": None if snap is None else str(snap),
                   "window_work_s": {k: round(v, 1) for k, v in window.work_s.items()}, "live_starts": window.live_starts}
            rows.append(row)
            print(f"{args.policy} {args.task} round {r}: actions {row['actions']:4d}  person {row['person_s']:6.0f} s  "
                  f"painted images: person {len(masks):3d} trainer {trainer_painted:3d}  steps {steps}", flush=True)
            if r >= 2 and trainer_painted < painted_before:
                raise SystemExit(f"round {r}: the trainer reads {trainer_painted} painted images, the person had painted "
                                 f"{painted_before} a round earlier: saved masks do not reach training")
            painted_before = len(masks)
    finally:
        summary = window.stop()
    if summary and rows:
        rows[-1]["trainer_summary"] = {k: summary.get(k) for k in ("step", "train_images", "stopped", "seconds")}
    return rows


# -- scoring, after the loop ---------------------------------------------------------------------------------
def score(rows: list[dict], work: Path, scored: list, project_set: list, k: int, every: int, predict_of=None) -> None:  # noqa: ANN001
    """Val and exported-mask mIoU of each round (every ``every``-th, and the last), in place."""
    from fcn_studio.inference.predictor import Predictor

    for i, row in enumerate(rows):
        if (i + 1) % every and i != len(rows) - 1:
            continue
        with np.load(work / "models" / f"masks_r{row['round']}.npz") as z:
            masks = {n: z[n] for n in z.files}
        t = time.perf_counter()
        if predict_of is not None:  # policy d: a predict(rgb) fitted on these masks
            predict, fit = predict_of(masks)
            plain = snapped = predict
            row["fit_s"] = round(fit, 1)
        else:
            predictor = Predictor.from_checkpoint(row["model"], device="cpu")
            plain = lambda rgb: predictor.predict(rgb, want_probs=False, refine_edges=False).labels  # noqa: E731
            snapped = lambda rgb: predictor.predict(rgb, want_probs=False, refine_edges=True).labels  # noqa: E731
        cms = {"val": ConfusionMatrix(k), "val_snapped": ConfusionMatrix(k), "exported": ConfusionMatrix(k)}
        for _, rgb, lab in scored:
            cms["val"].update(torch.from_numpy(lab), torch.from_numpy(np.asarray(plain(rgb))))
            if predict_of is None:
                cms["val_snapped"].update(torch.from_numpy(lab), torch.from_numpy(np.asarray(snapped(rgb))))
        for image_id, rgb, lab in project_set:
            shown = snapped if row.get("snap") else plain
            m = masks.get(image_id)
            pred = np.asarray(shown(rgb))
            out = pred if m is None else np.where(m != UNPAINTED, m, pred)
            cms["exported"].update(torch.from_numpy(lab), torch.from_numpy(out.astype(np.uint8)))
        for key, cm in cms.items():
            if predict_of is not None and key == "val_snapped":
                continue
            s = cm.compute()
            row[f"{key}_miou"] = round(float(s.miou), 4)
            row[f"{key}_per_class"] = [None if np.isnan(v) else round(float(v), 4) for v in s.per_class_iou]
        row["score_s"] = round(time.perf_counter() - t, 1)
        print(f"round {row['round']}: val {row['val_miou']:.4f}  snapped {row.get('val_snapped_miou', '-')}  "
              f"exported {row['exported_miou']:.4f}  ({row['score_s']:.0f} s)", flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--policy", choices=("a", "b", "d"), default="a")
    ap.add_argument("--task", choices=tuple(BUDGETS), default="camvid11")
    ap.add_argument("--rounds", type=int, help="rounds after round 0 (default: the task's)")
    ap.add_argument("--tools", default="region,accept,sam",
                    help="region (region brush), accept (Accept region), sam (click to segment)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override the window's TrainConfig")
    ap.add_argument("--masks-from", type=Path, help="policy d: the --work folder of a policy-a run")
    ap.add_argument("--val-limit", type=int, help="score on the first N scored frames only (quick looks)")
    ap.add_argument("--score-every", type=int, default=1, help="score every N-th round (and the last)")
    ap.add_argument("--work", type=Path, help="keep the project, each round's model and masks here (default: a "
                                              "temporary folder, removed); policy d reads a's")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, required=True)
    add_protocol_argument(ap)
    args = ap.parse_args(argv)
    if not (args.data / "classes.json").exists():
        print(f"camvid not found at {args.data}", file=sys.stderr)
        return 2
    if args.policy == "d" and args.masks_from is None:
        ap.error("policy d needs --masks-from (the --work folder of a policy-a run)")
    torch.set_num_threads(1)
    road = args.task == "road"
    pool = train_names(args.data, args.protocol)
    train_set = [(stem(n), rgb, to_road(lab) if road else lab) for n, rgb, lab in load_split(args.data, "train", names=pool)]
    fine = {stem(n): lab for n, _, lab in load_split(args.data, "train", names=pool)}
    truth = {i: lab for i, _, lab in train_set}
    scored = [(n, rgb, to_road(lab) if road else lab) for n, rgb, lab in load_scored(args.data, args.protocol, args.val_limit)]
    k = 2 if road else 11
    labelset_json = ROAD_LABELSET if road else args.data / "classes.json"
    args.out.mkdir(parents=True, exist_ok=True)
    setup = {"policy": args.policy, "task": args.task, "tools": args.tools, "overrides": args.set, "costs_s": COSTS,
             "budgets": dict(zip(("per_round", "per_image", "accepts", "first_per_image", "rounds"), BUDGETS[args.task])),
             "brush": BRUSH, "stroke_length": STROKE_LENGTH, "seed": args.seed, "scored_images": len(scored),
             "torch": torch.__version__, "threads": torch.get_num_threads(), "affinity": sorted(os.sched_getaffinity(0)),
             "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())} | protocol_setup(args.data, args.protocol)
    work = args.work or Path(tempfile.mkdtemp(prefix="fcn-loop-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        if args.policy == "d":
            a = json.loads((args.masks_from / "rounds.json").read_text())  # a's rows, copied there by its run
            rows = [{key: row[key] for key in ("round", "actions", "actions_by_kind", "person_s", "person_painted_images",
                                               "painted_pixels", "snap")} for row in a["rounds"]]
            work = args.masks_from

            def predict_of(masks: dict) -> tuple:
                samples = [(i, next(rgb for j, rgb, _ in train_set if j == i), m) for i, m in masks.items()]
                stats, predict = convpaint(samples, 1, seed=args.seed)
                return predict, stats["train_s"]

            score(rows, work, scored, train_set, k, args.score_every, predict_of)
        else:
            rows = loop(args, pool, truth, fine, labelset_json, work)
            for target in (args.out, work):
                (target / "rounds.json").write_text(json.dumps({"rounds": rows, "setup": setup}) + "\n")
            score(rows, work, scored, train_set, k, args.score_every)
        setup["ended"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        (args.out / "rounds.json").write_text(json.dumps({"rounds": rows, "setup": setup}) + "\n")
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except SystemExit as exc:
        if isinstance(exc.code, str):  # a failed check: say it, exit 3
            print(exc.code, file=sys.stderr)
            raise SystemExit(3) from None
        raise
