"""Training and inference speed of VGG16 FCN-8s at 360x480, against torchvision's FCN-ResNet50.

Both models run in the same process on the same device with the trainer's settings: on CUDA
bf16 autocast, channels_last and fused AdamW; on a CPU fp32 (bf16 is slower than fp32 on CPUs
without AMX). Each step's FLOPs are counted once with ``torch.utils.flop_counter`` and divided
by the measured step time, and compared with the machine's measured matmul peak (a 4096^3 or
8192^3 GEMM in the same dtype), so the "fraction of peak" is against what this machine
actually reaches, not a datasheet.

    python bench/train_speed.py                 # GPU if there is one, else CPU
    python bench/train_speed.py --minutes 0.5 --batch 1 --device cpu

Prints a line per (model, mode) and a last line of JSON.
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

from fcn_studio.models.device import autocast, pick_device  # noqa: E402


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def matmul_peak(device: torch.device, dtype: torch.dtype, seconds: float = 2.0) -> float:
    """Measured FLOP/s of a large square GEMM in ``dtype``."""
    n = 8192 if device.type == "cuda" else 2048
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    a @ b
    sync(device)
    t, reps = time.perf_counter(), 0
    while time.perf_counter() - t < seconds or reps < 3:
        a @ b
        reps += 1
        if device.type == "cuda" and reps % 10 == 0:
            sync(device)
    sync(device)
    return 2 * n**3 * reps / (time.perf_counter() - t)


class TorchvisionOut(torch.nn.Module):
    """torchvision segmentation models return {"out": ...}; unwrap for a uniform interface."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)["out"]


def build(name: str, num_classes: int) -> torch.nn.Module:
    if name == "vgg16-fcn8s":
        from fcn_studio.models import build_model

        return build_model("vgg16", "fcn8s", num_classes=num_classes, weights=None)
    if name == "fcn_resnet50":
        from torchvision.models.segmentation import fcn_resnet50

        return TorchvisionOut(fcn_resnet50(weights=None, weights_backbone=None, num_classes=num_classes, aux_loss=False))
    raise ValueError(name)


def count_flops(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, train: bool) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as fc:
        if train:
            F.cross_entropy(model(x).float(), y).backward()
            model.zero_grad(set_to_none=True)
        else:
            with torch.no_grad():
                model(x)
    return int(fc.get_total_flops())


def measure(model: torch.nn.Module, device: torch.device, batch: int, hw: tuple[int, int], train: bool,
            seconds: float, amp: bool, channels_last: bool) -> dict:
    torch.manual_seed(0)
    x = torch.randn(batch, 3, *hw, device=device)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 11, (batch, *hw), device=device)
    flops = count_flops(model, x, y, train)
    opt = None
    if train:
        model.train()
        try:
            opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
        except (RuntimeError, TypeError):
            opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    else:
        model.eval()

    def step() -> None:
        if train:
            with autocast(device, amp):
                out = model(x)
            loss = F.cross_entropy(out.float(), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        else:
            with torch.inference_mode(), autocast(device, amp):
                model(x)

    for _ in range(2 if device.type == "cpu" else 5):  # warm-up (cuDNN autotune, allocator)
        step()
    sync(device)
    t, steps = time.perf_counter(), 0
    while time.perf_counter() - t < seconds or steps < 2:
        step()
        steps += 1
    sync(device)
    dt = (time.perf_counter() - t) / steps
    return {"images_per_s": batch / dt, "step_s": dt, "flops_per_step": flops, "achieved_flops": flops / dt, "steps": steps}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--minutes", type=float, default=1.0, help="total measuring time, split over models and modes")
    ap.add_argument("--batch", type=int, help="batch size (default: 8 on GPU, 1 on CPU)")
    ap.add_argument("--size", default="360x480", help="HxW")
    ap.add_argument("--models", default="vgg16-fcn8s,fcn_resnet50")
    ap.add_argument("--threads", type=int)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    cuda = device.type == "cuda"
    if cuda:
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    hw = tuple(int(v) for v in args.size.lower().split("x"))
    batch = args.batch or (8 if cuda else 1)
    dtype = torch.bfloat16 if cuda else torch.float32
    peak = matmul_peak(device, dtype)
    names = [m.strip() for m in args.models.split(",") if m.strip()]
    per = args.minutes * 60.0 / (2 * len(names))
    results: dict = {"device": torch.cuda.get_device_name(device) if cuda else f"CPU ({torch.get_num_threads()} threads)",
                     "dtype": str(dtype).replace("torch.", ""), "matmul_peak_tflops": peak / 1e12, "batch": batch, "size": list(hw)}
    for name in names:
        model = build(name, 11).to(device)
        if cuda:
            model = model.to(memory_format=torch.channels_last)
        for mode in ("train", "infer"):
            r = measure(model, device, batch, hw, mode == "train", per, amp=cuda, channels_last=cuda)
            r["fraction_of_peak"] = r["achieved_flops"] / peak
            results[f"{name}:{mode}"] = r
            print(f"{name:13s} {mode:5s} {r['images_per_s']:8.2f} img/s  {r['achieved_flops'] / 1e12:7.3f} TFLOP/s  "
                  f"{r['fraction_of_peak']:6.1%} of measured {results['dtype']} matmul peak ({peak / 1e12:.2f} TFLOP/s)", flush=True)
        del model
        if cuda:
            torch.cuda.empty_cache()
    if len(names) == 2:
        a, b = names
        for mode in ("train", "infer"):
            results[f"ratio:{mode}"] = results[f"{a}:{mode}"]["images_per_s"] / results[f"{b}:{mode}"]["images_per_s"]
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
