"""read_image / image_size / write_image: every Pillow mode, EXIF, broken files, bombs."""

from __future__ import annotations

import struct
import subprocess
import sys
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from fcn_studio.data.atomic import TEMP_SUFFIX
from fcn_studio.data.imageio import IMAGE_SUFFIXES, image_size, is_image_file, read_image, write_image
from fcn_studio.errors import ImageReadError


def _check_rgb(arr: np.ndarray, hw: tuple[int, int]) -> None:
    assert arr.shape == (*hw, 3)
    assert arr.dtype == np.uint8
    assert arr.flags.c_contiguous and arr.flags.writeable


# -- modes ---------------------------------------------------------------------------------
def test_rgb_png_exact(tmp_path: Path) -> None:
    rgb = np.random.default_rng(0).integers(0, 256, (7, 9, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "a.png")
    out = read_image(tmp_path / "a.png")
    _check_rgb(out, (7, 9))
    np.testing.assert_array_equal(out, rgb)


def test_mode_L(tmp_path: Path) -> None:
    gray = np.full((5, 6), 100, np.uint8)
    gray[2, 3] = 7
    Image.fromarray(gray).save(tmp_path / "g.png")
    out = read_image(tmp_path / "g.png")
    _check_rgb(out, (5, 6))
    assert out[0, 0].tolist() == [100, 100, 100]
    assert out[2, 3].tolist() == [7, 7, 7]


def test_mode_LA_composited_on_white(tmp_path: Path) -> None:
    la = np.zeros((2, 3, 2), np.uint8)
    la[0, 0] = (100, 255)  # opaque
    la[0, 1] = (30, 0)  # fully transparent -> white, whatever the grey underneath
    la[0, 2] = (0, 128)  # half: 255 * 127/255 = 127
    Image.fromarray(la, mode="LA").save(tmp_path / "la.png")
    assert Image.open(tmp_path / "la.png").mode == "LA"
    out = read_image(tmp_path / "la.png")
    _check_rgb(out, (2, 3))
    assert out[0, 0].tolist() == [100] * 3
    assert out[0, 1].tolist() == [255] * 3
    assert out[0, 2].tolist() == [127] * 3


def _palette_image(idx: np.ndarray) -> Image.Image:
    img = Image.fromarray(idx)
    pal = [0] * 768
    pal[3 * 3 : 3 * 3 + 3] = [10, 20, 30]
    pal[3 * 5 : 3 * 5 + 3] = [200, 100, 50]
    img.putpalette(pal)
    return img


def test_mode_P(tmp_path: Path) -> None:
    idx = np.full((4, 4), 3, np.uint8)
    idx[1, 2] = 5
    _palette_image(idx).save(tmp_path / "p.png")
    assert Image.open(tmp_path / "p.png").mode == "P"
    out = read_image(tmp_path / "p.png")
    _check_rgb(out, (4, 4))
    assert out[0, 0].tolist() == [10, 20, 30]
    assert out[1, 2].tolist() == [200, 100, 50]


def test_mode_P_with_transparency(tmp_path: Path) -> None:
    idx = np.full((4, 4), 3, np.uint8)
    idx[1, 2] = 5
    _palette_image(idx).save(tmp_path / "pt.png", transparency=3)
    reopened = Image.open(tmp_path / "pt.png")
    assert reopened.mode == "P" and reopened.info.get("transparency") is not None
    out = read_image(tmp_path / "pt.png")
    assert out[0, 0].tolist() == [255, 255, 255]  # transparent index -> white
    assert out[1, 2].tolist() == [200, 100, 50]


def test_mode_RGBA_composited_on_white(tmp_path: Path) -> None:
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[0, 0] = (255, 0, 0, 128)
    rgba[0, 1] = (0, 0, 0, 0)
    rgba[1, 0] = (1, 2, 3, 255)
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    out = read_image(tmp_path / "rgba.png")
    _check_rgb(out, (2, 2))
    assert out[0, 0].tolist() == [255, 127, 127]
    assert out[0, 1].tolist() == [255, 255, 255]
    assert out[1, 0].tolist() == [1, 2, 3]


def test_mode_I16_png_scaled_to_8bit(tmp_path: Path) -> None:
    v = np.array([[0, 65535, 32896, 257 * 10]], dtype=np.uint16)
    Image.fromarray(v).save(tmp_path / "d.png")
    assert Image.open(tmp_path / "d.png").mode.startswith("I")
    out = read_image(tmp_path / "d.png")
    _check_rgb(out, (1, 4))
    assert out[0, :, 0].tolist() == [0, 255, 128, 10]
    assert (out[..., 0] == out[..., 2]).all()


def test_mode_I16B_tiff(tmp_path: Path) -> None:
    v = np.array([[0, 65535, 2570]], dtype=">u2")
    img = Image.frombytes("I;16B", (3, 1), v.tobytes())
    img.save(tmp_path / "be.tif")
    assert Image.open(tmp_path / "be.tif").mode in ("I;16B", "I;16", "I")
    out = read_image(tmp_path / "be.tif")
    assert out[0, :, 1].tolist() == [0, 255, 10]


def test_mode_I32_clipped_as_16bit(tmp_path: Path) -> None:
    v = np.array([[-5, 65535, 70000, 25700]], dtype=np.int32)
    Image.fromarray(v).save(tmp_path / "i.tif")
    assert Image.open(tmp_path / "i.tif").mode == "I"
    out = read_image(tmp_path / "i.tif")
    assert out[0, :, 0].tolist() == [0, 255, 255, 100]


def test_mode_F(tmp_path: Path) -> None:
    Image.fromarray(np.array([[0.0, 0.25, 1.0]], dtype=np.float32)).save(tmp_path / "unit.tif")
    Image.fromarray(np.array([[0.0, 64.0, 400.0]], dtype=np.float32)).save(tmp_path / "wide.tif")
    assert read_image(tmp_path / "unit.tif")[0, :, 0].tolist() == [0, 64, 255]
    assert read_image(tmp_path / "wide.tif")[0, :, 0].tolist() == [0, 64, 255]


def test_mode_CMYK(tmp_path: Path) -> None:
    cmyk = np.zeros((2, 2, 4), np.uint8)
    cmyk[0, 1] = (255, 0, 0, 0)  # pure cyan
    cmyk[1, 0] = (0, 0, 0, 255)  # pure black
    Image.fromarray(cmyk, mode="CMYK").save(tmp_path / "c.tif")
    assert Image.open(tmp_path / "c.tif").mode == "CMYK"
    out = read_image(tmp_path / "c.tif")
    _check_rgb(out, (2, 2))
    assert out[0, 0].tolist() == [255, 255, 255]
    assert out[0, 1].tolist() == [0, 255, 255]
    assert out[1, 0].tolist() == [0, 0, 0]


def test_mode_1(tmp_path: Path) -> None:
    bits = np.zeros((3, 8), bool)
    bits[1, 4] = True
    Image.fromarray(bits).save(tmp_path / "b.png")
    assert Image.open(tmp_path / "b.png").mode == "1"
    out = read_image(tmp_path / "b.png")
    _check_rgb(out, (3, 8))
    assert out[1, 4].tolist() == [255] * 3
    assert out[0, 0].tolist() == [0] * 3


# -- EXIF ----------------------------------------------------------------------------------
def test_exif_orientation_6_rotates(tmp_path: Path) -> None:
    # Stored 64 wide x 32 high, red block in the stored top-left corner.
    stored = np.full((32, 64, 3), 255, np.uint8)
    stored[:8, :8] = (255, 0, 0)
    img = Image.fromarray(stored)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    img.save(tmp_path / "phone.jpg", exif=exif, quality=95)

    out = read_image(tmp_path / "phone.jpg")
    _check_rgb(out, (64, 32))  # upright: taller than wide
    assert image_size(tmp_path / "phone.jpg") == (64, 32)
    # Clockwise rotation moves the stored top-left corner to the top-right.
    top_right = out[:6, -6:].reshape(-1, 3).mean(axis=0)
    top_left = out[:6, :6].reshape(-1, 3).mean(axis=0)
    assert top_right[0] > 200 and top_right[1] < 60 and top_right[2] < 60
    assert top_left.min() > 200  # white


def test_image_size_without_exif(tmp_path: Path) -> None:
    Image.new("RGB", (13, 5)).save(tmp_path / "a.png")
    Image.new("RGB", (13, 5)).save(tmp_path / "a.jpg")
    assert image_size(tmp_path / "a.png") == (5, 13)
    assert image_size(tmp_path / "a.jpg") == (5, 13)


# -- broken files --------------------------------------------------------------------------
def _noisy(tmp_path: Path, name: str) -> Path:
    rgb = np.random.default_rng(1).integers(0, 256, (120, 160, 3), dtype=np.uint8)
    p = tmp_path / name
    Image.fromarray(rgb).save(p)
    return p


@pytest.mark.parametrize("name", ["photo.jpg", "photo.png"])
def test_truncated_file_refused(tmp_path: Path, name: str) -> None:
    p = _noisy(tmp_path, name)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageReadError, match=rf"{name} is truncated"):
        read_image(p)


def test_truncation_detection_is_not_switched_off() -> None:
    import fcn_studio.data.coco  # noqa: F401
    import fcn_studio.data.masks  # noqa: F401

    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_damaged_png_refused(tmp_path: Path) -> None:
    p = _noisy(tmp_path, "bad.png")
    data = bytearray(p.read_bytes())
    mid = len(data) // 2
    data[mid : mid + 64] = bytes(64)  # corrupt the compressed pixels; CRC no longer matches
    p.write_bytes(bytes(data))
    with pytest.raises(ImageReadError, match="bad.png"):
        read_image(p)


def test_zero_byte_file(tmp_path: Path) -> None:
    p = tmp_path / "empty.jpg"
    p.write_bytes(b"")
    with pytest.raises(ImageReadError, match=r"empty.jpg is empty \(0 bytes\)"):
        read_image(p)
    with pytest.raises(ImageReadError, match="empty.jpg is empty"):
        image_size(p)


def test_text_file_named_png(tmp_path: Path) -> None:
    p = tmp_path / "notes.png"
    p.write_text("this is not a picture\n")
    with pytest.raises(ImageReadError, match="notes.png is not an image"):
        read_image(p)
    with pytest.raises(ImageReadError, match="notes.png is not an image"):
        image_size(p)


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(ImageReadError, match="gone.png does not exist"):
        read_image(tmp_path / "gone.png")
    with pytest.raises(ImageReadError, match="is a folder"):
        read_image(tmp_path)


# -- size limits ---------------------------------------------------------------------------
def _png_header_only(path: Path, width: int, height: int) -> None:
    """A PNG that *claims* width x height (RGB) but carries one tiny IDAT: what a bomb looks like."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")
    )


def test_max_pixels_refused_with_size(tmp_path: Path) -> None:
    p = tmp_path / "big.png"
    Image.new("RGB", (30, 20)).save(p)
    with pytest.raises(ImageReadError, match=r"big.png is 30x20 px"):
        read_image(p, max_pixels=599)
    assert read_image(p, max_pixels=600).shape == (20, 30, 3)


def test_crafted_header_refused_before_decoding(tmp_path: Path) -> None:
    p = tmp_path / "claims.png"
    _png_header_only(p, 5000, 4000)
    with pytest.raises(ImageReadError, match=r"claims.png is 5000x4000 px \(20 megapixels\)"):
        read_image(p, max_pixels=10_000_000)
    assert image_size(p) == (4000, 5000)  # listing still works: only the header is read


def test_decompression_bomb_refused(tmp_path: Path) -> None:
    p = tmp_path / "bomb.png"
    _png_header_only(p, 100_000, 100_000)  # 10 gigapixels: Pillow's own guard refuses it
    with pytest.raises(ImageReadError, match=r"bomb.png is too large.*10000000000 pixels"):
        read_image(p)
    with pytest.raises(ImageReadError, match="bomb.png is too large"):
        image_size(p)


def test_decompression_bomb_warning_as_error_is_converted(tmp_path: Path) -> None:
    p = tmp_path / "warn.png"
    _png_header_only(p, 10_000, 10_000)  # 100 MP: above Pillow's warning threshold only
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with pytest.raises(ImageReadError, match="warn.png is too large"):
            read_image(p)


# -- writing -------------------------------------------------------------------------------
def test_write_png_roundtrip_and_atomic(tmp_path: Path) -> None:
    rgb = np.random.default_rng(2).integers(0, 256, (11, 13, 3), dtype=np.uint8)
    p = tmp_path / "out.png"
    p.write_bytes(b"old")
    write_image(p, rgb)
    np.testing.assert_array_equal(read_image(p), rgb)
    assert not list(tmp_path.glob(f"*{TEMP_SUFFIX}"))


def test_write_jpeg_by_suffix(tmp_path: Path) -> None:
    rgb = np.full((16, 16, 3), (40, 120, 200), np.uint8)
    write_image(tmp_path / "o.JPEG", rgb)
    assert Image.open(tmp_path / "o.JPEG").format == "JPEG"
    assert np.abs(read_image(tmp_path / "o.JPEG").astype(int) - rgb).max() <= 3


def test_write_refuses_bad_input(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="gif"):
        write_image(tmp_path / "o.gif", np.zeros((2, 2, 3), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        write_image(tmp_path / "o.png", np.zeros((2, 2, 3), np.float32))
    assert not (tmp_path / "o.png").exists()


def test_floor_imports_neither_torch_nor_qt() -> None:
    code = (
        "import sys, fcn_studio.data.imageio, fcn_studio.data.masks, fcn_studio.data.coco; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('torch', 'PySide6', 'PyQt5', 'PyQt6', 'pycocotools')]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_suffixes() -> None:
    assert {".png", ".jpg", ".jpeg", ".tif", ".bmp"} <= set(IMAGE_SUFFIXES)
    assert all(s == s.lower() and s.startswith(".") for s in IMAGE_SUFFIXES)
    assert is_image_file("A/B/Photo.JPG") and not is_image_file("notes.txt")


def test_one_16_bit_conversion_for_images_and_thumbnails(tmp_path: Path) -> None:
    """The thumbnail of a 16-bit image is made by the same mapping as the image read for the canvas."""
    from PIL import Image

    from fcn_studio.data.imageio import read_image, to_8bit_gray

    values = np.array([[0, 257, 1000], [32768, 65535, 128]], dtype=np.uint16)
    img = Image.fromarray(values)
    gray = to_8bit_gray(img)
    assert gray.tolist() == [[0, 1, 4], [128, 255, 0]]
    path = tmp_path / "deep.png"
    img.save(path)
    assert (read_image(path)[..., 0] == to_8bit_gray(Image.open(path))).all()
    floats = Image.fromarray(np.array([[0.0, 0.5, 1.0]], dtype=np.float32))
    assert to_8bit_gray(floats).tolist() == [[0, 128, 255]]
