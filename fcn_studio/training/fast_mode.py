"""Fast mode: train only the heads, on cached trunk features, for a first model in seconds.

The trunk is frozen (eval mode, no gradients) and run once per image at working resolution;
its features go to a :class:`~fcn_studio.training.feature_cache.FeatureCache`. Each step then
costs only the heads (1x1 score layers and upsampling): on a 2-core CPU that is tens of steps
per second instead of one, so the user sees a prediction almost at once and keeps painting
while full fine-tuning (which the trainer starts afterwards) improves it.

No augmentation is applied: cropping, scaling or flipping would change the features, and a
flip of cached features is not the features of the flipped image.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from fcn_studio.data.working_size import resize_pair, scale_for
from fcn_studio.training.dataset import IGNORE, SegmentationDataset
from fcn_studio.models.device import Normalizer, autocast
from fcn_studio.training.feature_cache import FeatureCache, trunk_fingerprint
from fcn_studio.training.optim import apply_lr, build_optimizer, lr_factor


class Stopped(Exception):
    """Raised inside a phase when the stop flag was seen; the trainer turns it into a clean end."""


@dataclass
class _Item:
    key: tuple
    hw: tuple[int, int]
    target: torch.Tensor  # 1 x h x w int64, IGNORE where not trained
    compute: Callable[[], dict[str, torch.Tensor]]  # recomputes features if the cache dropped them


class HeadTrainer:
    """Trains ``model``'s heads on cached features of a dataset's images."""

    def __init__(
        self,
        model: nn.Module,
        *,
        device: torch.device,
        normalizer: Normalizer,
        cache: FeatureCache,
        scale: float,
        amp: bool,
        class_weights: torch.Tensor | None,
        pixels: int | None = None,
    ) -> None:
        self.model = model
        self.pixels = pixels
        self.device = device
        self.normalizer = normalizer
        self.cache = cache
        self.scale = scale
        self.amp = amp
        self.class_weights = class_weights
        self.items: list[_Item] = []

    def prepare(self, dataset: SegmentationDataset, should_stop: Callable[[], bool]) -> int:
        """Compute (or fetch) features of every painted image; returns how many were computed."""
        self.model.eval()
        tag = trunk_fingerprint(self.model.trunk_parameters())
        computed = 0
        self.items = []
        for i, sample in enumerate(dataset.samples):
            if should_stop():
                raise Stopped
            image, target = dataset.load(i)
            image, target = resize_pair(image, target, scale_for(image.shape[:2], self.scale, self.pixels))
            assert target is not None
            hw = (int(image.shape[0]), int(image.shape[1]))
            key = (sample.id, str(sample.image_path), hw, tag)

            before = self.cache.misses
            compute = self._features_of(image)
            self.cache.get_or_compute(key, compute)
            computed += self.cache.misses - before
            self.items.append(_Item(key=key, hw=hw, target=torch.from_numpy(target.astype(np.int64))[None], compute=compute))
        return computed

    def _features_of(self, image: np.ndarray) -> Callable[[], dict[str, torch.Tensor]]:
        def compute() -> dict[str, torch.Tensor]:
            x = self.normalizer(torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None])
            with torch.no_grad(), autocast(self.device, self.amp):
                return self.model.forward_features(x)

        return compute

    def head_parameters(self) -> list[nn.Parameter]:
        return list(self.model.head_parameters())

    def run(
        self,
        steps: int,
        *,
        lr: float,
        batch_size: int,
        seed: int,
        should_stop: Callable[[], bool],
        on_step: Callable[[int, float, float, int, float], None],
    ) -> float:
        """``steps`` head updates; ``on_step(i, loss, lr, images, seconds)`` after each. Returns last loss."""
        if not self.items:
            return math.nan
        trunk = list(self.model.trunk_parameters())
        flags = [p.requires_grad for p in trunk]
        for p in trunk:
            p.requires_grad_(False)
        self.model.eval()  # trunk BN statistics stay as they were when features were cached
        params = self.head_parameters()
        opt = build_optimizer("adamw", [(params, 1.0)], lr=lr, weight_decay=1e-4)
        rng = np.random.default_rng([seed, 7])
        groups: dict[tuple[int, int], list[_Item]] = {}
        for item in self.items:
            groups.setdefault(item.hw, []).append(item)
        sizes = list(groups)
        weights = self.class_weights.to(self.device) if self.class_weights is not None else None
        loss_value = math.nan
        try:
            for i in range(steps):
                if should_stop():
                    raise Stopped
                t0 = time.perf_counter()
                hw = sizes[int(rng.integers(len(sizes)))]
                pool = groups[hw]
                pick = rng.choice(len(pool), size=min(batch_size, len(pool)), replace=False)
                batch = [pool[j] for j in pick]
                feats = [self.cache.get_or_compute(b.key, b.compute) for b in batch]
                x = {k: torch.cat([f[k] for f in feats]).to(self.device, torch.float32, non_blocking=True) for k in feats[0]}
                target = torch.cat([b.target for b in batch]).to(self.device, non_blocking=True)
                cur_lr = apply_lr(opt, lr_factor((i + 1) / steps, "onecycle", 0.1))
                with autocast(self.device, self.amp):
                    logits = self.model.forward_head(x, hw)
                loss = F.cross_entropy(logits.float(), target, weight=weights, ignore_index=IGNORE)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                loss_value = float(loss.detach())
                if not math.isfinite(loss_value):
                    from fcn_studio.errors import TrainingError

                    raise TrainingError(
                        f"fast mode stopped: the loss became {loss_value} at head step {i + 1}; "
                        f"lower the fast-mode learning rate ({lr:g})"
                    )
                on_step(i, loss_value, cur_lr, len(batch), time.perf_counter() - t0)
        finally:
            for p, f in zip(trunk, flags):
                p.requires_grad_(f)
        return loss_value

