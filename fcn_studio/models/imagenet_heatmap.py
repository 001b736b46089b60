"""ImageNet heatmaps: where in an image the convolutionalized VGG16 sees each of 1000 classes.

The demonstration behind the FCN paper: the same classifier, slid over a larger image,
gives a coarse grid of class scores (one per 32-pixel step, each seeing a 224-pixel
window). A softmax at each grid position turns the scores into probabilities; the
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

from fcn_studio.models.fc_to_conv import convolutionalize
from fcn_studio.models.registry import IMAGENET_NORMALIZATION
from fcn_studio.models.weights import IMAGENET, fetch_state_dict, load_strict, read_state_dict

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
    """Holds one convolutionalized VGG16 and computes heatmaps for images.

    ``weights``: ``"imagenet"`` (torchvision's file, cached or downloaded, raising
    :class:`WeightsUnavailableError` when offline), a path to a torchvision VGG16 state dict,
    or ``None`` for random weights (meaningless maps; for tests and demos of the mechanics).
    """

    def __init__(
        self,
        weights: str | Path | None = "imagenet",
        *,
        device: str | torch.device = "cpu",
        net: nn.Module | None = None,
    ) -> None:
        """``net`` (a :func:`convolutionalize`-d VGG16) is used as is when given."""
        self.net = (net if net is not None else build_imagenet_fcn(weights)).to(device).eval()
        self.device = torch.device(device)
        self.categories = imagenet_categories()

    @torch.no_grad()
    def scores(self, image: np.ndarray) -> Tensor:
        """1 x 1000 x gh x gw class probabilities (softmax over classes at each position)."""
        x = _to_input(image).to(self.device)
        return F.softmax(self.net(x).float(), dim=1)

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


def build_imagenet_fcn(weights: str | Path | None = "imagenet") -> nn.Sequential:
    """Convolutionalized VGG16 with its 1000-class fc8 (exact classifier, no padding)."""
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


def _to_input(image: np.ndarray) -> Tensor:
    """HxWx3 uint8 -> 1x3xHxW normalised float, upscaled if a side is below :data:`MIN_SIDE`."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an HxWx3 uint8 image, got {image.dtype} {image.shape}")
    x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float().div_(255)
    mean = torch.tensor(IMAGENET_NORMALIZATION["mean"]).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_NORMALIZATION["std"]).view(1, 3, 1, 1)
    x = (x - mean) / std
    h, w = x.shape[-2:]
    if min(h, w) < MIN_SIDE:
        scale = MIN_SIDE / min(h, w)
        size = (max(MIN_SIDE, round(h * scale)), max(MIN_SIDE, round(w * scale)))
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
    return x
