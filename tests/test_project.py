import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fcn_studio.data.atomic import TEMP_SUFFIX
from fcn_studio.data.labelset import UNPAINTED, load_preset
from fcn_studio.data.project import Project
from fcn_studio.errors import ProjectError

REPO = Path(__file__).resolve().parent.parent


def test_create_add_save_reopen(tmp_path, rgb_files):
    root = tmp_path / "proj"
    project = Project.create(root, "road")
    result = project.add_images(rgb_files)
    assert len(result.added) == 3 and not result.refused
    # img0 and img2 have the same name stem in different sources? no: distinct names, all copied
    assert all((root / e.file).is_file() for e in project.images)
    assert project.images[0].height == 40 and project.images[0].width == 60

    mask = np.full((40, 60), UNPAINTED, np.uint8)
    mask[5:15, 10:30] = 1
    assert project.save_mask(project.images[0].id, mask)

    again = Project.open(root)
    assert again.warnings == []
    assert [e.id for e in again.images] == [e.id for e in project.images]
    assert again.labelset == load_preset("road")
    np.testing.assert_array_equal(again.load_mask(again.images[0].id), mask)
    assert again.images[0].painted == pytest.approx(200 / 2400, abs=1e-6)
    # an image never painted loads as all-unpainted
    assert (again.load_mask(again.images[1].id) == UNPAINTED).all()
    # the mask on disk is an indexed PNG with the label set's palette
    with Image.open(root / again.images[0].mask) as im:
        assert im.mode == "P"
        assert im.getpalette()[3:6] == [255, 0, 255]


def test_name_clash_and_duplicates(tmp_path, rgb_files):
    project = Project.create(tmp_path / "p", "road")
    other = tmp_path / "other"
    other.mkdir()
    clash = other / "img0.png"
    Image.fromarray(np.zeros((10, 10, 3), np.uint8)).save(clash)
    project.add_images(rgb_files[:1])
    result = project.add_images([clash, rgb_files[0]])
    assert [e.file for e in result.added] == ["images/img0_2.png"]
    assert result.duplicates == [str(rgb_files[0])]
    assert len({e.id for e in project.images}) == 2


def test_link_mode(tmp_path, rgb_files):
    project = Project.create(tmp_path / "p", "road")
    project.add_images(rgb_files[:1], mode="link")
    path = project.path_of(project.images[0].file)
    assert path.exists()
    assert path.is_symlink() or os.path.samefile(path, rgb_files[0])
    assert project.load_image(project.images[0].id).shape == (40, 60, 3)


def test_unreadable_image_is_refused_not_raised(tmp_path, rgb_files):
    project = Project.create(tmp_path / "p", "road")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"")
    result = project.add_images([bad, rgb_files[0]])
    assert len(result.added) == 1
    assert result.refused and "bad.png" in result.refused[0][1]


def test_save_mask_writes_only_what_changed(tmp_path, rgb_files):
    project = Project.create(tmp_path / "p", "road")
    project.add_images(rgb_files[:1])
    image_id = project.images[0].id
    mask = project.load_mask(image_id)
    assert project.save_mask(image_id, mask) is False  # nothing painted, nothing written
    mask[0, 0] = 0
    assert project.save_mask(image_id, mask) is True
    mtime = project.path_of(project.images[0].mask).stat().st_mtime_ns
    assert project.save_mask(image_id, mask.copy()) is False
    assert project.path_of(project.images[0].mask).stat().st_mtime_ns == mtime
    with pytest.raises(Exception, match="60x40"):
        project.save_mask(image_id, np.zeros((5, 5), np.uint8))


def test_paths_outside_project_are_refused(tmp_path, rgb_files):
    project = Project.create(tmp_path / "p", "road")
    project.add_images(rgb_files[:2])
    data = json.loads((tmp_path / "p" / "project.json").read_text())
    data["images"][0]["file"] = "../../etc/passwd"
    data["images"][1]["id"] = "../evil"
    (tmp_path / "p" / "project.json").write_text(json.dumps(data))
    again = Project.open(tmp_path / "p")
    assert again.images == []
    assert sum("refused" in w for w in again.warnings) == 2
    with pytest.raises(ProjectError, match="outside"):
        again.path_of("/etc/passwd")


def test_unknown_keys_are_kept(tmp_path, rgb_files):
    project = Project.create(tmp_path / "p", "road")
    project.add_images(rgb_files[:1])
    data = json.loads((tmp_path / "p" / "project.json").read_text())
    data["future_feature"] = {"x": 1}
    data["images"][0]["note"] = "keep me"
    (tmp_path / "p" / "project.json").write_text(json.dumps(data))
    again = Project.open(tmp_path / "p")
    again.save()
    data = json.loads((tmp_path / "p" / "project.json").read_text())
    assert data["future_feature"] == {"x": 1} and data["images"][0]["note"] == "keep me"


def test_not_a_project_and_newer_version(tmp_path):
    with pytest.raises(ProjectError, match="not an fcn-studio project"):
        Project.open(tmp_path)
    Project.create(tmp_path / "p", "road")
    data = json.loads((tmp_path / "p" / "project.json").read_text())
    data["version"] = 99
    (tmp_path / "p" / "project.json").write_text(json.dumps(data))
    (tmp_path / "p" / "project.json.bak").unlink(missing_ok=True)
    with pytest.raises(ProjectError, match="Update fcn-studio"):
        Project.open(tmp_path / "p")


def test_damaged_project_file_falls_back_to_previous_save(tmp_path, rgb_files):
    project = Project.create(tmp_path / "p", "road")
    project.add_images(rgb_files[:1])
    project.add_images(rgb_files[1:2])  # second save: the .bak holds the first
    (tmp_path / "p" / "project.json").write_text('{"format": "fcn-studio-proj')
    again = Project.open(tmp_path / "p")
    assert len(again.images) == 1
    assert any("previous save" in w for w in again.warnings)


def test_leftovers_of_an_interrupted_import_are_reported(tmp_path, rgb_files):
    project = Project.create(tmp_path / "p", "road")
    project.add_images(rgb_files[:1])
    (tmp_path / "p" / "images" / "half_imported.png").write_bytes(rgb_files[1].read_bytes())
    (tmp_path / "p" / "masks" / f".x.png.{'abc'}{TEMP_SUFFIX}").write_bytes(b"\x89PNG half")
    again = Project.open(tmp_path / "p")
    assert len(again.images) == 1
    assert any("half_imported.png" in w for w in again.warnings)
    assert any("interrupted" in w for w in again.warnings)
    assert not list((tmp_path / "p" / "masks").glob(f"*{TEMP_SUFFIX}"))


def test_read_only_folder_gives_a_readable_error(tmp_path, rgb_files):
    if os.geteuid() == 0:
        pytest.skip("root ignores folder permissions")
    project = Project.create(tmp_path / "p", "road")
    os.chmod(tmp_path / "p", 0o500)
    try:
        with pytest.raises(ProjectError, match="read-only"):
            project.save()
    finally:
        os.chmod(tmp_path / "p", 0o700)


def test_full_disk_gives_a_readable_error_and_keeps_the_old_file(tmp_path, monkeypatch, rgb_files):
    import errno

    project = Project.create(tmp_path / "p", "road")
    before = (tmp_path / "p" / "project.json").read_text()
    real_fsync = os.fsync

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    project.add_images(rgb_files[:1], save=False)
    with pytest.raises(ProjectError, match="disk is full"):
        project.save()
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert (tmp_path / "p" / "project.json").read_text() == before
    assert not list((tmp_path / "p").glob(f"*{TEMP_SUFFIX}"))


SAVER = r"""
import sys, numpy as np
from fcn_studio.data.project import Project
p = Project.open(sys.argv[1])
image_id = p.images[0].id
i = 0
while True:
    i += 1
    p.extra["counter"] = i
    mask = np.full((p.images[0].height, p.images[0].width), 255, np.uint8)
    mask[: (i % 39) + 1] = i % 2
    p.save_mask(image_id, mask, save_project=False)
    p.save()
    if i == 1:  # one whole save first, so every kill lands while an earlier state is on disk
        print("ready", flush=True)
"""


def test_killed_while_saving_still_opens(tmp_path, rgb_files):
    """SIGKILL a process that saves in a loop, many times; each time the project opens whole."""
    root = tmp_path / "p"
    project = Project.create(root, "road")
    project.add_images(rgb_files[:1])
    rng = np.random.default_rng(0)
    counters = []
    for trial in range(12):
        proc = subprocess.Popen([sys.executable, "-c", SAVER, str(root)], stdout=subprocess.PIPE, cwd=REPO)
        assert proc.stdout.readline().strip() == b"ready"
        time.sleep(float(rng.uniform(0.02, 0.25)))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        again = Project.open(root)
        assert len(again.images) == 1
        counters.append(again.extra.get("counter", 0))
        mask = again.load_mask(again.images[0].id)  # a whole, readable PNG of the right size
        assert mask.shape == (40, 60)
        rows = int((mask[:, 0] != 255).sum())
        assert 1 <= rows <= 39 and len(np.unique(mask[:rows])) == 1
    assert max(counters) > 0  # the saver really got to write before it was killed


def test_demo_project(tmp_path):
    from fcn_studio.data.demo import create_demo_project

    project = create_demo_project(tmp_path / "demo", n_images=4, n_labelled=2, seed=3)
    assert len(project.images) == 4
    assert [e.painted for e in project.images][:2] == [1.0, 1.0]
    assert all(e.painted == 0 for e in project.images[2:])
    for e in project.images:
        truth = np.asarray(Image.open(tmp_path / "demo" / "ground_truth" / f"{e.id}.png"))
        assert truth.shape == (e.height, e.width)
        # every demo class appears: sky, road, marking, verge, vehicle
        assert set(np.unique(truth)) == {0, 1, 2, 3, 4}
        rgb = project.load_image(e.id)
        # the picture follows its labels: sky is bluer than road
        assert rgb[truth == 0][:, 2].mean() > rgb[truth == 1][:, 2].mean()
    np.testing.assert_array_equal(
        project.load_mask(project.images[0].id),
        np.asarray(Image.open(tmp_path / "demo" / "ground_truth" / f"{project.images[0].id}.png")),
    )
    # opening again keeps the user's work
    again = create_demo_project(tmp_path / "demo", n_images=4)
    assert [e.id for e in again.images] == [e.id for e in project.images]
