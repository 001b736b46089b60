"""The requests and replies between the window and the prediction process: one dataclass per kind.

Like :mod:`fcn_studio.training.messages` (the training process's channel): frozen, picklable
dataclasses that the child dispatches on by type, in place of tuples read by position.
Qt-free and torch-free.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

import numpy as np


# -- window -> prediction process ------------------------------------------------------------------
@dataclass(frozen=True)
class LoadModel:
    """Load the checkpoint at ``path`` (replacing any model there); answered by :class:`ModelLoaded`."""

    path: str


@dataclass(frozen=True)
class Predict:
    """Predict one HxWx3 uint8 image; answered by :class:`Predicted`."""

    image: np.ndarray
    want_probs: bool = True
    #: numpy dtype string of the probabilities (``np.dtype(...).str``: picklable, small)
    probs_dtype: str = np.dtype(np.float16).str
    refine_edges: bool | None = None
    #: for the window: probabilities area-averaged to at most this many pixels and no confidence
    #: map (a 24 MP photo's full set is 0.5 GB to unpickle; see data.display_size); None: all
    display_pixels: int | None = None


@dataclass(frozen=True)
class ImageNetHeatmaps:
    """The ImageNet classifier's class-score grid of one HxWx3 uint8 image (the FCN demonstration);
    answered by :class:`ImageNetGrids`. ``weights``: ``"imagenet"`` or None (random weights)."""

    image: np.ndarray
    weights: str | None = "imagenet"
    top_k: int = 10


@dataclass(frozen=True)
class EmbedImage:
    """Compute (or find cached) the click-to-segment embedding of ``image`` under ``key``;
    answered by :class:`Embedded`. ``image`` None: only say whether it is cached (a
    :class:`NeedsImage` when not)."""

    key: str
    image: np.ndarray | None = None
    #: the original (H, W) when ``image`` is its working copy (``inference.sam_input``)
    image_size: tuple[int, int] | None = None


@dataclass(frozen=True)
class SegmentClicks:
    """A mask from clicks on the image embedded under ``key``; answered by :class:`Segmented`,
    or :class:`NeedsImage` when the embedding is not cached (the process restarted, or the
    cache let it go). Fields as :meth:`fcn_studio.inference.click_segment.ClickSegmenter.segment`."""

    key: str
    points: tuple[tuple[float, float], ...] = ()
    labels: tuple[int, ...] = ()
    box: tuple[float, float, float, float] | None = None
    previous: np.ndarray | None = None
    #: the project model's label map (any resolution: a small one travels faster)
    guide: np.ndarray | None = None
    choose: str = "score"
    #: SAM's mask of this index among its three, not the chosen one (the person cycles with Tab)
    pick: int | None = None


@dataclass(frozen=True)
class Quit:
    """End the process."""


ToPrediction = Union[LoadModel, Predict, ImageNetHeatmaps, EmbedImage, SegmentClicks, Quit]


# -- prediction process -> window ------------------------------------------------------------------
@dataclass(frozen=True)
class ModelLoaded:
    refine_radius: int
    num_classes: int
    #: what the model is, for the window to say ("EfficientNet-Lite0 FCN-4s, trained 7 Dec 01:40 on 12 images")
    description: str = ""


@dataclass(frozen=True)
class Predicted:
    labels: np.ndarray
    confidence: np.ndarray | None
    probs: np.ndarray | None


@dataclass(frozen=True)
class ImageNetGrids:
    """The image's top ImageNet classes and, for each, its probability grid (coarse: one value
    per 32-pixel step; the window upsamples what it shows)."""

    grid_shape: tuple[int, int]
    #: (class index, name, mean probability over the grid), best first
    top_classes: list[tuple[int, str, float]]
    #: ``len(top_classes) x gh x gw`` float32, in the order of ``top_classes``
    grids: np.ndarray


@dataclass(frozen=True)
class Embedded:
    key: str
    seconds: float  # what computing it took (0 when it was cached)
    cached: bool


@dataclass(frozen=True)
class NeedsImage:
    """The embedding of ``key`` is not there: send the image (an :class:`EmbedImage`)."""

    key: str


@dataclass(frozen=True)
class Segmented:
    """The mask as its box (y0, x0, y1, x1) and the bool pixels inside it (None and an empty
    array when nothing was cut): a 6000x4000 image's full mask never crosses the pipe."""

    box: tuple[int, int, int, int] | None
    inside: np.ndarray
    image_size: tuple[int, int]
    score: float
    logits: np.ndarray  # SAM's low-resolution logits: the next click's ``previous``
    seconds: float
    index: int = 0  # which of SAM's masks it is (of three for a single click, else 0)


@dataclass(frozen=True)
class Failed:
    """The request could not be served; the message says why (the window shows it)."""

    message: str
    #: the error's class name when the window acts on it (``"WeightsUnavailableError"``), else ""
    kind: str = ""


FromPrediction = Union[ModelLoaded, Predicted, ImageNetGrids, Embedded, NeedsImage, Segmented, Failed]
