"""Markdown table of ``bench/fcn_variants.sh``'s runs: mIoU, thin-class IoU, train and inference speed.

    python bench/fcn_variants_table.py bench/results/fcn_variants
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

#: CamVid's thin and small classes (indices into its 11 trainable classes).
THIN = {"pole": 2, "sign": 6, "fence": 7, "pedestrian": 9, "bicyclist": 10}


def thin_mean(per_class: list[float | None]) -> float:
    """Mean IoU of pole, sign, fence, pedestrian and bicyclist (absent classes count 0)."""
    return sum(per_class[i] or 0.0 for i in THIN.values()) / len(THIN)


def main(folder: str) -> int:
    rows = ["| trunk | variant | mIoU | thin-class IoU | pole / sign / fence / ped. / bicyclist | train img/s | infer img/s | steps |",
            "|---|---|---|---|---|---|---|---|"]
    files = [json.loads(p.read_text()) for p in Path(folder).glob("*.json")]
    runs = [f["fcn-studio"] for f in files]
    protocols = {f["setup"].get("protocol", "same-drive (written before protocols were named)") for f in files}
    print("Protocol: " + ", ".join(sorted(protocols)) + "\n")
    order = {"fcn32s": 0, "fcn16s": 1, "fcn8s": 2, "fcn4s": 3}
    for r in sorted(runs, key=lambda r: (r["recipe"]["backbone"], order.get(r["recipe"]["variant"], 9))):
        pc = r["per_class_iou"]
        backbone, variant = r["recipe"]["backbone"], r["recipe"]["variant"]
        rows.append(f"| {backbone} | {variant} | {r['miou']:.3f} | {thin_mean(pc):.3f} | "
                    + " / ".join(f"{pc[i] or 0:.2f}" for i in THIN.values())
                    + f" | {r['images_per_s']:.2f} | {r['infer_images_per_s']:.2f} | {r['steps']} |")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1] if len(sys.argv) > 1 else "bench/results/fcn_variants"))
