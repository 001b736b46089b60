"""Markdown table of bench/scribbles.py results (one or more JSON files from one sitting).

    python bench/scribbles_table.py bench/results/scribbles_fcn_studio.json bench/results/scribbles_peers.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

PEERS = ("fcn-studio-random", "lite0-ce", "convpaint", "lraspp", "skimage-rf")


def main(paths: list[str]) -> int:
    results: dict = {}
    protocols = set()
    for p in paths:
        data = json.loads(Path(p).read_text())
        setup = data.pop("setup", {})
        protocols.add(f"{setup.get('protocol', 'same-drive')}: {setup.get('protocol_means', 'all train frames (written before protocols were named)')}")
        results.update(data)
    print("Protocol " + "; ".join(sorted(protocols)) + (" (files of different protocols: do not compare)" if len(protocols) > 1 else ""))
    rows = sorted({tuple(k.split(":")[:2]) for k in results}, key=lambda r: (r[0] != "camvid11", int(r[1])))
    for task, n in rows:
        methods = {k.split(":")[2]: v for k, v in results.items() if k.startswith(f"{task}:{n}:")}
        names = list(next(iter(methods.values()))["per_class_iou"])
        print(f"\n**{task}, {n} scribbled images**\n")
        print("| method | mIoU | snapped to edges | " + " | ".join(names) + " | train img/s | infer img/s |")
        print("|---" * (len(names) + 5) + "|")
        for m, r in methods.items():
            cells = " | ".join("-" if r["per_class_iou"][c] is None else f"{r['per_class_iou'][c]:.2f}" for c in names)
            snapped = f"{r['miou_snapped']:.3f}" if "miou_snapped" in r else "-"
            print(f"| {m} | **{r['miou']:.3f}** | {snapped} | {cells} | {r['images_per_s']:.2f} | {r['infer_images_per_s']:.1f} |")
        ours = methods.get("fcn-studio")
        peers = [m for m in PEERS if m in methods]
        for m in peers:
            if ours:
                print(f"\nfcn-studio / {m}: x{ours['miou'] / max(methods[m]['miou'], 1e-9):.2f}", end="")
        print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
