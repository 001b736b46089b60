"""ImageNet heatmaps: where in an image a convolutionalized classifier sees each of 1000 classes.

The demonstration behind the FCN paper: the same classifier, slid over a larger image,
gives a coarse grid of class scores (one per 32-pixel step, each seeing a 224-pixel
window). Two classifiers: EfficientNet-Lite0 (the default: its weights come with a pip
dependency, so the map is real on any install, offline) and VGG16, the paper's network
(torchvision's 528 MB file, cached or downloaded). A softmax at each grid position turns the scores into probabilities; the
image-level ranking is their mean over the grid; a class's grid, bilinearly upsampled to
the image size, shows where it was found.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from torch import Tensor, nn
from torchvision.models import VGG16_Weights

from fcn_studio.errors import ModelOutputError
from fcn_studio.models.efficientnet_lite import LITE_NORMALIZATION, as_fully_convolutional, efficientnet_lite0
from fcn_studio.models.fc_to_conv import convolutionalize
from fcn_studio.models.registry import IMAGENET_NORMALIZATION
from fcn_studio.models.weights import IMAGENET, fetch_state_dict, load_strict, packaged_state_dict, read_state_dict

#: Classifiers the heatmaps can come from, default first.
CLASSIFIER_NAMES: tuple[str, ...] = ("efficientnet_lite0", "vgg16")
#: Their input normalisation.
NORMALIZATION: dict[str, dict[str, list[float]]] = {
    "efficientnet_lite0": LITE_NORMALIZATION,
    "vgg16": IMAGENET_NORMALIZATION,
}

#: The classifier's window: smaller images are upscaled so the grid is at least 1x1.
MIN_SIDE = 224


@lru_cache(maxsize=1)
def imagenet_categories() -> tuple[str, ...]:
    """The 1000 ImageNet class names, from torchvision's weights metadata (no download)."""
    return tuple(VGG16_Weights.IMAGENET1K_V1.meta["categories"])


@dataclass(frozen=True)
class ImageNetHeatmap:
    """Result of :meth:`ImageNetHeatmapper.run` for one image.

    ``top_classes`` holds (class index, name, mean probability over the grid), best first;
    ``heatmap`` is the chosen class's probability, ``float32`` in 0..1, of the image's size.
    """

    grid_shape: tuple[int, int]
    top_classes: list[tuple[int, str, float]]
    class_index: int
    class_name: str
    heatmap: np.ndarray
    probabilities: np.ndarray  # 1000 x grid_h x grid_w, float32


class ImageNetHeatmapper:
    """Holds one convolutionalized classifier and computes heatmaps for images.

    ``classifier``: one of :data:`CLASSIFIER_NAMES`. ``weights``: ``"imagenet"`` (for
    EfficientNet-Lite0 the installed file; for VGG16 torchvision's, cached or downloaded,
    raising :class:`WeightsUnavailableError` when offline), a path to a state dict of that
    classifier, or ``None`` for random weights (meaningless maps; for tests and demos of the
    mechanics).
    """

    def __init__(
        self,
        weights: str | Path | None = "imagenet",
        *,
        classifier: str = "efficientnet_lite0",
        device: str | torch.device = "cpu",
        net: nn.Module | None = None,
    ) -> None:
        """``net`` (a convolutionalized ``classifier``) is used as is when given."""
        if classifier not in CLASSIFIER_NAMES:
            raise ValueError(f"no ImageNet heatmaps for {classifier!r}; choose one of {', '.join(CLASSIFIER_NAMES)}")
        self.classifier = classifier
        self.net = (net if net is not None else build_imagenet_fcn(weights, classifier)).to(device).eval()
        self.device = torch.device(device)
        self.categories = imagenet_categories()

    @torch.no_grad()
    def scores(self, image: np.ndarray) -> Tensor:
        """1 x 1000 x gh x gw class probabilities (softmax over classes at each position).

        Raises :class:`ModelOutputError` when the scores are not all finite (damaged weights):
        a NaN map is reported, not handed to the view.
        """
        x = _to_input(image, NORMALIZATION[self.classifier]).to(self.device)
        logits = self.net(x).float()
        if not bool(torch.isfinite(logits).all()):
            raise ModelOutputError(
                "the classifier's output is not a number (NaN or infinite) for this image: its weights are "
                "damaged; reinstall them or choose other weights"
            )
        return F.softmax(logits, dim=1)

    @torch.no_grad()
    def run(self, image: np.ndarray, *, class_index: int | None = None, top_k: int = 5) -> ImageNetHeatmap:
        """Heatmap of ``class_index`` (default: the image's top class) for an HxWx3 uint8 image."""
        probs = self.scores(image)
        mean = probs.mean(dim=(2, 3))[0]
        k = max(1, min(int(top_k), mean.numel()))
        values, indices = mean.topk(k)
        top = [(int(i), self.categories[int(i)], float(v)) for v, i in zip(values, indices, strict=True)]
        chosen = top[0][0] if class_index is None else int(class_index)
        if not 0 <= chosen < probs.shape[1]:
            raise ValueError(f"class_index must be in 0..{probs.shape[1] - 1}, got {class_index}")
        h, w = image.shape[:2]
        heat = F.interpolate(probs[:, chosen : chosen + 1], size=(h, w), mode="bilinear", align_corners=False)
        return ImageNetHeatmap(
            grid_shape=(int(probs.shape[2]), int(probs.shape[3])),
            top_classes=top,
            class_index=chosen,
            class_name=self.categories[chosen],
            heatmap=heat[0, 0].clamp_(0, 1).cpu().numpy(),
            probabilities=probs[0].cpu().numpy(),
        )


def build_imagenet_fcn(weights: str | Path | None = "imagenet", classifier: str = "efficientnet_lite0") -> nn.Sequential:
    """The classifier with its 1000-class output as a convolution (exact classifier, no padding).

    VGG16: fc6 a 7x7 convolution, fc7 and fc8 1x1. EfficientNet-Lite0: the global average
    pool a 7x7 average pool of stride 1, the FC a 1x1 convolution.
    """
    if classifier == "efficientnet_lite0":
        return _build_lite0(weights)
    if weights is None:
        return convolutionalize(torchvision.models.vgg16(weights=None), share_weights=True)
    with torch.device("meta"):
        vgg = torchvision.models.vgg16(weights=None)
    if isinstance(weights, str) and weights.lower() == "imagenet":
        state = fetch_state_dict(IMAGENET["vgg16"], label="ImageNet weights for vgg16")
        source = "ImageNet weights for vgg16"
    else:
        state, source = read_state_dict(Path(weights)), f"weights file {weights}"
    load_strict(vgg, state, source=source, assign=True)
    return convolutionalize(vgg, share_weights=True)


def _build_lite0(weights: str | Path | None) -> nn.Sequential:
    net = efficientnet_lite0()
    if weights is not None:
        if isinstance(weights, str) and weights.lower() == "imagenet":
            state, source = packaged_state_dict("efficientnet_lite0")
        else:
            state, source = read_state_dict(Path(weights)), f"weights file {weights}"
        load_strict(net, state, source=source)
    return as_fully_convolutional(net.eval())


def _to_input(image: np.ndarray, normalization: dict[str, list[float]] = IMAGENET_NORMALIZATION) -> Tensor:
    """HxWx3 uint8 -> 1x3xHxW normalised float, upscaled if a side is below :data:`MIN_SIDE`.

    Sides are then rounded to a multiple of 32 (a resize of at most 16 pixels), so each
    grid cell is one 32-pixel step of the image and EfficientNet's stride-2 padding is the
    one its weights were trained with.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an HxWx3 uint8 image, got {image.dtype} {image.shape}")
    x = torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1)[None].float().div_(255)
    mean = torch.tensor(normalization["mean"]).view(1, 3, 1, 1)
    std = torch.tensor(normalization["std"]).view(1, 3, 1, 1)
    x = (x - mean) / std
    h, w = x.shape[-2:]
    scale = max(1.0, MIN_SIDE / min(h, w))
    size = tuple(max(MIN_SIDE, 32 * round(side * scale / 32)) for side in (h, w))
    if size != (h, w):
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=scale < 1)
    return x
