"""Edits of a project's label set, and the rewrite of saved masks that some of them need.

Why this is more than ``LabelSet.with_classes``: a mask stores class *ids*, and the trainable
ids must stay ``0..K-1`` (they index the network's outputs). So reordering or deleting a class
renumbers others, and every saved mask must be rewritten through the same renumbering or its
pixels silently change meaning. Each edit here returns the new label set together with the
``mapping`` (old id -> new id, only the ids that change; 255 means "becomes unpainted") that
:func:`apply_to_project` applies to the masks on disk.

The ``ignore_index`` class (CamVid's "Unlabelled") is never renumbered by edits of other
classes, with one exception: adding a trainable class when the ignore class sits at id ``K``
moves it to the next free id, because the new class must take ``K``.

Qt-free: the classes panel computes edits with these functions, and the main window (or the
CLI) applies them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np

from fcn_studio.data.atomic import TEMP_SUFFIX
from fcn_studio.data.labelset import UNPAINTED, UNPAINTED_COLOR, LabelClass, LabelSet
from fcn_studio.data.project import Project
from fcn_studio.errors import LabelSetError

#: old id -> new id for the ids an edit renumbers; ids not listed keep their value.
Mapping = dict[int, int]
RGB = tuple[int, int, int]

#: Colours offered for new classes (Cityscapes' palette, then a few more), in this order.
_SUGGESTED_COLORS: tuple[RGB, ...] = (
    (128, 64, 128), (244, 35, 232), (70, 70, 70), (102, 102, 156), (190, 153, 153),
    (153, 153, 153), (250, 170, 30), (220, 220, 0), (107, 142, 35), (152, 251, 152),
    (70, 130, 180), (220, 20, 60), (255, 0, 0), (0, 0, 142), (0, 0, 70), (0, 60, 100),
    (0, 80, 100), (0, 0, 230), (119, 11, 32), (255, 255, 0), (0, 255, 255), (255, 128, 0),
)


# -- edits ---------------------------------------------------------------------------------
def add_class(ls: LabelSet, name: str, color: RGB | None = None) -> tuple[LabelSet, Mapping]:
    """A new trainable class at the end of the class order (id ``K``).

    Returns ``(new_labelset, mapping)``. The mapping is empty unless the ignore class sat at
    id ``K``; it then moves to the next free id and its pixels must be rewritten.
    ``color`` defaults to :func:`suggest_color`.
    """
    name = _check_name(ls, name)
    color = suggest_color(ls) if color is None else _check_color(ls, color)
    k = ls.num_classes
    mapping: Mapping = {}
    classes = list(ls.classes)
    ignore = ls.ignore_index
    if ignore == k:
        used = {c.id for c in ls.classes}
        new_ignore = next((i for i in range(k + 1, UNPAINTED) if i not in used), None)
        if new_ignore is None:
            raise LabelSetError(f"label set {ls.name!r} is full: a mask can hold at most 254 classes")
        classes = [_with_id(c, new_ignore) if c.id == ignore else c for c in classes]
        mapping[ignore] = new_ignore
        ignore = new_ignore
    if k >= UNPAINTED:
        raise LabelSetError(f"label set {ls.name!r} is full: a mask can hold at most 254 classes")
    classes.append(LabelClass(id=k, name=name, color=color))
    return _rebuild(ls, classes, ignore), mapping


def rename(ls: LabelSet, class_id: int, name: str) -> LabelSet:
    """The label set with class ``class_id`` renamed (masks are unaffected)."""
    old = _get(ls, class_id)
    name = _check_name(ls, name, except_id=class_id)
    return _rebuild(ls, [LabelClass(c.id, name, c.color) if c is old else c for c in ls.classes], ls.ignore_index)


def recolor(ls: LabelSet, class_id: int, rgb: RGB) -> LabelSet:
    """The label set with class ``class_id`` shown in ``rgb`` (masks are unaffected).

    Colours must stay distinct: colour-coded masks are read back by exact colour.
    """
    old = _get(ls, class_id)
    rgb = _check_color(ls, rgb, except_id=class_id)
    return _rebuild(ls, [LabelClass(c.id, c.name, rgb) if c is old else c for c in ls.classes], ls.ignore_index)


def move(ls: LabelSet, class_id: int, new_position: int) -> tuple[LabelSet, Mapping]:
    """Put trainable class ``class_id`` at ``new_position`` (0-based) in the class order.

    The trainable ids are the positions, so the classes in between are renumbered; the
    mapping lists every id that changes. The ignore class has no position and cannot move.
    """
    cls = _get(ls, class_id)
    if class_id == ls.ignore_index:
        raise LabelSetError(f"class {cls.name!r} is ignored in training, so it has no place in the class order")
    order = [c.id for c in ls.trainable_classes]
    if not 0 <= new_position < len(order):
        raise LabelSetError(f"position {new_position} is outside the class order 0..{len(order) - 1}")
    order.remove(class_id)
    order.insert(new_position, class_id)
    mapping = {old: new for new, old in enumerate(order) if old != new}
    classes = [_with_id(c, mapping.get(c.id, c.id)) for c in ls.classes]
    return _rebuild(ls, classes, ls.ignore_index), mapping


def delete(ls: LabelSet, class_id: int) -> tuple[LabelSet, Mapping]:
    """Remove class ``class_id``: its pixels become unpainted (255), higher trainable ids shift down.

    Deleting the ignore class clears ``ignore_index``. The last trainable class cannot be
    deleted (a label set needs one).
    """
    cls = _get(ls, class_id)
    if class_id == ls.ignore_index:
        classes = [c for c in ls.classes if c.id != class_id]
        return _rebuild(ls, classes, None), {class_id: UNPAINTED}
    if ls.num_classes == 1:
        raise LabelSetError(f"{cls.name!r} is the only trainable class; add another before deleting it")
    mapping: Mapping = {class_id: UNPAINTED}
    classes = []
    for c in ls.classes:
        if c.id == class_id:
            continue
        if c.id != ls.ignore_index and c.id > class_id:
            mapping[c.id] = c.id - 1
            c = _with_id(c, c.id - 1)
        classes.append(c)
    return _rebuild(ls, classes, ls.ignore_index), mapping


def suggest_color(ls: LabelSet) -> RGB:
    """A colour no class of ``ls`` uses yet, for a new class."""
    used = {tuple(c.color) for c in ls.classes} | {UNPAINTED_COLOR}
    for color in _SUGGESTED_COLORS:
        if color not in used:
            return color
    rng = np.random.default_rng(len(ls.classes))
    while True:
        color = tuple(int(v) for v in rng.integers(0, 256, 3))
        if color not in used:
            return color  # type: ignore[return-value]


def _with_id(c: LabelClass, new_id: int) -> LabelClass:
    """``c`` renumbered (the same object when the id does not change)."""
    return c if c.id == new_id else LabelClass(new_id, c.name, c.color)


# -- remapping masks -------------------------------------------------------------------------
def remap_lut(mapping: Mapping | None = None) -> np.ndarray:
    """(256,) uint8 table: ``lut[mask]`` renumbers a mask. Identity where ``mapping`` is silent.

    255 (unpainted) always stays 255.
    """
    lut = np.arange(256, dtype=np.uint8)
    for old, new in (mapping or {}).items():
        if not (0 <= old <= 255 and 0 <= new <= 255):
            raise ValueError(f"mask values are 0..255, got mapping {old} -> {new}")
        if old == UNPAINTED and new != UNPAINTED:
            raise ValueError("unpainted (255) cannot be renumbered")
        lut[old] = new
    return lut


def apply_to_project(
    project: Project,
    new_ls: LabelSet,
    mapping: Mapping,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Rewrite the project's saved masks (and predictions) through ``mapping``, then adopt ``new_ls``.

    Returns the number of painted-mask pixels whose value changed. Safe against failure
    part-way: every rewritten file is first written beside its original as a temp file (a
    full disk or an unreadable mask stops here, removes the temp files and raises with the
    project untouched); only then are all swapped in with renames and ``project.json``
    saved. A crash within that last step can leave some masks renumbered, so it is kept to
    renames only. Temp files a crash leaves are removed by ``Project.open``.

    The caller must flush unsaved canvas edits before and reload the open mask after: a mask
    held in memory keeps the old numbering. ``progress(done, total)`` is called per image.
    Runs in any thread; ``project.labelset_changed`` then fires in that thread.
    """
    from fcn_studio.data.masks import painted_fraction, read_mask, write_indexed_png

    old_ls = project.labelset
    lut = remap_lut(mapping)
    if not mapping or np.array_equal(lut, np.arange(256, dtype=np.uint8)):
        project.set_labelset(new_ls)
        return 0
    # (entry, [(path, is the painted mask)]) for every image with something saved
    jobs = []
    for e in list(project.images):
        files = [(project.path_of(rel), painted) for rel, painted in ((e.mask, True), (e.prediction, False))]
        files = [(p, painted) for p, painted in files if p.exists()]
        if files:
            jobs.append((e, files))
    staged: list[tuple[Path, Path]] = []  # (temp file, final path)
    new_painted: dict[str, float] = {}
    total_changed = 0
    try:
        for done, (e, files) in enumerate(jobs, 1):
            for path, painted in files:
                mask = read_mask(path, old_ls, expected_hw=(e.height, e.width))
                new = lut[mask]
                if np.array_equal(new, mask):
                    continue
                if painted:
                    total_changed += int(np.count_nonzero(new != mask))
                    new_painted[e.id] = painted_fraction(new)
                tmp = path.with_name(f".{path.name}.relabel{TEMP_SUFFIX}")
                write_indexed_png(tmp, new, new_ls)
                staged.append((tmp, path))
            if progress is not None:
                progress(done, len(jobs))
    except BaseException:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise
    for tmp, final in staged:
        os.replace(tmp, final)
    for image_id, painted in new_painted.items():
        project.record_mask(image_id, painted)  # the new files are the ones the shares came from
    project.set_labelset(new_ls)
    return total_changed


@dataclass(frozen=True)
class ClassUsage:
    """How much painted work uses one class: what deleting it would turn unpainted."""

    pixels: int = 0
    images: int = 0
    #: Messages for masks that could not be read (they were not counted).
    unreadable: list[str] = field(default_factory=list)


def class_usage(project: Project, class_id: int, should_stop: Callable[[], bool] | None = None) -> ClassUsage:
    """Pixels of ``class_id`` over all saved (painted) masks, and in how many images.

    Reads every mask, so a GUI calls it off the UI thread. Unreadable masks are listed,
    not raised: the count is for a warning, and one bad file must not block it.
    """
    from fcn_studio.data.masks import read_mask
    from fcn_studio.errors import FcnStudioError

    pixels = images = 0
    unreadable: list[str] = []
    for e in list(project.images):
        if should_stop is not None and should_stop():
            break
        path = project.path_of(e.mask)
        if not path.exists():
            continue
        try:
            mask = read_mask(path, project.labelset, expected_hw=(e.height, e.width))
        except FcnStudioError as exc:
            unreadable.append(str(exc))
            continue
        n = int(np.count_nonzero(mask == class_id))
        if n:
            pixels += n
            images += 1
    return ClassUsage(pixels, images, unreadable)


def count_pixels(project: Project, class_id: int) -> int:
    """Pixels painted with ``class_id`` over all saved masks (see :func:`class_usage`)."""
    return class_usage(project, class_id).pixels


# -- helpers ---------------------------------------------------------------------------------
def _get(ls: LabelSet, class_id: int) -> LabelClass:
    try:
        return ls.by_id(class_id)
    except KeyError:
        raise LabelSetError(f"label set {ls.name!r} has no class with id {class_id}") from None


def _check_name(ls: LabelSet, name: str, except_id: int | None = None) -> str:
    name = str(name).strip()
    if not name:
        raise LabelSetError("a class needs a name")
    for c in ls.classes:
        if c.id != except_id and c.name.casefold() == name.casefold():
            raise LabelSetError(f"there is already a class named {c.name!r} (id {c.id}); choose another name")
    return name


def _check_color(ls: LabelSet, rgb: RGB, except_id: int | None = None) -> RGB:
    try:
        color = tuple(int(v) for v in rgb)
    except (TypeError, ValueError):
        raise LabelSetError(f"colour {rgb!r} is not an RGB triple") from None
    if len(color) != 3 or not all(0 <= v <= 255 for v in color):
        raise LabelSetError(f"colour {rgb!r} is not RGB with values 0..255")
    hexed = "#%02x%02x%02x" % color
    if color == UNPAINTED_COLOR:
        raise LabelSetError(f"colour {hexed} marks unpainted pixels; choose another")
    for c in ls.classes:
        if c.id != except_id and tuple(c.color) == color:
            raise LabelSetError(
                f"colour {hexed} is already used by class {c.name!r}; colour masks could not tell them apart"
            )
    return color  # type: ignore[return-value]


def _rebuild(ls: LabelSet, classes: list[LabelClass], ignore_index: int | None) -> LabelSet:
    return replace(ls, classes=tuple(sorted(classes, key=lambda c: c.id)), ignore_index=ignore_index)
