"""Click-to-segment as the window sees it: through the prediction process (issue 33's targets).

Measures, on one CamVid val frame and on a 6000x4000 photo-sized copy of it:

* the prediction process's resident memory with the project model loaded, before and after
  MobileSAM is loaded and holds embeddings (target: at most 0.5 GB more);
* an image opened cold: the embedding round trip (target: <= 2.5 s on one core);
* a click to its mask in the window's hands (the round trip, full-resolution mask; target <= 150 ms).

    taskset -c 1 python bench/click_segment_process.py --model strokes10.fcnckpt [--threads 1]

The child inherits the CPU affinity; ``--threads`` sets its torch threads (OMP_NUM_THREADS).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from fcn_studio.inference.messages import SegmentClicks  # noqa: E402
from fcn_studio.inference.prediction_process import RemotePredictor  # noqa: E402

DATA = REPO.parent / "shared" / "datasets" / "camvid"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--frame", type=Path, default=DATA / "val" / "0016E5_07959.png")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--clicks", type=int, default=10)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # the spawned child's torch threads
    image = np.array(Image.open(args.frame).convert("RGB"))
    big = cv2.resize(image, (6000, 4000), interpolation=cv2.INTER_CUBIC)
    remote = RemotePredictor()
    out: dict = {"threads": args.threads, "affinity": sorted(os.sched_getaffinity(0))}
    try:
        remote.load(args.model)
        remote.predict(image)
        pid = remote._process.pid  # noqa: SLF001 - the bench looks at the child from outside
        out["rss_model_mb"] = rss_mb(pid)
        t = time.perf_counter()
        remote.embed("nothing")  # loads MobileSAM in the child (once per process), embeds nothing
        out["sam_load_s"] = time.perf_counter() - t
        for name, img in (("camvid_480x360", image), ("photo_6000x4000", big)):
            t = time.perf_counter()
            remote.embed(name, img)
            out[f"{name}_embed_round_trip_s"] = time.perf_counter() - t
            h, w = img.shape[:2]
            times = []
            rng = np.random.default_rng(0)
            for i in range(args.clicks):
                x, y = float(rng.integers(w // 4, 3 * w // 4)), float(rng.integers(h // 3, 3 * h // 4))
                t = time.perf_counter()
                seg = remote.segment(SegmentClicks(name, ((x, y),), (1,)), lambda: img)
                if seg.box is not None:  # the window rebuilds nothing bigger than the box
                    _ = seg.inside.sum()
                times.append(time.perf_counter() - t)
            out[f"{name}_click_round_trip_s_median"] = float(np.median(times[1:]))  # the first warms up
            out[f"{name}_click_round_trip_s_max"] = float(np.max(times[1:]))
        out["rss_with_sam_mb"] = rss_mb(pid)
        out["rss_added_by_sam_mb"] = out["rss_with_sam_mb"] - out["rss_model_mb"]
    finally:
        remote.close()
    print(json.dumps(out, indent=1))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
