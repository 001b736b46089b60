"""The click-to-segment tool's work: prompts, the tinted preview, the proposed class, accepting.

The tool (:class:`fcn_studio.gui.tools.ClickSegmentTool`, key S) forwards gestures here: a
click adds a positive point, Shift+click or a right click a negative one, a drag a box. Each
prompt goes to MobileSAM in the prediction process (:mod:`fcn_studio.inference.prediction_process`,
which owns torch: this process never imports it), on a background queue, newest prompt
first: clicks made while a mask is computed are merged into the next request, never queued
one by one. The answer is a box and the pixels inside it, shown at once as a tint in the
colour of the class the project's model predicts most inside it (its share and the runner-up
beside the last click); number keys change the class, Enter (or *Accept object*) paints it as
one undo step, Esc drops it.

The image's embedding (about 2-3 s on one core) is computed as soon as an image is shown with
the tool active, then the next images in the list while the person works; the status line
says when the image is ready.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QObject, QPointF, QRectF, Qt
from PySide6.QtGui import QAction, QBrush, QColor, QPen
from PySide6.QtWidgets import QGraphicsEllipseItem, QGraphicsItem, QGraphicsRectItem, QGraphicsSimpleTextItem

from fcn_studio.gui.background import Background
from fcn_studio.gui.raster_item import RasterItem
from fcn_studio.inference.class_proposal import ClassProposal, propose_class
from fcn_studio.inference.messages import SegmentClicks

TOOL = "click_segment"
#: Images embedded ahead of the one on screen, in the image list's order.
AHEAD = 2
#: The preview is drawn from at most this many pixels (a 6000x4000 road would be 24 million).
PREVIEW_PIXELS = 2_000_000
#: The guide (the model's label map) travels to the prediction process at most this large.
GUIDE_SIDE = 512


@dataclass
class Preview:
    """The mask on screen: its image, box (y0, x0, y1, x1), pixels inside the box, proposal."""

    image_id: str
    box: tuple[int, int, int, int]
    inside: np.ndarray
    logits: np.ndarray
    proposal: ClassProposal | None
    seconds: float
    index: int = 0  # which of SAM's three masks (a single click), see ClickSegment.next_mask


class ClickSegment(QObject):
    """One per window; the canvas's tool finds it as ``canvas.click_segmenter``."""

    def __init__(self, window, training, parent: QObject | None = None):  # noqa: ANN001
        super().__init__(parent)
        self.window, self.training = window, training
        self.editor, self.canvas = window.editor, window.canvas
        self._jobs = Background("fcn-sam", self)  # the clicks and the shown image's embedding
        self._ahead = Background("fcn-sam-ahead", self)  # the next images' embeddings
        self.ready: set[str] = set()  # keys the prediction process has embedded
        self._embedding: set[str] = set()
        self._ahead_busy = False
        self.points: list[tuple[float, float]] = []
        self.labels: list[int] = []
        self.box: tuple[float, float, float, float] | None = None
        self.preview: Preview | None = None
        self.class_id: int | None = None
        self._class_chosen = False  # a number key chose the class: proposals no longer change it
        self._pick: int | None = None  # Tab: which of SAM's three masks of a single click
        self._busy = False
        self._again = False
        self._generation = 0
        self.last_error: str | None = None
        self._build_items()
        self.accept_action = QAction("Accept object", self)
        self.accept_action.setToolTip("<b>Accept object</b> (Enter)<br>Paint the click-to-segment preview with its class (one undo step)")
        self.accept_action.triggered.connect(self.accept)
        self.accept_action.setEnabled(False)
        self.accept_action.setVisible(False)
        self.editor.image_loaded.connect(self._on_image_loaded)
        self.editor.active_class_changed.connect(self._on_class_key)
        self.canvas.tool_changed.connect(self._on_tool_changed)
        self.canvas.click_segmenter = self

    # -- graphics ---------------------------------------------------------------------------------
    def _build_items(self) -> None:
        scene = self.canvas.scene()
        self.preview_item = RasterItem(np.zeros((1, 1), np.uint8), [0] * 256)
        self.preview_item.setZValue(900)
        self.preview_item.setVisible(False)
        scene.addItem(self.preview_item)
        self.box_item = QGraphicsRectItem()
        pen = QPen(QColor(255, 220, 0), 0, Qt.PenStyle.DashLine)
        pen.setCosmetic(True)
        self.box_item.setPen(pen)
        self.box_item.setZValue(950)
        self.box_item.setVisible(False)
        scene.addItem(self.box_item)
        self.label_item = QGraphicsRectItem()
        self.label_item.setBrush(QBrush(QColor(20, 22, 26, 210)))
        self.label_item.setPen(QPen(Qt.PenStyle.NoPen))
        self.label_item.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations, True)
        self.label_item.setZValue(980)
        self.label_item.setVisible(False)
        self.label_text = QGraphicsSimpleTextItem(self.label_item)
        self.label_text.setBrush(QBrush(QColor(236, 239, 244)))
        self.label_text.setPos(6, 3)
        scene.addItem(self.label_item)
        self.markers: list[QGraphicsEllipseItem] = []

    def _show_markers(self) -> None:
        for item in self.markers:
            self.canvas.scene().removeItem(item)
        self.markers = []
        for (x, y), positive in zip(self.points, self.labels):
            dot = QGraphicsEllipseItem(-5, -5, 10, 10)
            dot.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations, True)
            dot.setPos(x + 0.5, y + 0.5)
            dot.setBrush(QBrush(QColor(80, 220, 100) if positive else QColor(235, 70, 70)))
            dot.setPen(QPen(QColor(255, 255, 255), 1.5))
            dot.setZValue(990)
            self.canvas.scene().addItem(dot)
            self.markers.append(dot)

    def show_drag_box(self, a: QPointF, b: QPointF) -> None:
        """The box being dragged (the tool calls this while the button is down)."""
        self.box_item.setRect(QRectF(a, b).normalized())
        self.box_item.setVisible(True)

    def _colour(self, class_id: int | None) -> QColor:
        try:
            r, g, b = self.editor.project.labelset.by_id(int(class_id)).color  # type: ignore[arg-type]
            return QColor(r, g, b)
        except (KeyError, TypeError, ValueError):
            return QColor(255, 220, 0)

    def _name(self, class_id: int) -> str:
        try:
            return self.editor.project.labelset.by_id(int(class_id)).name
        except KeyError:
            return f"class {class_id}"

    def _show_preview(self) -> None:
        p = self.preview
        if p is None:
            self.preview_item.setVisible(False)
            self.label_item.setVisible(False)
            return
        colour = self._colour(self.class_id)
        table = [QColor(0, 0, 0, 0).rgba(), QColor(colour.red(), colour.green(), colour.blue(), 150).rgba()] + [0] * 254
        # a preview over millions of pixels is drawn from every step-th one (display only: Enter
        # paints the full-resolution mask); Qt converts an indexed image's drawn part on each paint
        step = max(1, int(np.ceil(np.sqrt(p.inside.size / PREVIEW_PIXELS))))
        shown = p.inside if step == 1 else np.ascontiguousarray(p.inside[::step, ::step])
        self.preview_item.set_array(shown.view(np.uint8), table)
        self.preview_item.setScale(step)
        self.preview_item.setPos(p.box[1], p.box[0])
        self.preview_item.setVisible(True)
        self.label_text.setText(self.describe())
        rect = self.label_text.boundingRect()
        self.label_item.setRect(0, 0, rect.width() + 12, rect.height() + 6)
        x, y = self.points[-1] if self.points else (p.box[1], p.box[0])
        # beside the click, 12 screen pixels off (the item ignores zoom); left of it near the view's right edge
        zoom = max(self.canvas.zoom, 1e-6)
        at = self.canvas.mapFromScene(x, y)
        dx = 12 if at.x() + 12 + rect.width() + 12 < self.canvas.viewport().width() else -(rect.width() + 24)
        self.label_item.setPos(x + dx / zoom, y + 12 / zoom)
        self.label_item.setVisible(True)

    def describe(self) -> str:
        """What the label beside the cursor says: the class, its share, the runner-up."""
        p = self.preview
        if p is None or self.class_id is None:
            return ""
        name = self._name(self.class_id)
        prop = p.proposal
        if self._class_chosen or prop is None:
            return f"{name} (your class)" if self._class_chosen else f"{name} (current class; no model yet)"
        text = f"{name} {prop.share:.0%}"
        if prop.runner_up >= 0 and prop.runner_up_share >= 0.01:
            text += f" · {self._name(prop.runner_up)} {prop.runner_up_share:.0%}"
        return text

    # -- the tool's gestures ----------------------------------------------------------------------
    @property
    def active(self) -> bool:
        return self.canvas.tool.name == TOOL

    def key_of(self, image_id: str) -> str:
        return f"{self.editor.project.root}|{image_id}"

    def add_point(self, x: float, y: float, positive: bool) -> None:
        if self.editor.image is None:
            return
        h, w = self.editor.image.shape[:2]
        if not (0 <= x < w and 0 <= y < h):
            return
        self.points.append((float(int(x)), float(int(y))))
        self.labels.append(1 if positive else 0)
        self._pick = None
        self._show_markers()
        self._request()

    def set_box(self, x0: float, y0: float, x1: float, y1: float) -> None:
        if self.editor.image is None:
            return
        h, w = self.editor.image.shape[:2]
        x0, x1 = sorted((min(max(x0, 0), w), min(max(x1, 0), w)))
        y0, y1 = sorted((min(max(y0, 0), h), min(max(y1, 0), h)))
        if x1 - x0 < 2 or y1 - y0 < 2:
            self.box_item.setVisible(False)
            return
        self.box = (x0, y0, x1, y1)
        self._pick = None
        self.box_item.setRect(QRectF(x0, y0, x1 - x0, y1 - y0))
        self.box_item.setVisible(True)
        self._request()

    def next_mask(self) -> bool:
        """Tab: show SAM's next mask for a single click (part, object, whole: SAM offers three)."""
        p = self.preview
        if p is None or len(self.points) != 1 or self.box is not None:
            return False
        self._pick = (p.index + 1) % 3
        self._request()
        return True

    def accept(self) -> bool:
        """Paint the preview with its class (one undo step); Paint only unpainted pixels applies."""
        p = self.preview
        if p is None or p.image_id != self.editor.image_id or self.class_id is None:
            return False
        done = self.editor.paint_inside(p.box, p.inside, int(self.class_id), "Click to segment")
        name = self._name(self.class_id)
        self.drop()
        self.window.status.showMessage(f"Painted an object as {name}" if done else "Nothing changed (the pixels were painted already)", 4000)
        return done

    def drop(self) -> None:
        """Forget the prompts and the preview (Esc, another image, another tool)."""
        self._generation += 1
        self.points, self.labels, self.box, self._pick = [], [], None, None
        self.preview, self.class_id, self._class_chosen = None, None, False
        self._again = False
        self._show_markers()
        self.box_item.setVisible(False)
        self._show_preview()
        self.accept_action.setEnabled(False)

    def _on_class_key(self, class_id: int) -> None:
        if self.preview is not None:
            self.class_id, self._class_chosen = int(class_id), True
            self._show_preview()

    # -- the prediction process -------------------------------------------------------------------
    def _request(self) -> None:
        """Ask for the mask of the current prompts; while one is computed, ask again after it."""
        if self._busy:
            self._again = True
            return
        image_id, image = self.editor.image_id, self.editor.image
        if image_id is None or image is None:
            return
        labels_map = self.training.predictions.get(image_id)
        if labels_map is not None and labels_map.shape != image.shape[:2]:
            labels_map = None
        guide = None
        if labels_map is not None:
            step = max(1, max(labels_map.shape) // GUIDE_SIDE)
            guide = np.ascontiguousarray(labels_map[::step, ::step])
        single = len(self.points) == 1 and self.box is None  # SAM offers three masks: the previous one is not fed back
        request = SegmentClicks(
            self.key_of(image_id), tuple(self.points), tuple(self.labels), self.box,
            self.preview.logits if self.preview is not None and self.preview.image_id == image_id and not single else None,
            guide, "model" if guide is not None else "score", self._pick if single else None,
        )
        allowed = set(self.editor.project.labelset.train_ids)
        remote, generation = self.training.remote, self._generation

        def run() -> Preview | None:
            seg = remote.segment(request, lambda: image)
            if seg.box is None:
                return None
            y0, x0, y1, x1 = seg.box
            proposal = None
            if labels_map is not None:
                proposal = propose_class(seg.inside, labels=labels_map[y0:y1, x0:x1], allowed=allowed)
            return Preview(image_id, seg.box, seg.inside, seg.logits, proposal, seg.seconds, seg.index)

        self._busy = True
        if request.key not in self.ready:
            self.window.status.showMessage("Click to segment: waiting for this image to be ready…", 4000)
        self._jobs.submit(run, lambda p: self._answered(p, generation), lambda exc: self._failed(exc, generation))

    def _answered(self, preview: Preview | None, generation: int) -> None:
        self._busy = False
        if generation == self._generation and preview is not None and preview.image_id == self.editor.image_id:
            self.ready.add(self.key_of(preview.image_id))
            self.preview = preview
            if not self._class_chosen:
                prop = preview.proposal
                self.class_id = prop.class_id if prop is not None else self.editor.active_class
            self._show_preview()
            self.accept_action.setEnabled(True)
            more = ", Tab shows SAM's next mask" if len(self.points) == 1 and self.box is None else ""
            self.window.status.showMessage(f"{self.describe()}: Enter paints it, a click refines it{more}, Esc drops it", 6000)
        elif generation == self._generation and preview is None:
            self.window.status.showMessage("Click to segment found nothing there; try another point", 4000)
        if self._again and generation == self._generation:
            self._again = False
            self._request()

    def _failed(self, exc: BaseException, generation: int) -> None:
        self._busy = False
        self._again = False
        self.last_error = str(exc)
        if generation == self._generation:
            self.window.status.showMessage(f"Click to segment: {exc}", 10000)

    # -- embeddings ahead of the clicks -----------------------------------------------------------
    def _on_tool_changed(self, name: str) -> None:
        self.accept_action.setVisible(name == TOOL)
        if name == TOOL:
            self.prepare_current()
        else:
            self.drop()

    def _on_image_loaded(self, image_id: str) -> None:
        if self.preview is not None and self.preview.image_id == image_id:
            return
        self.drop()
        if self.active:
            self.prepare_current()

    def prepare_current(self) -> None:
        """Embed the image on screen (unless it is done or under way), then the next ones."""
        image_id, image = self.editor.image_id, self.editor.image
        if image_id is None or image is None:
            return
        key = self.key_of(image_id)
        if key in self.ready:
            self.window.status.showMessage("Click to segment: this image is ready; click an object", 4000)
            self._embed_ahead()
            return
        if key in self._embedding:
            return
        self._embedding.add(key)
        self.window.status.showMessage("Click to segment: preparing this image (a few seconds)…", 10000)
        remote = self.training.remote

        def done(reply) -> None:  # noqa: ANN001
            self._embedding.discard(key)
            self.ready.add(key)
            if key == self.key_of(self.editor.image_id or "") and self.active:
                took = f" in {reply.seconds:.1f} s" if getattr(reply, "seconds", 0) else ""
                self.window.status.showMessage(f"Click to segment: image ready{took}; click an object (Shift+click removes)", 6000)
            self._embed_ahead()

        def failed(exc: BaseException) -> None:
            self._embedding.discard(key)
            self.last_error = str(exc)
            self.window.status.showMessage(f"Click to segment: {exc}", 15000)

        self._jobs.submit(lambda: remote.embed(key, image), done, failed)

    def _embed_ahead(self) -> None:
        """While the person works on this image, embed the next :data:`AHEAD` ones, one at a time."""
        if self._ahead_busy or not self.active or self.editor.image_id is None:
            return
        ids = self.window.image_list.visible_ids()
        try:
            at = ids.index(self.editor.image_id)
        except ValueError:
            return
        todo = [i for i in ids[at + 1: at + 1 + AHEAD] if self.key_of(i) not in self.ready and self.key_of(i) not in self._embedding]
        if not todo:
            return
        image_id, key = todo[0], self.key_of(todo[0])
        project, remote = self.editor.project, self.training.remote
        self._ahead_busy = True
        self._embedding.add(key)

        def run():
            return remote.embed(key, project.load_image(image_id))

        def done(_reply) -> None:  # noqa: ANN001
            self._ahead_busy = False
            self._embedding.discard(key)
            self.ready.add(key)
            if self.active and key == self.key_of(self.editor.image_id or ""):  # the person got here first
                self.window.status.showMessage("Click to segment: image ready; click an object (Shift+click removes)", 6000)
            self._embed_ahead()

        def failed(_exc: BaseException) -> None:  # the image is embedded when it is shown instead
            self._ahead_busy = False
            self._embedding.discard(key)

        self._ahead.submit(run, done, failed)

    def forget(self) -> None:
        """Another project: nothing of the old one is ready here any more."""
        self.drop()
        self.ready.clear()

    def shutdown(self) -> None:
        self._jobs.shutdown()
        self._ahead.shutdown()
