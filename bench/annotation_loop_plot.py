"""The annotation-loop curves: mIoU on the unseen drive against a person's actions.

Reads the ``rounds.json`` files ``bench/annotation_loop.py`` wrote into a sitting's folder and
writes ``loop_curves.png`` (one panel per task) and ``loop_table.md`` (a Markdown table per
task, one row per round) beside them.

    python bench/annotation_loop_plot.py bench/results/annotation_loop
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

#: run folder -> legend label, in drawing order (runs that are absent are skipped)
RUNS = {
    "a": "(a) Paint next + strokes where wrong (region brush)",
    "b": "(b) random images, random places (region brush)",
    "c": "(c) napari-convpaint method on (a)'s masks",
    "a_accept": "(a) + Accept region clicks",
    "a_no_region": "(a) with the plain brush",
}
TASKS = {"11": "camvid11", "_road": "road"}


def load(folder: Path) -> dict[str, dict[str, dict]]:
    """{task: {run: rounds.json}} for the runs present."""
    out: dict[str, dict[str, dict]] = {}
    for suffix, task in TASKS.items():
        for run in RUNS:
            name = f"{run}{suffix}" if "_" not in run else run.replace("a_", f"a{suffix}_", 1)
            f = folder / name / "rounds.json"
            if f.exists():
                out.setdefault(task, {})[run] = json.loads(f.read_text())
    return out


def table(task: str, runs: dict[str, dict]) -> str:
    names = list(runs)
    head = ("| round | " + " | ".join(f"{n}: actions / train s / mIoU" + (" (snapped)" if n != "c" else "") for n in names) + " |")
    lines = [f"**{task}**", "", head, "|" + "---|" * (len(names) + 1)]
    depth = max(len(r["rounds"]) for r in runs.values())
    for i in range(depth):
        cells = []
        for n in names:
            rows = runs[n]["rounds"]
            if i >= len(rows):
                cells.append("")
                continue
            r = rows[i]
            snapped = f" ({r['miou_snapped']:.3f})" if r.get("miou_snapped") is not None else ""
            cells.append(f"{r['actions']} / {r['train_s_total']:.0f} / {r['miou']:.3f}{snapped}")
        lines.append(f"| {i} | " + " | ".join(cells) + " |")
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

    fig, axes = plt.subplots(1, len(data), figsize=(6.5 * len(data), 4.6), squeeze=False)
    targets = {"camvid11": (200, 0.55), "road": (30, 0.92)}
    for ax, (task, runs) in zip(axes[0], data.items()):
        for run, result in runs.items():
            rows = result["rounds"]
            style = "--" if run.startswith("a_") else "-"
            ax.plot([r["actions"] for r in rows], [r["miou"] for r in rows], style, marker="o", ms=4, label=RUNS[run])
        x, y = targets[task]
        ax.plot([x], [y], marker="*", ms=14, color="gold", mec="black", ls="none", label=f"target: {y} within {x} actions")
        ax.set_title(f"{'11 CamVid classes' if task == 'camvid11' else 'road vs not road'}: unseen drive (101 val frames)")
        ax.set_xlabel("a person's actions (strokes + clicks)")
        ax.set_ylabel("mIoU")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7.5, loc="upper left")
    fig.suptitle("fcn-studio's paint → train (60 s, one CPU core) → correct loop", fontsize=11)
    fig.tight_layout()
    fig.savefig(args.folder / "loop_curves.png", dpi=110)
    text = "\n\n".join(table(task, runs) for task, runs in data.items())
    (args.folder / "loop_table.md").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
