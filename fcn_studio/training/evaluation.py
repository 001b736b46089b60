"""Scoring a model during training (validation) and the live preview of one image.

Both run the predictor's own inference path (:func:`~fcn_studio.inference.predictor.model_logits`:
working resolution, tiles when large, logits upsampled to the mask's size), so the numbers the
trainer reports are the numbers ``fcn-studio evaluate`` gives for the saved checkpoint.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import nn

from fcn_studio.training.dataset import SegmentationDataset
from fcn_studio.models.device import Normalizer
from fcn_studio.training.distributed import DistContext
from fcn_studio.training.fast_mode import Stopped
from fcn_studio.training.metrics import ConfusionMatrix, Scores
from fcn_studio.data.working_size import scale_for
from fcn_studio.inference.predictor import model_logits


def validate(
    model: nn.Module,
    dataset: SegmentationDataset,
    *,
    normalizer: Normalizer,
    scale: float,
    amp: bool,
    dist: DistContext,
    limit: int | None = None,
    should_stop: Callable[[], bool] | None = None,
    pixels: int | None = None,
) -> Scores:
    """Confusion-matrix scores of ``model`` on the dataset's whole images (split over ranks).

    Raises :class:`Stopped` when ``should_stop`` turns true (single process only: under DDP
    every rank must reach the final all-reduce). The model's train/eval mode is restored.
    """
    was_training = model.training
    model.eval()
    try:
        cm = ConfusionMatrix(dataset.labelset.num_classes)
        indices = list(range(len(dataset.samples)))[:limit]
        for i in indices[dist.rank :: dist.world_size]:
            if not dist.enabled and should_stop is not None and should_stop():
                raise Stopped
            image, target = dataset.load(i)
            logits = model_logits(model, image, normalizer, scale=scale_for(image.shape[:2], scale, pixels), amp=amp)
            cm.update(torch.from_numpy(target).to(logits.device), logits.argmax(1)[0])
        cm.reduce_(dist.all_reduce_)
        return cm.compute()
    finally:
        model.train(was_training)


def preview(
    model: nn.Module, image: np.ndarray, *, normalizer: Normalizer, scale: float, amp: bool, pixels: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities K x H x W float16, labels H x W uint8) of one image, as CPU numpy arrays.

    ``pixels``: the training images' working size (data.working_size), None for ``scale`` as is."""
    was_training = model.training
    model.eval()
    try:
        probs = torch.softmax(model_logits(model, image, normalizer, scale=scale_for(image.shape[:2], scale, pixels), amp=amp), 1)[0]
        return probs.to(torch.float16).cpu().numpy(), probs.argmax(0).to(torch.uint8).cpu().numpy()
    finally:
        model.train(was_training)
