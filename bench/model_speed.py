#!/usr/bin/env python
"""How fast is each model, and how close to the machine's peak does it run?

For every backbone x variant and input size: parameters, GFLOPs of one forward pass
(counted by ``torch.utils.flop_counter.FlopCounterMode``), forward and forward+backward
time (batch 1), and the achieved fraction of the machine's peak, where the peak is measured
in the same run with a large matrix multiply. On a GPU the models run under bf16 autocast in
channels_last layout; on a CPU in float32.

It also times the bare VGG16 trunk and prints the FCN-8s/trunk ratio, the price of the FCN
head (score layers, deconvolutions, padding to a multiple of 32): the target is <= 1.3x.

    python bench/model_speed.py                 # everything, on cuda if present
    python bench/model_speed.py --quick         # fcn8s only, one size, fewer repeats
    python bench/model_speed.py --sizes 360x480 --device cpu --backbones resnet18,vgg16
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fcn_studio.models import build_model, list_models  # noqa: E402


@dataclass
class Row:
    """One printed line: a model at one size."""

    name: str
    hw: tuple[int, int]
    params_m: float
    gflops: float
    fwd_ms: float
    train_ms: float | None
    peak_tflops: float

    HEADER = (
        f"{'model':32s} {'size':>9s} {'params':>8s} {'GFLOPs':>8s} "
        f"{'fwd ms':>9s} {'%peak':>6s} {'fwd+bwd ms':>11s} {'%peak':>6s}"
    )

    def frac(self, ms: float | None, mult: float = 1.0) -> str:
        """Achieved share of the measured peak: ``mult * GFLOPs / time / peak``."""
        if ms is None or ms <= 0:
            return "-"
        achieved_tflops = mult * self.gflops / (ms * 1e-3) / 1e3
        return f"{100 * achieved_tflops / self.peak_tflops:5.1f}%"

    def line(self) -> str:
        size = f"{self.hw[0]}x{self.hw[1]}"
        train = "-" if self.train_ms is None else f"{self.train_ms:.1f}"
        # A backward pass costs about twice the forward's FLOPs: fwd+bwd ~ 3x GFLOPs.
        train_frac = self.frac(self.train_ms, 3.0)
        return (
            f"{self.name:32s} {size:>9s} {self.params_m:7.1f}M {self.gflops:8.1f} "
            f"{self.fwd_ms:9.1f} {self.frac(self.fwd_ms):>6s} {train:>11s} {train_frac:>6s}"
        )


def parse_size(text: str) -> tuple[int, int]:
    h, w = text.lower().split("x")
    return int(h), int(w)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def autocast(device: torch.device) -> contextlib.AbstractContextManager:
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def timed(
    fn: Callable[[], object], device: torch.device, reps: int, warmup: int, best: bool = False
) -> float:
    """Median (or best) milliseconds of ``fn`` after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        sync(device)
        times.append((time.perf_counter() - start) * 1e3)
    return min(times) if best else statistics.median(times)


def measure_peak(device: torch.device, quick: bool) -> float:
    """Best achieved TFLOP/s of a large matmul: the practical peak models are compared to
    (in the models' dtype: bf16 on a GPU, float32 on a CPU)."""
    n = 8192 if device.type == "cuda" else (2048 if quick else 3072)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    ms = timed(lambda: a @ b, device, reps=10 if device.type == "cuda" else 5, warmup=2, best=True)
    return 2 * n**3 / (ms * 1e-3) / 1e12


def count_gflops(model: nn.Module, x: torch.Tensor) -> float:
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    return counter.get_total_flops() / 1e9


def prepare(model: nn.Module, device: torch.device) -> nn.Module:
    model = model.to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    return model


def make_input(hw: tuple[int, int], device: torch.device) -> torch.Tensor:
    x = torch.randn(1, 3, *hw, device=device)
    return x.contiguous(memory_format=torch.channels_last) if device.type == "cuda" else x


def bench_model(
    model: nn.Module,
    hw: tuple[int, int],
    device: torch.device,
    reps: int,
    warmup: int,
    train: bool,
    best: bool = False,
) -> tuple[float, float | None]:
    x = make_input(hw, device)
    model.eval()

    def forward() -> None:
        with torch.no_grad(), autocast(device):
            model(x)

    fwd = timed(forward, device, reps, warmup, best)
    if not train:
        return fwd, None
    model.train()
    target = torch.randint(0, 2, (1, *hw), device=device)

    def step() -> None:
        with autocast(device):
            out = model(x)
            out = out["out"] if isinstance(out, dict) else out
            loss = F.cross_entropy(out.float(), target)
        loss.backward()
        model.zero_grad(set_to_none=True)

    return fwd, timed(step, device, reps, warmup, best)


@contextlib.contextmanager
def bare_trunks(device: torch.device, enabled: bool = True) -> Iterator[dict[str, nn.Module]]:
    """VGG16's conv layers (``features``, conv1_1..pool5) and the convolutionalized trunk
    (features + fc6 + fc7: what FCN-8s runs before its head). Freed on exit."""
    if not enabled:
        yield {}
        return
    model = build_model("vgg16", "fcn32s", num_classes=2)
    yield {
        "vgg16.features": prepare(model.trunk.features, device),
        "vgg16 trunk+fc6/7": prepare(model.trunk, device),
    }
    del model


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fcn8s/tv only, first size, fewer repeats")
    parser.add_argument(
        "--sizes", default="360x480,375x1242", help="comma-separated HxW (default: %(default)s)"
    )
    parser.add_argument("--device", default="auto", help="cpu, cuda, or auto (cuda when available)")
    parser.add_argument("--backbones", default="", help="comma-separated subset (default: all)")
    parser.add_argument("--variants", default="", help="comma-separated subset of fcn32s,fcn16s,fcn8s")
    parser.add_argument("--reps", type=int, default=0, help="timed repeats (default 3 on CPU, 20 on GPU)")
    parser.add_argument("--no-train", action="store_true", help="skip forward+backward timing")
    parser.add_argument(
        "--stat",
        choices=("median", "min"),
        default="median",
        help="summary of the repeats; 'min' is steadier on a shared, busy machine",
    )
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (default: torch's choice)")
    args = parser.parse_args(argv)

    device = torch.device(
        "cuda"
        if args.device == "auto" and torch.cuda.is_available()
        else ("cpu" if args.device == "auto" else args.device)
    )
    if args.threads:
        torch.set_num_threads(args.threads)
    sizes = [parse_size(s) for s in args.sizes.split(",") if s]
    if args.quick:
        sizes = sizes[:1]
    reps = args.reps or (20 if device.type == "cuda" else (2 if args.quick else 3))
    warmup = 3 if device.type == "cuda" else 1
    best = args.stat == "min"
    wanted_b = set(filter(None, args.backbones.split(",")))
    wanted_v = set(filter(None, args.variants.split(","))) or ({"fcn8s", "tv"} if args.quick else set())

    name = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"CPU, {torch.get_num_threads()} threads"
    )
    peak = measure_peak(device, args.quick)
    mode = "bf16 autocast, channels_last" if device.type == "cuda" else "float32"
    print(f"device: {name} ({mode}); torch {torch.__version__}; {args.stat} of {reps} runs")
    print(f"measured peak (matmul): {peak:.2f} TFLOP/s\n")
    print(Row.HEADER)
    print("-" * len(Row.HEADER))

    fwd_times: dict[tuple[str, tuple[int, int]], float] = {}
    with_vgg = not wanted_b or "vgg16" in wanted_b
    for hw in sizes:
        with bare_trunks(device, enabled=with_vgg) as trunks:
            for tname, trunk in trunks.items():
                gflops = count_gflops(trunk, make_input(hw, device))
                fwd, _ = bench_model(trunk, hw, device, reps, warmup, train=False, best=best)
                fwd_times[(tname, hw)] = fwd
                params = sum(p.numel() for p in trunk.parameters()) / 1e6
                print(Row(tname, hw, params, gflops, fwd, None, peak).line(), flush=True)
        for info in list_models():
            if (wanted_b and info.backbone not in wanted_b) or (wanted_v and info.variant not in wanted_v):
                continue
            torch.manual_seed(0)
            model = prepare(build_model(info.backbone, info.variant, num_classes=21), device)
            gflops = count_gflops(model, make_input(hw, device))
            fwd, train = bench_model(model, hw, device, reps, warmup, train=not args.no_train, best=best)
            fwd_times[(info.name, hw)] = fwd
            params = sum(p.numel() for p in model.parameters()) / 1e6
            print(Row(info.name, hw, params, gflops, fwd, train, peak).line(), flush=True)
            del model
            if device.type == "cuda":
                torch.cuda.empty_cache()

    print()
    for hw in sizes:
        fcn = fwd_times.get(("vgg16-fcn8s", hw))
        if fcn is None:
            continue
        for tname in ("vgg16.features", "vgg16 trunk+fc6/7"):
            base = fwd_times[(tname, hw)]
            print(
                f"{hw[0]}x{hw[1]}: vgg16-fcn8s / {tname}: {fcn / base:.2f}x  ({fcn:.0f} ms vs {base:.0f} ms)"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
