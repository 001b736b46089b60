"""COCO-style JSON export of semantic masks, laid out like COCO-Stuff's stuff annotations.

One annotation per (image, class present in it), whose ``segmentation`` is a compressed RLE
``{"size": [h, w], "counts": "..."}`` exactly as ``pycocotools.mask.encode`` writes it, so
COCO tooling (pycocotools, detectron2, FiftyOne, CVAT import) reads the file unchanged.

Encoding and decoding are implemented here in numpy rather than by depending on pycocotools:
it is a compiled package that is awkward to bundle, and the format is small. The tests check
the strings against pycocotools byte for byte.

Category ids are **class id + 1**: COCO reserves 0 (many tools treat category 0 as
background/"none"), so class 0 becomes category 1. Each category also carries the explicit
``"fcn_studio_class_id"``, and ``info["fcn_studio"]`` records the rule and the label set, so a
reader never has to guess. Unpainted pixels (255) and ``ignore_index`` pixels are not
exported; reading the file back gives 255 there.
"""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from fcn_studio.data.atomic import atomic_write_text
from fcn_studio.data.labelset import UNPAINTED, LabelSet
from fcn_studio.errors import MaskError

#: COCO category id = class id + CATEGORY_ID_OFFSET.
CATEGORY_ID_OFFSET = 1


# -- RLE -----------------------------------------------------------------------------------
def rle_counts(binary: np.ndarray) -> np.ndarray:
    """Run lengths of a 2-D mask in column-major order, starting with a run of zeros (maybe 0)."""
    flat = np.asarray(binary).astype(bool, copy=False).ravel(order="F")
    if flat.size == 0:
        return np.zeros(0, dtype=np.int64)
    changes = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate(([0], changes, [flat.size]))
    runs = np.diff(bounds)
    if flat[0]:
        runs = np.concatenate(([0], runs))
    return runs.astype(np.int64)


def counts_to_string(counts: np.ndarray) -> str:
    """pycocotools' compressed form: delta-code counts[i] against counts[i-2] (for i > 2), then
    write each value as little-endian 5-bit groups, 0x20 = "more follows", sign in bit 0x10 of
    the last group, every group offset by 48 into printable ASCII. Vectorised over all runs."""
    cnts = np.asarray(counts, dtype=np.int64)
    if cnts.size == 0:
        return ""
    x = cnts.copy()
    x[3:] -= cnts[1:-2]
    # Groups needed: the smallest n with -2**(5n-1) <= x < 2**(5n-1) (two's complement in 5n bits).
    n = np.ones_like(x)
    for k in range(1, 13):  # 13 groups = 65 bits, more than any int64 needs
        half = np.int64(1) << np.int64(min(5 * k - 1, 62))
        n += (x < -half) | (x >= half)
    starts = np.cumsum(n) - n
    value = np.repeat(x, n)
    group = np.arange(value.size) - np.repeat(starts, n)
    chunk = (value >> (5 * group)) & 0x1F
    more = group < np.repeat(n, n) - 1
    chars = (chunk | (more.astype(np.int64) << 5)) + 48
    return chars.astype(np.uint8).tobytes().decode("ascii")


def string_to_counts(s: str | bytes) -> np.ndarray:
    """Inverse of :func:`counts_to_string`. Raises ``ValueError`` on a malformed string."""
    raw = np.frombuffer(s.encode("ascii") if isinstance(s, str) else bytes(s), dtype=np.uint8)
    if raw.size == 0:
        return np.zeros(0, dtype=np.int64)
    c = raw.astype(np.int64) - 48
    if (c < 0).any() or (c > 63).any():
        raise ValueError("RLE counts string has characters outside the compressed-RLE alphabet")
    last = (c & 0x20) == 0
    if not last[-1]:
        raise ValueError("RLE counts string ends in the middle of a number")
    ends = np.flatnonzero(last)
    starts = np.concatenate(([0], ends[:-1] + 1))
    lengths = ends - starts + 1
    if lengths.max() > 12:
        raise ValueError("RLE counts string holds a number too large to be a run length")
    group = np.arange(c.size) - np.repeat(starts, lengths)
    parts = (c & 0x1F) << (5 * group)
    x = np.add.reduceat(parts, starts)
    negative = (c[ends] & 0x10) != 0
    x[negative] |= -(np.int64(1) << (5 * lengths[negative]))
    cnts = x.copy()
    cnts[1::2] = np.cumsum(x[1::2])
    cnts[2::2] = np.cumsum(x[2::2])
    return cnts


def encode_rle(binary: np.ndarray) -> dict[str, Any]:
    """``{"size": [h, w], "counts": str}`` for a 2-D mask (nonzero = inside), as COCO stores it.

    Same string as ``pycocotools.mask.encode(np.asfortranarray(m))["counts"].decode()``.
    """
    binary = np.asarray(binary)
    if binary.ndim != 2:
        raise ValueError(f"encode_rle needs a 2-D mask, got shape {binary.shape}")
    h, w = binary.shape
    return {"size": [int(h), int(w)], "counts": counts_to_string(rle_counts(binary))}


def decode_rle(rle: dict[str, Any]) -> np.ndarray:
    """HxW uint8 (0/1) mask of a COCO RLE, compressed (``counts`` str/bytes) or not (list).

    Raises ``ValueError`` when the run lengths do not add up to ``h * w``.
    """
    try:
        h, w = (int(v) for v in rle["size"])
        counts = rle["counts"]
    except (KeyError, TypeError, ValueError):
        raise ValueError("an RLE needs 'size': [h, w] and 'counts'") from None
    cnts = string_to_counts(counts) if isinstance(counts, (str, bytes)) else np.asarray(counts, dtype=np.int64)
    if (cnts < 0).any() or int(cnts.sum()) != h * w:
        raise ValueError(f"RLE run lengths add up to {int(cnts.sum())} pixels but its size {h}x{w} has {h * w}")
    flat = np.repeat((np.arange(cnts.size) % 2).astype(np.uint8), cnts)
    return np.ascontiguousarray(flat.reshape((h, w), order="F"))


def rle_bbox(binary: np.ndarray) -> list[float]:
    """``[x, y, width, height]`` of the nonzero pixels (all zero when there are none), as COCO."""
    rows = np.flatnonzero(np.asarray(binary).any(axis=1))
    cols = np.flatnonzero(np.asarray(binary).any(axis=0))
    if rows.size == 0:
        return [0.0, 0.0, 0.0, 0.0]
    return [float(cols[0]), float(rows[0]), float(cols[-1] - cols[0] + 1), float(rows[-1] - rows[0] + 1)]


# -- export --------------------------------------------------------------------------------
def export_coco(
    path: str | Path,
    items: Iterable[tuple[str, int, np.ndarray]],
    labelset: LabelSet,
    *,
    description: str = "",
) -> dict[str, int]:
    """Write a COCO-Stuff-style JSON for ``items`` = ``(file_name, image_id, mask)`` triples.

    ``mask`` is HxW uint8 class ids. Every image is listed (also one with nothing painted),
    with one RLE annotation per trainable class present in it. Returns ``{"images": n,
    "annotations": m}`` for a summary line. The file is written atomically.
    Raises ``ValueError`` for a repeated file name or image id, or a mask that is not HxW uint8.
    """
    path = Path(path)
    exported = [c for c in labelset.classes if c.id != labelset.ignore_index]
    categories = [
        {
            "id": c.id + CATEGORY_ID_OFFSET,
            "name": c.name,
            "supercategory": labelset.name,
            "fcn_studio_class_id": c.id,
            "color": list(c.color),
        }
        for c in sorted(exported, key=lambda c: c.id)
    ]
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    seen_ids: set[int] = set()
    seen_names: set[str] = set()
    for file_name, image_id, mask in items:
        mask = np.asarray(mask)
        if mask.dtype != np.uint8 or mask.ndim != 2:
            raise ValueError(f"mask of {file_name} must be HxW uint8, got {mask.shape} {mask.dtype}")
        if int(image_id) in seen_ids or file_name in seen_names:
            raise ValueError(f"image {file_name!r} (id {image_id}) is listed twice; COCO needs unique ids and names")
        seen_ids.add(int(image_id))
        seen_names.add(file_name)
        h, w = mask.shape
        images.append({"id": int(image_id), "file_name": file_name, "height": int(h), "width": int(w)})
        present = np.bincount(mask.ravel(), minlength=256)
        for c in exported:
            if present[c.id] == 0:
                continue
            binary = mask == c.id
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": int(image_id),
                    "category_id": c.id + CATEGORY_ID_OFFSET,
                    "segmentation": encode_rle(binary),
                    "area": int(present[c.id]),
                    "bbox": rle_bbox(binary),
                    "iscrowd": 0,
                }
            )
    now = _dt.datetime.now(_dt.timezone.utc)
    data = {
        "info": {
            "description": description or f"fcn-studio masks, label set {labelset.name}",
            "version": "1.0",
            "year": now.year,
            "contributor": "fcn-studio",
            "date_created": now.isoformat(timespec="seconds"),
            "fcn_studio": {
                "category_id": f"class id + {CATEGORY_ID_OFFSET}",
                "not_exported": "unpainted (255) and ignore_index pixels",
                "labelset": labelset.to_json(),
            },
        },
        "licenses": [],
        "images": images,
        "categories": categories,
        "annotations": annotations,
    }
    atomic_write_text(path, json.dumps(data, separators=(",", ":")) + "\n")
    return {"images": len(images), "annotations": len(annotations)}


# -- import --------------------------------------------------------------------------------
def read_coco_masks(path: str | Path, labelset: LabelSet) -> dict[str, np.ndarray]:
    """Masks per ``file_name`` from a COCO JSON with RLE segmentations; 255 where unannotated.

    Categories map to classes by ``fcn_studio_class_id`` when present (files this app wrote),
    else by class name (case-insensitive). Where annotations overlap, the later one wins.
    Raises :class:`MaskError` naming the file for unreadable JSON, categories the label set
    lacks, polygon segmentations, or RLEs whose size differs from their image.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        images = {int(im["id"]): (str(im["file_name"]), int(im["height"]), int(im["width"])) for im in data["images"]}
        categories = list(data["categories"])
        annotations = list(data.get("annotations", []))
    except OSError as exc:
        raise MaskError(f"cannot read COCO file {path}: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise MaskError(f"COCO file {path.name} is not valid JSON (line {exc.lineno}): {exc.msg}") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise MaskError(f"COCO file {path.name} lacks images/categories with id, file_name, height, width ({exc})") from None

    by_name = {c.name.lower(): c.id for c in labelset.classes}
    known_ids = {c.id for c in labelset.classes}
    class_of: dict[int, int] = {}
    missing: list[str] = []
    for cat in categories:
        cid = cat.get("fcn_studio_class_id")
        if cid is None:
            cid = by_name.get(str(cat.get("name", "")).lower())
        if cid is None or int(cid) not in known_ids:
            missing.append(str(cat.get("name", cat.get("id"))))
            continue
        class_of[int(cat["id"])] = int(cid)
    if missing:
        raise MaskError(
            f"COCO file {path.name} has categories the label set {labelset.name!r} lacks: "
            f"{', '.join(missing[:10])}{' ...' if len(missing) > 10 else ''}; add them or choose another label set"
        )

    masks = {name: np.full((h, w), UNPAINTED, dtype=np.uint8) for name, h, w in images.values()}
    for ann in annotations:
        ann_id = ann.get("id")
        try:
            name, h, w = images[int(ann["image_id"])]
            class_id = class_of[int(ann["category_id"])]
        except (KeyError, TypeError, ValueError):
            raise MaskError(f"COCO file {path.name}: annotation {ann_id} names an unknown image or category") from None
        seg = ann.get("segmentation")
        if not isinstance(seg, dict):
            raise MaskError(
                f"COCO file {path.name}: annotation {ann_id} is a polygon; only RLE segmentations are read"
            )
        try:
            binary = decode_rle(seg)
        except ValueError as exc:
            raise MaskError(f"COCO file {path.name}: annotation {ann_id}: {exc}") from None
        if binary.shape != (h, w):
            raise MaskError(
                f"COCO file {path.name}: annotation {ann_id} is {binary.shape[1]}x{binary.shape[0]} "
                f"but image {name} is {w}x{h}"
            )
        masks[name][binary.astype(bool)] = class_id
    return masks
