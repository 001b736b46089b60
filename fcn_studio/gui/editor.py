"""The image being edited: its pixels, its mask, per-image undo history and autosave.

Qt-facing but widget-free: the canvas renders what this holds and forwards tool gestures
here; the main window connects its signals to the panels. Loading and saving run off the
UI thread; a stroke only touches the mask array in place.

Autosave has two clocks. A short idle delay saves soon after a stroke when the user pauses;
a deadline, started by the first unsaved change and not pushed back by later ones, saves
while painting goes on (strokes every 300 ms would otherwise never leave the idle delay a
gap). So a crash loses at most about :data:`AUTOSAVE_MAX_DELAY_MS` of work.

Saving must not stall the brush, and copying a whole mask would (0.45 s for 8000x8000 on a
small VM, mostly page faults of the fresh copy). So the editor keeps a second buffer, the
*shadow*, made in the background when an image loads: a save copies only the box changed
since the last one into it and hands the shadow to the writer. While a save is still
writing, a due save waits for it rather than touching the shadow; a save that cannot wait
(switching images, closing) takes a full copy, which becomes the new shadow.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QUndoGroup, QUndoStack

from fcn_studio.data.labelset import UNPAINTED
from fcn_studio.data.paint import Box, Edit, StrokeRecorder, colour_fill, fill_polygon, flood_fill, region_brush, union
from fcn_studio.data.project import Project
from fcn_studio.gui.background import Background
from fcn_studio.gui.undo import MaskEditCommand

#: Save this long after the last change when painting pauses.
AUTOSAVE_DELAY_MS = 600
#: ... and at the latest this long after the first unsaved change, even while painting goes on.
AUTOSAVE_MAX_DELAY_MS = 2000
#: Changed boxes copied one by one into the shadow at a save; more are merged into one.
_MAX_PIECES = 2048


def _union_all(boxes: list[Box]) -> Box:
    out: Box | None = None
    for box in boxes:
        out = union(out, box)
    assert out is not None
    return out


class MaskEditor(QObject):
    image_loaded = Signal(str)
    load_failed = Signal(str, str)  # image id, message
    region_changed = Signal(tuple)  # (y0, x0, y1, x1) of the mask that changed
    mask_replaced = Signal()  # the whole mask changed (load, accept prediction, ...)
    saved = Signal(str)  # image id whose mask reached the disk
    save_failed = Signal(str)  # message for the user
    active_class_changed = Signal(int)
    brush_radius_changed = Signal(float)
    project_changed = Signal(object)
    regions_ready = Signal(str)  # image id whose colour regions (the region brush's fill) are cut

    def __init__(self, project: Project, parent: QObject | None = None):
        super().__init__(parent)
        self.project = project
        self.undo_group = QUndoGroup(self)
        self._stacks: dict[str, QUndoStack] = {}
        self.image_id: str | None = None
        self.image: np.ndarray | None = None
        self.mask: np.ndarray | None = None
        self._active_class = 0
        #: the brush paints only pixels nobody painted yet (Edit → Paint only unpainted pixels)
        self.only_unpainted = False
        self._stroke_protects = False
        self._brush_radius = 8.0
        self._stroke: StrokeRecorder | None = None
        self._stroke_value = 0
        self._last_point: tuple[float, float] | None = None
        self._dirty = False
        self._loading: str | None = None
        # One ordered queue for loads and saves: a load queued after a save reads what it wrote.
        self._io = Background("fcn-mask-io", self)
        self._autosave = QTimer(self, singleShot=True, interval=AUTOSAVE_DELAY_MS)
        self._autosave.timeout.connect(self._autosave_due)
        self._deadline = QTimer(self, singleShot=True, interval=AUTOSAVE_MAX_DELAY_MS)
        self._deadline.timeout.connect(self._autosave_due)
        self._saves_in_flight = 0
        self._save_when_written = False
        self._shadow: np.ndarray | None = None  # the mask as last handed to the writer
        self._shadow_stale: list[Box] = []  # what changed in the mask since, box by box
        # The region brush: the shown image's colour regions, cut off the UI thread (about
        # 0.3 s whatever the image's size); a stroke that ends before they are ready waits for them.
        self._regions_bg = Background("fcn-regions", self)
        self._regions: tuple[str, np.ndarray] | None = None
        self._regions_pending: str | None = None
        self._region_stroke = False
        self._held: tuple[str, StrokeRecorder, Edit | None, int, bool] | None = None

    def set_project(self, project: Project) -> None:
        """Switch projects: the current mask is saved first, history is per project."""
        self.flush()
        self.undo_group.setActiveStack(None)
        for stack in self._stacks.values():
            self.undo_group.removeStack(stack)
            stack.deleteLater()
        self._stacks.clear()
        self.project = project
        self.image_id = self.image = self.mask = None
        self._shadow, self._shadow_stale = None, []
        self._loading = None
        self.project_changed.emit(project)

    def close_image(self, image_id: str) -> None:
        """Forget ``image_id`` (it is leaving the project): saved first, its history dropped."""
        self.flush()
        if self._loading == image_id:
            self._loading = None
        stack = self._stacks.pop(image_id, None)
        if stack is not None:
            if self.undo_group.activeStack() is stack:
                self.undo_group.setActiveStack(None)
            self.undo_group.removeStack(stack)
            stack.deleteLater()
        if self.image_id == image_id:
            self.image_id = self.image = self.mask = None

    # -- properties ------------------------------------------------------------------------
    @property
    def active_class(self) -> int:
        return self._active_class

    def set_active_class(self, class_id: int) -> None:
        if class_id != self._active_class:
            self._active_class = int(class_id)
            self.active_class_changed.emit(self._active_class)

    @property
    def brush_radius(self) -> float:
        return self._brush_radius

    def set_brush_radius(self, radius: float) -> None:
        radius = float(min(max(radius, 0.5), 500.0))
        if radius != self._brush_radius:
            self._brush_radius = radius
            self.brush_radius_changed.emit(radius)

    @property
    def dirty(self) -> bool:
        return self._dirty

    def stack(self, image_id: str) -> QUndoStack:
        stack = self._stacks.get(image_id)
        if stack is None:
            stack = QUndoStack(self.undo_group)
            self._stacks[image_id] = stack
        return stack

    # -- loading ---------------------------------------------------------------------------
    def open_image(self, image_id: str) -> None:
        """Show another image: the current mask is queued for saving, the new one loads in the background."""
        if image_id == self.image_id and self.mask is not None:
            self.image_loaded.emit(image_id)
            return
        self.end_stroke()
        self._release_held()
        self.save_now()
        self._loading = image_id
        project = self.project

        def load() -> tuple[str, np.ndarray, np.ndarray, np.ndarray]:
            mask = np.ascontiguousarray(project.load_mask(image_id))
            return image_id, project.load_image(image_id), mask, mask.copy()  # the copy: the shadow

        self._io.submit(load, self._loaded, lambda exc: self._load_error(image_id, exc))

    def _loaded(self, result: tuple[str, np.ndarray, np.ndarray, np.ndarray]) -> None:
        image_id, image, mask, shadow = result
        if image_id != self._loading:
            return  # the user moved on while this loaded
        self._loading = None
        self.image_id, self.image, self.mask = image_id, image, mask
        self._shadow, self._shadow_stale = shadow, []
        self._dirty = False
        self.undo_group.setActiveStack(self.stack(image_id))
        self.mask_replaced.emit()
        self.image_loaded.emit(image_id)

    def _load_error(self, image_id: str, exc: BaseException) -> None:
        if image_id == self._loading:
            self._loading = None
        self.load_failed.emit(image_id, str(exc))

    # -- painting --------------------------------------------------------------------------
    def value_at(self, x: float, y: float) -> int | None:
        if self.mask is None:
            return None
        xi, yi = int(x), int(y)
        if 0 <= yi < self.mask.shape[0] and 0 <= xi < self.mask.shape[1] and x >= 0 and y >= 0:
            return int(self.mask[yi, xi])
        return None

    def begin_stroke(self, x: float, y: float, erase: bool = False, *, regions: bool = False) -> None:
        """Start a brush stroke; ``regions``: the region brush (on release the stroke grows
        into the colour regions it touched, in the same undo step)."""
        if self.mask is None:
            return
        self._release_held()
        self._region_stroke = regions and not erase
        if self._region_stroke:
            self.request_regions()
        self._stroke = StrokeRecorder(self.mask)
        self._stroke_value = UNPAINTED if erase else self._active_class
        self._stroke_protects = self.only_unpainted and not erase
        self._last_point = (x, y)
        self._paint_to(x, y)

    def continue_stroke(self, x: float, y: float) -> None:
        if self._stroke is not None:
            self._paint_to(x, y)

    def _paint_to(self, x: float, y: float) -> None:
        assert self._stroke is not None and self._last_point is not None
        box = self._stroke.paint(self._last_point, (x, y), self._brush_radius, self._stroke_value,
                                 only_unpainted=self._stroke_protects)
        self._last_point = (x, y)
        if box is not None:
            self.region_changed.emit(box)
            self._shadow_stale.append(box)
            # A long drag is unsaved work too: the deadline covers it, the idle delay waits
            # for the stroke to end (saving mid-stroke is safe: the mask is a plain array).
            self._dirty = True
            if not self._deadline.isActive():
                self._deadline.start()

    def end_stroke(self) -> None:
        if self._stroke is None:
            return
        recorder, self._stroke = self._stroke, None
        edit = recorder.finish()
        erase = self._stroke_value == UNPAINTED
        if self._region_stroke and self.image_id is not None:
            self._held = (self.image_id, recorder, edit, self._stroke_value, self._stroke_protects)
            self._apply_held()
            return
        if edit is not None:
            self.push_edit("Erase" if erase else "Brush stroke", edit)

    # -- the region brush ------------------------------------------------------------------------
    def request_regions(self) -> None:
        """Cut the shown image into colour regions in the background, unless done or under way."""
        image_id, image = self.image_id, self.image
        if image_id is None or image is None:
            return
        if (self._regions is not None and self._regions[0] == image_id) or self._regions_pending == image_id:
            return
        from fcn_studio.data.regions import image_regions

        self._regions_pending = image_id

        def done(regions: np.ndarray) -> None:
            if self._regions_pending == image_id:
                self._regions_pending = None
            self._regions = (image_id, regions)
            self.regions_ready.emit(image_id)
            self._apply_held()

        def failed(exc: BaseException) -> None:  # the stroke stays a plain stroke
            if self._regions_pending == image_id:
                self._regions_pending = None
            self._release_held()
            self.save_failed.emit(f"The region brush could not cut this image into regions: {exc}")

        def cut() -> np.ndarray:
            regions = image_regions(image)
            # ids fit 16 bits on any image (cut at most 1000 px a side): half the memory of int32
            return regions.astype(np.uint16) if regions.max() < 65536 else regions

        self._regions_bg.submit(cut, done, failed)

    def regions_of(self, image_id: str | None) -> np.ndarray | None:
        """The colour regions of ``image_id`` when they are cut, else None."""
        return self._regions[1] if self._regions is not None and self._regions[0] == image_id else None

    def _apply_held(self) -> None:
        """Grow the held region-brush stroke once its image's regions are there (one undo step)."""
        if self._held is None:
            return
        image_id, recorder, edit, value, protects = self._held
        regions = self.regions_of(image_id)
        if regions is None or self.mask is None or image_id != self.image_id:
            return
        self._held = None
        footprint = recorder.footprint()
        grown = region_brush(self.mask, regions, edit, footprint, value, only_unpainted=protects) if footprint else edit
        if grown is not None:
            self.region_changed.emit(grown.box)
            self.push_edit("Region brush stroke", grown)

    def _release_held(self) -> None:
        """A held stroke whose regions never came (another stroke began, the image changed):
        keep it as the plain stroke the user saw."""
        if self._held is None:
            return
        image_id, _, edit, _, _ = self._held
        self._held = None
        if edit is not None and image_id == self.image_id:
            self.push_edit("Brush stroke", edit)

    def fill(self, x: float, y: float) -> bool:
        if self.mask is None:
            return False
        edit = flood_fill(self.mask, int(x), int(y), self._active_class)
        if edit is not None:
            self.region_changed.emit(edit.box)
            self.push_edit("Fill", edit)
        return edit is not None

    def colour_fill(self, x: float, y: float, tolerance: int) -> bool:
        """The magic wand: the region of similar image colour under (x, y) gets the active class."""
        if self.mask is None or self.image is None:
            return False
        edit = colour_fill(self.mask, self.image, int(x), int(y), self._active_class, tolerance)
        if edit is not None:
            self.region_changed.emit(edit.box)
            self.push_edit("Magic wand", edit)
        return edit is not None

    def fill_polygon(self, points: list[tuple[float, float]]) -> bool:
        if self.mask is None:
            return False
        edit = fill_polygon(self.mask, points, self._active_class)
        if edit is not None:
            self.region_changed.emit(edit.box)
            self.push_edit("Polygon fill", edit)
        return edit is not None

    def paint_inside(self, box: Box, inside: np.ndarray, value: int, text: str) -> bool:
        """Paint ``value`` where ``inside`` (bool, the size of ``box`` = y0, x0, y1, x1) is set, as
        one undoable step; Paint only unpainted pixels applies. Only the box is read and kept,
        so a click-to-segment object on a 6000x4000 photo costs what the object does."""
        if self.mask is None:
            return False
        y0, x0, y1, x1 = box
        old = self.mask[y0:y1, x0:x1]
        if old.shape != inside.shape:
            return False
        where = inside & (old == UNPAINTED) if self.only_unpainted else inside
        new = np.where(where, np.uint8(value), old)
        edit = Edit((y0, x0, y1, x1), old.copy(), new)
        if not edit.changed:
            return False
        edit.redo(self.mask)
        self.region_changed.emit(edit.box)
        self.push_edit(text, edit)
        return True

    def replace_mask(self, new_mask: np.ndarray, text: str) -> bool:
        """Replace pixels as one undoable step (accept prediction, clear); only the changed box is kept."""
        if self.mask is None or new_mask.shape != self.mask.shape:
            return False
        diff = np.nonzero(new_mask != self.mask)
        if diff[0].size == 0:
            return False
        y0, y1 = int(diff[0].min()), int(diff[0].max()) + 1
        x0, x1 = int(diff[1].min()), int(diff[1].max()) + 1
        edit = Edit((y0, x0, y1, x1), self.mask[y0:y1, x0:x1].copy(), new_mask[y0:y1, x0:x1].copy())
        edit.redo(self.mask)
        self.region_changed.emit(edit.box)
        self.push_edit(text, edit)
        return True

    def push_edit(self, text: str, edit: Edit) -> None:
        image_id = self.image_id
        assert image_id is not None

        def get_mask() -> np.ndarray:
            if self.image_id != image_id or self.mask is None:
                raise RuntimeError("undo of an image that is not shown")  # QUndoGroup prevents this
            return self.mask

        self.stack(image_id).push(MaskEditCommand(text, edit, get_mask, self._changed))
        self._shadow_stale.append(edit.box)
        self._mark_dirty()

    def _changed(self, box: tuple) -> None:
        self.region_changed.emit(box)
        self._shadow_stale.append(box)
        self._mark_dirty()

    def _mark_dirty(self) -> None:
        self._dirty = True
        self._autosave.start()  # restarted by each change: "when painting pauses"
        if not self._deadline.isActive():
            self._deadline.start()  # not restarted: "at the latest"

    # -- saving ----------------------------------------------------------------------------
    def _autosave_due(self) -> None:
        """A timer fired: save, unless a save is still writing; then save right after it."""
        if self._saves_in_flight:
            self._save_when_written = True
            return
        self.save_now()

    def save_now(self) -> None:
        """Queue the current mask for writing (the shadow or a copy, so painting goes on meanwhile)."""
        self._autosave.stop()
        self._deadline.stop()
        self._save_when_written = False
        if not self._dirty or self.mask is None or self.image_id is None:
            return
        image_id, mask = self.image_id, self._snapshot()
        self._dirty = False
        project = self.project

        def written(_: object) -> None:
            self._written()
            self.saved.emit(image_id)

        def failed(exc: BaseException) -> None:
            self._written()
            if self.image_id == image_id:
                self._dirty = True  # keep it in memory and try again with the next save
            self.save_failed.emit(f"Your painting is kept in memory but could not be saved: {exc}")

        if self._io.submit(lambda: project.save_mask(image_id, mask), written, failed):
            self._saves_in_flight += 1

    def _snapshot(self) -> np.ndarray:
        """The mask as it is now, for the writer; the GUI thread leaves it alone until written."""
        assert self.mask is not None
        shadow = self._shadow
        if shadow is not None and not self._saves_in_flight and shadow.shape == self.mask.shape:
            # Only what changed, segment by segment: the union of a long diagonal drag would be
            # most of the mask. Past _MAX_PIECES pieces their union is copied instead.
            boxes = self._shadow_stale if len(self._shadow_stale) <= _MAX_PIECES else [_union_all(self._shadow_stale)]
            for y0, x0, y1, x1 in boxes:
                shadow[y0:y1, x0:x1] = self.mask[y0:y1, x0:x1]
        else:
            shadow = self._shadow = self.mask.copy()  # the old shadow is still being written
        self._shadow_stale = []
        return shadow

    def _written(self) -> None:
        self._saves_in_flight -= 1
        if self._save_when_written and not self._saves_in_flight:
            self.save_now()

    def flush(self) -> None:
        """Save now and wait until it is on disk (closing, switching projects)."""
        self.end_stroke()
        self._release_held()
        self.save_now()
        self._io.wait()
        self._io.deliver_now()  # 'saved' / 'save_failed' known before this returns

    @property
    def busy_saving(self) -> bool:
        return self._io.pending > 0

    def reload_mask(self) -> None:
        """Re-read the mask from disk after the project rewrote it (label-set edit); history is cleared."""
        for stack in self._stacks.values():
            stack.clear()
        if self.image_id is not None:
            self.mask = np.ascontiguousarray(self.project.load_mask(self.image_id))
            self._shadow, self._shadow_stale = None, []  # the next save makes one
            self._dirty = False
            self.mask_replaced.emit()

    def shutdown(self) -> None:
        self.flush()
        self._io.shutdown()
        self._regions_bg.shutdown()
