"""Read any photo a person is likely to drop in as HxWx3 uint8 RGB; write PNG/JPEG atomically.

Why this module exists rather than calling ``Image.open`` everywhere:

* Pillow opens lazily, so a truncated file only fails when pixels are decoded, often deep
  inside training. :func:`read_image` forces the full decode here and turns every failure into
  one :class:`~fcn_studio.errors.ImageReadError` that names the file and says what to do.
* Cameras store rotation in EXIF; the pixels a person saw in a viewer are the transposed ones,
  and that is what masks are painted on. :func:`read_image` and :func:`image_size` both apply it.
* Photos, scans and microscopy come in many Pillow modes (palette, 16-bit, CMYK, alpha, ...);
  the network and the canvas want one layout.

Nothing here sets ``ImageFile.LOAD_TRUNCATED_IMAGES``: leaving it ``False`` is what makes Pillow
raise on a short file. Code elsewhere must not flip it either, or truncation goes unnoticed.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from fcn_studio.data.atomic import atomic_write
from fcn_studio.errors import ImageReadError

#: File suffixes (lower case) that the image list offers; all are decoded by Pillow.
IMAGE_SUFFIXES: tuple[str, ...] = (
    ".png",
    ".jpg",
    ".jpeg",
    ".bmp",
    ".tif",
    ".tiff",
    ".webp",
    ".gif",
    ".ppm",
    ".pgm",
    ".pnm",
)

#: Largest image :func:`read_image` accepts, in pixels. 150 MP (450 MB as RGB uint8) covers a
#: 14000x10000 scan. It sits below Pillow's own hard refusal (2 x ``Image.MAX_IMAGE_PIXELS``,
#: about 179 MP), so with the default the size limit the user is told about is this one.
DEFAULT_MAX_PIXELS = 150_000_000

_WRITE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}
_EXIF_ORIENTATION = 0x0112
_ROTATED_ORIENTATIONS = (5, 6, 7, 8)  # orientations that swap width and height
# Everything Pillow's decoders are known to raise on a damaged file. Caught only around
# Pillow calls, and always turned into ImageReadError.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error, zlib.error)


def is_image_file(path: str | Path) -> bool:
    """Whether ``path`` has one of :data:`IMAGE_SUFFIXES` (case-insensitive); no IO."""
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def read_image(path: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """The image at ``path`` as an HxWx3 uint8 RGB array (C-contiguous, writable).

    EXIF orientation is applied, so the array is what a photo viewer shows (an unreadable EXIF
    block is ignored, not fatal). Multi-frame files (GIF, TIFF) give their first frame.
    Mode conversion:

    * ``L``, ``1``, ``P`` (no transparency), ``CMYK``, ``YCbCr``, ... : Pillow's RGB conversion.
    * ``RGBA``, ``LA``, ``PA`` and ``P`` with a transparent index: composited on **white**.
      Dropping alpha instead would expose whatever colour the editor left under transparent
      pixels (often black or junk); white is what viewers show and what a person painted on.
    * 16-bit (``I;16``, ``I;16B``, ``I;16L``) and 32-bit integer ``I``: values are treated as
      0..65535 and mapped linearly to 0..255 (``round(v / 257)``). A fixed mapping, rather than
      stretching each image to its own maximum, keeps brightness comparable across a data set.
      ``I`` values outside 0..65535 are clipped.
    * ``F`` (float): treated as 0..1 when the maximum is at most 1, as 0..255 otherwise
      (clipped); NaN becomes 0.

    Raises :class:`ImageReadError` (never a raw Pillow/OS error) for a missing, empty,
    truncated, damaged or non-image file, and for an image over ``max_pixels`` pixels.
    """
    path = Path(path)
    with open_image_checked(path) as img:
        _check_pixels(path, img.size, max_pixels)
        try:
            img.load()  # force the full decode: this is where a truncated file fails
            return _to_rgb(path, _upright(img))
        except ImageReadError:
            raise
        except MemoryError:
            raise ImageReadError(
                f"{path.name} ({img.width}x{img.height} px) does not fit in memory; "
                "downscale it or close other programs"
            ) from None
        except _DECODE_ERRORS as exc:
            raise ImageReadError(_describe_decode_error(path, exc)) from None


def image_size(path: str | Path) -> tuple[int, int]:
    """``(height, width)`` as :func:`read_image` would return it, from the file header only.

    Fast enough to list thousands of files: pixels are not decoded. EXIF orientation 5-8 swaps
    the two. For PNG only an ``eXIf`` chunk before the pixel data is seen (reading one after it
    would mean decoding the image); such files are rare and non-conforming.

    Raises :class:`ImageReadError` for a missing, empty or non-image file. A truncated file is
    *not* detected here; :func:`verify_image` and :func:`read_image` detect it.
    """
    path = Path(path)
    with open_image_checked(path) as img:
        w, h = img.size
        return (w, h) if _header_orientation(img) in _ROTATED_ORIENTATIONS else (h, w)


def verify_image(path: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[int, int]:
    """``(height, width)`` as :func:`read_image` returns it, after decoding every pixel.

    For adding images to a project: :func:`image_size` reads only the header, so a truncated
    file would be accepted and fail later, in training or on screen. This decodes (without
    converting to RGB) and raises :class:`ImageReadError` for what :func:`read_image` would
    refuse, including an image over ``max_pixels`` (checked from the header, before decoding).
    """
    path = Path(path)
    with open_image_checked(path) as img:
        _check_pixels(path, img.size, max_pixels)
        try:
            img.load()
        except MemoryError:
            raise ImageReadError(
                f"{path.name} ({img.width}x{img.height} px) does not fit in memory; downscale it or close other programs"
            ) from None
        except _DECODE_ERRORS as exc:
            raise ImageReadError(_describe_decode_error(path, exc)) from None
        w, h = img.size
        try:  # after the decode a PNG's late eXIf chunk is known too, as read_image sees it
            orientation = int(img.getexif().get(_EXIF_ORIENTATION, 1))
        except Exception:  # noqa: BLE001 - unreadable EXIF: read_image shows the pixels as stored
            orientation = 1
        return (w, h) if orientation in _ROTATED_ORIENTATIONS else (h, w)


def write_image(path: str | Path, rgb: np.ndarray, *, jpeg_quality: int = 95) -> None:
    """Write an HxWx3 (or HxW grey) uint8 array as PNG or JPEG, chosen by the suffix.

    The write is atomic (:func:`~fcn_studio.data.atomic.atomic_write`): an existing file is
    either kept or fully replaced. Raises ``ValueError`` for an unsupported suffix or array
    layout (programming errors) and :class:`~fcn_studio.errors.ProjectError` on a full disk.
    """
    path = Path(path)
    fmt = _WRITE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"cannot write {path.name}: use one of {', '.join(_WRITE_FORMATS)}")
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or not (rgb.ndim == 2 or (rgb.ndim == 3 and rgb.shape[2] == 3)):
        raise ValueError(f"write_image needs HxWx3 or HxW uint8, got {rgb.shape} {rgb.dtype}")
    img = Image.fromarray(np.ascontiguousarray(rgb))
    options = {"quality": jpeg_quality} if fmt == "JPEG" else {}
    atomic_write(path, lambda fh: img.save(fh, format=fmt, **options))


# -- opening ------------------------------------------------------------------------------
class _Opened:
    """Context manager around ``Image.open`` that converts every failure to ImageReadError."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.img: Image.Image | None = None

    def __enter__(self) -> Image.Image:
        path = self.path
        if not path.exists():
            raise ImageReadError(f"{path} does not exist; it may have been moved or deleted")
        if path.is_dir():
            raise ImageReadError(f"{path} is a folder, not an image file")
        try:
            if path.stat().st_size == 0:
                raise ImageReadError(f"{path.name} is empty (0 bytes); re-export or re-copy it")
            self.img = Image.open(path)
        except ImageReadError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            # The warning is only an exception when the caller's warning filters made it one.
            raise ImageReadError(
                f"{path.name} is too large to open safely ({exc}); downscale or tile it first"
            ) from None
        except UnidentifiedImageError:
            raise ImageReadError(
                f"{path.name} is not an image this app can read (unknown or unsupported format); "
                f"supported: {', '.join(IMAGE_SUFFIXES)}"
            ) from None
        except PermissionError:
            raise ImageReadError(f"cannot read {path}: permission denied") from None
        except _DECODE_ERRORS as exc:
            raise ImageReadError(_describe_decode_error(path, exc)) from None
        return self.img

    def __exit__(self, *exc_info: object) -> None:
        if self.img is not None:
            self.img.close()


def open_image_checked(path: str | Path) -> _Opened:
    """``with open_image_checked(p) as img:`` -- a lazily opened Pillow image, errors readable.

    For other readers on this floor (masks) that need Pillow's mode and palette rather than
    RGB. Decoding failures inside the block are the caller's to convert.
    """
    return _Opened(Path(path))


def _check_pixels(path: Path, size: tuple[int, int], max_pixels: int) -> None:
    w, h = size
    if w * h > max_pixels:
        raise ImageReadError(
            f"{path.name} is {w}x{h} px ({w * h / 1e6:.0f} megapixels), more than the "
            f"{max_pixels / 1e6:.0f} megapixel limit; downscale or tile it first"
        )


def _describe_decode_error(path: Path, exc: BaseException) -> str:
    text = str(exc)
    if "truncated" in text or isinstance(exc, EOFError):
        return f"{path.name} is truncated (the file ends early); re-export or re-copy it"
    return f"{path.name} is damaged and cannot be decoded ({text or type(exc).__name__}); re-export or re-copy it"


def _upright(img: Image.Image) -> Image.Image:
    try:
        return ImageOps.exif_transpose(img)
    except Exception:  # noqa: BLE001 - unreadable EXIF: show the pixels as stored, as image_size does
        return img


def _header_orientation(img: Image.Image) -> int:
    if img.format == "PNG" and "exif" not in img.info:
        return 1  # PngImageFile.getexif() would decode the whole image to look for a late eXIf
    try:
        return int(img.getexif().get(_EXIF_ORIENTATION, 1))
    except Exception:  # noqa: BLE001 - broken EXIF must not stop a listing; the pixels are fine
        return 1


# -- mode conversion -----------------------------------------------------------------------
def _to_rgb(path: Path, img: Image.Image) -> np.ndarray:
    mode = img.mode
    if mode == "RGB":
        return _contiguous(np.array(img))
    if mode == "P" and "transparency" in img.info:
        return _on_white(img.convert("RGBA"))
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        return _on_white(img.convert("RGBA"))
    if mode.startswith(("I", "F")):  # I, I;16, I;16B, I;16L, I;16N, F
        return _gray_to_rgb(to_8bit_gray(img))
    try:
        return _contiguous(np.array(img.convert("RGB")))
    except ValueError:
        raise ImageReadError(f"{path.name} uses the colour mode {mode!r}, which cannot be shown as RGB") from None


def to_8bit_gray(img: Image.Image) -> np.ndarray:
    """HxW uint8 of a 16/32-bit integer (``I*``) or float (``F``) image, by the rules of
    :func:`read_image`: integers as 0..65535 mapped by ``round(v / 257)`` (clipped), floats as
    0..1 when their maximum is at most 1, else 0..255 (clipped, NaN 0).

    The one such conversion: thumbnails use it too, so the list shows what the canvas shows.
    """
    if img.mode == "F":
        values = np.nan_to_num(np.array(img, dtype=np.float64), nan=0.0, posinf=255.0, neginf=0.0)
        scale = 255.0 if values.size and values.max() <= 1.0 else 1.0
        return np.rint(np.clip(values * scale, 0, 255)).astype(np.uint8)
    values = np.array(img).astype(np.float64)
    return np.rint(np.clip(values, 0, 65535) / 257.0).astype(np.uint8)


def _on_white(rgba: Image.Image) -> np.ndarray:
    arr = np.array(rgba, dtype=np.uint16)
    alpha = arr[..., 3:4]
    # rgb * a/255 + 255 * (1 - a/255), rounded, in integers
    out = (arr[..., :3] * alpha + 255 * (255 - alpha) + 127) // 255
    return _contiguous(out.astype(np.uint8))


def _gray_to_rgb(gray: np.ndarray) -> np.ndarray:
    return _contiguous(np.repeat(gray[..., None], 3, axis=2))


def _contiguous(arr: np.ndarray) -> np.ndarray:
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    if not arr.flags.writeable:
        arr = arr.copy()
    return arr

