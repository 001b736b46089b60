"""Turn VGG16's fully connected classifier into convolutions (FCN paper, section 3.1).

A fully connected layer over a 7x7x512 window *is* a 7x7 convolution evaluated at one
position. Reshaping fc6's weight to ``4096x512x7x7`` (and fc7/fc8 to 1x1 kernels) gives a
network that computes exactly the classifier's logits on a 224x224 image and slides the
classifier over a larger one: a 384x384 image yields a 6x6 map of 1000-class scores. This is
the step that makes a classification network "fully convolutional" and lets it take inputs
of any size.
"""

from __future__ import annotations

import copy
from collections import OrderedDict

from torch import nn
from torchvision.models import VGG


def conv_from_linear(
    linear: nn.Linear, in_channels: int, kernel_size: int, padding: int = 0, *, share: bool = False
) -> nn.Conv2d:
    """A convolution computing ``linear`` over every ``kernel_size`` window of a C-channel map.

    The Linear input must be a ``C x k x k`` map flattened in (C, H, W) order, which is what
    ``torch.flatten(x, 1)`` produces, so the weight reshapes without any transposition.
    ``share=True`` makes the convolution a view of the Linear's storage (no copy: fc6 alone
    is 400 MB); otherwise the weights are copied.
    """
    expected = in_channels * kernel_size * kernel_size
    if linear.in_features != expected:
        raise ValueError(
            f"cannot fold a Linear with {linear.in_features} inputs into a {kernel_size}x{kernel_size} "
            f"convolution over {in_channels} channels (expected {expected} inputs)"
        )
    # Built on the meta device: the default random init of a 100M-weight layer costs a
    # second and is overwritten right away.
    conv = nn.Conv2d(
        in_channels,
        linear.out_features,
        kernel_size=kernel_size,
        padding=padding,
        bias=linear.bias is not None,
        device="meta",
    )
    weight = linear.weight.detach().reshape(linear.out_features, in_channels, kernel_size, kernel_size)
    conv.weight = nn.Parameter(weight if share else weight.clone())
    if linear.bias is not None:
        bias = linear.bias.detach()
        conv.bias = nn.Parameter(bias if share else bias.clone())
    return conv


def convolutionalize(vgg: VGG, *, share_weights: bool = False) -> nn.Sequential:
    """torchvision's VGG (features + classifier) with its classifier as convolutions.

    Returns ``Sequential(features=..., classifier=...)`` whose state-dict keys are
    torchvision's (``features.0.weight``, ``classifier.0.weight``, ...), with fc6 a 7x7
    convolution, fc7 and fc8 1x1 convolutions, and ReLU/Dropout at their original places.
    torchvision's ``AdaptiveAvgPool2d((7, 7))`` is dropped: it is the identity for a 224x224
    input but would squash larger inputs back to one classifier window.

    fc6 has no padding, so this is the exact classifier (224 -> 1x1, 384 -> 6x6); the FCN
    trunk pads pool5 by 3 before it so that fc7 keeps pool5's size (see ``VGGTrunk``).

    By default the input model is left alone (weights are copied). ``share_weights=True``
    reuses its modules and parameter storage instead, for builders that discard the
    classification model anyway and cannot afford a second copy of VGG16.
    """
    # The classifier's window is the adaptive pool's output grid (7x7 for every VGG).
    grid = getattr(getattr(vgg, "avgpool", None), "output_size", 7)
    grid = (grid, grid) if isinstance(grid, int) else tuple(grid)
    if grid[0] is None or grid[0] != grid[1]:
        raise ValueError(f"VGG pools to a {grid} grid; only a fixed square grid can be convolutionalized")
    kernel = int(grid[0])
    features = vgg.features if share_weights else copy.deepcopy(vgg.features)
    channels = [m.out_channels for m in features.modules() if isinstance(m, nn.Conv2d)][-1]

    layers: list[nn.Module] = []
    first_linear = True
    for layer in vgg.classifier:
        if isinstance(layer, nn.Linear):
            if first_linear:
                conv = conv_from_linear(layer, channels, kernel, share=share_weights)
                first_linear = False
            else:
                conv = conv_from_linear(layer, channels, 1, share=share_weights)
            channels = layer.out_features
            layers.append(conv)
        elif isinstance(layer, (nn.ReLU, nn.Dropout)):
            layers.append(layer if share_weights else copy.deepcopy(layer))
        else:
            raise ValueError(f"unexpected layer in VGG classifier: {layer!r}")
    if first_linear:
        raise ValueError("VGG classifier has no Linear layer to convolutionalize")
    return nn.Sequential(OrderedDict(features=features, classifier=nn.Sequential(*layers)))
