"""Does channels_last make training and inference faster on this CPU? Per backbone, same run.

    .venv/bin/python bench/memory_format.py [--threads 1] [--repeats 4]

For each model: one training step (forward, cross-entropy, backward, AdamW) on a batch of
crops the size the trainer uses on a CPU, and one inference at the demo's 360x480, each
timed in both memory formats after two warm-up calls. ``TrainConfig.use_channels_last``
follows what this measures (on: MobileNetV3, ResNet; off: VGG16). Last line: JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fcn_studio.models import build_model  # noqa: E402
from fcn_studio.training.optim import quicken_batchnorm  # noqa: E402

CASES = [  # backbone, variant, (h, w), batch, train?
    ("mobilenet_v3_large", "fcn8s", (192, 192), 4, True),
    ("mobilenet_v3_large", "fcn8s", (360, 480), 1, False),
    ("resnet18", "fcn8s", (192, 192), 4, True),
    ("resnet18", "fcn8s", (360, 480), 1, False),
    ("vgg16", "fcn8s", (128, 128), 2, True),
    ("vgg16", "fcn8s", (360, 480), 1, False),
]


def time_ms(backbone: str, variant: str, hw: tuple[int, int], batch: int, train: bool, channels_last: bool, repeats: int) -> float:
    torch.manual_seed(0)
    model = build_model(backbone, variant, num_classes=5, weights=None)
    quicken_batchnorm(model)
    x, y = torch.randn(batch, 3, *hw), torch.randint(0, 5, (batch, *hw))
    if channels_last:
        model, x = model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), 1e-3)
    model.train(train)
    for i in range(2 + repeats):
        if i == 2:
            t0 = time.perf_counter()
        if train:
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        else:
            with torch.inference_mode():
                model(x)
    return (time.perf_counter() - t0) / repeats * 1000


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=4)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = []
    for backbone, variant, hw, batch, train in CASES:
        contiguous = time_ms(backbone, variant, hw, batch, train, False, args.repeats)
        cl = time_ms(backbone, variant, hw, batch, train, True, args.repeats)
        rows.append({"model": f"{backbone}-{variant}", "mode": "train" if train else "infer", "size": list(hw), "batch": batch,
                     "contiguous_ms": round(contiguous, 1), "channels_last_ms": round(cl, 1), "speedup": round(contiguous / cl, 3)})
        r = rows[-1]
        print(f"{r['model']:24s} {r['mode']:5s} {hw[0]}x{hw[1]} b{batch}: contiguous {contiguous:7.1f} ms, channels_last {cl:7.1f} ms, x{r['speedup']:.2f}", flush=True)
    print(json.dumps({"threads": args.threads, "torch": torch.__version__, "rows": rows}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
