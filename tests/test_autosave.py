"""Autosave under continuous painting: saved within ~2 s of the first unsaved edit, never blocking."""

from __future__ import annotations

import time

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QTimer

from fcn_studio.data.labelset import UNPAINTED
from fcn_studio.data.masks import read_mask
from fcn_studio.data.project import Project
from fcn_studio.gui.editor import AUTOSAVE_DELAY_MS, AUTOSAVE_MAX_DELAY_MS, MaskEditor

pytestmark = pytest.mark.gui


@pytest.fixture
def editor(qtbot, tmp_path):
    src = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (120, 160, 3), dtype=np.uint8)).save(src)
    project = Project.create(tmp_path / "p", "road")
    project.add_images([src])
    ed = MaskEditor(project)
    with qtbot.waitSignal(ed.image_loaded, timeout=10000):
        ed.open_image(project.images[0].id)
    yield ed
    ed.shutdown()


class Painter:
    """One short stroke every ``every_ms``, each at its own column, timed (monotonic)."""

    def __init__(self, editor: MaskEditor, every_ms: int):
        self.editor = editor
        self.times: list[float] = []
        self.timer = QTimer(interval=every_ms)
        self.timer.timeout.connect(self.stroke)

    def stroke(self) -> None:
        x = 2 + 2 * len(self.times)
        self.editor.set_active_class(1)
        self.editor.begin_stroke(x, 5)
        self.editor.continue_stroke(x, 15)
        self.editor.end_stroke()
        self.times.append(time.monotonic())


@pytest.mark.parametrize("every_ms", [300, 550])
def test_edits_that_never_pause_are_still_saved(qtbot, editor, every_ms):
    # The idle delay alone never fires while strokes come faster than it (the bug of issue 16).
    assert every_ms < AUTOSAVE_DELAY_MS
    project, image_id = editor.project, editor.image_id
    painter = Painter(editor, every_ms)
    saves: list[tuple[float, int]] = []  # (when, strokes made by then)
    editor.saved.connect(lambda _id: saves.append((time.monotonic(), len(painter.times))))
    painter.timer.start()
    try:
        qtbot.waitUntil(lambda: len(saves) >= 2, timeout=2 * AUTOSAVE_MAX_DELAY_MS + 3000)
    finally:
        painter.timer.stop()
    first_edit = painter.times[0]
    assert saves[0][0] - first_edit < AUTOSAVE_MAX_DELAY_MS / 1000 + 0.8
    assert saves[1][1] > saves[0][1], "painting went on between the saves"
    # what reached the disk holds the strokes made before that save
    on_disk = read_mask(project.path_of(project.entry(image_id).mask), project.labelset)
    assert (on_disk[5:15, 2] == 1).all()
    assert project.entry(image_id).painted > 0


def test_a_single_stroke_is_saved_when_painting_pauses(qtbot, editor):
    project, image_id = editor.project, editor.image_id
    editor.set_active_class(1)
    start = time.monotonic()
    with qtbot.waitSignal(editor.saved, timeout=AUTOSAVE_MAX_DELAY_MS + 3000):
        editor.begin_stroke(40, 40)
        editor.continue_stroke(60, 40)
        editor.end_stroke()
    # the idle delay, not the deadline, saved it
    assert time.monotonic() - start < AUTOSAVE_MAX_DELAY_MS / 1000
    assert not editor.dirty
    assert (read_mask(project.path_of(project.entry(image_id).mask), project.labelset)[40, 40:60] == 1).all()


def test_a_long_drag_is_saved_before_it_ends(qtbot, editor):
    project, image_id = editor.project, editor.image_id
    editor.set_active_class(1)
    editor.begin_stroke(10, 60)
    drag = QTimer(interval=50)
    xs = iter(range(11, 150))
    drag.timeout.connect(lambda: editor.continue_stroke(next(xs, 150), 60))
    drag.start()
    try:
        with qtbot.waitSignal(editor.saved, timeout=AUTOSAVE_MAX_DELAY_MS + 3000):
            pass
    finally:
        drag.stop()
    mask = read_mask(project.path_of(project.entry(image_id).mask), project.labelset)
    assert mask[60, 10] == 1  # the start of the drag, saved while the button is still down
    editor.end_stroke()
    assert (editor.mask != UNPAINTED).any()


def test_a_due_save_waits_for_the_one_still_writing(qtbot, editor, monkeypatch):
    # A slow disk: saves must not pile up one mask copy each behind the one writing.
    project = editor.project
    real = project.save_mask
    started: list[float] = []

    def slow(image_id, mask, **kw):
        started.append(time.monotonic())
        time.sleep(0.8)
        return real(image_id, mask, **kw)

    monkeypatch.setattr(project, "save_mask", slow)
    painter = Painter(editor, 100)
    queued: list[int] = []
    painter.timer.timeout.connect(lambda: queued.append(editor._io.pending))
    painter.timer.start()
    try:
        qtbot.waitUntil(lambda: len(started) >= 3, timeout=10000)
    finally:
        painter.timer.stop()
    assert max(queued) == 1  # saves ran, and never more than the one writing was queued
    assert len(painter.times) > 3 * 8 * 0.6, "the brush went on while saves were writing"
    editor.flush()
    on_disk = read_mask(project.path_of(project.entry(editor.image_id).mask), project.labelset)
    np.testing.assert_array_equal(on_disk, editor.mask)


def test_a_save_copies_only_what_changed_on_the_gui_thread(qtbot, tmp_path, monkeypatch):
    # A full copy of a big mask stalls the brush (page faults); the shadow takes only the box.
    import tracemalloc

    src = tmp_path / "big.png"
    Image.fromarray(np.zeros((2000, 3000, 3), np.uint8)).save(src)
    project = Project.create(tmp_path / "big", "road")
    project.add_images([src])
    ed = MaskEditor(project)
    try:
        with qtbot.waitSignal(ed.image_loaded, timeout=20000):
            ed.open_image(project.images[0].id)
        jobs = []
        monkeypatch.setattr(ed._io, "submit", lambda fn, done=None, err=None: jobs.append(fn) or object())
        ed.set_active_class(1)
        ed.begin_stroke(100, 100)
        ed.continue_stroke(200, 120)
        ed.end_stroke()
        tracemalloc.start()
        ed.save_now()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert len(jobs) == 1
        assert peak < 1_000_000, f"{peak / 1e6:.1f} MB allocated to save a stroke on a 6 MB mask"
        ed._saves_in_flight = 0  # the captured job is run here, by hand
        assert jobs[0]() is True
        np.testing.assert_array_equal(project.load_mask(project.images[0].id), ed.mask)
    finally:
        monkeypatch.undo()
        ed.shutdown()


def test_undo_and_redo_reach_the_disk(qtbot, editor):
    project, image_id = editor.project, editor.image_id
    editor.set_active_class(1)
    for y in (10, 30, 50):
        editor.begin_stroke(10, y)
        editor.continue_stroke(100, y)
        editor.end_stroke()
    editor.flush()
    stack = editor.stack(image_id)
    stack.undo()
    stack.undo()
    editor.flush()
    on_disk = project.load_mask(image_id)
    assert on_disk[10, 50] == 1 and on_disk[30, 50] == UNPAINTED and on_disk[50, 50] == UNPAINTED
    stack.redo()
    editor.begin_stroke(120, 80)  # a stroke on another spot after the undo
    editor.continue_stroke(150, 80)
    editor.end_stroke()
    editor.flush()
    np.testing.assert_array_equal(project.load_mask(image_id), editor.mask)
    assert project.load_mask(image_id)[30, 50] == 1


def test_flush_returns_knowing_whether_the_save_failed(editor, monkeypatch):
    """The window asks "close anyway and lose them?" when the last save failed: flush must hand
    the save's answer over before it returns, not leave it to a later turn of the event loop."""
    messages: list[str] = []
    editor.save_failed.connect(messages.append)

    def full_disk(*_args, **_kwargs):  # noqa: ANN002, ANN003, ANN202
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(editor.project, "save_mask", full_disk)
    editor.set_active_class(1)
    editor.begin_stroke(10, 10)
    editor.continue_stroke(60, 10)
    editor.end_stroke()
    editor.flush()  # no event loop runs between here and the asserts
    assert editor.dirty and len(messages) == 1 and "No space left" in messages[0]
    monkeypatch.undo()
    editor.flush()  # the disk has room again: the painting kept in memory is written
    assert not editor.dirty
    np.testing.assert_array_equal(editor.project.load_mask(editor.image_id), editor.mask)
