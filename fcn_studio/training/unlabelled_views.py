"""Weakly augmented crops of every image of a source, painted or not, for semi-supervised steps.

The labelled batches come from :class:`~fcn_studio.training.dataset.SegmentationDataset`
through a DataLoader; these come from here, one batch per training step, drawn in the
training process itself (a few milliseconds for four crops once the images are decoded, and
the decoded images are shared with the labelled set's cache). Crops are placed uniformly,
not around painted pixels: the point is to see what nobody painted.

An image that cannot be read is dropped from the pool (and counted in :attr:`skipped`)
instead of ending the run: the painted images decide whether training can go on.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from fcn_studio.data.labelset import UNPAINTED
from fcn_studio.errors import FcnStudioError
from fcn_studio.data.working_size import scale_for
from fcn_studio.training.augment import augment
from fcn_studio.training.dataset import ImageCache, target_lut
from fcn_studio.training.samples import NoMask, Sample


class UnlabelledViews:
    """Batches of ``(images uint8 N x 3 x h x w, painted targets uint8 N x h x w)``; 255 = no label."""

    def __init__(
        self,
        source,  # noqa: ANN001 - a SampleSource with unlabelled()
        *,
        scale: float,
        crop_size: tuple[int, int],
        scale_range: tuple[float, float],
        hflip: bool,
        jitter: float,
        seed: int,
        cache: ImageCache | None = None,
        pixels: int | None = None,
    ) -> None:
        self.source = source
        self.pixels = pixels
        self.scale = float(scale)
        self.crop_size = (int(crop_size[0]), int(crop_size[1]))
        self.scale_range = scale_range
        self.hflip = hflip
        self.jitter = float(jitter)
        self.rng = np.random.default_rng([int(seed), 0x5E31])
        self.cache = cache or ImageCache()
        self.samples: list[Sample] = []
        self.skipped: dict[str, str] = {}
        #: Pseudo-label maps by sample id (full resolution, 255 = none), once a teacher made them.
        self.pseudo: dict[str, np.ndarray] = {}
        self.refresh()

    def refresh(self) -> int:
        """Re-list the source's images (call at an epoch start, as the labelled set does)."""
        self.samples = [s for s in self.source.unlabelled() if s.id not in self.skipped]
        self._lut = target_lut(self.source.labelset)
        return len(self.samples)

    def unpainted_images(self) -> int:
        """How many images of the pool have no mask at all."""
        return sum(1 for s in self.samples if isinstance(s.read_mask, NoMask))

    def __len__(self) -> int:
        return len(self.samples)

    def _view(self, sample: Sample) -> tuple[np.ndarray, np.ndarray]:
        image = self.cache.get(sample)
        mask = sample.read_mask()
        h, w = image.shape[:2]
        if mask is None or mask.shape != (h, w):  # a mask of the wrong size: its paint is not trusted here
            target = np.full((h, w), UNPAINTED, np.uint8)
        else:
            target = self._lut[mask]
        pseudo = self.pseudo.get(sample.id)
        if pseudo is not None:  # kept at working resolution
            if pseudo.shape != (h, w):
                pseudo = cv2.resize(pseudo, (w, h), interpolation=cv2.INTER_NEAREST)
            target = np.where(target == UNPAINTED, pseudo, target)  # painted pixels win
        return augment(
            image, target, rng=self.rng, base_scale=scale_for((h, w), self.scale, self.pixels), scale_range=self.scale_range,
            crop_hw=self.crop_size,
            hflip=self.hflip, jitter=self.jitter, label_aware=False,
        )

    def skip(self, sample: Sample, why: Exception) -> None:
        """Drop an unreadable image from the pool for the rest of the run, keeping the reason."""
        self.skipped[sample.id] = str(why)
        self.samples = [s for s in self.samples if s.id != sample.id]

    def batch(self, n: int, *, labelled_only: bool = False) -> tuple[torch.Tensor, torch.Tensor] | None:
        """``n`` random weak views, or None when no readable image is left.

        ``labelled_only``: draw only images the teacher has labelled (self-training).
        """
        images, targets = [], []
        while len(images) < n and self.samples:
            pool = [s for s in self.samples if s.id in self.pseudo] if labelled_only else self.samples
            if not pool:
                return None
            sample = pool[int(self.rng.integers(len(pool)))]
            try:
                image, target = self._view(sample)
            except FcnStudioError as exc:
                self.skip(sample, exc)
                continue
            images.append(torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))))
            targets.append(torch.from_numpy(target))
        if len(images) < n:
            return None
        return torch.stack(images), torch.stack(targets)
