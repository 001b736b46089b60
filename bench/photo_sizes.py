#!/usr/bin/env python
"""How long one prediction takes at real photo sizes and label-set sizes, edges snapped or not.

The numbers behind issue 34 item 1: 480x360, 1920x1080 and 4000x3000 images with 2, 11 and 19
classes (road, CamVid-11, Cityscapes-19), through ``Predictor.predict`` as the window and
*Predict all* call it (float16 probabilities kept). The model is a ResNet-18 FCN-4s with random
weights (its answer does not matter here, only the work), and its checkpoint's working size is
a CamVid project's (480x360 at scale 0.5), so the network's own cost is about the same at every
size: what grows with the photo is the upsampling, the softmax, the snap and the rounding to
float16, which is what this measures. Run it pinned to one core for numbers to compare:

    taskset -c 1 python bench/photo_sizes.py            # one torch thread, 3 repeats
    python bench/photo_sizes.py --repeats 1 --sizes 1080x1920
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fcn_studio.data.labelset import load_preset  # noqa: E402
from fcn_studio.inference.predictor import Predictor  # noqa: E402
from fcn_studio.models import build_model  # noqa: E402

PRESETS = ("road", "camvid11", "cityscapes19")


def scene(h: int, w: int) -> np.ndarray:
    """A photo-sized image with an edge and some texture (the snap's cost does not depend on content)."""
    rng = np.random.default_rng(0)
    image = rng.integers(40, 80, (h, w, 3), dtype=np.uint8)
    image[:, : w * 45 // 100, 0] = 200
    return image


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="360x480,1080x1920,3000x4000", help="HxW,... (default: %(default)s)")
    parser.add_argument("--presets", default=",".join(PRESETS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
    print(f"torch {torch.__version__}, {args.threads} thread(s); median of {args.repeats} (seconds)")
    print(f"{'label set':<14}{'classes':>8}{'size':>12}{'snap off':>10}{'snap on':>10}")
    for name in args.presets.split(","):
        labelset = load_preset(name)
        torch.manual_seed(0)
        model = build_model("resnet18", "fcn4s", num_classes=labelset.num_classes, weights=None)
        predictor = Predictor(model, labelset, scale=0.5, device="cpu", working_pixels=480 * 360 // 4)
        for h, w in sizes:
            image = scene(h, w)
            times = {}
            for snap in (False, True):
                runs = []
                for _ in range(args.repeats):
                    t0 = time.perf_counter()
                    try:
                        predictor.predict(image, want_probs=True, refine_edges=snap)
                    except Exception:  # noqa: BLE001 - an older version's failure is a result too
                        runs = []
                        break
                    runs.append(time.perf_counter() - t0)
                times[snap] = f"{statistics.median(runs):.2f}" if runs else "failed"
            print(f"{name:<14}{labelset.num_classes:>8}{f'{w}x{h}':>12}{times[False]:>10}{times[True]:>10}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
