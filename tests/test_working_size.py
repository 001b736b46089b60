"""Images of another size are seen at the scale the model trained at (issue 27 item 2).

A 6000x4000 photo predicted at the checkpoint's input scale of *its own* size was seen at 12.5x
the scale of the 480x360 training frames. The checkpoint now records the training images'
working size and every image is brought to about that size, in training and prediction.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torch import nn

from fcn_studio.data.labelset import LabelSet
from fcn_studio.data.working_size import scale_for, working_pixels
from fcn_studio.inference.predictor import Predictor
from fcn_studio.training.dataset import build_datasets
from fcn_studio.training.samples import FolderSource

ROAD = LabelSet.from_json({"name": "road", "classes": [
    {"id": 0, "name": "background", "color": [0, 0, 0]}, {"id": 1, "name": "road", "color": [128, 64, 128]}]})


class SizeSpy(nn.Module):
    """Records the input size it is given; scores road where red is high (at any scale)."""

    num_classes = 2
    output_stride = 8
    normalization = {"mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0]}

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[int, int]] = []
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append((int(x.shape[-2]), int(x.shape[-1])))
        red = x[:, :1] - 0.5
        return torch.cat([-red, red], 1) * 20


def _scene(h: int, w: int) -> np.ndarray:
    rgb = np.zeros((h, w, 3), np.uint8)
    rgb[h // 2 :, :, 0] = 220  # a red lower half: "road"
    rgb[: h // 4, : w // 3] = (40, 200, 40)
    return rgb


def test_scale_for_keeps_the_input_scale_for_the_training_size_and_follows_other_sizes() -> None:
    pixels = working_pixels([(360, 480)] * 5 + [(720, 960)], 0.5)
    assert pixels == 180 * 240
    assert scale_for((360, 480), 0.5, pixels) == 0.5
    assert abs(scale_for((1440, 1920), 0.5, pixels) - 0.125) < 1e-9
    assert abs(scale_for((4000, 6000), 0.5, pixels) - 0.5 * np.sqrt(360 * 480 / (4000 * 6000))) < 1e-9
    assert scale_for((1440, 1920), 0.5, None) == 0.5  # an older checkpoint: as before


def test_a_4x_upscaled_copy_is_seen_at_the_size_of_the_original_and_labelled_alike() -> None:
    small = _scene(60, 80)
    big = np.asarray(Image.fromarray(small).resize((320, 240), Image.NEAREST))
    spy = SizeSpy()
    predictor = Predictor(spy, ROAD, scale=1.0, device="cpu", working_pixels=60 * 80)
    want = predictor.predict(small, want_probs=False).labels
    got = predictor.predict(big, want_probs=False).labels
    assert spy.seen[0] == (60, 80)
    assert abs(spy.seen[1][0] - 60) <= 1 and abs(spy.seen[1][1] - 80) <= 1  # not 240x320
    back = np.asarray(Image.fromarray(got).resize((80, 60), Image.NEAREST))
    assert (back == want).mean() > 0.97
    assert got.shape == (240, 320)
    # without a recorded size (older checkpoints), the image is seen at the input scale of its own size
    Predictor(spy, ROAD, scale=1.0, device="cpu").predict(big, want_probs=False)
    assert spy.seen[-1] == (240, 320)


def test_training_brings_images_of_other_sizes_to_the_same_working_size(tmp_path) -> None:  # noqa: ANN001
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir()
    masks.mkdir()
    for name, (h, w) in {"a": (60, 80), "b": (60, 80), "c": (240, 320)}.items():
        Image.fromarray(_scene(h, w)).save(images / f"{name}.png")
        mask = (_scene(h, w)[..., 0] > 100).astype(np.uint8)
        Image.fromarray(mask).save(masks / f"{name}.png")
    source = FolderSource(images, masks, ROAD)
    train, val, _, _ = build_datasets(source, source, scale=0.5, crop_size=(32, 32), scale_range=(1.0, 1.0),
                                      hflip=False, color_jitter=0.0, seed=0, val_fraction=0.0, min_length=0)
    assert train.working_pixels == val.working_pixels == 30 * 40
    sizes = sorted(tuple(val[i][0].shape[-2:]) for i in range(len(val.samples)))
    assert sizes == [(30, 40)] * 3  # the 240x320 image at 0.125, the others at 0.5
