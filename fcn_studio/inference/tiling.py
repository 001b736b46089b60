"""Overlapping tiles for images too large to run at once, stitched to match whole-image output.

Why the result matches whole-image inference (up to floating point) where both fit:

* **Aligned grid.** Every tile starts at a multiple of ``align`` (32, the FCN's coarsest
  stride), so its pooling and strided-convolution grids coincide with the whole image's;
  an unaligned tile would see every feature map shifted by a fraction of a cell.
* **Margins.** Each tile is its *core* plus ``margin`` pixels of context on each side
  (clipped at the image border, where the whole-image run has the same border). Only the
  core, and a short feathered band around it, is kept, so the zero padding a tile's own
  border introduces stays out of what is used, as long as the margin covers the network's
  effective receptive field. A deep trunk's theoretical field is larger than any practical
  margin, but its effective field decays fast: ``tests/test_training_tiling.py`` measures the
  remaining difference.
* **Feathered blending.** Neighbouring tiles overlap by ``feather`` pixels with linear
  weights, so a residual difference shows as a smooth ramp, never as a seam.

Models with a global pooling branch (MobileNetV3's squeeze-excitation, LR-ASPP) compute
image-wide statistics; tiling cannot reproduce those, so the predictor runs such models whole
whenever the image fits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch


@dataclass(frozen=True)
class Tile:
    """Input window ``[y0:y1, x0:x1]`` and the core ``[cy0:cy1, cx0:cx1]`` it is trusted on."""

    y0: int
    y1: int
    x0: int
    x1: int
    cy0: int
    cy1: int
    cx0: int
    cx1: int


def _round_up(v: int, m: int) -> int:
    return -(-v // m) * m


def plan_tiles(h: int, w: int, tile: int, margin: int, align: int = 32) -> list[Tile]:
    """Tiles of at most ``tile`` x ``tile`` input pixels covering an ``h`` x ``w`` image.

    ``margin`` is rounded up to a multiple of ``align`` and the core size
    ``tile - 2 * margin`` down to one; the core must stay at least ``align`` pixels.
    """
    margin = _round_up(max(0, margin), align)
    core = (tile - 2 * margin) // align * align
    if core < align:
        raise ValueError(f"tile size {tile} leaves no core after margins of {margin} px; use a larger tile or smaller margin")
    tiles = []
    for cy0 in range(0, h, core):
        for cx0 in range(0, w, core):
            cy1, cx1 = min(h, cy0 + core), min(w, cx0 + core)
            tiles.append(
                Tile(
                    y0=max(0, cy0 - margin), y1=min(h, cy1 + margin),
                    x0=max(0, cx0 - margin), x1=min(w, cx1 + margin),
                    cy0=cy0, cy1=cy1, cx0=cx0, cx1=cx1,
                )
            )
    return tiles


def _ramp(n: int, lo: int, hi: int, feather: int, device: torch.device) -> torch.Tensor:
    """1-D weights over a window of ``n`` pixels: 1 on the core ``[lo, hi)``, linear to 0 outside."""
    idx = torch.arange(n, device=device, dtype=torch.float32)
    dist = torch.clamp(lo - idx, min=0) + torch.clamp(idx - (hi - 1), min=0)
    if feather <= 0:
        return (dist == 0).float()
    return torch.clamp(1.0 - dist / (feather + 1), min=0.0)


def run_tiled(
    fn: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    *,
    num_classes: int,
    tile: int,
    margin: int,
    feather: int | None = None,
    align: int = 32,
    should_stop: Callable[[], bool] | None = None,
) -> torch.Tensor:
    """``fn`` (``1x3xhxw`` -> ``1xKxhxw`` logits) over tiles of ``x`` (``1x3xHxW``), blended.

    Returns ``1 x K x H x W`` float32 logits on ``x``'s device. ``feather`` (default half the
    margin) is how far beyond its core a tile still contributes, with linearly falling weight.
    """
    _, _, h, w = x.shape
    tiles = plan_tiles(h, w, tile, margin, align)
    margin = _round_up(max(0, margin), align)
    feather = margin // 2 if feather is None else min(int(feather), margin)
    acc = torch.zeros(1, num_classes, h, w, device=x.device, dtype=torch.float32)
    weight = torch.zeros(1, 1, h, w, device=x.device, dtype=torch.float32)
    for t in tiles:
        if should_stop is not None and should_stop():
            raise InterruptedError("prediction cancelled")
        out = fn(x[:, :, t.y0 : t.y1, t.x0 : t.x1]).float()
        wy = _ramp(t.y1 - t.y0, t.cy0 - t.y0, t.cy1 - t.y0, feather, x.device)
        wx = _ramp(t.x1 - t.x0, t.cx0 - t.x0, t.cx1 - t.x0, feather, x.device)
        wt = (wy[:, None] * wx[None, :])[None, None]
        acc[:, :, t.y0 : t.y1, t.x0 : t.x1] += out * wt
        weight[:, :, t.y0 : t.y1, t.x0 : t.x1] += wt
    return acc / weight
