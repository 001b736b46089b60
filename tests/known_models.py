"""Models whose predictions are known by construction, for tests about what a model predicts.

A model trained for a few steps inside a fixture predicts whatever that machine's arithmetic
and that day's package versions make of those steps: on one machine both classes, on the
next all background. Tests that need a model with a known answer (two images predicted
differently, both colours in an overlay, one region right and one wrong) take one from here
instead: a real fcn-studio architecture, saved as a real checkpoint, whose weights are set by
hand so that the answer can be worked out with a pencil.

:func:`red_threshold_checkpoint` is a ResNet-18 FCN-4s that labels a pixel class 1 where its
red channel is above :data:`RED_THRESHOLD` and class 0 elsewhere:

* ``conv1`` copies the red channel (normalised) into feature channel 0 (its 7x7 centre tap),
  ``bn1`` (identity statistics) shifts it so that ``GAIN`` times it equals ``BIAS`` halfway
  between reds 90 and 91, and the ReLU keeps what is above that shift's zero (reds 79 and
  up); the max-pool widens a red region by at most one pixel;
* every residual block of ``layer1`` adds zero (its last batch norm has weight and bias 0),
  so the stride-4 features are that thresholded red channel;
* the stride-4 score layer gives class 1 ``GAIN`` times that feature and class 0 a constant
  ``BIAS``, so class 1 wins exactly from red 91 up (by 0.17 in score at red 91 and 90; the
  other classes of a larger label set score 0 and never win); the coarser score layers stay
  zero, so they add nothing.

The bilinear x4 upsampling blurs the decision over a few pixels at a boundary, and the input
is zero-padded (the ImageNet mean colour, red above the threshold) to a multiple of 32, so the
answer is exact only away from class boundaries and from the bottom and right borders:
:func:`expected_labels` says which pixels those are.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage

from fcn_studio.data.labelset import LabelSet
from fcn_studio.models.builder import build_model
from fcn_studio.models.checkpoint import save_checkpoint

#: Red values (0-255) above this are class 1 (exactly: 91 is, 90 is not; tests/test_known_models.py).
RED_THRESHOLD = 90
#: Score of class 1 per unit of thresholded red (normalised), and class 0's constant score.
GAIN, BIAS = 20.0, 4.0
#: Pixels this far from a class boundary or the bottom/right border get exactly the rule's answer.
MARGIN = 6


def red_threshold_model(num_classes: int = 2) -> torch.nn.Module:
    """A ResNet-18 FCN-4s (eval mode) whose labels are ``red > RED_THRESHOLD`` (see module doc)."""
    model = build_model("resnet18", "fcn4s", num_classes=num_classes, weights=None)
    mean, std = model.normalization["mean"][0], model.normalization["std"][0]
    trunk, head = model.trunk, model.head
    with torch.no_grad():
        trunk.conv1.weight.zero_()
        trunk.conv1.weight[0, 0, 3, 3] = 1.0  # red, normalised: (r / 255 - mean) / std
        trunk.bn1.running_mean.zero_()
        trunk.bn1.running_var.fill_(1.0)
        trunk.bn1.weight.fill_(1.0)
        trunk.bn1.bias.zero_()
        # class 1's score GAIN * (feature) equals class 0's BIAS halfway between the threshold and
        # the next red: every red above the threshold wins, the threshold itself does not
        at_half = ((RED_THRESHOLD + 0.5) / 255 - mean) / std
        bn_scale = 1.0 / math.sqrt(1.0 + trunk.bn1.eps)  # batch norm divides by sqrt(var + eps)
        trunk.bn1.bias[0] = BIAS / GAIN - at_half * bn_scale
        for block in trunk.layer1:
            block.bn2.weight.zero_()
            block.bn2.bias.zero_()  # the residual branch adds nothing: layer1 is the identity
        for score in head.score.values():
            score.weight.zero_()
            score.bias.zero_()
        s4 = head.score["layer1"]
        s4.weight[1, 0] = GAIN
        s4.bias[0] = BIAS
    return model.eval()


def red_threshold_checkpoint(path: Path, labelset: LabelSet, **summary: object) -> Path:
    """:func:`red_threshold_model` saved as a checkpoint of ``labelset`` (classes 2 and up never win),
    input scale 1 unless ``summary`` says otherwise (``input_scale``, ``working_pixels``)."""
    if labelset.num_classes < 2:
        raise ValueError("the red-threshold model needs two classes at least")
    model = red_threshold_model(labelset.num_classes)
    return save_checkpoint(path, model, labelset=labelset, backbone="resnet18", variant="fcn4s",
                           normalization=model.normalization,
                           summary={"input_scale": 1.0, "made_by": "tests/known_models.py (weights set by hand)"} | summary)


def expected_labels(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rule's labels of an HxWx3 image, and the pixels where the model must give exactly them."""
    labels = (rgb[..., 0].astype(np.int32) > RED_THRESHOLD).astype(np.uint8)
    # away from every class boundary (pixels with a neighbour of the other class) ...
    boundary = ndimage.grey_dilation(labels, size=3) != ndimage.grey_erosion(labels, size=3)
    sure = ~ndimage.binary_dilation(boundary, iterations=MARGIN)
    # ... and from the bottom and right borders, where the zero padding (red above the threshold) is near
    sure[-MARGIN:, :] = False
    sure[:, -MARGIN:] = False
    return labels, sure
