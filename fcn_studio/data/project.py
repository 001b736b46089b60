"""The project store: a folder that holds a user's images, label set and painted masks.

Layout::

    my_project/
      project.json      versioned JSON: label set, image entries, per-image state
      images/           copies of (or links to) the user's images
      masks/            one 8-bit indexed PNG per image, VOC palette, 255 = not painted
      checkpoints/      fine-tuned models (written by the training engine)

Every file is written atomically (see :mod:`fcn_studio.data.atomic`), so a crash at any
moment leaves the last saved state loadable. ``project.json`` never embeds pixel data, keeps
keys it does not know, and names files only by relative paths that must stay inside the
project folder, links followed (see :mod:`fcn_studio.data.safe_paths`).

What can be derived from a mask file (its painted share) is derived from it: a mask is
written before ``project.json``, so a crash between the two leaves a newer mask than the
metadata says. Each entry records the mask file it was computed from (size, time, inode);
on opening, a mask whose file differs is read again and its share corrected, so no order of
kills leaves ``project.json`` disagreeing with the masks.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterable, Literal

import numpy as np
from psygnal import Signal

from fcn_studio.data.atomic import atomic_write_text, stale_temp_files
from fcn_studio.data.labelset import LabelSet, load_preset
from fcn_studio.data.project_masks import MaskStamp, MaskStore, stamp_from_json
from fcn_studio.data.safe_paths import move_without_overwriting, resolve_folder, resolve_inside
from fcn_studio.errors import FcnStudioError, ProjectError

PROJECT_FILE = "project.json"
BACKUP_FILE = "project.json.bak"
FORMAT_NAME = "fcn-studio-project"
FORMAT_VERSION = 1

AddMode = Literal["copy", "link"]

#: Folders a project owns; each must be a real folder inside it (checked when opening).
PROJECT_FOLDERS = ("images", "masks", "predictions", "checkpoints", "trash")
#: Only files here may be links leading outside (images added in link mode, read only).
LINKED_FILES_FOLDER = "images"


@dataclass
class ImageEntry:
    """One image of a project; ``file`` and ``mask`` are POSIX paths relative to the project."""

    id: str
    file: str
    height: int
    width: int
    source: str = ""
    painted: float = 0.0
    predicted: bool = False
    #: The mask file ``painted`` was computed from; another file means: compute it again.
    mask_stamp: MaskStamp | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def mask(self) -> str:
        return f"masks/{self.id}.png"

    @property
    def prediction(self) -> str:
        return f"predictions/{self.id}.png"

    def to_json(self) -> dict[str, Any]:
        data = dict(self.extra)
        data.update(
            id=self.id,
            file=self.file,
            height=self.height,
            width=self.width,
            source=self.source,
            state={"painted": round(self.painted, 6), "predicted": self.predicted},
        )
        if self.mask_stamp is not None:
            data["state"]["mask_file"] = list(self.mask_stamp)
        return data

    @classmethod
    def from_json(cls, data: Any, where: str) -> "ImageEntry":
        if not isinstance(data, dict):
            raise ProjectError(f"{where}: an image entry must be an object")
        try:
            state = data.get("state") or {}
            entry = cls(
                id=str(data["id"]),
                file=str(data["file"]),
                height=int(data["height"]),
                width=int(data["width"]),
                source=str(data.get("source", "")),
                painted=float(state.get("painted", 0.0)),
                predicted=bool(state.get("predicted", False)),
                mask_stamp=stamp_from_json(state.get("mask_file")),
                extra={k: v for k, v in data.items() if k not in ("id", "file", "height", "width", "source", "state")},
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ProjectError(f"{where}: image entry needs id, file, height and width ({exc})") from None
        _check_safe_id(entry.id, where)
        _check_relative(entry.file, where)
        return entry


@dataclass
class AddResult:
    """What :meth:`Project.add_images` did: entries added, and files refused with reasons."""

    added: list[ImageEntry] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)


class Project(MaskStore):
    """A project folder in memory. Open with :meth:`open`, make with :meth:`create`.

    Masks are not held in memory: :meth:`load_mask` reads one when needed and
    :meth:`save_mask` writes one back, only when its pixels changed (the mask store and its
    reconciliation with ``project.json`` are :class:`~fcn_studio.data.project_masks.MaskStore`).
    """

    images_changed = Signal()
    mask_saved = Signal(str)
    labelset_changed = Signal(object)

    def __init__(self, root: Path, labelset: LabelSet, images: list[ImageEntry], extra: dict[str, Any] | None = None):
        self.root = Path(root)
        self.labelset = labelset
        self.images = images
        self.extra = dict(extra or {})
        #: What :meth:`open` skipped or repaired, as sentences for the user.
        self.warnings: list[str] = []
        self._mask_digests: dict[str, str] = {}
        self._lock = threading.RLock()

    # -- creating and opening --------------------------------------------------------------
    @classmethod
    def create(cls, root: str | Path, labelset: LabelSet | str = "road") -> "Project":
        """Make a new, empty project folder (which may exist but must not hold a project)."""
        root = Path(root)
        if (root / PROJECT_FILE).exists():
            raise ProjectError(f"{root} already holds a project; open it instead")
        if isinstance(labelset, str):
            labelset = load_preset(labelset)
        _check_folders(root)
        try:
            for sub in ("images", "masks"):
                (root / sub).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ProjectError(f"cannot create project folder {root}: {exc.strerror or exc}") from None
        project = cls(root, labelset, [])
        project.save()
        return project

    @classmethod
    def open(cls, root: str | Path) -> "Project":
        """Open a project; repairs what a crash could leave and lists it in ``warnings``."""
        root = Path(root)
        if root.is_file() and root.name == PROJECT_FILE:
            root = root.parent
        if not (root / PROJECT_FILE).exists() and not (root / BACKUP_FILE).exists():
            raise ProjectError(f"{root} is not an fcn-studio project (no {PROJECT_FILE}); create one or pick another folder")
        _check_folders(root)  # before anything is read or deleted
        warnings: list[str] = []
        for tmp in stale_temp_files(root):
            warnings.append(f"removed {tmp.relative_to(root)}, left over from a save that was interrupted")
            tmp.unlink(missing_ok=True)
        try:
            data = _read_json(root / PROJECT_FILE)
            project = cls._from_json(root, data)
        except ProjectError as first:
            if not (root / BACKUP_FILE).exists():
                raise
            data = _read_json(root / BACKUP_FILE)
            project = cls._from_json(root, data)
            warnings.append(f"{PROJECT_FILE} could not be read ({first}); opened the previous save instead")
        project.warnings = warnings + project.warnings
        project._check_files()
        if project.reconcile_masks():
            try:
                project.save()  # so the next open, and other readers, see the corrected shares
            except ProjectError as exc:
                project.warnings.append(f"could not save the repaired {PROJECT_FILE} ({exc}); it is repaired again at the next open")
        return project

    @classmethod
    def read_snapshot(cls, root: str | Path, *, fallback: bool = True) -> "Project":
        """The project as last saved, read without touching any file.

        For a second process (the training process) that follows a project another process
        edits: :meth:`open` repairs what a crash leaves (it deletes stray temp files), which
        here could be the editor's save in progress. Saves are atomic renames, so a read sees a
        whole file; the snapshot must never be saved. ``fallback`` reads the previous save
        when ``project.json`` cannot be read (a follower that has a state already keeps it).
        """
        root = Path(root)
        try:
            data = _read_json(root / PROJECT_FILE)
        except ProjectError:
            if not fallback:
                raise
            data = _read_json(root / BACKUP_FILE)
        project = cls._from_json(root, data)
        project.reconcile_masks()  # in memory only: a snapshot never writes
        return project

    @classmethod
    def _from_json(cls, root: Path, data: Any) -> "Project":
        where = str(root / PROJECT_FILE)
        if not isinstance(data, dict) or data.get("format") != FORMAT_NAME:
            raise ProjectError(f"{where} is not an fcn-studio project file")
        version = data.get("version")
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise ProjectError(f"{where} has format version {version!r}; this fcn-studio reads up to {FORMAT_VERSION}. Update fcn-studio.")
        labelset = LabelSet.from_json(data.get("labelset"), source=f"{where} (labelset)")
        raw_images = data.get("images", [])
        if not isinstance(raw_images, list):
            raise ProjectError(f"{where}: 'images' must be a list")
        images: list[ImageEntry] = []
        warnings: list[str] = []
        seen: set[str] = set()
        for i, raw in enumerate(raw_images):
            try:
                entry = ImageEntry.from_json(raw, f"{where} image #{i}")
            except ProjectError as exc:
                warnings.append(f"skipped an image entry: {exc}")
                continue
            if entry.id in seen:
                warnings.append(f"skipped a second image entry with id {entry.id!r}")
                continue
            seen.add(entry.id)
            images.append(entry)
        extra = {k: v for k, v in data.items() if k not in ("format", "version", "labelset", "images")}
        project = cls(root, labelset, images, extra)
        project.warnings = warnings
        return project

    def _check_files(self) -> None:
        known = set()
        for entry in self.images:
            known.add(entry.file)
            if not self.path_of(entry.file).exists():
                self.warnings.append(f"image {entry.file} is missing; its entry is kept so you can restore the file")
        images_dir = self.root / "images"
        if images_dir.is_dir():
            stray = sorted(
                p.name for p in images_dir.iterdir() if p.is_file() and f"images/{p.name}" not in known and not p.name.startswith(".")
            )
            if stray:
                self.warnings.append(
                    f"skipped {len(stray)} file(s) in images/ that the last complete save does not list "
                    f"(an interrupted import?): {', '.join(stray[:5])}{' ...' if len(stray) > 5 else ''}. Add them again to use them."
                )

    # -- saving ----------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        data = dict(self.extra)
        data.update(
            format=FORMAT_NAME,
            version=FORMAT_VERSION,
            labelset=self.labelset.to_json(),
            images=[e.to_json() for e in self.images],
        )
        return data

    def save(self) -> None:
        """Write ``project.json`` atomically, keeping the previous save as ``project.json.bak``."""
        with self._lock:
            text = json.dumps(self.to_json(), indent=1) + "\n"
            target = self.root / PROJECT_FILE
            if target.exists():
                try:
                    bak = self.root / BACKUP_FILE
                    tmp_link = self.root / f".{BACKUP_FILE}.link"
                    tmp_link.unlink(missing_ok=True)
                    os.link(target, tmp_link)
                    os.replace(tmp_link, bak)
                except OSError:
                    pass  # no hard links here: the atomic replace below still protects the save
            atomic_write_text(target, text)

    # -- paths -----------------------------------------------------------------------------
    def path_of(self, relative: str) -> Path:
        """Absolute path of a project-relative POSIX path, refusing anything that leaves the folder.

        Checked twice: the text (no ``..``, not absolute) and where it really leads with links
        followed (:func:`~fcn_studio.data.safe_paths.resolve_inside`); only image files in
        ``images/`` may be links to files outside (link mode). Call it right before each use.
        """
        _check_relative(relative, str(self.root / PROJECT_FILE))
        linked_ok = PurePosixPath(relative).parts[0] == LINKED_FILES_FOLDER and len(PurePosixPath(relative).parts) > 1
        return resolve_inside(self.root, relative, allow_file_link=linked_ok)

    def entry(self, image_id: str) -> ImageEntry:
        for e in self.images:
            if e.id == image_id:
                return e
        raise ProjectError(f"no image {image_id!r} in project {self.root}")

    def index_of(self, image_id: str) -> int:
        return next(i for i, e in enumerate(self.images) if e.id == image_id)

    # -- images ----------------------------------------------------------------------------
    def add_images(
        self,
        paths: Iterable[str | Path],
        mode: AddMode = "copy",
        *,
        save: bool = True,
        progress: Callable[[int, int], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> AddResult:
        """Bring images into ``images/`` by copy (default) or link; name clashes get a suffix.

        Each file is decoded in full first (:func:`~fcn_studio.data.imageio.verify_image`), so
        a truncated or damaged file is refused here, with a reason, rather than failing later
        in training. That takes a while for many large photos: the GUI calls this from a
        worker with ``progress``. Refusals are reported, not raised: one bad file in a folder
        of hundreds must not stop the import. The same file added twice is reported, not copied.
        """
        from fcn_studio.data.imageio import verify_image

        result = AddResult()
        images_dir = self.path_of("images")
        images_dir.mkdir(exist_ok=True)
        digests = {self._file_digest(p) for p in (self.path_of(e.file) for e in self.images) if p.exists()}
        paths = list(paths)
        for done, src in enumerate(paths, 1):
            if should_stop is not None and should_stop():
                break
            if progress is not None:
                progress(done, len(paths))
            src = Path(src)
            try:
                h, w = verify_image(src)
            except FcnStudioError as exc:
                result.refused.append((str(src), str(exc)))
                continue
            digest = self._file_digest(src)
            if digest in digests:
                result.duplicates.append(str(src))
                continue
            name, image_id = self._free_name(src)
            try:
                dst = self.path_of(f"images/{name}")  # images/ may have become a link since
                _bring(src, dst, mode)
            except ProjectError as exc:
                result.refused.append((str(src), str(exc)))
                continue
            except OSError as exc:
                result.refused.append((str(src), f"could not {mode} into the project: {exc.strerror or exc}"))
                continue
            entry = ImageEntry(id=image_id, file=f"images/{name}", height=h, width=w, source=str(src.resolve()))
            with self._lock:
                self.images.append(entry)
            digests.add(digest)
            result.added.append(entry)
        if result.added:
            if save:
                self.save()
            self.images_changed.emit()
        return result

    def _free_name(self, src: Path) -> tuple[str, str]:
        """A file name and id not used yet: ``road.png`` -> ``road_2.png`` on a clash."""
        taken_ids = {e.id for e in self.images}
        taken_files = {e.file for e in self.images}
        stem = _safe_stem(src.stem)
        suffix = src.suffix.lower()
        n = 1
        while True:
            candidate = stem if n == 1 else f"{stem}_{n}"
            name = candidate + suffix
            if candidate not in taken_ids and f"images/{name}" not in taken_files and not os.path.lexists(self.root / "images" / name):
                return name, candidate
            n += 1

    @staticmethod
    def _file_digest(path: Path) -> str:
        h = hashlib.sha1()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        return h.hexdigest()

    def remove_image(self, image_id: str) -> None:
        """Drop an image from the project; its files move to ``trash/`` rather than vanish.

        A linked image moves as the link (the user's file stays where it is); a name already
        in the trash is kept and the newcomer numbered. Every path is checked before anything
        moves, so a refused folder leaves the project as it was.
        """
        entry = self.entry(image_id)
        trash = self.path_of("trash")
        paths = [self.path_of(rel) for rel in (entry.file, entry.mask)]
        try:
            trash.mkdir(exist_ok=True)
            for p in paths:
                if os.path.lexists(p):
                    move_without_overwriting(p, trash)
        except OSError as exc:
            raise ProjectError(f"could not move {entry.file} to {trash}: {exc.strerror or exc}") from None
        with self._lock:
            self.images.remove(entry)
        self.save()
        self.images_changed.emit()

    def load_image(self, image_id: str) -> np.ndarray:
        """The image as HxWx3 uint8 RGB (EXIF orientation applied, odd modes converted)."""
        from fcn_studio.data.imageio import read_image

        return read_image(self.path_of(self.entry(image_id).file))

    # -- label set -------------------------------------------------------------------------
    def set_labelset(self, labelset: LabelSet) -> None:
        self.labelset = labelset
        self.save()
        self.labelset_changed.emit(labelset)


def _check_folders(root: Path) -> None:
    """Refuse a project whose own folders are links leading outside it or to nothing (raises ProjectError)."""
    for name in PROJECT_FOLDERS:
        resolve_folder(root, name)


def _bring(src: Path, dst: Path, mode: AddMode) -> None:
    if mode == "copy":
        shutil.copy2(src, dst)
        return
    try:
        os.symlink(src.resolve(), dst)
    except OSError:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ProjectError(f"{path} is missing") from None
    except OSError as exc:
        raise ProjectError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ProjectError(f"{path} is damaged ({exc})") from None


def _check_relative(relative: str, where: str) -> None:
    p = PurePosixPath(relative)
    if p.is_absolute() or ".." in p.parts or not p.parts or "\\" in relative or ":" in p.parts[0]:
        raise ProjectError(f"{where}: path {relative!r} points outside the project; refused")


def _check_safe_id(image_id: str, where: str) -> None:
    if not image_id or "/" in image_id or "\\" in image_id or image_id in (".", "..") or image_id.startswith("."):
        raise ProjectError(f"{where}: image id {image_id!r} is not a plain name; refused")


def _safe_stem(stem: str) -> str:
    cleaned = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in stem).strip("._")
    return cleaned or "image"
