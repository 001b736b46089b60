"""A torch ``Dataset`` over a :class:`~fcn_studio.training.samples.SampleSource`.

Targets use one convention whatever the label set: trainable class ``k`` is ``k`` and
everything never trained on (unpainted pixels and the label set's ``ignore_index``) is
:data:`IGNORE` (255), the loss's ``ignore_index``. Sparse scribbles therefore train exactly
on the painted pixels.

Images are decoded once and kept in a bounded cache (they do not change); masks are read from
disk every time a sample is drawn (a PNG of a few hundred KB decodes in about a millisecond),
so the user's new strokes are used as soon as they are saved. :meth:`refresh` re-lists the
painted images; the trainer calls it at each epoch start.
"""

from __future__ import annotations

import threading
import zlib
from collections import OrderedDict

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, RandomSampler
from torch.utils.data.distributed import DistributedSampler

from PIL import Image

from fcn_studio.data.labelset import LabelSet
from fcn_studio.data.working_size import resize_pair, scale_for, working_pixels
from fcn_studio.errors import FcnStudioError, TrainingError
from fcn_studio.training.augment import augment
from fcn_studio.training.samples import Sample, SampleSource, split_validation

#: Target value the loss and the metrics skip.
IGNORE = 255


def target_lut(labelset: LabelSet) -> np.ndarray:
    """(256,) uint8 table: mask value -> training target (class id, or IGNORE)."""
    lut = np.full(256, IGNORE, dtype=np.uint8)
    ids = np.array(labelset.train_ids, dtype=np.int64)
    lut[ids] = ids  # train ids are 0..K-1 (LabelSet enforces it)
    return lut


class ImageCache:
    """Decoded images by sample id, least recently used dropped past ``max_bytes``. Thread-safe."""

    def __init__(self, max_bytes: int = 1 << 30) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, np.ndarray] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, sample: Sample) -> np.ndarray:
        key = f"{sample.id}|{sample.image_path}"
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
                return hit
        image = sample.read_image()
        with self._lock:
            if key not in self._items and image.nbytes <= self.max_bytes:
                self._items[key] = image
                self._bytes += image.nbytes
                while self._bytes > self.max_bytes:
                    _, old = self._items.popitem(last=False)
                    self._bytes -= old.nbytes
        return image


class SegmentationDataset(Dataset):
    """Training views (``train=True``) or whole validation images of a sample source.

    Training items are ``(image uint8 3xHxW, target uint8 HxW)`` crops. Validation items are
    ``(image uint8 3xhxw at working scale, target uint8 HxW at full size, index)``: metrics
    are computed at the masks' own resolution, like the predictor's output.

    ``min_length`` repeats the samples so an epoch holds at least that many items (a batch
    needs ``batch_size`` views even when only three images are painted).
    """

    def __init__(
        self,
        source: SampleSource,
        *,
        train: bool,
        scale: float = 1.0,
        crop_size: tuple[int, int] = (256, 256),
        scale_range: tuple[float, float] = (0.5, 1.5),
        hflip: bool = True,
        color_jitter: float = 0.0,
        seed: int = 0,
        min_length: int = 0,
        cache: ImageCache | None = None,
        grow_radius: float = 0.0,
        grow_regions: float = 0.0,
    ) -> None:
        self.source = source
        self.train = train
        self.scale = float(scale)
        self.crop_size = (int(crop_size[0]), int(crop_size[1]))
        self.scale_range = (float(scale_range[0]), float(scale_range[1]))
        self.hflip = hflip
        self.color_jitter = float(color_jitter)
        self.seed = int(seed)
        self.min_length = int(min_length)
        self.epoch = 0
        self.cache = cache or ImageCache()
        self.grow_radius = float(grow_radius)
        self.grow_regions = float(grow_regions)
        self._grown: dict[str, tuple[int, np.ndarray]] = {}
        #: Training images' working size in pixels (data.working_size): each image is scaled to
        #: about this size, so images of other sizes are seen at the scale of the others.
        self.working_pixels: int | None = None
        self.samples: list[Sample] = []
        self.refresh()

    def scale_of(self, hw: tuple[int, int]) -> float:
        """The working scale of an image of size ``hw`` (``scale`` for the median size)."""
        return scale_for(hw, self.scale, self.working_pixels)

    def measure_working_size(self) -> int | None:
        """Set :attr:`working_pixels` from the sizes of this set's images (headers only); returns it."""
        self.working_pixels = working_pixels((sample_hw(s) for s in self.samples), self.scale)
        return self.working_pixels

    @property
    def labelset(self) -> LabelSet:
        return self.source.labelset

    def refresh(self) -> int:
        """Re-list the painted images (call at an epoch start); returns how many there are."""
        self.samples = list(self.source.refresh())
        self._lut = target_lut(self.labelset)
        return len(self.samples)

    def set_epoch(self, epoch: int) -> None:
        """Augmentation randomness is a function of (seed, epoch, index): set before each epoch."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        n = len(self.samples)
        return 0 if n == 0 else max(n, self.min_length)

    def sample_at(self, index: int) -> Sample:
        return self.samples[index % len(self.samples)]

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """(image HxWx3 uint8, target HxW uint8) of a sample at full resolution."""
        sample = self.sample_at(index)
        image = self.cache.get(sample)
        try:
            mask = sample.read_mask()
        except FcnStudioError as exc:
            raise TrainingError(f"cannot train on {sample.image_path.name}: {exc}") from None
        if mask.shape != image.shape[:2]:
            raise TrainingError(
                f"mask of {sample.image_path.name} is {mask.shape[1]}x{mask.shape[0]} but the image is "
                f"{image.shape[1]}x{image.shape[0]}; a mask must have its image's size"
            )
        target = self._lut[mask]
        if self.train and (self.grow_radius > 0 or self.grow_regions > 0):
            target = self._grow(sample.id, image, target)
        return image, target

    def _grow(self, key: str, image: np.ndarray, target: np.ndarray) -> np.ndarray:
        """Strokes grown into their colour regions (training.stroke_growing), cached until the mask changes."""
        from fcn_studio.training.stroke_growing import grow_strokes

        digest = zlib.crc32(target.data)
        hit = self._grown.get(key)
        if hit is not None and hit[0] == digest:
            return hit[1]
        grown = grow_strokes(image, target, self.grow_radius, self.grow_regions)
        self._grown[key] = (digest, grown)
        return grown

    def __getitem__(self, index: int):  # noqa: ANN204 - tuple shapes differ by mode
        image, target = self.load(index)
        if self.train:
            rng = np.random.default_rng([self.seed, self.epoch, index])
            image, target = augment(
                image,
                target,
                rng=rng,
                base_scale=self.scale_of(image.shape[:2]),
                scale_range=self.scale_range,
                crop_hw=self.crop_size,
                hflip=self.hflip,
                jitter=self.color_jitter,
            )
            return _chw(image), torch.from_numpy(target)
        small, _ = resize_pair(image, None, self.scale_of(image.shape[:2]))
        return _chw(np.ascontiguousarray(small)), torch.from_numpy(target), index


def sample_hw(sample: Sample) -> tuple[int, int]:
    """(height, width) of a sample's image: recorded, else read from the file's header."""
    if sample.hw is not None:
        return (int(sample.hw[0]), int(sample.hw[1]))
    try:
        with Image.open(sample.image_path) as im:
            w, h = im.size
        return (int(h), int(w))
    except OSError:
        return (0, 0)  # unreadable: left out of the median; loading it says why


def _chw(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))


def pixel_counts(dataset: SegmentationDataset, num_classes: int) -> np.ndarray:
    """Painted pixels per trainable class over the dataset's images (for class weights)."""
    counts = np.zeros(num_classes, dtype=np.int64)
    for i in range(len(dataset.samples)):
        _, target = dataset.load(i)
        counts += np.bincount(target.reshape(-1), minlength=256)[:num_classes]
    return counts


def balanced_weights(counts: np.ndarray) -> np.ndarray:
    """Inverse square-root frequency weights, mean 1 over present classes.

    Square root rather than plain inverse frequency: full inverse weighting makes a class with
    40 painted pixels as loud as the road, and sparse scribbles make such classes common.
    """
    present = counts > 0
    w = np.zeros(len(counts), dtype=np.float64)
    if not present.any():
        return np.ones(len(counts), dtype=np.float32)
    w[present] = 1.0 / np.sqrt(counts[present] / counts[present].sum())
    w[present] /= w[present].mean()
    w[~present] = 1.0
    return w.astype(np.float32)


def make_loader(
    dataset: SegmentationDataset, batch_size: int, *, seed: int, epoch: int, dist, workers: int, pin_memory: bool  # noqa: ANN001
) -> DataLoader:
    """One epoch's DataLoader: shuffled by (seed, epoch), full batches only, DDP-sharded if needed.

    Workers: on the 2-core CPU this was written on, a batch of 8 CamVid crops at the default
    recipe takes 53 ms to load (123 ms in the first epoch, which decodes the images) against
    880 ms of training math (MobileNetV3 FCN-8s, 192x192, one thread), so a worker process
    could hide at most 6 % and would take a core from the math; the trainer uses none there,
    and up to 4 on a GPU, where the math is fast enough for loading to matter. Worker
    processes are not persistent: the dataset's list of painted images changes between epochs.
    """
    if dist.enabled:
        sampler = DistributedSampler(dataset, num_replicas=dist.world_size, rank=dist.rank, shuffle=True, seed=seed, drop_last=True)
        sampler.set_epoch(epoch)
    else:
        sampler = RandomSampler(dataset, generator=torch.Generator().manual_seed(seed * 100_003 + epoch))
    return DataLoader(
        dataset, batch_size=min(batch_size, len(dataset)), sampler=sampler, drop_last=True, num_workers=workers,
        pin_memory=pin_memory, worker_init_fn=_worker_init if workers else None,
    )


def _worker_init(_: int) -> None:
    """Workers decode and augment with one thread each, or they fight the trainer for cores."""
    import cv2

    torch.set_num_threads(1)
    cv2.setNumThreads(1)


def build_datasets(
    source: SampleSource,
    val_source: SampleSource | None,
    *,
    scale: float,
    crop_size: tuple[int, int],
    scale_range: tuple[float, float],
    hflip: bool,
    color_jitter: float,
    seed: int,
    val_fraction: float,
    min_length: int,
    grow_radius: float = 0.0,
    grow_regions: float = 0.0,
) -> tuple[SegmentationDataset, SegmentationDataset, str, int]:
    """(train set, validation set, what validation scores, images held out).

    Without a validation source, ``val_fraction`` of the painted images are held out when
    enough are painted (see :func:`split_validation`); otherwise validation scores the
    training images themselves (``"training"``: fit, not generalisation).
    """
    samples = source.refresh()
    if not samples:
        raise TrainingError("nothing to train on: no image has painted pixels yet; paint a few strokes of each class first")
    train_src, val_src, on, held = source, val_source, "validation", []
    if val_src is None and hasattr(source, "without"):
        held = split_validation(samples, val_fraction, seed)
        if held:
            train_src, val_src = source.without(held), source.subset(held)  # type: ignore[attr-defined]
    if val_src is None:
        val_src, on = train_src, "training"
    train_ds = SegmentationDataset(
        train_src, train=True, scale=scale, crop_size=crop_size, scale_range=scale_range, hflip=hflip,
        color_jitter=color_jitter, seed=seed, min_length=min_length, grow_radius=grow_radius,
        grow_regions=grow_regions,
    )
    if not train_ds.samples:
        raise TrainingError("nothing left to train on after holding out validation images; paint more images")
    val_ds = SegmentationDataset(val_src, train=False, scale=scale, seed=seed, cache=train_ds.cache)
    val_ds.working_pixels = train_ds.measure_working_size()  # both sets at the training images' size
    return train_ds, val_ds, on, len(held)
