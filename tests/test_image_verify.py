"""verify_image: the full decode an image gets when it is added to a project."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fcn_studio.data.imageio import read_image, verify_image
from fcn_studio.errors import ImageReadError


def _noisy(path: Path, hw: tuple[int, int] = (120, 160)) -> Path:
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (*hw, 3), dtype=np.uint8)).save(path)
    return path


@pytest.mark.parametrize("name", ["photo.jpg", "photo.png", "photo.webp"])
def test_truncated_files_are_refused(tmp_path: Path, name: str) -> None:
    p = _noisy(tmp_path / name)
    assert verify_image(p) == (120, 160)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageReadError, match=rf"{name} is (truncated|damaged)"):
        verify_image(p)


def test_size_is_what_read_image_returns_exif_rotation_included(tmp_path: Path) -> None:
    img = Image.fromarray(np.full((32, 64, 3), 200, np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6
    img.save(tmp_path / "phone.jpg", exif=exif)
    assert verify_image(tmp_path / "phone.jpg") == read_image(tmp_path / "phone.jpg").shape[:2] == (64, 32)


def test_pixel_limit_from_the_header(tmp_path: Path) -> None:
    p = _noisy(tmp_path / "big.png", (20, 30))
    with pytest.raises(ImageReadError, match=r"big.png is 30x20 px"):
        verify_image(p, max_pixels=599)
