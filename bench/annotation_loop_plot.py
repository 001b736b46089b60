"""The annotation-loop curves: what a person takes home against their actions and their minutes.

Reads the ``rounds.json`` files ``bench/annotation_loop.py`` wrote into a sitting's folder
(sub-folders ``<policy><task suffix>``: ``a11``, ``b11``, ``c11``, ``d11``, ``a_road``, ...) and
writes ``loop_curves.png`` (per task: val mIoU and exported-mask mIoU, against actions and
against the person's minutes) and ``loop_table.md`` beside them.

    python bench/annotation_loop_plot.py bench/results/annotation_loop
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

#: run -> legend label, in drawing order (runs that are absent are skipped)
RUNS = {
    "a": "(a) Paint next + corrections, every tool",
    "b": "(b) the same tools, random images and places",
    "c": "(c) (a) without click-to-segment",
    "d": "(d) napari-convpaint's method on (a)'s masks",
}
TASKS = {"11": "camvid11", "_road": "road"}
#: (actions, val target, exported actions, exported target) per task (issue 32)
TARGETS = {"camvid11": (200, 0.45, 400, 0.65), "road": (30, 0.92, 60, 0.95)}


def load(folder: Path) -> dict[str, dict[str, dict]]:
    """{task: {run: rounds.json}} for the runs present."""
    out: dict[str, dict[str, dict]] = {}
    for suffix, task in TASKS.items():
        for run in RUNS:
            f = folder / f"{run}{suffix}" / "rounds.json"
            if f.exists():
                out.setdefault(task, {})[run] = json.loads(f.read_text())
    return out


def _cell(row: dict) -> str:
    if "val_miou" not in row:
        return f"{row['actions']} / {row['person_s'] / 60:.1f} / -"
    return f"{row['actions']} / {row['person_s'] / 60:.1f} / {row['val_miou']:.3f} / {row['exported_miou']:.3f}"


def table(task: str, runs: dict[str, dict]) -> str:
    names = list(runs)
    head = "| round | " + " | ".join(f"{n}: actions / minutes / val / exported" for n in names) + " |"
    lines = [f"**{task}** (val: mIoU on the protocol's scored frames; exported: the project's merged masks "
             "against its ground truth)", "", head, "|" + "---|" * (len(names) + 1)]
    depth = max(len(r["rounds"]) for r in runs.values())
    for i in range(depth):
        cells = [(_cell(runs[n]["rounds"][i]) if i < len(runs[n]["rounds"]) else "") for n in names]
        lines.append(f"| {i + 1} | " + " | ".join(cells) + " |")
    painted = {n: [(r.get("person_painted_images"), r.get("trainer_painted_images")) for r in runs[n]["rounds"]]
               for n in names if runs[n]["rounds"] and "trainer_painted_images" in runs[n]["rounds"][0]}
    for n, pairs in painted.items():
        lines.append("")
        lines.append(f"{n}: painted images, person / trainer, per round: " + ", ".join(f"{p}/{t}" for p, t in pairs))
    return "\n".join(lines)


def _first_reaching(rows: list[dict], key: str, level: float) -> int | None:
    """Actions at the first scored round whose ``key`` is at least ``level`` (None: never)."""
    return next((r["actions"] for r in rows if key in r and r[key] >= level), None)


def _best_within(rows: list[dict], key: str, actions: int) -> float | None:
    scored = [r[key] for r in rows if key in r and r["actions"] <= actions]
    return max(scored) if scored else None


def verdicts(task: str, runs: dict[str, dict]) -> str:
    """The issue's targets and comparisons, said plainly from the round files."""
    t_val, y_val, t_exp, y_exp = TARGETS[task]
    rows = {n: r["rounds"] for n, r in runs.items()}
    lines = [f"**{task}: targets and comparisons**", ""]
    for n in rows:
        for key, t, y, what in (("val_miou", t_val, y_val, "val"), ("exported_miou", t_exp, y_exp, "exported")):
            best = _best_within(rows[n], key, t)
            first = _first_reaching(rows[n], key, y)
            lines.append(f"- ({n}) {what}: best within {t} actions {best if best is None else f'{best:.3f}'} "
                         f"(target {y}); first at or above it: {'never' if first is None else f'{first} actions'}")
    for fast, slow in (("a", "b"), ("a", "c")):
        if fast in rows and slow in rows:
            for key, what in (("val_miou", "val"), ("exported_miou", "exported")):
                last = next((r for r in reversed(rows[slow]) if key in r), None)
                if last is None:
                    continue
                first = _first_reaching(rows[fast], key, last[key])
                half = last["actions"] / 2
                verdict = "never" if first is None else f"after {first} actions"
                ok = first is not None and first <= half
                lines.append(f"- ({fast}) reaches ({slow})'s final {what} {last[key]:.3f} ({last['actions']} actions) "
                             f"{verdict}: {'within' if ok else 'not within'} half ({half:.0f})")
    if "a" in rows and "d" in rows:
        for key, what in (("val_miou", "val"), ("exported_miou", "exported")):
            pairs = [(ra, rd) for ra, rd in zip(rows["a"], rows["d"]) if key in ra and key in rd]
            ahead = sum(ra[key] > rd[key] for ra, rd in pairs)
            lines.append(f"- (a) ahead of (d) on {what} in {ahead} of {len(pairs)} scored rounds")
    lines.append("")
    lines.append("Actions by kind at the last round (what each tool was used for):")
    for n, r in rows.items():
        kinds = r[-1].get("actions_by_kind", {})
        lines.append(f"- ({n}) {r[-1]['actions']} actions: " + ", ".join(f"{k} {v}" for k, v in kinds.items() if v))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder", type=Path)
    args = ap.parse_args(argv)
    data = load(args.folder)
    if not data:
        print(f"no rounds.json under {args.folder}")
        return 1
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(data), 4, figsize=(22, 4.6 * len(data)), squeeze=False)
    for row_axes, (task, runs) in zip(axes, data.items()):
        t_val, y_val, t_exp, y_exp = TARGETS[task]
        title = "11 CamVid classes" if task == "camvid11" else "road vs not road"
        for ax, key, x_key, target in zip(row_axes, ("val_miou", "val_miou", "exported_miou", "exported_miou"),
                                          ("actions", "person_s", "actions", "person_s"),
                                          ((t_val, y_val), None, (t_exp, y_exp), None)):
            for run, result in runs.items():
                rows = [r for r in result["rounds"] if key in r]
                xs = [r[x_key] / (60 if x_key == "person_s" else 1) for r in rows]
                ax.plot(xs, [r[key] for r in rows], marker="o", ms=4, label=RUNS[run])
            if target is not None:
                ax.plot([target[0]], [target[1]], marker="*", ms=14, color="gold", mec="black", ls="none",
                        label=f"target: {target[1]} within {target[0]} actions")
            what = "new street (val)" if key == "val_miou" else "exported masks of the project"
            ax.set_title(f"{title}: {what}", fontsize=10)
            ax.set_xlabel("a person's actions" if x_key == "actions" else "a person's minutes (one CPU core)")
            ax.set_ylabel("mIoU")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7, loc="lower right")
    fig.suptitle("fcn-studio's annotation loop on the window's path: Live trains while the person paints", fontsize=11)
    fig.tight_layout()
    fig.savefig(args.folder / "loop_curves.png", dpi=100)
    text = "\n\n".join(table(task, runs) + "\n\n" + verdicts(task, runs) for task, runs in data.items())
    (args.folder / "loop_table.md").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
