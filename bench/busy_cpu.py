"""Training and prediction speed on a CPU that something else is using (issue 34 item 9).

A person's desktop always runs something else. OpenMP threads that spin at every barrier lose
their core to that other work and then wait on each other; a low priority starves them further.
This bench measures, each configuration in a fresh Python (so ``OMP_WAIT_POLICY`` is in the
environment before torch loads libgomp, and the niceness is taken before torch starts any
thread, as the app's processes do):

* ``train``: steps/s of the default recipe (EfficientNet-Lite0 FCN-4s from ImageNet weights,
  the CPU's automatic batch, crop and scale, full fine-tuning) on the demo project;
* ``predict``: predictions/s of a checkpoint on a 360x480 demo image (what the prediction
  process does for the window);

idle and with ``yes > /dev/null`` busy processes, 1 and 2 per core. A worker imports torch,
builds its model and warms up on an idle machine, says READY, and only then are the busy
processes started and the clock run (so a starved import does not stretch the sitting); the busy
processes are killed after each measurement, whatever happens.

    python bench/busy_cpu.py                       # waits for a quiet machine, then measures
    python bench/busy_cpu.py --measure-s 6 --no-wait --only train

Writes ``bench/results/busy_cpu/busy_cpu.json`` and ``busy_cpu.md`` (the table). "before" is the
code before issue 34 item 9, "after" its defaults (``fcn_studio/cpu_share.py``); the other rows
are the alternatives they were chosen from.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUT_DIR = REPO / "bench" / "results" / "busy_cpu"

#: (name, kind, threads (None: torch's default = all cores), OMP_WAIT_POLICY (None: unset), niceness)
CONFIGS: list[tuple[str, str, int | None, str | None, int]] = [
    ("train: CLI before (all cores, wait policy unset, nice 0)", "train", None, None, 0),
    ("train: CLI after (all cores, PASSIVE, nice 0)", "train", None, "PASSIVE", 0),
    ("train: window before (cores-1, unset, nice 5)", "train", -1, None, 5),
    ("train: cores-1, PASSIVE, nice 5", "train", -1, "PASSIVE", 5),
    ("train: cores-1, PASSIVE, nice 2", "train", -1, "PASSIVE", 2),
    ("train: window after (cores-1, PASSIVE, nice 1)", "train", -1, "PASSIVE", 1),
    ("train: cores-1, PASSIVE, nice 0", "train", -1, "PASSIVE", 0),
    ("predict: before (all cores, unset, nice 0)", "predict", None, None, 0),
    ("predict: all cores, PASSIVE, nice 0", "predict", None, "PASSIVE", 0),
    ("predict: after (cores-1, PASSIVE, nice 0)", "predict", -1, "PASSIVE", 0),
]


# -- the worker (a fresh process per configuration) ------------------------------------------------
def _handshake() -> float:
    """Say READY, wait for GO (the busy load is running by then), return the start time."""
    print("READY", flush=True)
    sys.stdin.readline()
    return time.perf_counter()


def worker(args: argparse.Namespace) -> None:
    if args.nice > 0:
        os.nice(args.nice)  # before torch starts a thread: every thread inherits it
    import threading

    import torch

    sys.path.insert(0, str(REPO))
    threads = None if args.threads is None else (max(1, (os.cpu_count() or 1) - 1) if args.threads < 0 else args.threads)
    if threads is not None:
        torch.set_num_threads(threads)
    info = {"torch_threads": torch.get_num_threads(), "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
            "niceness": os.nice(0)}
    if args.worker == "train":
        from fcn_studio.training.callbacks import TrainCallbacks
        from fcn_studio.training.config import TrainConfig
        from fcn_studio.training.samples import ProjectFileSource
        from fcn_studio.training.trainer import Trainer

        stop = threading.Event()
        clock: dict = {"t0": None, "n": 0, "t_last": None}

        class Timer(TrainCallbacks):
            def on_step(self, report):  # noqa: ANN001
                if clock["t0"] is None:
                    if report.step >= args.warmup:
                        clock["t0"] = _handshake()
                    return
                clock["n"] += 1
                clock["t_last"] = time.perf_counter()
                if clock["t_last"] - clock["t0"] >= args.measure_s and clock["n"] >= 2:
                    stop.set()

        cfg = TrainConfig(epochs=None, max_steps=args.warmup + 400, num_threads=threads, preview_every_s=None,
                          val_fraction=0, seed=0)
        Trainer(cfg, ProjectFileSource(args.project), callbacks=Timer(), should_stop=stop).run()
        n, dt = clock["n"], (clock["t_last"] or 0) - (clock["t0"] or 0)
    else:
        import numpy as np
        from PIL import Image

        from fcn_studio.inference.predictor import Predictor

        predictor = Predictor.from_checkpoint(args.checkpoint, device="cpu")
        image = np.asarray(Image.open(args.image).convert("RGB"))
        for _ in range(args.warmup):
            predictor.predict(image, want_probs=True)
        t0, n = _handshake(), 0
        while True:
            predictor.predict(image, want_probs=True)
            n += 1
            dt = time.perf_counter() - t0
            if dt >= args.measure_s and n >= 2:
                break
    print("RESULT " + json.dumps(info | {"n": n, "seconds": dt, "per_s": n / dt if dt > 0 else None}), flush=True)


# -- the orchestrator -------------------------------------------------------------------------------
def wait_for_quiet(limit: float, max_wait_s: float, poll_s: float = 30.0) -> dict:
    """Poll the 1-minute load average until it is below ``limit`` (or ``max_wait_s`` passes)."""
    start = time.time()
    while True:
        load = os.getloadavg()[0]
        if load < limit:
            return {"quiet": True, "waited_s": round(time.time() - start), "load_1min": load}
        if time.time() - start >= max_wait_s:
            return {"quiet": False, "waited_s": round(time.time() - start), "load_1min": load}
        print(f"load {load:.2f} >= {limit}: waiting", flush=True)
        time.sleep(poll_s)


def start_busy(per_core: int) -> list[subprocess.Popen]:
    return [subprocess.Popen(["yes"], stdout=subprocess.DEVNULL) for _ in range(per_core * (os.cpu_count() or 1))]


def stop_busy(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        p.kill()
    for p in procs:
        p.wait()


def _readline(proc: subprocess.Popen, deadline: float) -> str | None:
    """One line of the worker's stdout before ``deadline`` (None: timed out or ended)."""
    while time.time() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 1.0)
        if ready:
            line = proc.stdout.readline()
            return line if line else None
    return None


def run_one(kind: str, threads: int | None, policy: str | None, nice: int, busy_per_core: int,
            common: list[str], timeout_s: float) -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("OMP_NUM_THREADS", None)
    env.pop("OMP_WAIT_POLICY", None)
    if policy:
        env["OMP_WAIT_POLICY"] = policy
    cmd = [sys.executable, __file__, "--worker", kind, "--nice", str(nice), *common]
    if threads is not None:
        cmd += ["--threads", str(threads)]
    proc = subprocess.Popen(cmd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
    busy: list[subprocess.Popen] = []
    deadline = time.time() + timeout_s
    try:
        while True:
            line = _readline(proc, deadline)
            if line is None:
                return {"error": "worker ended or timed out before READY"}
            if line.startswith("READY"):
                break
        busy = start_busy(busy_per_core)
        time.sleep(0.5)  # let them take the cores
        proc.stdin.write("GO\n")
        proc.stdin.flush()
        while True:
            line = _readline(proc, deadline)
            if line is None:
                return {"error": "worker ended or timed out before its result"}
            if line.startswith("RESULT "):
                return json.loads(line[len("RESULT "):])
    finally:
        stop_busy(busy)
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def prepare(tmp: Path) -> tuple[Path, Path, Path]:
    """A demo project, one of its images and a checkpoint trained on it (two steps)."""
    sys.path.insert(0, str(REPO))
    from fcn_studio.data.demo import create_demo_project

    project = create_demo_project(tmp / "demo")
    ckpt = tmp / "model.fcnckpt"
    code = ("import sys; from fcn_studio.training.config import TrainConfig; "
            "from fcn_studio.training.samples import ProjectFileSource; from fcn_studio.training.trainer import Trainer; "
            f"Trainer(TrainConfig(epochs=None, max_steps=2, val_fraction=0, preview_every_s=None, out={str(ckpt)!r}), "
            f"ProjectFileSource({str(project.root)!r})).run()")
    subprocess.run([sys.executable, "-c", code], env=dict(os.environ, PYTHONPATH=str(REPO)), check=True)
    image = next(p for p in sorted((project.root).rglob("*")) if p.suffix.lower() in (".jpg", ".png") and "ground_truth" not in p.parts)
    return project.root, ckpt, image


def table(rows: list[dict], loads: list[int]) -> str:
    head = "| configuration | " + " | ".join(f"{'idle' if k == 0 else f'{k} busy/core'}" for k in loads)
    head += " | " + " | ".join(f"{k} busy/core vs idle" for k in loads if k) + " |"
    lines = [head, "|" + "---|" * (1 + 2 * len(loads) - 1)]
    for name in dict.fromkeys(r["config"] for r in rows):
        by = {r["busy_per_core"]: r.get("per_s") for r in rows if r["config"] == name}
        idle = by.get(0)
        cells = [f"{by[k]:.3f}" if by.get(k) else "—" for k in loads]
        ratios = [f"{by[k] / idle:.2f}" if by.get(k) and idle else "—" for k in loads if k]
        lines.append(f"| {name} | " + " | ".join(cells + ratios) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worker", choices=["train", "predict"], help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--nice", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--project", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--checkpoint", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--image", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--warmup", type=int, default=3, help="steps/predictions before the clock starts")
    ap.add_argument("--measure-s", type=float, default=10.0, help="seconds of measurement per configuration and load")
    ap.add_argument("--loads", type=int, nargs="+", default=[0, 1, 2], help="busy processes per core to measure")
    ap.add_argument("--only", choices=["train", "predict"], help="one kind of configuration")
    ap.add_argument("--match", help="only the configurations whose name contains this text")
    ap.add_argument("--no-wait", action="store_true", help="do not wait for a quiet machine")
    ap.add_argument("--quiet-load", type=float, default=0.7)
    ap.add_argument("--max-wait-s", type=float, default=25 * 60)
    ap.add_argument("--out", type=Path, default=OUT_DIR)
    args = ap.parse_args()
    if args.worker:
        worker(args)
        return
    configs = [c for c in CONFIGS if (args.only is None or c[1] == args.only) and (args.match is None or args.match in c[0])]
    with tempfile.TemporaryDirectory() as tmp:
        project, ckpt, image = prepare(Path(tmp))
        wait = {"quiet": None} if args.no_wait else wait_for_quiet(args.quiet_load, args.max_wait_s)
        start = {"time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "loadavg": os.getloadavg()}
        common = ["--project", str(project), "--checkpoint", str(ckpt), "--image", str(image),
                  "--warmup", str(args.warmup), "--measure-s", str(args.measure_s)]
        rows = []
        for busy in args.loads:  # load-major: before and after configurations side by side in time
            for name, kind, threads, policy, nice in configs:
                r = run_one(kind, threads, policy, nice, busy, common, timeout_s=args.measure_s * 3 + 240)
                row = {"config": name, "kind": kind, "busy_per_core": busy, "loadavg_after": os.getloadavg()} | r
                rows.append(row)
                print(json.dumps(row), flush=True)
        end = {"time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "loadavg": os.getloadavg()}
    import platform

    import torch

    meta = {"cpu_count": os.cpu_count(), "cpu": platform.processor() or platform.machine(), "torch": torch.__version__,
            "python": platform.python_version(), "measure_s": args.measure_s, "warmup": args.warmup,
            "wait_for_quiet": wait, "start": start, "end": end,
            "units": "train: optimisation steps/s (default recipe, demo project); predict: predictions/s (360x480)"}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "busy_cpu.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    md = [f"# Busy CPU ({os.cpu_count()} cores, torch {torch.__version__}), {start['time_utc']}",
          "", f"Load average at start {start['loadavg']}, at end {end['loadavg']}; quiet wait: {wait}.", "",
          "Steps/s (train) and predictions/s (predict); busy = `yes > /dev/null` processes per core.", "",
          table(rows, args.loads), ""]
    (args.out / "busy_cpu.md").write_text("\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    main()
