"""The side panels and dialogs, each driven alone (pytest-qt, offscreen); waits are on signals."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QThread, Qt
from PySide6.QtWidgets import QApplication

from fcn_studio.data import labelset_edit
from fcn_studio.data.demo import create_demo_project
from fcn_studio.data.labelset import UNPAINTED
from fcn_studio.data.masks import write_color_png, write_indexed_png
from fcn_studio.data.project import ImageEntry, Project
from fcn_studio.gui import export_dialog as export_module
from fcn_studio.gui import import_dialog as import_module
from fcn_studio.gui.classes_panel import ClassesPanel
from fcn_studio.gui.export_dialog import ExportDialog
from fcn_studio.gui.image_list import ImageListPanel, state_text
from fcn_studio.gui.import_dialog import ImportMasksDialog, match_masks
from fcn_studio.gui.thumbnails import ThumbnailLoader

pytestmark = pytest.mark.gui
H, W = 48, 64


@pytest.fixture
def project(tmp_path) -> Project:
    """Six small demo images, the first two painted (road_00, road_01), the rest not."""
    return create_demo_project(tmp_path / "demo", n_images=6, n_labelled=2, seed=5, size=(H, W))


def ids(project: Project) -> list[str]:
    return [e.id for e in project.images]


# -- image list ------------------------------------------------------------------------------------
@pytest.fixture
def image_list(qtbot, project) -> ImageListPanel:
    project.images[5].predicted = True
    panel = ImageListPanel()
    qtbot.addWidget(panel)
    panel.set_project(project)
    return panel


def row_text(panel: ImageListPanel, image_id: str) -> str:
    return panel._items[image_id].text()


def test_image_list_shows_every_image_with_its_state(image_list, project):
    assert image_list.visible_ids() == ids(project)
    assert row_text(image_list, "road_00") == "road_00.jpg\n100% painted"
    assert row_text(image_list, "road_02") == "road_02.jpg\nnot painted"
    assert row_text(image_list, "road_05") == "road_05.jpg\npredicted"
    assert image_list.count_label.text() == "6 images"


def test_state_text_wording():
    e = ImageEntry("a", "images/a.png", 10, 10, painted=0.376)
    assert state_text(e) == "37% painted"
    e.painted, e.predicted = 0.004, True
    assert state_text(e) == "<1% painted, predicted"
    e.painted = 0.999
    assert state_text(e) == "99% painted, predicted"


def test_image_list_filters_by_state_and_name(image_list):
    image_list.set_filter(state="painted")
    assert image_list.visible_ids() == ["road_00", "road_01"]
    image_list.set_filter(state="not painted")
    assert image_list.visible_ids() == ["road_02", "road_03", "road_04", "road_05"]
    image_list.set_filter(state="predicted")
    assert image_list.visible_ids() == ["road_05"]
    image_list.set_filter(text="ROAD_0", state="all")
    assert len(image_list.visible_ids()) == 6
    image_list.set_filter(text="road_03")
    assert image_list.visible_ids() == ["road_03"]
    assert image_list.count_label.text() == "1 of 6 images shown"
    with pytest.raises(ValueError):
        image_list.set_filter(state="bogus")


def test_image_list_follows_saved_masks_and_keeps_current_listed(qtbot, image_list, project):
    image_list.set_filter(state="not painted")
    image_list.select("road_02")
    mask = np.full((H, W), UNPAINTED, np.uint8)
    mask[: H // 4] = 0  # a quarter of the image
    project.save_mask("road_02", mask)  # project.mask_saved -> the panel refreshes itself
    qtbot.waitUntil(lambda: "25% painted" in row_text(image_list, "road_02"))
    # painted now, but it is the current image: it stays listed until the selection moves on
    assert "road_02" in image_list.visible_ids()
    image_list.select_next()
    image_list.refresh("road_03")
    assert image_list.visible_ids() == ["road_03", "road_04", "road_05"]


def test_next_previous_and_page_keys(qtbot, image_list):
    seen = []
    image_list.current_changed.connect(seen.append)
    assert image_list.select_next()  # nothing selected yet: the first image
    assert image_list.select_next()
    assert image_list.select_previous()
    assert seen == ["road_00", "road_01", "road_00"]
    assert not image_list.select_previous()  # at the start: stays
    assert image_list.select("road_05") and not image_list.select_next()
    assert not image_list.select("nope")
    image_list.set_filter(state="not painted")
    image_list.select("road_02")
    with qtbot.waitSignal(image_list.current_changed) as blocker:
        qtbot.keyClick(image_list.view, Qt.Key.Key_PageDown)
    assert blocker.args == ["road_03"]
    with qtbot.waitSignal(image_list.current_changed) as blocker:
        qtbot.keyClick(image_list.view, Qt.Key.Key_PageUp)
    assert blocker.args == ["road_02"]
    image_list.select("road_02")  # same image again: no signal
    assert seen[-1] == "road_02" and seen.count("road_02") == 2


def test_select_shows_a_filtered_out_image(image_list):
    image_list.set_filter(state="painted")
    assert image_list.select("road_04")
    assert image_list.current_id() == "road_04"
    assert "road_04" in image_list.visible_ids()


def test_sort_key_hook(image_list, project):
    image_list.set_sort_key(lambda e: -int(e.id[-2:]))
    assert image_list.visible_ids() == ids(project)[::-1]
    image_list.set_sort_key(lambda e: 1 / 0)  # a broken key keeps project order
    assert image_list.visible_ids() == ids(project)
    image_list.set_sort_key(None)
    assert image_list.visible_ids() == ids(project)


def test_image_list_follows_added_images(qtbot, image_list, project, rgb_files):
    project.add_images(rgb_files[:1])
    qtbot.waitUntil(lambda: len(image_list.visible_ids()) == 7)
    assert row_text(image_list, "img0") == "img0.png\nnot painted"


def test_thumbnails_arrive_for_shown_rows(qtbot, image_list, project):
    image_list.resize(300, 600)
    arrived = set()
    image_list.thumbnails.thumbnail_ready.connect(lambda key, image: arrived.add(key))
    with qtbot.waitSignal(image_list.thumbnails.thumbnail_ready, timeout=5000):
        image_list.show()
    qtbot.waitUntil(lambda: arrived == set(ids(project)), timeout=5000)
    image = image_list.thumbnails.cached("road_00")
    assert image is not None and max(image.width(), image.height()) == 64
    assert not image_list._items["road_00"].icon().isNull()


def test_thumbnail_loader_cache_is_bounded_and_failures_reported(qtbot, project, tmp_path):
    loader = ThumbnailLoader(size=32, cache_size=2)
    files = [project.path_of(e.file) for e in project.images[:3]]
    for i, f in enumerate(files):
        with qtbot.waitSignal(loader.thumbnail_ready) as blocker:
            assert loader.request(str(i), f) is None
        assert blocker.args[0] == str(i) and blocker.args[1].width() == 32
    assert loader.cached("0") is None and loader.cached("2") is not None  # oldest evicted
    assert loader.request("2", files[2]) is not None  # cached: answered at once
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"no image")
    with qtbot.waitSignal(loader.thumbnail_failed) as blocker:
        loader.request("bad", bad)
    assert blocker.args[0] == "bad" and "bad.png" in blocker.args[1]
    loader.wait()


# -- classes panel ---------------------------------------------------------------------------------
@pytest.fixture
def classes(qtbot, project) -> ClassesPanel:
    panel = ClassesPanel()
    qtbot.addWidget(panel)
    panel.set_project(project)
    return panel


def test_classes_panel_lists_classes_and_picks_by_number(qtbot, classes):
    assert classes.list.count() == 5
    assert classes.list.item(1).text() == "2  road"  # the key that picks it, not its id
    assert classes.active_class == 0
    with qtbot.waitSignal(classes.active_class_changed) as blocker:
        assert classes.select_class_by_number(3)
    assert blocker.args == [2] and classes.active_class == 2
    assert not classes.select_class_by_number(6) and not classes.select_class_by_number(0)
    assert classes.select_class(4) and classes.active_class == 4
    assert all(b.toolTip() for b in (classes.add_button, classes.delete_button, classes.up_button))


def test_add_class_requests_and_follows_the_new_class(qtbot, classes, project, monkeypatch):
    monkeypatch.setattr(classes, "_ask_name", lambda *a: "bike")
    monkeypatch.setattr(classes, "_ask_color", lambda *a: (1, 2, 3))
    with qtbot.waitSignal(classes.labelset_edit_requested) as blocker:
        qtbot.mouseClick(classes.add_button, Qt.MouseButton.LeftButton)
    new_ls, mapping = blocker.args
    assert mapping == {} and new_ls.by_id(5).name == "bike" and new_ls.by_id(5).color == (1, 2, 3)
    assert project.labelset.num_classes == 5  # the panel does not write
    labelset_edit.apply_to_project(project, new_ls, mapping)  # what the main window does
    qtbot.waitUntil(lambda: classes.list.count() == 6)
    assert classes.active_class == 5


def test_rename_by_double_click_and_recolour(qtbot, classes, monkeypatch):
    monkeypatch.setattr(classes, "_ask_name", lambda title, label, text: "tarmac" if text == "road" else None)
    with qtbot.waitSignal(classes.labelset_edit_requested) as blocker:
        classes.list.itemDoubleClicked.emit(classes.list.item(1))
    assert blocker.args[0].by_id(1).name == "tarmac" and blocker.args[1] == {}
    classes.select_class(2)
    monkeypatch.setattr(classes, "_ask_color", lambda initial, title: (9, 8, 7))
    with qtbot.waitSignal(classes.labelset_edit_requested) as blocker:
        qtbot.mouseClick(classes.recolor_button, Qt.MouseButton.LeftButton)
    assert blocker.args[0].by_id(2).color == (9, 8, 7)


def test_refused_edit_shows_the_reason(classes, monkeypatch):
    errors = []
    monkeypatch.setattr(classes, "_show_error", errors.append)
    monkeypatch.setattr(classes, "_ask_name", lambda *a: "Road")
    emitted = []
    classes.labelset_edit_requested.connect(lambda *a: emitted.append(a))
    classes.add_class()
    assert not emitted and "already a class named 'road'" in errors[0]


def test_move_down_maps_ids_and_active_class_follows(qtbot, classes, project):
    classes.select_class(0)
    assert not classes.up_button.isEnabled()
    with qtbot.waitSignal(classes.labelset_edit_requested) as blocker:
        qtbot.mouseClick(classes.down_button, Qt.MouseButton.LeftButton)
    new_ls, mapping = blocker.args
    assert mapping == {0: 1, 1: 0}
    assert [c.name for c in new_ls.trainable_classes][:2] == ["road", "sky"]
    labelset_edit.apply_to_project(project, new_ls, mapping)
    qtbot.waitUntil(lambda: classes.list.item(0).text() == "1  road")
    assert classes.active_class == 1  # still sky
    with qtbot.waitSignal(classes.labelset_edit_requested) as blocker:
        classes.move_up()
    assert blocker.args[1] == {1: 0, 0: 1}


def test_active_class_follows_when_the_main_window_resets_the_project(qtbot, classes, project):
    classes.select_class(2)  # lane marking
    with qtbot.waitSignal(classes.labelset_edit_requested) as blocker:
        classes.move_up()
    labelset_edit.apply_to_project(project, *blocker.args)
    with qtbot.waitSignal(classes.active_class_changed) as changed:
        classes.set_project(project)  # what MainWindow._apply_labelset_edit does
    assert changed.args == [1] and classes.labelset.by_id(1).name == "lane marking"


def test_delete_in_use_asks_with_counts(qtbot, classes, project, monkeypatch):
    road_px = sum(int((project.load_mask(i) == 1).sum()) for i in ("road_00", "road_01"))
    asked = []
    answer = [False]

    def confirm(title, text):
        asked.append(text)
        return answer[0]

    monkeypatch.setattr(classes, "_confirm", confirm)
    emitted = []
    classes.labelset_edit_requested.connect(lambda *a: emitted.append(a))
    classes.select_class(1)
    qtbot.mouseClick(classes.delete_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(asked))
    assert f"{road_px:,} painted pixels in 2 images are 'road'" in asked[0]
    assert not emitted  # answered no
    answer[0] = True
    with qtbot.waitSignal(classes.labelset_edit_requested) as blocker:
        classes.delete_class()
    new_ls, mapping = blocker.args
    assert mapping == {1: UNPAINTED, 2: 1, 3: 2, 4: 3}
    assert "road" not in [c.name for c in new_ls.classes]
    labelset_edit.apply_to_project(project, new_ls, mapping)
    qtbot.waitUntil(lambda: classes.list.count() == 4)
    assert classes.active_class == 0  # the deleted class was active: back to the first


def test_delete_unused_class_does_not_ask(qtbot, tmp_path, monkeypatch):
    project = Project.create(tmp_path / "road", "road")
    panel = ClassesPanel()
    qtbot.addWidget(panel)
    panel.set_project(project)
    monkeypatch.setattr(panel, "_confirm", lambda *a: pytest.fail("asked about an unused class"))
    with qtbot.waitSignal(panel.labelset_edit_requested) as blocker:
        panel.delete_class(1)
    assert blocker.args[1] == {1: UNPAINTED}
    errors = []
    monkeypatch.setattr(panel, "_show_error", errors.append)
    only = labelset_edit.delete(project.labelset, 1)[0]
    panel.set_labelset(only)
    panel.delete_class(0)
    assert "only trainable class" in errors[0]


# -- export dialog ---------------------------------------------------------------------------------
@pytest.fixture
def export(qtbot, project) -> ExportDialog:
    dialog = ExportDialog(project, selected_ids=["road_01", "road_03"])
    qtbot.addWidget(dialog)
    return dialog


def test_export_writes_files_and_reports_skips(qtbot, export, tmp_path):
    out = tmp_path / "out"
    assert export.scope_all.isChecked()  # all images unless the user picks the selection
    export.scope_selected.setChecked(True)
    with qtbot.waitSignal(export.export_finished, timeout=10000) as blocker:
        assert export.start(out, ["index", "color", "overlay", "coco"], source="painted", image_ids=None)
        assert export.is_running and not export.export_button.isEnabled()
    summary = blocker.args[0]  # the selected images: road_01 painted, road_03 not
    assert summary.written == ["road_01"] and not summary.cancelled
    assert summary.skipped == [("images/road_03.jpg", "no painted mask")]
    for sub in ("index", "color", "overlay"):
        assert [p.name for p in (out / sub).iterdir()] == ["road_01.png"]
    assert (out / "coco.json").is_file()
    assert "images/road_03.jpg: no painted mask" in export.report.toPlainText()


def test_export_all_images(qtbot, export, tmp_path):
    out = tmp_path / "all"
    with qtbot.waitSignal(export.export_finished, timeout=10000) as blocker:
        export.start(out, ["index", "coco"])
    summary = blocker.args[0]
    assert sorted(summary.written) == ["road_00", "road_01"] and len(summary.skipped) == 4
    assert (out / "coco.json").is_file()
    assert sorted(p.name for p in (out / "index").iterdir()) == ["road_00.png", "road_01.png"]
    assert export.status.text().startswith("Exported 2 images (index, coco)")
    assert "images/road_05.jpg: no painted mask" in export.report.toPlainText()
    assert export.progress_bar.value() == 6 and not export.is_running and export.export_button.isEnabled()


def test_export_cancel(qtbot, export, tmp_path, monkeypatch):
    gate = threading.Event()
    real = export_module.export_masks

    def gated(*args, **kwargs):
        assert gate.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr(export_module, "export_masks", gated)
    with qtbot.waitSignal(export.export_finished, timeout=10000) as blocker:
        export.start(tmp_path / "cancelled", ["index", "coco"], image_ids=["road_00", "road_01"])
        qtbot.mouseClick(export.cancel_button, Qt.MouseButton.LeftButton)
        gate.set()
    summary = blocker.args[0]
    assert summary.cancelled and summary.written == []
    assert export.status.text().startswith("Cancelled.")
    assert "coco.json was not written" in export.report.toPlainText()


def test_export_error_is_readable_and_dialog_stays_usable(qtbot, export, tmp_path):
    blocker_file = tmp_path / "a_file"
    blocker_file.write_text("x")
    with qtbot.waitSignal(export.export_failed, timeout=10000) as blocker:
        export.start(blocker_file / "sub", ["index"])
    assert "cannot create export folder" in blocker.args[0] and "Traceback" not in blocker.args[0]
    assert export.status.text() == blocker.args[0]
    assert export.export_button.isEnabled() and not export.is_running
    assert not export.start("", ["index"]) and "Choose a folder" in export.status.text()
    assert not export.start(tmp_path / "x", []) and "at least one format" in export.status.text()
    with qtbot.waitSignal(export.export_finished, timeout=10000):
        export.start(tmp_path / "ok", ["index"])


# -- import dialog ---------------------------------------------------------------------------------
def make_mask_folder(project: Project, folder: Path) -> dict[str, np.ndarray]:
    """One file for every case the report distinguishes; returns the masks that should import."""
    folder.mkdir()
    good = np.full((H, W), UNPAINTED, np.uint8)
    good[:10] = 0
    good[10:20] = 1
    colour = np.full((H, W), 3, np.uint8)
    write_indexed_png(folder / "road_02.png", good, project.labelset)  # same stem, indexed
    write_color_png(folder / "road_03_L.png", colour, project.labelset)  # CamVid-style colour mask
    Image.fromarray(np.zeros((H + 1, W), np.uint8)).save(folder / "road_04.png")  # wrong size
    Image.fromarray(np.full((H, W), 9, np.uint8)).save(folder / "road_05.png")  # unknown id 9
    Image.fromarray(np.zeros((H, W), np.uint8)).save(folder / "road_00.png")  # already painted
    Image.fromarray(np.zeros((H, W), np.uint8)).save(folder / "stray.png")  # no such image
    (folder / "notes.txt").write_text("not a mask")
    return {"road_02": good, "road_03": colour}


def run_import(qtbot, dialog: ImportMasksDialog, folder: Path, **kwargs):
    with qtbot.waitSignal(dialog.import_finished, timeout=10000) as blocker:
        assert dialog.start(folder, **kwargs)
    return blocker.args[0]


def test_import_masks_reports_every_file(qtbot, project, tmp_path):
    expected = make_mask_folder(project, tmp_path / "masks")
    dialog = ImportMasksDialog(project)
    qtbot.addWidget(dialog)
    imported, saved = [], []
    dialog.imported.connect(imported.append)
    project.mask_saved.connect(lambda i: saved.append((i, QThread.currentThread() is QApplication.instance().thread())))
    report = run_import(qtbot, dialog, tmp_path / "masks")
    by_file = {r.mask: r for r in report.rows}
    assert set(by_file) == {"road_02.png", "road_03_L.png", "road_04.png", "road_05.png", "road_00.png", "stray.png"}
    assert by_file["road_02.png"].status == "imported" and by_file["road_03_L.png"].image_id == "road_03"
    assert by_file["road_03_L.png"].status == "imported"
    assert by_file["road_04.png"].status == "refused"
    assert "is 64x49 px" in by_file["road_04.png"].detail and "size of its image" in by_file["road_04.png"].detail
    assert by_file["road_05.png"].status == "refused" and "unknown class id" in by_file["road_05.png"].detail
    assert by_file["road_00.png"].status == "skipped" and "already painted" in by_file["road_00.png"].detail
    assert by_file["stray.png"].status == "unmatched"
    assert imported == [["road_02", "road_03"]]
    assert saved == [("road_02", True), ("road_03", True)]  # re-emitted on the GUI thread
    assert dialog.table.rowCount() == 6
    assert dialog.status.text() == "2 imported, 2 refused, 1 unmatched, 1 skipped".capitalize()
    reopened = Project.open(project.root)
    for image_id, mask in expected.items():
        np.testing.assert_array_equal(reopened.load_mask(image_id), mask)
    assert reopened.entry("road_02").painted == pytest.approx(20 / H)
    assert reopened.entry("road_03").painted == 1.0
    # replacing painted masks when asked
    report = run_import(qtbot, dialog, tmp_path / "masks", overwrite=True)
    assert {r.mask for r in report.rows if r.status == "imported"} == {"road_00.png", "road_02.png", "road_03_L.png"}
    assert (Project.open(project.root).load_mask("road_00") == 0).all()


def test_import_refuses_a_missing_folder(qtbot, project, tmp_path):
    dialog = ImportMasksDialog(project)
    qtbot.addWidget(dialog)
    assert not dialog.start(tmp_path / "nope")
    assert "is not a folder" in dialog.status.text()


def test_import_cancel_keeps_what_was_done(qtbot, project, tmp_path, monkeypatch):
    make_mask_folder(project, tmp_path / "masks")
    gate = threading.Event()
    real = import_module.import_masks

    def gated(*args, **kwargs):
        gen = real(*args, **kwargs)
        yield next(gen)
        assert gate.wait(10)
        yield from gen

    monkeypatch.setattr(import_module, "import_masks", gated)
    dialog = ImportMasksDialog(project)
    qtbot.addWidget(dialog)
    with qtbot.waitSignal(dialog.import_finished, timeout=10000) as blocker:
        dialog.start(tmp_path / "masks")
        dialog.cancel()
        gate.set()
    report = blocker.args[0]
    assert report.cancelled and report.imported == []
    assert dialog.status.text().startswith("Cancelled")
    assert not Project.open(project.root).has_mask("road_02")


def entry(image_id: str, source: str = "") -> ImageEntry:
    return ImageEntry(image_id, f"images/{image_id}.png", 10, 10, source=source)


def test_matching_rules():
    images = [
        entry("um_000012"),
        entry("0001TP_006690"),
        entry("aachen_000000_000019_leftImg8bit"),
        entry("photo_2", source="/data/photo.jpg"),
        entry("photo"),
    ]
    files = [
        Path(n)
        for n in (
            "um_lane_000012.png",
            "um_road_000012.png",
            "umm_road_000001.png",
            "0001TP_006690_L.png",
            "aachen_000000_000019_gtFine_labelIds.png",
            "PHOTO.png",
        )
    ]
    plan, rows = match_masks(images, files)
    assert {k: v.name for k, v in plan.items()} == {
        "um_000012": "um_road_000012.png",  # KITTI: road preferred over lane
        "0001TP_006690": "0001TP_006690_L.png",
        "aachen_000000_000019_leftImg8bit": "aachen_000000_000019_gtFine_labelIds.png",
        "photo": "PHOTO.png",  # the id wins over another image's original name
    }
    status = {r.mask: (r.status, r.image_id) for r in rows}
    assert status == {"um_lane_000012.png": ("skipped", "um_000012"), "umm_road_000001.png": ("unmatched", None)}
