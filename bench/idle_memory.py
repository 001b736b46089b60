"""Memory of an idle window on a trained project: the window and its child processes.

    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/idle_memory.py [--seconds 25] [--old]

Opens the demo project with a saved model (the default trunk, EfficientNet-Lite0 FCN-4s),
waits ``--seconds`` with nothing done (the prediction process loads the model and predicts
the image on screen), then sums each process's resident (RSS) and proportional (PSS: shared
pages split between the processes that map them) memory from ``/proc/<pid>/smaps_rollup``.
``--old`` starts the spare training process as the window used to (at launch, whatever the
project); without it the spare waits for the first edit of a project that has a model.
Prints a table and a last line of JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def memory_kib(pid: int) -> dict[str, int]:
    out = {"rss": 0, "pss": 0}
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("Rss", "Pss"):
                out[key.lower()] = int(rest.split()[0])
    except OSError:
        pass
    return out


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return found + [g for c in found for g in children(c)]


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:80]
    except OSError:
        return "?"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=25.0)
    ap.add_argument("--old", action="store_true", help="start the spare trainer at launch, as before")
    args = ap.parse_args(argv)

    import torch
    from PySide6.QtCore import QSettings

    from fcn_studio.data.checkpoint_files import PROJECT_CHECKPOINT
    from fcn_studio.data.demo import create_demo_project
    from fcn_studio.gui.launch import make_app
    from fcn_studio.gui.main_window import MainWindow
    from fcn_studio.gui.screenshots import settle
    from fcn_studio.models.builder import build_model
    from fcn_studio.models.checkpoint import save_checkpoint

    app = make_app()
    with tempfile.TemporaryDirectory() as tmp:
        project = create_demo_project(Path(tmp) / "demo", n_images=8, n_labelled=3, seed=0)
        model = build_model("efficientnet_lite0", "fcn4s", num_classes=project.labelset.num_classes, weights="imagenet")
        ckpt = project.path_of(PROJECT_CHECKPOINT)
        ckpt.parent.mkdir(exist_ok=True)
        save_checkpoint(ckpt, model, labelset=project.labelset, backbone="efficientnet_lite0", variant="fcn4s",
                        normalization=model.normalization, summary={"input_scale": 0.5, "train_images": 3})
        del model
        torch.cuda.empty_cache()
        window = MainWindow(project, QSettings(str(Path(tmp) / "s.ini"), QSettings.Format.IniFormat))
        window.show()
        if args.old:
            window.training.controller.prewarm()
        end = time.monotonic() + args.seconds
        while time.monotonic() < end:
            settle(200)
        # this process imported torch to write the checkpoint; the window itself never does:
        # its share is measured by a fresh process in the real app, so report children apart
        rows = [(pid, cmdline(pid), memory_kib(pid)) for pid in children(os.getpid())]
        window.close()
    app.quit()
    total = {k: sum(r[2][k] for r in rows) for k in ("rss", "pss")}
    for pid, cmd, mem in rows:
        print(f"{pid:7d}  RSS {mem['rss'] / 1024:7.0f} MiB  PSS {mem['pss'] / 1024:7.0f} MiB  {cmd}")
    print(f"children: {len(rows)} processes, RSS {total['rss'] / 1024:.0f} MiB, PSS {total['pss'] / 1024:.0f} MiB"
          f" ({'spare at launch' if args.old else 'spare at first edit'})")
    print(json.dumps({"old": args.old, "children": len(rows), "rss_mib": round(total["rss"] / 1024),
                      "pss_mib": round(total["pss"] / 1024),
                      "processes": [{"cmd": c, "rss_mib": round(m["rss"] / 1024), "pss_mib": round(m["pss"] / 1024)}
                                    for _, c, m in rows]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
