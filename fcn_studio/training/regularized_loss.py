"""An image-aware term for scribbles: a Potts / dense-CRF loss with colour-bilateral affinities.

Cross-entropy on strokes says nothing about the pixels between them. Following "On
Regularized Losses for Weakly-supervised CNN Segmentation" (Tang et al. 2018), this term
charges the network for giving different classes to nearby pixels of similar colour:

    sum_ij w_ij (1 - sum_k s_ik s_jk),   w_ij = exp(-|x_i - x_j|^2 / 2 sxy^2 - |c_i - c_j|^2 / 2 srgb^2)

over all pixels, painted or not. The affinities are local (a (2r+1)^2 window, as in the gated
CRF loss of Obukhov et al. 2019) and computed on a grid ``stride`` times coarser than the
crop, where the FCN's scores live anyway, which keeps it a few per cent of a training step.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def potts_loss(
    probs: torch.Tensor, images: torch.Tensor, *, stride: int = 4, radius: int = 3, sigma_xy: float = 2.0, sigma_rgb: float = 15.0
) -> torch.Tensor:
    """Mean bilateral Potts energy of softmax ``probs`` (N x K x H x W) on ``images`` (N x 3 x H x W, 0..255)."""
    p = F.avg_pool2d(probs, stride) if stride > 1 else probs
    c = F.avg_pool2d(images.float(), stride) if stride > 1 else images.float()
    n, k, h, w = p.shape
    kk = 2 * radius + 1
    pu = F.unfold(p, kk, padding=radius).view(n, k, kk * kk, h, w)
    cu = F.unfold(c, kk, padding=radius).view(n, 3, kk * kk, h, w)
    valid = F.unfold(torch.ones(1, 1, h, w, device=p.device), kk, padding=radius).view(1, kk * kk, h, w)
    dy, dx = torch.meshgrid(torch.arange(-radius, radius + 1), torch.arange(-radius, radius + 1), indexing="ij")
    dxy = (dy**2 + dx**2).float().view(1, kk * kk, 1, 1).to(p.device)
    dc = ((cu - c[:, :, None]) ** 2).sum(1)
    weight = torch.exp(-dxy / (2 * sigma_xy**2) - dc / (2 * sigma_rgb**2)) * valid
    weight[:, (kk * kk) // 2] = 0  # a pixel with itself
    agree = (pu * p[:, :, None]).sum(1)
    return (weight * (1 - agree)).sum() / (n * h * w)
