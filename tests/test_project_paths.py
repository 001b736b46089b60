"""Nothing outside the project: folders or files that are links leading out are refused.

Also the trash, which keeps what it already holds, and link mode, whose file links still read.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fcn_studio.data.imageio import read_image
from fcn_studio.data.masks import read_mask
from fcn_studio.data.project import Project
from fcn_studio.errors import ProjectError

pytestmark = pytest.mark.skipif(not hasattr(os, "symlink") or os.name == "nt", reason="needs symbolic links")


@pytest.fixture
def project(tmp_path, rgb_files) -> Project:
    p = Project.create(tmp_path / "proj", "road")
    p.add_images(rgb_files[:2])
    return p


@pytest.fixture
def outside(tmp_path) -> Path:
    folder = tmp_path / "outside"
    folder.mkdir()
    return folder


def _painted(project: Project, image_id: str) -> np.ndarray:
    e = project.entry(image_id)
    mask = np.full((e.height, e.width), 255, np.uint8)
    mask[:5, :5] = 1
    return mask


def _relink(project: Project, name: str, target: Path) -> None:
    """Replace the project's folder ``name`` with a link to ``target``."""
    folder = project.root / name
    if folder.exists():
        for child in folder.iterdir():
            os.replace(child, target / child.name)
        folder.rmdir()
    os.symlink(target, folder)


def test_masks_folder_linked_outside(project, outside):
    image_id = project.images[0].id
    _relink(project, "masks", outside)
    with pytest.raises(ProjectError, match=r"masks/ in project .* is a link to .*outside the project"):
        project.save_mask(image_id, _painted(project, image_id))
    assert list(outside.iterdir()) == []  # nothing was written out there
    with pytest.raises(ProjectError, match="masks/"):
        project.load_mask(image_id)
    with pytest.raises(ProjectError, match="Replace the link with a real folder"):
        Project.open(project.root)


def test_trash_folder_linked_outside(project, outside):
    precious = outside / project.images[0].file.split("/")[-1]
    precious.write_bytes(b"someone else's file")
    (project.root / "trash").mkdir()
    _relink(project, "trash", outside)
    image_id = project.images[0].id
    with pytest.raises(ProjectError, match="trash/"):
        project.remove_image(image_id)
    assert precious.read_bytes() == b"someone else's file"
    assert project.path_of(project.entry(image_id).file).exists()  # nothing moved, entry kept
    assert image_id in [e.id for e in Project.read_snapshot(project.root).images]


def test_images_folder_linked_outside(project, outside, rgb_files):
    image_id = project.images[0].id
    _relink(project, "images", outside)
    before = sorted(p.name for p in outside.iterdir())
    with pytest.raises(ProjectError, match="images/"):
        project.remove_image(image_id)
    assert sorted(p.name for p in outside.iterdir()) == before  # the outside file was not moved in
    assert not (project.root / "trash").exists() or list((project.root / "trash").iterdir()) == []
    with pytest.raises(ProjectError, match="images/"):
        project.add_images([rgb_files[2]])
    assert sorted(p.name for p in outside.iterdir()) == before  # and nothing copied out there
    with pytest.raises(ProjectError, match="images/"):
        project.load_image(image_id)


def test_mask_file_linked_outside_is_not_read(project, outside):
    image_id = project.images[0].id
    foreign = outside / "other.png"
    Image.fromarray(np.zeros((40, 60), np.uint8)).save(foreign)
    (project.root / "masks" / f"{image_id}.png").symlink_to(foreign)
    with pytest.raises(ProjectError, match=rf"masks/{image_id}.png .* is a link to .*Replace the link with a real file"):
        project.load_mask(image_id)


def test_link_mode_files_still_read_and_the_trash_keeps_the_users_file(tmp_path, rgb_files):
    project = Project.create(tmp_path / "proj", "road")
    project.add_images(rgb_files[:1], mode="link")
    entry = project.images[0]
    link = project.root / entry.file
    assert link.is_symlink()
    np.testing.assert_array_equal(project.load_image(entry.id), np.array(Image.open(rgb_files[0]).convert("RGB")))
    Project.open(project.root)  # a file link is no reason to refuse the project
    project.remove_image(entry.id)
    trashed = project.root / "trash" / link.name
    assert trashed.is_symlink() and rgb_files[0].exists()  # the link moved, the user's file stayed


def test_trash_never_overwrites(project):
    first, second = project.images[0], project.images[1]
    project.save_mask(first.id, _painted(project, first.id))
    trash = project.root / "trash"
    trash.mkdir()
    name = Path(first.file).name
    assert name == f"{first.id}.png"  # image and mask share a name: they must not clash either
    (trash / name).write_bytes(b"removed earlier")
    project.remove_image(first.id)
    assert (trash / name).read_bytes() == b"removed earlier"
    moved = sorted(p.name for p in trash.iterdir())
    assert moved == sorted([name, f"{first.id}_2.png", f"{first.id}_3.png"])
    assert read_image(trash / f"{first.id}_2.png").shape == (first.height, first.width, 3)  # the image
    assert read_mask(trash / f"{first.id}_3.png", project.labelset)[0, 0] == 1  # and its mask
    assert [e.id for e in Project.open(project.root).images] == [second.id]


def test_links_inside_the_project_are_fine(project):
    # masks/ moved within the project and linked back: still inside, still works
    image_id = project.images[0].id
    (project.root / "store").mkdir()
    _relink(project, "masks", project.root / "store")
    assert project.save_mask(image_id, _painted(project, image_id))
    assert (project.root / "store" / f"{image_id}.png").exists()
    assert Project.open(project.root).entry(image_id).painted > 0



def test_opening_does_not_clean_up_outside(project, outside):
    # opening removes temp files a crash left; never in a folder that leads outside
    _relink(project, "masks", outside)
    theirs = outside / ".notes.png.x.fcnstudio-tmp"
    theirs.write_bytes(b"not ours")
    with pytest.raises(ProjectError, match="masks/"):
        Project.open(project.root)
    assert theirs.read_bytes() == b"not ours"


def test_a_new_project_in_a_folder_with_a_linked_masks_folder_is_refused(tmp_path, outside):
    root = tmp_path / "new"
    root.mkdir()
    os.symlink(outside, root / "masks")
    with pytest.raises(ProjectError, match="masks/"):
        Project.create(root, "road")


def test_a_masks_folder_that_is_a_dangling_link_is_named_with_where_it_points(project, tmp_path, capsys):  # noqa: ANN001
    """Issue 27 item 12: a bare FileExistsError from the store, "File exists (D/masks)" from import."""
    image_id = project.images[0].id
    gone = project.root / "masks_moved_away"
    for child in (project.root / "masks").iterdir():
        child.unlink()
    (project.root / "masks").rmdir()
    os.symlink(gone, project.root / "masks")  # inside the project, but not there
    want = r"masks/ in project .* is a link to .*masks_moved_away, which does not exist"
    with pytest.raises(ProjectError, match=want):
        project.save_mask(image_id, _painted(project, image_id))
    with pytest.raises(ProjectError, match=want):
        Project.open(project.root)

    from fcn_studio.cli import main

    masks = tmp_path / "to_import"
    masks.mkdir()
    Image.fromarray(_painted(project, image_id)).save(masks / f"{image_id}.png")
    assert main(["import", "--project", str(project.root), "--masks", str(masks)]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "masks_moved_away, which does not exist" in err[0] and "Traceback" not in err[0]

    os.unlink(project.root / "masks")  # what the message says to do: then the folder comes back
    reopened = Project.open(project.root)
    assert reopened.save_mask(image_id, _painted(reopened, image_id))


def test_a_masks_folder_linked_to_an_unmounted_drive_says_the_target_is_missing(project, tmp_path, capsys):  # noqa: ANN001
    """Issue 34 item 16: a dangling link leading outside the project got "outside the project;
    ... replace the link with a real file": it is a folder, and what is wrong is that it is not there."""
    image_id = project.images[0].id
    unmounted = tmp_path / "media" / "usb_drive" / "masks"  # outside the project, not there
    for child in (project.root / "masks").iterdir():
        child.unlink()
    (project.root / "masks").rmdir()
    os.symlink(unmounted, project.root / "masks")
    want = r"masks/ in project .* is a link to .*usb_drive/masks, which does not exist \(moved, deleted or not mounted\)"
    for attempt in (lambda: Project.open(project.root), lambda: project.save_mask(image_id, _painted(project, image_id))):
        with pytest.raises(ProjectError, match=want) as info:
            attempt()
        assert "outside the project" not in str(info.value) and "real file" not in str(info.value)
