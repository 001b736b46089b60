"""Masks in and out: HxW uint8 arrays whose values are class ids, 255 meaning "not painted".

Reading accepts the three ways datasets ship ground truth and tells which one a file uses:

* ``indexed``: an 8-bit palette PNG (PASCAL VOC, and what this app writes). The pixel
  indices are the class ids; the palette is only for display and is ignored.
* ``ids``: a single-channel image (``L``, 16-bit with values below 256, or 1-bit, where 1-bit
  gives ids 0 and 1) whose values are the class ids (Cityscapes ``*_labelIds``, CamVid ids).
* ``color``: RGB(A) with one colour per class (KITTI road ``gt_image_2``, CamVid
  ``*_L.png``). Each pixel is matched exactly against the label set's colours; the display
  colour of unpainted pixels (:data:`~fcn_studio.data.labelset.UNPAINTED_COLOR`) reads back as
  255, so what :func:`write_color_png` writes round-trips. No other colour (not even black) is
  guessed: a colour the label set lacks is reported, not silently dropped.

For every kind with alpha (``RGBA``, ``LA``, ``PA``) fully transparent pixels read as
unpainted: annotation tools export "nothing here" as transparency.

EXIF orientation is *not* applied to masks: a mask is aligned with the upright image that
:func:`~fcn_studio.data.imageio.read_image` returns, which is how this app and annotation tools
save them.

Writing is always atomic. :func:`check_mask` is the lenient reader for import dialogs; it
returns a :class:`MaskReport` instead of raising on content problems.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image

from fcn_studio.data.atomic import atomic_write
from fcn_studio.data.imageio import DEFAULT_MAX_PIXELS, open_image_checked
from fcn_studio.data.labelset import UNPAINTED, UNPAINTED_COLOR, LabelSet
from fcn_studio.errors import ImageReadError, MaskError

MaskKind = Literal["indexed", "ids", "color"]

#: How many offending values / colours a message lists before "and N more".
_LIST_AT_MOST = 6


@dataclass(frozen=True)
class MaskReport:
    """What :func:`check_mask` found in one mask file; ``ok`` when it can be used as is.

    ``unknown_ids`` and ``unknown_colors`` map each offending value to its pixel count.
    ``transparent_px`` counts pixels that read as unpainted because their alpha was 0 (not a
    problem, but worth telling the user when it is most of the mask).
    """

    path: Path
    kind: MaskKind
    shape: tuple[int, int]
    expected_hw: tuple[int, int] | None = None
    unknown_ids: dict[int, int] = field(default_factory=dict)
    unknown_colors: dict[tuple[int, int, int], int] = field(default_factory=dict)
    transparent_px: int = 0
    hint: str = ""

    @property
    def size_ok(self) -> bool:
        return self.expected_hw is None or tuple(self.expected_hw) == self.shape

    @property
    def ok(self) -> bool:
        return self.size_ok and not self.unknown_ids and not self.unknown_colors

    def problems(self) -> list[str]:
        """One sentence per problem, each naming the file, ready for a dialog or the CLI."""
        name = self.path.name
        out: list[str] = []
        if not self.size_ok:
            assert self.expected_hw is not None
            (h, w), (eh, ew) = self.shape, self.expected_hw
            out.append(
                f"mask {name} is {w}x{h} px (width x height) but its image is {ew}x{eh}; "
                "a mask must have exactly the size of its image"
            )
        if self.unknown_ids:
            listed = _list_counts(self.unknown_ids, str)
            out.append(
                f"mask {name} has {len(self.unknown_ids)} unknown class id"
                f"{'s' if len(self.unknown_ids) != 1 else ''}: {listed}; "
                "add these classes to the label set or choose the label set the mask was made with"
            )
        if self.unknown_colors:
            listed = _list_counts(self.unknown_colors, _hex)
            msg = (
                f"colour mask {name} has {len(self.unknown_colors)} colour"
                f"{'s' if len(self.unknown_colors) != 1 else ''} that no class in the label set uses: "
                f"{listed}; give the classes these colours or choose the label set the mask was made with"
            )
            if self.hint:
                msg += f" ({self.hint})"
            out.append(msg)
        return out

    def message(self) -> str:
        return "; ".join(self.problems())


def check_mask(
    path: str | Path, labelset: LabelSet, *, expected_hw: tuple[int, int] | None = None
) -> tuple[np.ndarray, MaskReport]:
    """Decode a mask leniently: the HxW uint8 mask (unknown values set to 255) and a report.

    For import dialogs that show every problem in a folder at once and may offer "import
    anyway, unknown pixels unpainted". A file that cannot be decoded at all still raises
    :class:`MaskError`, since there is nothing to report on; so does a file whose header
    gives another size than ``expected_hw`` or more pixels than an image may have
    (:data:`~fcn_studio.data.imageio.DEFAULT_MAX_PIXELS`): those are refused before any pixel
    is decoded, so a small file claiming 13000x13000 px never takes its 169 MB.
    """
    path = Path(path)
    try:
        with open_image_checked(path) as img:
            _check_header_size(path, img.size, expected_hw)
            try:
                img.load()
                mask, kind, extra = _decode(path, img, labelset)
            except (OSError, SyntaxError, ValueError, EOFError) as exc:
                text = str(exc)
                what = "is truncated (the file ends early)" if "truncated" in text else f"cannot be decoded ({text})"
                raise MaskError(f"mask {path.name} {what}; re-export or re-copy it") from None
    except ImageReadError as exc:
        raise MaskError(f"mask {exc}") from None

    unknown_ids: dict[int, int] = {}
    if kind != "color":
        counts = np.bincount(mask.ravel(), minlength=256)
        bad = np.flatnonzero((counts > 0) & ~labelset.valid_values())
        unknown_ids = {int(v): int(counts[v]) for v in bad}
        if bad.size:
            mask[~labelset.valid_values()[mask]] = UNPAINTED
    report = MaskReport(
        path=path,
        kind=kind,
        shape=(int(mask.shape[0]), int(mask.shape[1])),
        expected_hw=None if expected_hw is None else (int(expected_hw[0]), int(expected_hw[1])),
        unknown_ids=unknown_ids,
        unknown_colors=extra.get("unknown_colors", {}),
        transparent_px=int(extra.get("transparent_px", 0)),
        hint=str(extra.get("hint", "")),
    )
    return mask, report


def read_mask(path: str | Path, labelset: LabelSet, *, expected_hw: tuple[int, int] | None = None) -> np.ndarray:
    """The mask at ``path`` as HxW uint8 class ids (255 = unpainted), strictly validated.

    Raises :class:`MaskError` when the file is unreadable, its size differs from
    ``expected_hw`` (``(height, width)`` of its image), or it holds ids or colours the label
    set does not know; the message lists the offending values with pixel counts.
    """
    mask, report = check_mask(path, labelset, expected_hw=expected_hw)
    if not report.ok:
        raise MaskError(report.message())
    return mask


def _check_header_size(path: Path, size: tuple[int, int], expected_hw: tuple[int, int] | None) -> None:
    """Refuse from the header alone (Pillow reads the size lazily, before the pixels)."""
    w, h = size
    if expected_hw is not None and (h, w) != (int(expected_hw[0]), int(expected_hw[1])):
        eh, ew = expected_hw
        raise MaskError(
            f"mask {path.name} is {w}x{h} px (width x height) but its image is {ew}x{eh}; "
            "a mask must have exactly the size of its image"
        )
    if w * h > DEFAULT_MAX_PIXELS:
        raise MaskError(
            f"mask {path.name} is {w}x{h} px ({w * h / 1e6:.0f} megapixels), more than the "
            f"{DEFAULT_MAX_PIXELS / 1e6:.0f} megapixel limit for images; a mask must have the size of its image"
        )


def _decode(path: Path, img: Image.Image, labelset: LabelSet) -> tuple[np.ndarray, MaskKind, dict]:
    mode = img.mode
    if mode in ("P", "PA"):
        ids = _c(np.array(img.getchannel(0) if mode == "PA" else img))
        if mode == "PA":
            return _alpha_unpainted(ids, np.array(img.getchannel("A")), "indexed")
        if isinstance(img.info.get("transparency"), int):
            # A transparent palette index is how some tools mark "nothing here".
            t = img.info["transparency"]
            transparent = ids == t
            if transparent.any() and not labelset.valid_values()[t]:
                ids = ids.copy()
                ids[transparent] = UNPAINTED
                return ids, "indexed", {"transparent_px": int(transparent.sum())}
        return ids, "indexed", {}
    if mode == "L":
        return _c(np.array(img)), "ids", {}
    if mode == "LA":
        return _alpha_unpainted(_c(np.array(img.getchannel("L"))), np.array(img.getchannel("A")), "ids")
    if mode == "1":
        return _c(np.array(img).astype(np.uint8)), "ids", {}
    if mode.startswith("I"):
        values = np.array(img)
        if values.size and (values.min() < 0 or values.max() > 255):
            raise MaskError(
                f"mask {path.name} holds {mode} values from {values.min()} to {values.max()}; class ids "
                "must be 0..254 (255 = unpainted). Save it as an 8-bit id or indexed PNG"
            )
        return _c(values.astype(np.uint8)), "ids", {}
    if mode in ("RGB", "RGBA"):
        rgb = np.array(img)
        alpha = rgb[..., 3] if mode == "RGBA" else None
        return _map_colors(rgb[..., :3], alpha, labelset)
    raise MaskError(
        f"mask {path.name} uses the image mode {mode!r}; masks must be indexed, 8-bit grey ids or RGB colours"
    )


def _alpha_unpainted(ids: np.ndarray, alpha: np.ndarray, kind: MaskKind) -> tuple[np.ndarray, MaskKind, dict]:
    transparent = alpha == 0
    ids[transparent] = UNPAINTED
    return ids, kind, {"transparent_px": int(transparent.sum())}


def _pack(rgb: np.ndarray) -> np.ndarray:
    """RGB uint8 -> one uint32 per pixel (0xRRGGBB), so colours compare as single numbers."""
    rgb = rgb.astype(np.uint32, copy=False)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


def _unpack(value: int) -> tuple[int, int, int]:
    return ((value >> 16) & 255, (value >> 8) & 255, value & 255)


def _color_table(labelset: LabelSet) -> tuple[np.ndarray, np.ndarray]:
    """Sorted packed colours and the ids they mean; a class colour wins over UNPAINTED_COLOR."""
    table: dict[int, int] = {}
    for c in labelset.classes:
        key = int(_pack(np.array(c.color, dtype=np.uint8)))
        if key in table:
            other = labelset.by_id(table[key]).name
            raise MaskError(
                f"classes {other!r} and {c.name!r} of label set {labelset.name!r} share the colour "
                f"{_hex(c.color)}, so colour masks cannot tell them apart; give each class its own colour"
            )
        table[key] = c.id
    table.setdefault(int(_pack(np.array(UNPAINTED_COLOR, dtype=np.uint8))), UNPAINTED)
    keys = np.array(sorted(table), dtype=np.uint32)
    ids = np.array([table[int(k)] for k in keys], dtype=np.uint8)
    return keys, ids


def _map_colors(rgb: np.ndarray, alpha: np.ndarray | None, labelset: LabelSet) -> tuple[np.ndarray, MaskKind, dict]:
    # searchsorted against the handful of class colours: O(N log K), no sort of the image.
    keys, ids = _color_table(labelset)
    packed = _pack(rgb)
    pos = np.searchsorted(keys, packed)
    np.minimum(pos, len(keys) - 1, out=pos)
    known = keys[pos] == packed
    mask = ids[pos]
    extra: dict = {}
    if alpha is not None:
        transparent = alpha == 0
        known |= transparent
        mask[transparent] = UNPAINTED
        extra["transparent_px"] = int(transparent.sum())
    if not known.all():
        bad = packed[~known]
        values, counts = np.unique(bad, return_counts=True)
        extra["unknown_colors"] = {_unpack(int(v)): int(n) for v, n in zip(values, counts)}
        mask[~known] = UNPAINTED
        if (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all():
            extra["hint"] = "every pixel is grey, so this may be an id mask saved as RGB; save it as 8-bit grey"
    return _c(mask), "color", extra


# -- writing -------------------------------------------------------------------------------
def write_indexed_png(path: str | Path, mask: np.ndarray, labelset: LabelSet) -> None:
    """Save ``mask`` as an 8-bit palette PNG whose indices are the class ids (PASCAL VOC style).

    The palette holds each class colour at its id and the unpainted colour at 255, so any
    viewer shows the classes while training reads the ids losslessly. Atomic.
    """
    mask = _check_mask_array(mask)
    img = Image.fromarray(mask)  # mode L
    img.putpalette(labelset.palette())  # L + palette -> P, pixel values untouched
    atomic_write(path, lambda fh: img.save(fh, format="PNG"))


def colorize(mask: np.ndarray, labelset: LabelSet) -> np.ndarray:
    """HxWx3 uint8 display colours of ``mask`` (unpainted -> UNPAINTED_COLOR), by table lookup."""
    return labelset.color_lut()[_check_mask_array(mask)]


def write_color_png(path: str | Path, mask: np.ndarray, labelset: LabelSet) -> None:
    """Save the mask as an RGB colour-coded PNG (readable back by :func:`read_mask`). Atomic."""
    rgb = Image.fromarray(colorize(mask, labelset))
    atomic_write(path, lambda fh: rgb.save(fh, format="PNG"))


def overlay(image_rgb: np.ndarray, mask: np.ndarray, labelset: LabelSet, opacity: float = 0.5) -> np.ndarray:
    """The image with class colours blended in: ``round((1 - opacity) * image + opacity * colour)``.

    Unpainted pixels (255) show the image unchanged, so an overlay shows what is labelled.
    ``ignore_index`` pixels were painted on purpose and are shown in their class colour.
    """
    image_rgb = np.asarray(image_rgb)
    mask = _check_mask_array(mask)
    if image_rgb.dtype != np.uint8 or image_rgb.ndim != 3 or image_rgb.shape[2] != 3:
        raise ValueError(f"overlay needs an HxWx3 uint8 image, got {image_rgb.shape} {image_rgb.dtype}")
    if image_rgb.shape[:2] != mask.shape:
        raise ValueError(f"image {image_rgb.shape[:2]} and mask {mask.shape} differ in size")
    if not 0.0 <= opacity <= 1.0:
        raise ValueError(f"opacity must be within 0..1, got {opacity}")
    colours = labelset.color_lut()[mask].astype(np.float32)
    blended = image_rgb.astype(np.float32) * (1.0 - opacity) + colours * opacity
    out = np.rint(blended).astype(np.uint8)
    unpainted = mask == UNPAINTED
    out[unpainted] = image_rgb[unpainted]
    return out


def write_overlay_png(
    path: str | Path, image: np.ndarray, mask: np.ndarray, labelset: LabelSet, opacity: float = 0.5
) -> None:
    """Save :func:`overlay` as an RGB PNG (for reports and exports). Atomic."""
    rgb = Image.fromarray(overlay(image, mask, labelset, opacity))
    atomic_write(path, lambda fh: rgb.save(fh, format="PNG"))


# -- statistics ----------------------------------------------------------------------------
def painted_fraction(mask: np.ndarray) -> float:
    """Share of pixels that are not UNPAINTED (0.0 for an empty mask); ``ignore_index`` counts."""
    mask = np.asarray(mask)
    if mask.size == 0:
        return 0.0
    return float(np.count_nonzero(mask != UNPAINTED)) / mask.size


def class_histogram(mask: np.ndarray, labelset: LabelSet) -> dict[int, int]:
    """Pixel count per class id of ``labelset`` (every class present, zeros included).

    Unpainted pixels and values the label set does not know are not counted; use
    :func:`painted_fraction` or :func:`check_mask` for those.
    """
    counts = np.bincount(_check_mask_array(mask).ravel(), minlength=256)
    return {c.id: int(counts[c.id]) for c in labelset.classes}


# -- helpers -------------------------------------------------------------------------------
def _check_mask_array(mask: np.ndarray) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.dtype != np.uint8 or mask.ndim != 2:
        raise ValueError(f"a mask is an HxW uint8 array, got {mask.shape} {mask.dtype}")
    return np.ascontiguousarray(mask)


def _c(arr: np.ndarray) -> np.ndarray:
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    return arr if arr.flags.writeable else arr.copy()


def _hex(color: tuple[int, int, int] | list[int]) -> str:
    r, g, b = (int(v) for v in color)
    return f"#{r:02x}{g:02x}{b:02x}"


def _list_counts(counts: dict, fmt) -> str:  # type: ignore[type-arg]
    """'17 (1,204 px), 40 (3 px) and 2 more', largest first."""
    items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    shown = ", ".join(f"{fmt(k)} ({n:,} px)" for k, n in items[:_LIST_AT_MOST])
    rest = len(items) - _LIST_AT_MOST
    return shown + (f" and {rest} more" if rest > 0 else "")
