"""project.json agrees with the masks whatever was interrupted; bad files refused up front."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from fcn_studio.data.masks import painted_fraction, read_mask, write_indexed_png
from fcn_studio.data.project import PROJECT_FILE, Project
from fcn_studio.errors import MaskError


@pytest.fixture
def project(tmp_path, rgb_files) -> Project:
    p = Project.create(tmp_path / "proj", "road")
    p.add_images(rgb_files[:2])
    return p


def _mask(project: Project, image_id: str, rows: int) -> np.ndarray:
    e = project.entry(image_id)
    mask = np.full((e.height, e.width), 255, np.uint8)
    mask[:rows] = 1
    return mask


def test_killed_between_mask_and_project_file(project):
    # save_project=False is exactly the state a kill after the mask write leaves
    image_id = project.images[0].id
    mask = _mask(project, image_id, 10)
    project.save_mask(image_id, mask, save_project=False)
    on_disk = json.loads((project.root / PROJECT_FILE).read_text())
    assert on_disk["images"][0]["state"]["painted"] == 0.0  # the metadata lags the mask
    again = Project.open(project.root)
    assert again.entry(image_id).painted == pytest.approx(painted_fraction(mask), abs=1e-6)
    assert any("corrected from the mask" in w for w in again.warnings)
    # the correction is saved, so other readers (and info, training) see it too
    assert json.loads((project.root / PROJECT_FILE).read_text())["images"][0]["state"]["painted"] > 0
    assert Project.open(project.root).warnings == []


def test_a_newer_mask_with_another_share_is_derived_again(project):
    image_id = project.images[0].id
    project.save_mask(image_id, _mask(project, image_id, 10))
    newer = _mask(project, image_id, 30)
    project.save_mask(image_id, newer, save_project=False)  # killed before project.json
    again = Project.open(project.root)
    assert again.entry(image_id).painted == pytest.approx(painted_fraction(newer), abs=1e-6)


def test_a_removed_mask_unpaints_the_image(project):
    image_id = project.images[0].id
    project.save_mask(image_id, _mask(project, image_id, 10))
    project.path_of(project.entry(image_id).mask).unlink()
    again = Project.open(project.root)
    assert again.entry(image_id).painted == 0.0 and not again.has_mask(image_id)


def test_older_projects_without_records_are_checked_once(project):
    image_id = project.images[0].id
    project.save_mask(image_id, _mask(project, image_id, 10))
    data = json.loads((project.root / PROJECT_FILE).read_text())
    for image in data["images"]:
        image["state"].pop("mask_file", None)
        image["state"]["painted"] = 0.0
    (project.root / PROJECT_FILE).write_text(json.dumps(data))
    again = Project.open(project.root)
    assert again.entry(image_id).painted > 0
    assert "mask_file" in json.loads((project.root / PROJECT_FILE).read_text())["images"][0]["state"]


def test_unchanged_masks_are_not_decoded_on_open(project, monkeypatch):
    image_id = project.images[0].id
    project.save_mask(image_id, _mask(project, image_id, 10))
    import fcn_studio.data.masks as masks

    def no_decode(*a, **k):
        raise AssertionError("a mask whose file is the recorded one was decoded")

    monkeypatch.setattr(masks, "check_mask", no_decode)
    assert Project.open(project.root).entry(image_id).painted > 0


def test_snapshot_derives_without_writing(project):
    image_id = project.images[0].id
    project.save_mask(image_id, _mask(project, image_id, 10), save_project=False)
    before = (project.root / PROJECT_FILE).read_bytes()
    snap = Project.read_snapshot(project.root)
    assert snap.entry(image_id).painted > 0
    assert (project.root / PROJECT_FILE).read_bytes() == before


def test_refresh_painted_sees_a_mask_written_by_someone_else(project):
    # an import deciding whether it may overwrite asks the file, not the metadata
    image_id = project.images[0].id
    other = Project.open(project.root)
    other.save_mask(image_id, _mask(other, image_id, 10), save_project=False)
    assert project.entry(image_id).painted == 0.0
    assert project.has_mask(image_id)
    assert project.refresh_painted(image_id) > 0


def test_label_set_edit_keeps_records_current(project, monkeypatch):
    # deleting a class rewrites the masks itself; their new files are recorded, not re-read
    from fcn_studio.data import labelset_edit
    import fcn_studio.data.masks as masks

    image_id = project.images[0].id
    project.save_mask(image_id, _mask(project, image_id, 10))
    new_ls, mapping = labelset_edit.delete(project.labelset, 1)
    labelset_edit.apply_to_project(project, new_ls, mapping)
    assert project.entry(image_id).painted == 0.0  # class 1 is gone: its pixels are unpainted
    monkeypatch.setattr(masks, "check_mask", lambda *a, **k: pytest.fail("a recorded mask was decoded"))
    assert Project.open(project.root).entry(image_id).painted == 0.0


# -- bad input refused up front ------------------------------------------------------------
def test_truncated_png_is_refused_when_added(tmp_path):
    src = tmp_path / "cut.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (80, 100, 3), dtype=np.uint8)).save(src)
    data = src.read_bytes()
    src.write_bytes(data[: len(data) // 2])
    project = Project.create(tmp_path / "proj", "road")
    result = project.add_images([src])
    assert not result.added
    assert "truncated" in result.refused[0][1] and "cut.png" in result.refused[0][1]
    assert list((project.root / "images").iterdir()) == []
    assert Project.open(project.root).images == []


def _huge_png(path: Path, w: int, h: int) -> None:
    """A valid 8-bit grey PNG of w x h zeros, streamed so the test never holds the pixels."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    z = zlib.compressobj(9)
    row = b"\x00" * (w + 1)  # filter byte + pixels
    idat = b"".join(z.compress(row) for _ in range(h)) + z.flush()
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


@pytest.fixture
def no_decode(monkeypatch):
    def refuse(self, *a, **k):
        raise AssertionError("the pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_oversize_mask_is_refused_from_its_header(project, tmp_path, no_decode):
    huge = tmp_path / "huge.png"
    _huge_png(huge, 13000, 13000)
    assert huge.stat().st_size < 1_000_000  # small on disk, 169 MB decoded
    with pytest.raises(MaskError, match=r"13000x13000 px .*megapixel limit"):
        read_mask(huge, project.labelset)
    # in a project the image's size is known: the header mismatch is enough
    image_id = project.images[0].id
    entry = project.entry(image_id)
    huge.replace(project.path_of(entry.mask))
    with pytest.raises(MaskError, match=rf"13000x13000 px .* its image is {entry.width}x{entry.height}"):
        project.load_mask(image_id)


def test_mask_of_the_wrong_size_is_refused_before_decoding(project, tmp_path, no_decode):
    image_id = project.images[0].id
    entry = project.entry(image_id)
    path = project.path_of(entry.mask)
    write_indexed_png(path, np.zeros((entry.height + 1, entry.width), np.uint8), project.labelset)
    with pytest.raises(MaskError, match="a mask must have exactly the size of its image"):
        project.load_mask(image_id)


def test_import_without_replace_keeps_a_mask_the_metadata_does_not_know(project, tmp_path):
    """Issue 16 item 2: a mask another process wrote (project.json still says 0% painted) is
    not overwritten by an import that was not asked to replace."""
    from fcn_studio.data.mask_import import import_masks

    image_id = project.images[0].id
    other = Project.open(project.root)
    theirs = _mask(other, image_id, 10)
    other.save_mask(image_id, theirs, save_project=False)
    assert project.entry(image_id).painted == 0.0
    folder = tmp_path / "incoming"
    folder.mkdir()
    entry = project.entry(image_id)
    write_indexed_png(folder / f"{Path(entry.file).stem}.png", _mask(project, image_id, 3), project.labelset)
    rows = [row for _, _, row in import_masks(project, folder) if row is not None]
    assert [r.status for r in rows] == ["skipped"]
    np.testing.assert_array_equal(project.load_mask(image_id), theirs)
