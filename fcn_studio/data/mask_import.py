"""Bring a folder of existing masks into a project: the one image<->mask matcher and the import.

One module so the window's *Import masks* dialog, ``fcn-studio import`` and the training CLI's
``--images DIR --masks DIR`` pairing all match files by the same rules and report the same way.
No Qt and no torch here.

Datasets ship ground truth beside their images under related names, so each mask file is
matched to an image by name (:func:`pair_by_name`), case-insensitively:

* the same stem (``0001TP_006690.png`` for image ``0001TP_006690.png``: CamVid's annot folders);
* the stem with a mask suffix removed: ``_L`` (CamVid colour labels), ``_mask``, ``_label(s)``,
  ``_gt``, ``_labelIds`` / ``_gtFine_labelIds`` (Cityscapes, whose images end ``_leftImg8bit``);
* KITTI road: image ``um_000012`` <- masks ``um_road_000012`` (preferred) or ``um_lane_000012``.

A mask whose file name is an image's original file name, extension and all (``plain.png`` for
the image imported from ``plain.png``), belongs to that image before any other rule. Otherwise a
mask whose name fits several images (``plain_mask.png`` when the project holds images from
``plain.png``, ``plain.bmp`` and ``plain.jpg``) is refused with a message, never guessed. When several masks
match one image the closest match wins (exact, then suffix, then KITTI road, then lane) and the
others are reported as skipped.

:func:`import_masks` reads each matched mask with :func:`~fcn_studio.data.masks.read_mask`
against the image's size and the project's label set; a refused mask (wrong size, unknown ids
or colours, unreadable) is reported with the reader's message, the rest are written with
``project.save_mask``. Images that already have painted pixels are skipped unless
``overwrite``: an import must not silently overwrite a person's work.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Generator, Literal

from fcn_studio.data.imageio import is_image_file
from fcn_studio.data.labelset import UNPAINTED
from fcn_studio.data.project import ImageEntry, Project
from fcn_studio.errors import MaskError, ProjectError

Status = Literal["imported", "refused", "unmatched", "skipped"]
STATUSES: tuple[Status, ...] = ("imported", "refused", "unmatched", "skipped")

#: Suffixes that turn an image stem into a mask stem, longest first (compared case-folded).
MASK_SUFFIXES = (
    "_gtcoarse_labeltrainids",
    "_gtfine_labeltrainids",
    "_gtcoarse_labelids",
    "_gtfine_labelids",
    "_gtfine_color",
    "_labeltrainids",
    "_labelids",
    "_labels",
    "_label",
    "_masks",
    "_mask",
    "_annot",
    "_seg",
    "_gt",
    "_l",
)
#: Suffixes some datasets put on image stems (Cityscapes).
IMAGE_SUFFIXES = ("_leftimg8bit",)
#: Mask formats a caller may insist on, and the kind :func:`~fcn_studio.data.masks.check_mask` reports for each.
KINDS: dict[str, str | None] = {"auto": None, "id": "ids", "index": "indexed", "color": "color"}
_KIND_WORDS = {"ids": "an id", "indexed": "an indexed (palette)", "color": "a colour"}
_KITTI = re.compile(r"^(?P<scene>[a-z]+)_(?P<kind>road|lane)_(?P<num>\d+)$")


@dataclass(frozen=True)
class ImportRow:
    """What happened to one mask file."""

    mask: str  # file name in the chosen folder
    image_id: str | None
    status: Status
    detail: str = ""

    def to_json(self) -> dict[str, str | None]:
        return {"mask": self.mask, "image": self.image_id, "status": self.status, "detail": self.detail}


@dataclass
class ImportReport:
    """All rows of one import, plus what stopped it early (cancel, a full disk)."""

    folder: Path
    rows: list[ImportRow] = field(default_factory=list)
    cancelled: bool = False
    error: str = ""

    def ids(self, status: Status = "imported") -> list[str]:
        return [r.image_id for r in self.rows if r.status == status and r.image_id]

    @property
    def imported(self) -> list[str]:
        """Ids of images whose mask was written."""
        return self.ids("imported")

    def count(self, status: Status) -> int:
        return sum(r.status == status for r in self.rows)

    def headline(self) -> str:
        parts = [f"{self.count(s)} {s}" for s in STATUSES if self.count(s)]
        text = ", ".join(parts) if parts else "no mask files found"
        if self.cancelled:
            text = f"Cancelled: {text}. Masks already imported are kept."
        if self.error:
            text += f". Stopped: {self.error}"
        return text[0].upper() + text[1:]

    def to_json(self) -> dict:
        """Counts per status plus every row (what the CLI prints)."""
        out: dict = {"folder": str(self.folder), **{s: self.count(s) for s in STATUSES}}
        out["rows"] = [r.to_json() for r in self.rows]
        if self.error:
            out["error"] = self.error
        return out


# -- matching (no IO) ------------------------------------------------------------------------
def mask_keys(stem: str) -> list[tuple[str, int]]:
    """Image names a mask stem may belong to, with a rank (lower = closer match)."""
    s = stem.casefold()
    keys = [(s, 0)]
    for suffix in MASK_SUFFIXES:
        if s.endswith(suffix) and len(s) > len(suffix):
            keys.append((s[: -len(suffix)], 1))
            break
    m = _KITTI.match(s)
    if m:
        keys.append((f"{m['scene']}_{m['num']}", 2 if m["kind"] == "road" else 3))
    return keys


def name_keys(names: Sequence[str]) -> list[tuple[str, int]]:
    """Keys an image answers to, given its names in order of preference (rank = position)."""
    keys: dict[str, int] = {}
    for rank, name in enumerate(names):
        low = name.casefold()
        for key in (low, *(low[: -len(s)] for s in IMAGE_SUFFIXES if low.endswith(s))):
            keys.setdefault(key, rank)
    return sorted(keys.items(), key=lambda kv: kv[1])


def image_keys(entry: ImageEntry) -> list[tuple[str, int]]:
    """Names a project image answers to: its id, its file stem, its original stem (ranked in that order)."""
    names = [entry.id, Path(entry.file).stem]
    if entry.source:
        names.append(Path(entry.source).stem)
    return name_keys(names)


def pair_by_name(
    images: Mapping[str, Sequence[str]], files: Sequence[Path], file_names: Mapping[str, Sequence[str]] | None = None,
) -> tuple[dict[str, Path], list[ImportRow]]:
    """Pair mask files with images named ``{image id: [names, best first]}``.

    ``file_names`` (``{image id: [file names with extension]}``, e.g. the file it was imported
    from) are matched whole, before the names: the mask ``plain.png`` goes to the image from
    ``plain.png`` even when images from ``plain.bmp`` and ``plain.jpg`` share its stem. A mask
    whose name fits several images otherwise is refused, never guessed.
    Returns ``({image id: mask path}, rows for the unmatched and skipped files)``.
    """
    index: dict[str, list[tuple[int, str]]] = {}
    for image_id, names in images.items():
        for key, rank in name_keys(names):
            index.setdefault(key, []).append((rank, image_id))
    whole: dict[str, set[str]] = {}
    for image_id, names in (file_names or {}).items():
        for name in names:
            if name:
                whole.setdefault(name.casefold(), set()).add(image_id)
    rows: list[ImportRow] = []
    candidates: dict[str, list[tuple[tuple[int, int, str], Path]]] = {}
    for path in files:
        found: ImportRow | tuple[str, tuple[int, int, str]] | None = None
        exact = whole.get(path.name.casefold(), set())
        if len(exact) == 1:
            candidates.setdefault(next(iter(exact)), []).append(((-1, -1, path.name), path))
            continue
        for key, mask_rank in mask_keys(path.stem):
            hits = index.get(key)
            if not hits:
                continue
            best = min(rank for rank, _ in hits)
            ids = sorted({i for _, i in hits})
            if len(ids) > 1:
                found = ImportRow(path.name, None, "unmatched", f"its name fits several images ({', '.join(ids)}); rename it to one image's name")
            else:
                found = (ids[0], (mask_rank, best, path.name))
            break
        if found is None:
            rows.append(ImportRow(path.name, None, "unmatched", "no image has a matching name"))
        elif isinstance(found, ImportRow):
            rows.append(found)
        else:
            image_id, rank = found
            candidates.setdefault(image_id, []).append((rank, path))
    plan: dict[str, Path] = {}
    for image_id, options in candidates.items():
        options.sort(key=lambda o: o[0])
        plan[image_id] = options[0][1]
        for _, other in options[1:]:
            rows.append(ImportRow(other.name, image_id, "skipped", f"{options[0][1].name} matches image {image_id} more closely"))
    return plan, rows


def match_masks(images: list[ImageEntry], files: list[Path]) -> tuple[dict[str, Path], list[ImportRow]]:
    """Pair mask files with project images: ``({image id: mask path}, rows for unmatched/skipped files)``."""
    names, file_names = {}, {}
    for e in images:
        names[e.id] = [e.id, Path(e.file).stem, *([Path(e.source).stem] if e.source else [])]
        file_names[e.id] = [Path(e.source).name if e.source else "", Path(e.file).name]
    return pair_by_name(names, files, file_names)


def list_image_files(folder: str | Path) -> list[Path]:
    """Image files directly in ``folder`` (by suffix, hidden files left out), sorted by name."""
    folder = Path(folder)
    try:
        return sorted(p for p in folder.iterdir() if p.is_file() and is_image_file(p) and not p.name.startswith("."))
    except OSError as exc:
        raise ProjectError(f"cannot list {folder}: {exc.strerror or exc}") from None


# -- importing -------------------------------------------------------------------------------
def import_masks(
    project: Project,
    folder: str | Path,
    *,
    overwrite: bool = False,
    kind: str = "auto",
    should_stop: Callable[[], bool] | None = None,
) -> Generator[tuple[int, int, ImportRow | None], None, int]:
    """Import a folder of masks, yielding ``(done, total, row)`` after each file (row None at start).

    A generator so a worker can report progress and stop between files; it returns the number
    of files handled. Writes masks with ``project.save_mask`` while holding back
    ``project.mask_saved`` (the caller re-emits it in its own thread), saves ``project.json``
    once at the end, and raises :class:`~fcn_studio.errors.ProjectError` when the folder cannot
    be listed or a mask cannot be written (a full disk: the rest would fail too).

    ``kind`` is ``auto`` (each file as :func:`~fcn_studio.data.masks.read_mask` detects it) or
    one of :data:`KINDS`' keys: a file of another kind is then refused, so a folder of colour
    masks is never read as ids by mistake.
    """
    from fcn_studio.data.masks import check_mask

    if kind not in KINDS:
        raise ValueError(f"unknown mask format {kind!r}; use one of {', '.join(KINDS)}")
    files = list_image_files(folder)
    total = len(files)
    plan, early_rows = match_masks(list(project.images), files)
    done = 0
    yield done, total, None
    for row in early_rows:
        done += 1
        yield done, total, row
    wrote = False
    try:
        for image_id, path in sorted(plan.items(), key=lambda kv: kv[1].name):
            if should_stop is not None and should_stop():
                return done
            entry = project.entry(image_id)
            # the mask file decides, not project.json: it may hold painting not recorded yet
            if not overwrite and project.has_mask(image_id) and (entry.painted > 0 or project.refresh_painted(image_id) > 0):
                row = ImportRow(path.name, image_id, "skipped", f"{entry.file} is already painted; choose \u201creplace\u201d to overwrite it")
            else:
                try:
                    mask, report = check_mask(path, project.labelset, expected_hw=(entry.height, entry.width))
                    if KINDS[kind] is not None and report.kind != KINDS[kind]:
                        raise MaskError(f"mask {path.name} is {_KIND_WORDS[report.kind]} mask, not {_KIND_WORDS[KINDS[kind]]} one as asked")
                    if not report.ok:
                        raise MaskError(report.message())
                except MaskError as exc:
                    row = ImportRow(path.name, image_id, "refused", str(exc))
                else:
                    with project.mask_saved.blocked():
                        project.save_mask(image_id, mask, save_project=False)
                    wrote = True
                    row = ImportRow(path.name, image_id, "imported", f"{entry.file}: {float((mask != UNPAINTED).mean()):.0%} painted")
            done += 1
            yield done, total, row
    finally:
        if wrote:
            project.save()  # painted fractions; also when stopped part-way
    return done  # never None: superqt sends it through a queued signal (see background.py)


def run_import(project: Project, folder: str | Path, *, overwrite: bool = False, kind: str = "auto") -> ImportReport:
    """:func:`import_masks` to the end, collected into one report (the CLI's way)."""
    report = ImportReport(folder=Path(folder))
    for _, _, row in import_masks(project, folder, overwrite=overwrite, kind=kind):
        if row is not None:
            report.rows.append(row)
    return report
