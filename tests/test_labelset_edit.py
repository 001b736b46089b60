"""Label-set edits and the mask rewrite they need, on a small demo project (no Qt)."""

from __future__ import annotations

import numpy as np
import pytest

from fcn_studio.data import labelset_edit as lse
from fcn_studio.data.atomic import TEMP_SUFFIX
from fcn_studio.data.demo import create_demo_project
from fcn_studio.data.labelset import UNPAINTED, LabelClass, LabelSet, load_preset
from fcn_studio.data.masks import write_indexed_png
from fcn_studio.data.project import Project
from fcn_studio.errors import LabelSetError, MaskError, ProjectError


@pytest.fixture
def demo(tmp_path):
    return create_demo_project(tmp_path / "demo", n_images=4, n_labelled=2, seed=3, size=(48, 64))


def camvid_like() -> LabelSet:
    """Three trainable classes and an ignore class right after them (as CamVid's 11)."""
    classes = (
        LabelClass(0, "sky", (128, 128, 128)),
        LabelClass(1, "road", (128, 64, 128)),
        LabelClass(2, "car", (64, 0, 128)),
        LabelClass(3, "unlabelled", (0, 0, 0)),
    )
    return LabelSet("camvid-like", classes, ignore_index=3)


# -- pure edits --------------------------------------------------------------------------------
def test_add_rename_recolor():
    ls = load_preset("demo")
    new, mapping = lse.add_class(ls, "  pedestrian ", (1, 2, 3))
    assert mapping == {}
    assert new.by_id(5) == LabelClass(5, "pedestrian", (1, 2, 3))
    assert new.num_classes == 6 and ls.num_classes == 5  # the old set is untouched
    assert lse.rename(new, 5, "person").by_id(5).name == "person"
    assert lse.recolor(new, 5, (9, 9, 9)).by_id(5).color == (9, 9, 9)
    # a default colour is one nobody uses
    auto, _ = lse.add_class(ls, "bike")
    assert auto.by_id(5).color not in {c.color for c in ls.classes}


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda ls: lse.add_class(ls, "Road"), "already a class named 'road'"),
        (lambda ls: lse.add_class(ls, "   "), "needs a name"),
        (lambda ls: lse.recolor(ls, 0, (128, 64, 128)), "already used by class 'road'"),
        (lambda ls: lse.recolor(ls, 0, (224, 224, 192)), "unpainted"),
        (lambda ls: lse.rename(ls, 42, "x"), "no class with id 42"),
        (lambda ls: lse.move(ls, 0, 7), "outside the class order"),
    ],
)
def test_refused_edits_say_why(edit, message):
    with pytest.raises(LabelSetError, match=message):
        edit(load_preset("demo"))


def test_move_renumbers_and_maps():
    ls = load_preset("demo")  # sky road marking verge vehicle
    new, mapping = lse.move(ls, 3, 0)  # verge first
    assert [c.name for c in new.trainable_classes] == ["verge", "sky", "road", "lane marking", "vehicle"]
    assert mapping == {3: 0, 0: 1, 1: 2, 2: 3}
    back, mapping2 = lse.move(new, 0, 3)
    assert back == ls
    assert mapping2 == {v: k for k, v in mapping.items()}
    same, none = lse.move(ls, 2, 2)
    assert same == ls and none == {}


def test_delete_shifts_down_and_unpaints():
    ls = load_preset("demo")
    new, mapping = lse.delete(ls, 1)
    assert mapping == {1: UNPAINTED, 2: 1, 3: 2, 4: 3}
    assert [c.name for c in new.trainable_classes] == ["sky", "lane marking", "verge", "vehicle"]
    with pytest.raises(LabelSetError, match="only trainable class"):
        lse.delete(load_preset("road").with_classes([LabelClass(0, "x", (1, 1, 1))]), 0)


def test_ignore_class_stays_intact():
    ls = camvid_like()
    new, mapping = lse.delete(ls, 0)
    assert mapping == {0: UNPAINTED, 1: 0, 2: 1}
    assert new.ignore_index == 3 and new.by_id(3).name == "unlabelled"
    moved, mapping = lse.move(ls, 2, 0)
    assert mapping == {2: 0, 0: 1, 1: 2} and moved.by_id(3).name == "unlabelled"
    with pytest.raises(LabelSetError, match="ignored in training"):
        lse.move(ls, 3, 0)
    # adding a class needs id 3, so the ignore class moves to the next free id
    added, mapping = lse.add_class(ls, "bike", (5, 5, 5))
    assert mapping == {3: 4}
    assert added.ignore_index == 4 and added.by_id(4).name == "unlabelled" and added.by_id(3).name == "bike"
    # deleting the ignore class clears ignore_index
    gone, mapping = lse.delete(ls, 3)
    assert gone.ignore_index is None and mapping == {3: UNPAINTED}


def test_remap_lut():
    lut = lse.remap_lut({1: 255, 2: 1})
    assert lut.dtype == np.uint8 and lut.shape == (256,)
    assert (lut[[0, 1, 2, 3, 255]] == [0, 255, 1, 3, 255]).all()
    assert (lse.remap_lut() == np.arange(256)).all()
    with pytest.raises(ValueError):
        lse.remap_lut({255: 0})


# -- on a project ------------------------------------------------------------------------------
def test_count_and_apply_delete(demo):
    ids = [e.id for e in demo.images]
    before = {i: demo.load_mask(i) for i in ids[:2]}
    road = sum(int((m == 1).sum()) for m in before.values())
    assert road > 0
    usage = lse.class_usage(demo, 1)
    assert usage.pixels == road == lse.count_pixels(demo, 1) and usage.images == 2 and not usage.unreadable
    new_ls, mapping = lse.delete(demo.labelset, 1)
    calls = []
    changed = lse.apply_to_project(demo, new_ls, mapping, progress=lambda d, t: calls.append((d, t)))
    expected = sum(int(((m >= 1) & (m != UNPAINTED)).sum()) for m in before.values())  # ids 1..4 all change
    assert changed == expected
    assert calls == [(1, 2), (2, 2)]
    reopened = Project.open(demo.root)
    assert reopened.labelset == new_ls and reopened.warnings == []
    for i, old in before.items():
        new = reopened.load_mask(i)
        np.testing.assert_array_equal(new, lse.remap_lut(mapping)[old])
        assert not (new == 4).any()
        assert reopened.entry(i).painted == pytest.approx(float((new != UNPAINTED).mean()), abs=1e-6)
    assert not list(demo.root.rglob(f"*{TEMP_SUFFIX}"))


def test_apply_move_rewrites_only_changed_masks(demo):
    a, b = demo.images[0].id, demo.images[1].id
    only_sky = np.full((48, 64), UNPAINTED, np.uint8)
    only_sky[:4] = 0
    demo.save_mask(b, only_sky)
    mtime_b = demo.path_of(demo.entry(b).mask).stat().st_mtime_ns
    old_a = demo.load_mask(a)
    new_ls, mapping = lse.move(demo.labelset, 4, 1)  # vehicle second: ids 1..3 shift up, sky stays
    lse.apply_to_project(demo, new_ls, mapping)
    assert demo.path_of(demo.entry(b).mask).stat().st_mtime_ns == mtime_b
    np.testing.assert_array_equal(demo.load_mask(a), lse.remap_lut(mapping)[old_a])
    assert demo.labelset.by_id(1).name == "vehicle"


def test_apply_also_renumbers_predictions(demo):
    e = demo.images[3]
    pred = np.full((48, 64), 2, np.uint8)
    demo.path_of("predictions").mkdir(exist_ok=True)
    write_indexed_png(demo.path_of(e.prediction), pred, demo.labelset)
    new_ls, mapping = lse.delete(demo.labelset, 0)
    lse.apply_to_project(demo, new_ls, mapping)
    from fcn_studio.data.masks import read_mask

    assert (read_mask(demo.path_of(e.prediction), new_ls) == 1).all()


def test_apply_without_renumbering_only_saves_labelset(demo):
    seen = []
    demo.labelset_changed.connect(seen.append)
    new_ls = lse.rename(demo.labelset, 0, "heaven")
    assert lse.apply_to_project(demo, new_ls, {}) == 0
    assert seen == [new_ls] and Project.open(demo.root).labelset.by_id(0).name == "heaven"


def test_apply_failure_leaves_project_untouched(demo, monkeypatch):
    ids = [e.id for e in demo.images[:2]]
    before = {i: demo.load_mask(i) for i in ids}
    old_ls = demo.labelset
    new_ls, mapping = lse.delete(old_ls, 1)
    import fcn_studio.data.masks as masks

    real = masks.write_indexed_png
    calls = []

    def full_disk(path, mask, ls):
        calls.append(path)
        if len(calls) == 2:
            raise ProjectError(f"the disk is full: could not save {path}")
        real(path, mask, ls)

    monkeypatch.setattr(masks, "write_indexed_png", full_disk)
    with pytest.raises(ProjectError, match="disk is full"):
        lse.apply_to_project(demo, new_ls, mapping)
    assert demo.labelset == old_ls and Project.open(demo.root).labelset == old_ls
    for i, m in before.items():
        np.testing.assert_array_equal(demo.load_mask(i), m)
    assert not list(demo.root.rglob(f"*{TEMP_SUFFIX}"))


def test_unreadable_mask_is_reported_not_counted(demo):
    bad = demo.images[1]
    demo.path_of(bad.mask).write_bytes(b"not a png")
    usage = lse.class_usage(demo, 1)
    assert usage.images == 1 and len(usage.unreadable) == 1
    new_ls, mapping = lse.delete(demo.labelset, 1)
    with pytest.raises(MaskError):
        lse.apply_to_project(demo, new_ls, mapping)
    assert demo.labelset.num_classes == 5
