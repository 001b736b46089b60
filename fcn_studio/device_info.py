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
    return f"CPU ({torch.get_num_threads()} threads)"


def describe_device_in_subprocess(timeout: float = 60.0) -> str:
    """:func:`describe_device` run in a child Python; blocks the calling (worker) thread only."""
    if "torch" in sys.modules:
        return describe_device()
    code = "from fcn_studio.device_info import describe_device; print(describe_device())"
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"unknown ({exc.__class__.__name__})"
    lines = out.stdout.strip().splitlines()
    return lines[-1] if out.returncode == 0 and lines else "unknown"
