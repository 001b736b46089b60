"""Predictions with a trained model in a child process, so the window's process never loads torch.

Why: importing torch (its CUDA libraries are dlopen'ed with the GIL held) and building a model
in the window's process made its event loop wait 50-200 ms at warm-up and 63-66 ms after every
training run (``bench/ui_latency.py``), however the work was spread over threads. Here the
child imports torch and holds the :class:`~fcn_studio.inference.predictor.Predictor`; the
window sends images and gets numpy arrays back.

:class:`RemotePredictor` is a blocking client with the part of the Predictor's interface the
app uses (``predict``, ``refine_radius``), and click-to-segment (``embed``, ``segment``: MobileSAM,
loaded in the same child at the first use, with its embeddings cached there). Call it from one background thread at a time (the
GUI's ordered prediction queue); the window's thread never waits on it. If the child dies it
is started again at the next call. Qt-free.
"""

from __future__ import annotations

import multiprocessing as mp
import threading
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Callable

import numpy as np

from fcn_studio import cpu_share
from fcn_studio.errors import FcnStudioError, WeightsUnavailableError, one_line
from fcn_studio.inference.messages import (
    EmbedImage,
    Embedded,
    Failed,
    FromPrediction,
    ImageNetGrids,
    ImageNetHeatmaps,
    LoadModel,
    ModelLoaded,
    NeedsImage,
    Predict,
    Predicted,
    Quit,
    Segmented,
    SegmentClicks,
    ToPrediction,
)
from fcn_studio.inference.prediction_types import Prediction
from fcn_studio.inference.sam_input import working_copy


class PredictionError(FcnStudioError):
    """The child could not load the model or predict (the message says why)."""


class RemotePredictor:
    """A checkpoint loaded in a child process; :meth:`predict` like :class:`Predictor.predict`."""

    def __init__(self) -> None:
        self._process: Any = None
        self._conn: Connection | None = None
        self._lock = threading.Lock()
        self.path: Path | None = None
        self.refine_radius = 0
        self.description = ""
        self.num_classes = 0

    # -- lifetime -------------------------------------------------------------------------------
    def _ensure_child(self) -> Connection:
        if self._conn is not None and self._process is not None and self._process.is_alive():
            return self._conn
        self._close_child()
        ctx = mp.get_context("spawn")  # never fork a process that runs Qt and threads
        parent, child = ctx.Pipe(duplex=True)
        self._process = ctx.Process(target=child_main, args=(child,), name="fcn-studio-predict", daemon=True)
        self._process.start()
        child.close()
        self._conn = parent
        return parent

    def _call(self, message: ToPrediction) -> FromPrediction:
        with self._lock:
            conn = self._ensure_child()
            try:
                conn.send(message)
                reply = conn.recv()
            except (EOFError, OSError, BrokenPipeError):
                code = self._process.exitcode if self._process is not None else None
                self._close_child()
                raise PredictionError(f"the prediction process ended unexpectedly (exit code {code}); it restarts at the next prediction") from None
        if isinstance(reply, Failed):
            raise (WeightsUnavailableError if reply.kind == "WeightsUnavailableError" else PredictionError)(reply.message)
        return reply

    def load(self, path: str | Path) -> "RemotePredictor":
        """Load the checkpoint at ``path`` in the child (replacing any model there); returns self."""
        info = self._call(LoadModel(str(path)))
        assert isinstance(info, ModelLoaded), info
        self.path = Path(path)
        self.refine_radius = int(info.refine_radius)
        self.num_classes = int(info.num_classes)
        self.description = str(info.description)
        return self

    def predict(
        self, image: np.ndarray, *, want_probs: bool = True, probs_dtype: Any = np.float16, refine_edges: bool | None = None,
        display_pixels: int | None = None,
    ) -> Prediction:
        """The :class:`Prediction` of an HxWx3 uint8 image, computed in the child.

        ``display_pixels``: what the window asks for: ``probs`` area-averaged to at most that many
        pixels per class and ``confidence`` None (labels stay at the image's size); see
        :mod:`fcn_studio.data.display_size`."""
        if self.path is None:
            raise PredictionError("no model is loaded")
        if self._process is None or not self._process.is_alive():  # restarted: load again first
            self.load(self.path)
        reply = self._call(Predict(np.ascontiguousarray(image), bool(want_probs), np.dtype(probs_dtype).str, refine_edges,
                                   display_pixels))
        assert isinstance(reply, Predicted), reply
        return Prediction(labels=reply.labels, confidence=reply.confidence, probs=reply.probs)

    def imagenet_heatmaps(self, image: np.ndarray, weights: str | None = "imagenet", top_k: int = 10) -> ImageNetGrids:
        """The ImageNet heatmaps demonstration's grids for an HxWx3 uint8 image, computed in the
        child (issue 34 item 8: in the window's process the classifier loaded torch there and
        froze it 9 times); needs no model loaded. :class:`WeightsUnavailableError` when the
        classifier's weights are missing."""
        reply = self._call(ImageNetHeatmaps(np.ascontiguousarray(image), weights, int(top_k)))
        assert isinstance(reply, ImageNetGrids), reply
        return reply

    # -- click-to-segment -------------------------------------------------------------------------
    def embed(self, key: str, image: np.ndarray | None = None) -> Embedded | NeedsImage:
        """Make sure the child holds ``image``'s embedding under ``key`` (``image`` None: only ask).

        Only SAM's working copy travels (a 6000x4000 photo: 2 MB, not 72 MB whose pickling holds
        the GIL and so the window); masks still come at the image's full size."""
        if image is None:
            reply = self._call(EmbedImage(key))
        else:
            small = np.ascontiguousarray(working_copy(image))
            reply = self._call(EmbedImage(key, small, tuple(image.shape[:2])))
        assert isinstance(reply, (Embedded, NeedsImage)), reply
        return reply

    def segment(self, request: SegmentClicks, image: Callable[[], np.ndarray]) -> Segmented:
        """A mask for ``request``; ``image()`` is called (and embedded) only when the child lacks it."""
        reply = self._call(request)
        if isinstance(reply, NeedsImage):
            self.embed(request.key, image())
            reply = self._call(request)
        assert isinstance(reply, Segmented), reply
        return reply

    def _close_child(self) -> None:
        if self._conn is not None:
            try:
                self._conn.send(Quit())
            except (OSError, ValueError):
                pass
            self._conn.close()
        if self._process is not None:
            self._process.join(2.0)
            if self._process.is_alive():
                self._process.kill()
                self._process.join(2.0)
        self._process = self._conn = None

    def close(self) -> None:
        with self._lock:
            self._close_child()


def describe_model(meta: Any) -> str:
    """One line on a checkpoint: its trunk, when it was trained and on how many images."""
    import datetime as dt

    from fcn_studio.models.registry import display_name

    parts = [display_name(meta.backbone, meta.variant)]
    try:
        when = dt.datetime.fromisoformat(meta.created).astimezone()
        parts.append(f"trained {when.day} {when:%b %H:%M}")
    except (TypeError, ValueError):
        pass
    images = meta.summary.get("train_images")
    if isinstance(images, int) and images > 0:
        parts.append(f"on {images} painted image{'s' if images != 1 else ''}")
    return ", ".join(parts[:2]) + (" " + parts[2] if len(parts) > 2 else "")


# -- the child side -------------------------------------------------------------------------------
class _Child:
    """The prediction process's state (one predictor) and what it does per request type."""

    def __init__(self) -> None:
        self.predictor: Any = None
        self.heatmappers: dict[str | None, Any] = {}  # the ImageNet classifier, built once per weights
        self.sam: Any = None  # a ClickSegmenter, built at the first click-to-segment request

    def _segmenter(self) -> Any:
        if self.sam is None:
            from fcn_studio.inference.click_segment import ClickSegmenter

            self.sam = ClickSegmenter()
        return self.sam

    def embed(self, request: EmbedImage) -> FromPrediction:
        sam = self._segmenter()
        if sam.cached(request.key) is not None:
            return Embedded(request.key, 0.0, True)
        if request.image is None:
            return NeedsImage(request.key)
        emb = sam.embed(request.image, request.key, image_size=request.image_size)
        return Embedded(request.key, emb.seconds, False)

    def segment(self, request: SegmentClicks) -> FromPrediction:
        import time

        start = time.perf_counter()
        sam = self._segmenter()
        emb = sam.cached(request.key)
        if emb is None:
            return NeedsImage(request.key)
        seg = sam.segment(emb, request.points, request.labels, box=request.box, previous=request.previous,
                          guide=request.guide, choose=request.choose, pick=request.pick)
        if seg.box is None:
            inside = np.zeros((0, 0), bool)
        else:
            y0, x0, y1, x1 = seg.box
            inside = np.ascontiguousarray(seg.mask[y0:y1, x0:x1])
        return Segmented(seg.box, inside, emb.image_size, seg.score, seg.logits, time.perf_counter() - start, seg.index)

    def load(self, request: LoadModel) -> ModelLoaded:
        from fcn_studio.inference.predictor import Predictor

        self.predictor = Predictor.from_checkpoint(request.path, device="auto")
        return ModelLoaded(refine_radius=self.predictor.refine_radius, num_classes=self.predictor.num_classes,
                           description=describe_model(self.predictor.meta))

    def predict(self, request: Predict) -> FromPrediction:
        if self.predictor is None:
            return Failed("no model is loaded")
        pred = self.predictor.predict(
            request.image, want_probs=request.want_probs, probs_dtype=np.dtype(request.probs_dtype), refine_edges=request.refine_edges
        )
        if request.display_pixels is None:
            return Predicted(pred.labels, pred.confidence, pred.probs)
        from fcn_studio.data.display_size import shrink_probs

        probs = None if pred.probs is None else shrink_probs(pred.probs, request.display_pixels)
        return Predicted(pred.labels, None, probs)

    def imagenet(self, request: ImageNetHeatmaps) -> ImageNetGrids:
        from fcn_studio.models.imagenet_heatmap import ImageNetHeatmapper

        heatmapper = self.heatmappers.get(request.weights)
        if heatmapper is None:
            heatmapper = self.heatmappers[request.weights] = ImageNetHeatmapper(request.weights)
        result = heatmapper.run(request.image, top_k=request.top_k)
        grids = np.stack([result.probabilities[i] for i, _, _ in result.top_classes]).astype(np.float32)
        return ImageNetGrids(result.grid_shape, list(result.top_classes), grids)

    def answer(self, request: Any) -> FromPrediction:
        """The reply to one request; every failure becomes a :class:`Failed` the window shows."""
        handler = {LoadModel: self.load, Predict: self.predict, ImageNetHeatmaps: self.imagenet,
                   EmbedImage: self.embed, SegmentClicks: self.segment}.get(type(request))
        if handler is None:
            return Failed(f"unknown request {type(request).__name__}")
        try:
            return handler(request)
        except FcnStudioError as exc:
            return Failed(str(exc), type(exc).__name__)
        except MemoryError:
            return Failed("out of memory while predicting")
        except Exception as exc:  # reported to the window in one line, never lost
            return Failed(one_line(exc))


def child_main(conn: Connection) -> None:
    """Entry point of the prediction process (importable: spawn pickles it by name).

    Its torch threads sleep rather than spin at barriers and leave the window a core
    (:mod:`fcn_studio.cpu_share`), set before the first request imports torch.
    """
    cpu_share.prefer_passive_wait()
    cpu_share.leave_core_for_window()
    child = _Child()
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        if isinstance(request, Quit):
            return
        conn.send(child.answer(request))
