"""Crash soak: SIGKILL a child painting through the editor's autosave, many times; print what survived.

    .venv/bin/python bench/crash_soak.py                 # 100 kills (about 5 minutes)
    .venv/bin/python bench/crash_soak.py --kills 20 --json bench/results/crash_soak.json

The child and the checks are those of ``tests/test_crash_safety.py`` (``tests/crash_drill.py``):
a child paints a stroke every 40-550 ms (rarely a pause), switching images now and then,
and is killed at a random moment, one kill in ten while it is still opening the project. After
each kill the project is opened and checked. Figures (issue 16): kills, saves, edits lost and
how old the oldest lost edit was, project.json entries that lagged a mask before opening
(repaired by opening), and mismatches, torn masks and unopenable projects after (targets: 0).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from crash_drill import Painters, check_after_kill, make_project, wait_for_ready  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=100)
    ap.add_argument("--images", type=int, default=4)
    ap.add_argument("--size", default="600x800", help="image size HxW (default 600x800)")
    ap.add_argument("--max-delay", type=float, default=5.0, help="kill at most this many seconds after painting starts")
    ap.add_argument("--bound", type=float, default=3.0, help="lost edits must be younger than this (s)")
    ap.add_argument("--seed", type=int, default=16)
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args(argv)
    h, w = (int(v) for v in args.size.lower().split("x"))
    rng = random.Random(args.seed)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="crash-soak-") as tmp:
        root = Path(tmp) / "proj"
        make_project(root, n_images=args.images, size=(h, w))
        saved: dict[str, int] = {}
        rounds = []
        early = 0
        with Painters() as painters:
            for i in range(args.kills):
                log = Path(tmp) / f"kill{i}.log"
                pid = painters.start(root, log, seed=args.seed * 1000 + i)
                if rng.random() < 0.1:
                    early += 1
                    time.sleep(rng.uniform(0.0, 0.3))
                elif wait_for_ready(log) is None:
                    print(f"kill {i + 1}: the child never started painting", file=sys.stderr)
                else:
                    time.sleep(rng.uniform(0.0, args.max_delay))
                killed_at = painters.kill(pid)
                res = check_after_kill(root, log, killed_at, saved, bound_s=args.bound)
                rounds.append(res)
                for problem in res.problems:
                    print(f"kill {i + 1}: {problem}", file=sys.stderr)
    windows = [r.lost_window_s for r in rounds if r.lost_edits]
    figures = {
        "kills": len(rounds),
        "kills_while_opening": early,
        "edits": sum(r.edits for r in rounds),
        "saves": sum(r.saves for r in rounds),
        "edits_saved": sum(saved.values()),
        "lost_edits": sum(r.lost_edits for r in rounds),
        "lost_edits_max_per_kill": max((r.lost_edits for r in rounds), default=0),
        "oldest_lost_edit_s_median": round(statistics.median(windows), 2) if windows else 0.0,
        "oldest_lost_edit_s_max": round(max(windows), 2) if windows else 0.0,
        "project_json_behind_a_mask_before_open": sum(r.stale_before_open for r in rounds),
        "mismatches_after_open": sum(r.mismatches for r in rounds),
        "torn_masks": sum(r.torn_masks for r in rounds),
        "projects_that_did_not_open": sum(1 for r in rounds if not r.opened),
        "kills_with_problems": sum(1 for r in rounds if r.problems),
        "image_size": f"{w}x{h}",
        "images": args.images,
        "seconds": round(time.monotonic() - started, 1),
    }
    for key, value in figures.items():
        print(f"{key:42s} {value}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1) + "\n")
    return 1 if figures["kills_with_problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
