"""Which device to train and predict on and how: CUDA (bf16, channels_last), then Apple MPS, then CPU.

Here, below training/ and inference/ (both use it), so that neither imports the other. Also
the one place that turns a uint8 batch into the normalised float input a model expects,
on the device, so data loading ships bytes, not floats.
"""

from __future__ import annotations

import contextlib
from typing import Iterator, Mapping, Sequence

import torch

from fcn_studio.errors import TrainingError


def pick_device(name: str = "auto") -> torch.device:
    """``"auto"`` -> ``cuda`` if available, else ``mps``, else ``cpu``; or the named device.

    A named device that is not there raises :class:`TrainingError` (one line for the CLI)
    rather than failing later inside the first forward pass.
    """
    name = (name or "auto").lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise TrainingError(f"unknown device {name!r}; use auto, cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise TrainingError(f"device {name!r} requested but this torch sees no CUDA GPU; use --device cpu or auto")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise TrainingError(f"device {name!r} requested but only {torch.cuda.device_count()} CUDA GPU(s) exist")
    if device.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise TrainingError("device 'mps' requested but Apple's MPS backend is not available here")
    return device


def autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA (no loss scaling needed, unlike fp16); a no-op elsewhere.

    CPU bf16 autocast exists but is slower than fp32 on CPUs without AMX, so it stays off.
    """
    if enabled and device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


class Normalizer:
    """uint8 ``N x 3 x H x W`` on any device -> normalised float32 on ``device``."""

    def __init__(self, normalization: Mapping[str, Sequence[float]], device: torch.device, channels_last: bool) -> None:
        self.device = device
        self.channels_last = channels_last
        mean = torch.tensor(normalization["mean"], dtype=torch.float32, device=device).view(1, 3, 1, 1) * 255
        std = torch.tensor(normalization["std"], dtype=torch.float32, device=device).view(1, 3, 1, 1) * 255
        self.mean, self.inv_std = mean, 1.0 / std

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        x = images.to(self.device, non_blocking=True).float()
        x = (x - self.mean) * self.inv_std
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x


@contextlib.contextmanager
def cpu_threads(n: int | None) -> Iterator[None]:
    """Run with ``torch.set_num_threads(n)`` and restore the previous count afterwards."""
    if n is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def is_oom(exc: BaseException) -> bool:
    """Whether ``exc`` is an accelerator out-of-memory error (CUDA or MPS)."""
    if isinstance(exc, getattr(torch, "OutOfMemoryError", ())):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def empty_cache(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
    elif device.type == "mps" and hasattr(torch, "mps"):
        torch.mps.empty_cache()
