"""Where training pixels come from: a project, or a plain folder pair, listed without torch.

A :class:`SampleSource` answers one question, "which images have painted pixels right now,
and how do I read them?", and answers it again each time :meth:`SampleSource.refresh` is
called. The trainer calls it at every epoch start, so strokes the user paints (and the GUI
saves into the project) while training runs are used by the next epoch.

Masks are read through :func:`~fcn_studio.data.masks.read_mask`, so any form it accepts
works: indexed PNGs, 8-bit id PNGs, or colour PNGs matched against the label set's colours.
Folder masks are matched to images by file stem, with the conventions of common datasets (the
rules of :mod:`fcn_studio.data.mask_import`, shared with the window's mask import):

* ``img.png`` <-> ``img.png`` / ``img_mask.png`` / ``img_L.png`` (CamVid colour labels) ...
* KITTI road: ``um_000012.png`` <-> ``um_road_000012.png`` (``_lane_`` also accepted);
* Cityscapes: ``x_leftImg8bit.png`` <-> ``x_gtFine_labelIds.png``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

import numpy as np

from fcn_studio.data.imageio import is_image_file, read_image
from fcn_studio.data.labelset import UNPAINTED, LabelSet
from fcn_studio.data.masks import read_mask
from fcn_studio.errors import TrainingError



@dataclass(frozen=True)
class Sample:
    """One trainable image: a stable id (cache key), its image file and how to read its mask.

    ``read_mask`` returns HxW uint8 label-set ids with 255 for unpainted pixels; it reads the
    file each call, so edits saved since the last call are seen.
    """

    id: str
    image_path: Path
    read_mask: Callable[[], np.ndarray]
    hw: tuple[int, int] | None = None

    def read_image(self) -> np.ndarray:
        return read_image(self.image_path)


class SampleSource(Protocol):
    """What the dataset needs from wherever the images and masks live.

    Sources may also offer ``unlabelled() -> list[Sample]``: every image, painted or not, for
    semi-supervised training (:mod:`fcn_studio.training.semi_supervised`). Its samples' masks
    read as all-unpainted when the image has none, so the painted pixels stay labels and
    everything else counts as unlabelled.
    """

    labelset: LabelSet

    def refresh(self) -> list[Sample]:
        """The images that have painted pixels now (may differ from the previous call)."""
        ...


@dataclass(frozen=True)
class PaintSummary:
    """How much of a source is painted: it decides the automatic training choices.

    ``share`` is painted pixels over all pixels of all images; ``painted_share`` the same
    over the painted images only (scribbles: a few per cent; dense masks: most of it).
    """

    painted_images: int
    unpainted_images: int
    share: float
    painted_share: float

    @classmethod
    def of(cls, items: "list[tuple[float, float]]") -> "PaintSummary":
        """From (painted fraction, pixel count) per image."""
        painted = [(f, n) for f, n in items if f > 0]
        total = sum(n for _, n in items)
        total_painted = sum(n for _, n in painted)
        share = sum(f * n for f, n in items) / total if total else 0.0
        painted_share = sum(f * n for f, n in painted) / total_painted if total_painted else 0.0
        return cls(len(painted), len(items) - len(painted), share, painted_share)

    @property
    def dense(self) -> bool:
        """Whether the painted images are mostly painted (so a held-out one is a fair score)."""
        return self.painted_share >= 0.5


@dataclass(frozen=True)
class NoMask:
    """The mask of an image nobody painted: every pixel unpainted (picklable, like MaskFile)."""

    def __call__(self) -> None:
        return None


class ProjectSource:
    """The painted images of a :class:`~fcn_studio.data.project.Project`.

    Shares the Project object with the GUI when both run in one process: the GUI's
    ``save_mask`` updates ``entry.painted``, which :meth:`refresh` reads. Masks are read from
    the files directly (not through ``Project.load_mask``, which would overwrite the change
    digests the GUI's autosave relies on). ``ids`` restricts the source to some images (a
    validation split, or the images the user ticked).
    """

    def __init__(self, project, ids: list[str] | None = None, exclude: list[str] | None = None) -> None:  # noqa: ANN001
        self.project = project
        self.labelset: LabelSet = project.labelset
        self._ids = None if ids is None else set(ids)
        self._exclude = set(exclude or ())

    def refresh(self) -> list[Sample]:
        self.labelset = self.project.labelset
        out: list[Sample] = []
        for entry in list(self.project.images):
            if self._ids is not None and entry.id not in self._ids:
                continue
            if entry.id in self._exclude or entry.painted <= 0:
                continue
            mask_path = self.project.path_of(entry.mask)
            if not mask_path.exists():
                continue
            out.append(
                Sample(
                    id=entry.id,
                    image_path=self.project.path_of(entry.file),
                    read_mask=MaskFile(mask_path, self.labelset, (entry.height, entry.width)),
                    hw=(entry.height, entry.width),
                )
            )
        return out

    def unlabelled(self) -> list[Sample]:
        """Every image of the project (or of this subset), painted or not, for semi-supervised training."""
        out: list[Sample] = []
        for entry in list(self.project.images):
            if (self._ids is not None and entry.id not in self._ids) or entry.id in self._exclude:
                continue
            mask_path = self.project.path_of(entry.mask)
            hw = (entry.height, entry.width)
            reader = MaskFile(mask_path, self.labelset, hw) if entry.painted > 0 and mask_path.exists() else NoMask()
            out.append(Sample(id=entry.id, image_path=self.project.path_of(entry.file), read_mask=reader, hw=hw))
        return out

    def paint_summary(self) -> "PaintSummary":
        """How much of this source's images is painted (from project.json, no mask is read)."""
        entries = [e for e in list(self.project.images) if (self._ids is None or e.id in self._ids) and e.id not in self._exclude]
        return PaintSummary.of([(e.painted, e.height * e.width) for e in entries])

    def find_image(self, image_id: str) -> Path | None:
        """Path of any project image by id, painted or not (for live previews)."""
        for entry in list(self.project.images):
            if entry.id == image_id:
                return self.project.path_of(entry.file)
        return None

    def subset(self, ids: list[str]) -> "ProjectSource":
        return ProjectSource(self.project, ids=ids)

    def without(self, ids: list[str]) -> "ProjectSource":
        return ProjectSource(self.project, ids=None if self._ids is None else sorted(self._ids), exclude=[*self._exclude, *ids])


class ProjectFileSource(ProjectSource):
    """The painted images of a project that another process edits (the GUI, while the
    training process trains).

    Each :meth:`refresh` re-reads ``project.json`` as last saved (the editor saves it whenever
    an image's painted share changes), so images painted since the previous epoch join the
    next one. A read that fails (the file is being replaced) keeps the previous snapshot.
    Subsets share one snapshot, so the validation split follows the same state.
    """

    def __init__(self, root: str | Path, ids: list[str] | None = None, exclude: list[str] | None = None,
                 *, snapshot: "_Snapshot | None" = None) -> None:
        self.snapshot = snapshot if snapshot is not None else _Snapshot(Path(root))
        super().__init__(self.snapshot.project, ids, exclude)

    @property
    def project(self):  # noqa: ANN201 - a Project
        return self.snapshot.project

    @project.setter
    def project(self, _value) -> None:  # noqa: ANN001 - ProjectSource.__init__ assigns it
        pass

    def refresh(self) -> list[Sample]:
        self.snapshot.reload()
        return super().refresh()

    def subset(self, ids: list[str]) -> "ProjectFileSource":
        return ProjectFileSource(self.snapshot.root, ids=ids, snapshot=self.snapshot)

    def without(self, ids: list[str]) -> "ProjectFileSource":
        keep = None if self._ids is None else sorted(self._ids)
        return ProjectFileSource(self.snapshot.root, ids=keep, exclude=[*self._exclude, *ids], snapshot=self.snapshot)


class _Snapshot:
    """The latest readable state of a project on disk."""

    def __init__(self, root: Path) -> None:
        from fcn_studio.data.project import Project

        self.root = root
        self.project = Project.read_snapshot(root)

    def reload(self) -> None:
        from fcn_studio.data.project import Project
        from fcn_studio.errors import FcnStudioError

        try:
            self.project = Project.read_snapshot(self.root, fallback=False)
        except (FcnStudioError, OSError):
            pass  # keep training on what was readable last time


@dataclass(frozen=True)
class MaskFile:
    """A picklable "read this mask now" (DataLoader workers started by spawn must pickle it)."""

    path: Path
    labelset: LabelSet
    expected_hw: tuple[int, int] | None = None

    def __call__(self) -> np.ndarray:
        return read_mask(self.path, self.labelset, expected_hw=self.expected_hw)


class FolderSource:
    """Images in one folder, masks in another, matched by name; a label-set JSON gives the classes.

    Images without a mask are skipped (counted in :attr:`unmatched_images`). A mask with no
    painted pixel is skipped until it gets some: :meth:`refresh` re-reads only the masks whose
    file changed since the last call.
    """

    def __init__(self, images: str | Path, masks: str | Path, labelset: LabelSet, *, ids: list[str] | None = None) -> None:
        self.images_dir, self.masks_dir = Path(images), Path(masks)
        for what, folder in (("images", self.images_dir), ("masks", self.masks_dir)):
            if not folder.is_dir():
                raise TrainingError(f"{what} folder {folder} does not exist or is not a folder")
        self.labelset = labelset
        self._ids = None if ids is None else set(ids)
        self._painted: dict[Path, tuple[int, bool]] = {}
        self._lock = threading.Lock()
        self.pairs, self.unmatched_images, self.unmatched_masks = match_masks(self.images_dir, self.masks_dir)
        if not self.pairs:
            raise TrainingError(
                f"no image in {self.images_dir} has a mask in {self.masks_dir}; masks must share the image's "
                "file name (any extension), add a suffix such as _mask or _L, or follow KITTI naming "
                "(um_000012.png <-> um_road_000012.png)"
            )

    def refresh(self) -> list[Sample]:
        out: list[Sample] = []
        for image_path, mask_path in self.pairs:
            if self._ids is not None and image_path.stem not in self._ids:
                continue
            if not self._has_paint(mask_path):
                continue
            out.append(Sample(id=image_path.stem, image_path=image_path, read_mask=MaskFile(mask_path, self.labelset)))
        return out

    def subset(self, ids: list[str]) -> "FolderSource":
        clone = object.__new__(FolderSource)
        clone.__dict__.update(self.__dict__)
        clone._ids = set(ids) if self._ids is None else self._ids & set(ids)
        clone._painted = {}
        clone._lock = threading.Lock()
        return clone

    def without(self, ids: list[str]) -> "FolderSource":
        keep = [p.stem for p, _ in self.pairs if p.stem not in set(ids)]
        return self.subset(keep)

    def unlabelled(self) -> list[Sample]:
        """Every image of the images folder, with its mask when it has one (semi-supervised training).

        Images without a mask are the unlabelled set; the unpainted pixels of masked images
        count as unlabelled too.
        """
        masks = dict(self.pairs)
        out: list[Sample] = []
        for image_path in sorted([*masks, *self.unmatched_images]):
            if self._ids is not None and image_path.stem not in self._ids:
                continue
            mask = masks.get(image_path)
            reader = MaskFile(mask, self.labelset) if mask is not None else NoMask()
            out.append(Sample(id=image_path.stem, image_path=image_path, read_mask=reader))
        return out

    def paint_summary(self) -> "PaintSummary":
        """How much of the folder's images is painted (reads each mask; images without one count as unpainted).

        Images without a mask are taken to be as large as the average masked one, so their
        files need not be opened.
        """
        shares, sizes = [], []
        for image_path, mask_path in self.pairs:
            if self._ids is not None and image_path.stem not in self._ids:
                continue
            try:
                m = read_mask(mask_path, self.labelset)
            except Exception:  # noqa: BLE001 - an unreadable mask counts as unpainted here; training reports it
                continue
            shares.append(float((m != UNPAINTED).mean()))
            sizes.append(m.size)
        size = float(np.mean(sizes)) if sizes else 1.0
        rest = [p for p in self.unmatched_images if self._ids is None or p.stem in self._ids]
        return PaintSummary.of([*zip(shares, sizes), *((0.0, size) for _ in rest)])

    def find_image(self, image_id: str) -> Path | None:
        """The image file with stem ``image_id`` (for previews of unpainted images)."""
        for p in sorted(self.images_dir.iterdir()):
            if p.stem == image_id and is_image_file(p):
                return p
        return None

    def _has_paint(self, path: Path) -> bool:
        try:
            mtime = path.stat().st_mtime_ns
        except OSError:
            return False
        with self._lock:
            known = self._painted.get(path)
            if known is not None and known[0] == mtime:
                return known[1]
        painted = bool((read_mask(path, self.labelset) != UNPAINTED).any())
        with self._lock:
            self._painted[path] = (mtime, painted)
        return painted


def match_masks(images_dir: Path, masks_dir: Path) -> tuple[list[tuple[Path, Path]], list[Path], list[Path]]:
    """Pair each image with its mask: ``(pairs, images without mask, masks without image)``.

    The rules are the window's mask import's (:func:`fcn_studio.data.mask_import.pair_by_name`:
    case-insensitive; same stem, stem plus a mask suffix such as ``_L`` or ``_gtFine_labelIds``,
    KITTI's ``<cat>_road_<n>`` before ``_lane_``), so a folder that imports also trains.
    Sorted by image name.
    """
    from fcn_studio.data.mask_import import list_image_files, pair_by_name

    images = list_image_files(images_dir)
    masks = list_image_files(masks_dir)
    plan, _ = pair_by_name({str(p): [p.stem] for p in images}, masks, {str(p): [p.name] for p in images})
    pairs = [(p, plan[str(p)]) for p in images if str(p) in plan]
    unmatched = [p for p in images if str(p) not in plan]
    used = set(plan.values())
    return pairs, unmatched, [m for m in masks if m not in used]


def split_validation(samples: list[Sample], fraction: float, seed: int, *, min_train: int = 2) -> list[str]:
    """Ids of held-out validation images: ``round(fraction * n)`` of them, chosen by ``seed``.

    None are held out while that would leave fewer than ``min_train`` training images: with a
    handful of scribbled images every one of them is worth more for training than for a score.
    """
    n = len(samples)
    k = int(round(fraction * n))
    if k < 1 or n - k < min_train:
        return []
    order = np.random.default_rng(seed).permutation(n)
    return sorted(samples[i].id for i in order[:k])
