"""The mask store of a project: masks read and written one at a time, and reconciled with
``project.json``.

A mask is written before ``project.json``, so a crash between the two leaves a newer mask than
the metadata says. Each entry records the mask file it was computed from (size, time, inode);
on opening, a mask whose file differs is read again and its share corrected, so no order of
kills leaves ``project.json`` disagreeing with the masks.

A mixin over :class:`~fcn_studio.data.project.Project` (its ``images``, ``labelset``, ``path_of``,
``entry``, ``save``, ``mask_saved``, lock and digests); kept apart so the project file's own
code (open, validate, save, add images) reads on its own.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fcn_studio.data.labelset import UNPAINTED
from fcn_studio.errors import FcnStudioError, MaskError, ProjectError

if TYPE_CHECKING:  # the project module imports this one
    from fcn_studio.data.project import ImageEntry

#: How an entry remembers the mask file its painted share came from: [size, mtime_ns, inode].
MaskStamp = list[int]


class MaskStore:
    """Loading, saving and reconciling masks (see the module)."""

    def reconcile_masks(self) -> bool:
        """Derive each painted share from its mask file where the file is not the one recorded.

        A stat per image; only masks written after the last save of ``project.json`` (a crash
        between the two writes, or an older project without records) are decoded. Fixes
        ``warnings`` and returns True when an entry changed, so the caller can save it.
        """
        changed = False
        for entry in list(self.images):
            before = (entry.painted, entry.mask_stamp)
            note = self._refresh_entry(entry)
            if note:
                self.warnings.append(note)
            changed |= (entry.painted, entry.mask_stamp) != before
        return changed

    def refresh_painted(self, image_id: str) -> float:
        """The painted share of one image as its mask file on disk has it (re-read if it changed).

        For code about to overwrite a mask (an import): ``entry.painted`` may be older than a
        file another process wrote since this project was opened.
        """
        entry = self.entry(image_id)
        with self._lock:
            self._refresh_entry(entry)
        return entry.painted

    def _refresh_entry(self, entry: ImageEntry) -> str:
        """Bring ``entry.painted`` in line with its mask file; a sentence when it was wrong."""
        from fcn_studio.data.masks import check_mask, painted_fraction

        path = self.path_of(entry.mask)
        stamp = file_stamp(path)
        if stamp is None:
            was = entry.painted
            entry.painted, entry.mask_stamp = 0.0, None
            return f"mask of {entry.file} is missing; the image shows as not painted" if was > 0 else ""
        if stamp == entry.mask_stamp:
            return ""
        try:
            mask, _ = check_mask(path, self.labelset, expected_hw=(entry.height, entry.width))
        except FcnStudioError as exc:
            # Keep the file (it may be repairable) and the recorded share; has_mask() stays
            # True, so nothing overwrites it without asking.
            entry.mask_stamp = None
            return f"{exc}; the image keeps its recorded painted share until the mask is replaced"
        was, entry.painted, entry.mask_stamp = entry.painted, painted_fraction(mask), stamp
        self._mask_digests.pop(entry.id, None)
        if abs(was - entry.painted) > 1e-6:
            return (
                f"project.json said {entry.file} was {was:.1%} painted but its mask is {entry.painted:.1%} painted "
                "(the app stopped between saving the mask and the project); corrected from the mask"
            )
        return ""

    # -- masks -----------------------------------------------------------------------------
    def load_mask(self, image_id: str) -> np.ndarray:
        """The painted mask (HxW uint8, 255 = not painted); all 255 when nothing is saved yet."""
        from fcn_studio.data.masks import read_mask

        entry = self.entry(image_id)
        path = self.path_of(entry.mask)
        if not path.exists():
            mask = np.full((entry.height, entry.width), UNPAINTED, dtype=np.uint8)
        else:
            mask = read_mask(path, self.labelset, expected_hw=(entry.height, entry.width))
        self._mask_digests[image_id] = array_digest(mask)
        return mask

    def save_mask(self, image_id: str, mask: np.ndarray, *, save_project: bool = True) -> bool:
        """Write the mask if its pixels changed since the last load or save; True if written.

        Cheap to call after every stroke (autosave): an unchanged mask costs one hash.
        """
        from fcn_studio.data.masks import painted_fraction, write_indexed_png

        entry = self.entry(image_id)
        if mask.shape != (entry.height, entry.width):
            raise MaskError(
                f"mask for {entry.file} is {mask.shape[1]}x{mask.shape[0]} but the image is {entry.width}x{entry.height}"
            )
        digest = array_digest(mask)
        path = self.path_of(entry.mask)
        with self._lock:  # the GUI saves from a background thread
            if self._mask_digests.get(image_id) == digest and (path.exists() or not (mask != UNPAINTED).any()):
                return False
            path.parent.mkdir(exist_ok=True)
            write_indexed_png(path, mask, self.labelset)
            self._mask_digests[image_id] = digest
            # The mask is on disk before project.json: a crash in between is undone on open
            # by reconcile_masks, which sees a mask file other than the one recorded here.
            if self.record_mask(image_id, painted_fraction(mask)) and save_project:
                self.save()
        self.mask_saved.emit(image_id)
        return True

    def record_mask(self, image_id: str, painted: float) -> bool:
        """Note that the mask file of ``image_id`` was just written with this painted share.

        For code that writes mask files itself (a label-set edit). True when the share
        changed, i.e. ``project.json`` needs saving; a new file alone does not need it, since
        opening re-derives the share of a mask file other than the recorded one.
        """
        entry = self.entry(image_id)
        with self._lock:
            entry.mask_stamp = file_stamp(self.path_of(entry.mask))
            changed = painted != entry.painted
            entry.painted = painted
        return changed

    def has_mask(self, image_id: str) -> bool:
        """Whether a mask file exists for the image, whatever ``project.json`` says.

        What an import must check before writing a mask without "replace": a file may hold
        painting that the metadata does not know about yet.
        """
        return self.path_of(self.entry(image_id).mask).exists()


def file_stamp(path: Path) -> MaskStamp | None:
    """What identifies one written version of a file cheaply; None when there is no file.

    Each atomic save makes a new inode, so size, modification time and inode together tell
    a file apart from the one an entry recorded without reading it.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ProjectError(f"cannot read {path}: {exc.strerror or exc}") from None
    return [int(st.st_size), int(st.st_mtime_ns), int(st.st_ino)]


def stamp_from_json(value: Any) -> MaskStamp | None:
    if isinstance(value, list) and len(value) == 3 and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        return [int(v) for v in value]
    return None  # absent or odd: the mask is simply read again on open


def array_digest(mask: np.ndarray) -> str:
    return hashlib.blake2b(np.ascontiguousarray(mask).data, digest_size=16).hexdigest()
