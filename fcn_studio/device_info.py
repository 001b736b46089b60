"""Which device fine-tuning would use, as text for people.

Finding out needs ``import torch`` (seconds, and it holds the GIL most of that time), so
:func:`describe_device_in_subprocess` asks a child process: the GUI stays responsive and the
status bar still shows the truth for this torch build.
"""

from __future__ import annotations

import subprocess
import sys


def describe_device() -> str:
    try:
        import torch
    except Exception as exc:  # broken install: say so instead of crashing the status bar
        return f"unavailable ({exc.__class__.__name__})"
    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "Apple GPU (MPS)"
    n = torch.get_num_threads()
    return f"CPU ({n} thread{'' if n == 1 else 's'})"


def describe_device_in_subprocess(timeout: float = 60.0) -> str:
    """:func:`describe_device` run in a child Python; blocks the calling (worker) thread only."""
    if "torch" in sys.modules:
        return describe_device()
    if getattr(sys, "frozen", False):  # a bundled app's executable takes no "-c": use multiprocessing's own way in
        return _describe_in_spawned_process(timeout)
    code = "from fcn_studio.device_info import describe_device; print(describe_device())"
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"unknown ({exc.__class__.__name__})"
    lines = out.stdout.strip().splitlines()
    return lines[-1] if out.returncode == 0 and lines else "unknown"


def _describe_in_spawned_process(timeout: float) -> str:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    try:
        with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
            return pool.submit(describe_device).result(timeout=timeout)
    except Exception as exc:  # noqa: BLE001 - the status bar says unknown rather than failing
        return f"unknown ({exc.__class__.__name__})"
