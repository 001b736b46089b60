"""Which device fine-tuning would use, as text for people. Imports torch, so call it off the UI thread."""

from __future__ import annotations


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
