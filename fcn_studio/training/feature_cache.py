"""Trunk features kept in memory, so "fast mode" pays for the trunk once per image.

With the trunk frozen its output depends only on the image and its size, not on the mask,
so features are cached by (image id, image file, working size, trunk fingerprint). The
fingerprint changes when the trunk's weights change (after full fine-tuning, or a different
checkpoint), which makes stale entries unreachable rather than wrong. Entries are float16 on
the CPU (half the bytes; the heads see the same values up to rounding) and the least recently
used ones are dropped past ``max_bytes``.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import Callable, Iterable

import torch
from torch import nn


def trunk_fingerprint(params: Iterable[nn.Parameter]) -> str:
    """A short digest of the trunk's weights: sums and norms of each tensor (cheap, exact enough)."""
    h = hashlib.blake2b(digest_size=8)
    with torch.no_grad():
        for p in params:
            t = p.detach().float().contiguous()  # the same digest in any memory format
            h.update(f"{tuple(t.shape)}:{t.sum().item():.6e}:{t.norm().item():.6e};".encode())
    return h.hexdigest()


def _nbytes(feats: dict[str, torch.Tensor]) -> int:
    return sum(t.numel() * t.element_size() for t in feats.values())


class FeatureCache:
    """Maps a key to a dict of feature tensors (``1 x C x h x w`` each). Thread-safe.

    One cache can outlive a training run (the GUI keeps it between runs on the same model), so
    a second "quick train" after painting a few strokes only computes features of new images.
    """

    def __init__(self, max_bytes: int = 2 << 30, dtype: torch.dtype = torch.float16) -> None:
        self.max_bytes = int(max_bytes)
        self.dtype = dtype
        self._items: OrderedDict[tuple, dict[str, torch.Tensor]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._items)

    @property
    def nbytes(self) -> int:
        return self._bytes

    def get_or_compute(self, key: tuple, compute: Callable[[], dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
                self.hits += 1
                return hit
        feats = {k: v.detach().to("cpu", self.dtype) for k, v in compute().items()}
        size = _nbytes(feats)
        with self._lock:
            self.misses += 1
            if size <= self.max_bytes:
                self._items[key] = feats
                self._bytes += size
                while self._bytes > self.max_bytes:
                    _, old = self._items.popitem(last=False)
                    self._bytes -= _nbytes(old)
        return feats

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0
