"""The live prediction of the image on screen, the trainer's fifth job (a mixin over
:class:`~fcn_studio.training.trainer.Trainer`'s state).

Every ``preview_every_s`` (and at each scored epoch) the model in training predicts the image
the window shows, snapped to its edges when the window snaps, and sends the class probabilities
at screen size (a 24 MP photo's full set held the window 0.7 s, issue 34) and the full-size
labels. A preview that fails is one notice: the run is the user's minutes, the preview one image.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from fcn_studio.data.display_size import shrink_probs
from fcn_studio.errors import FcnStudioError, one_line
from fcn_studio.inference.refine import edge_refine, model_radius
from fcn_studio.training.callbacks import PredictionReport
from fcn_studio.training.evaluation import preview


class LivePreview:
    """The preview method of :class:`~fcn_studio.training.trainer.Trainer` (see the module)."""

    def _preview(self) -> None:
        self._last_preview = time.perf_counter()
        image_id = self._preview_id
        finder = getattr(self.source, "find_image", None)
        if image_id is None or finder is None or not self.dist.is_main:
            return
        path = finder(image_id)
        if path is None:
            return
        from fcn_studio.data.imageio import read_image

        try:
            image = read_image(path)
        except FcnStudioError as exc:
            self._notice(f"cannot show a live prediction of {image_id}: {exc}")
            return
        model = self._deployed()
        pixels = self.train_ds.working_pixels
        try:
            probs, labels = preview(model, image, normalizer=self.eval_normalizer, scale=self.scale, amp=self.amp, pixels=pixels)
            if self.config.refine_edges:
                radius = model_radius(model, self.train_ds.scale_of(image.shape[:2]))
                labels, _, probs = edge_refine(image, probs, radius=radius, want_probs=True)
            # the window draws them at screen size: a 24 MP photo's full set held it 0.7 s (issue 34);
            # float16 like the unrefined preview (rounded by torch: numpy's subnormal path is slow)
            probs = torch.from_numpy(np.ascontiguousarray(shrink_probs(probs))).to(torch.float16).numpy()
        except Exception as exc:  # noqa: BLE001 - one image's preview: said in one line, the run goes on
            self._notice(f"cannot show a live prediction of {image_id}: {one_line(exc)}")
            return
        self.callbacks.on_prediction(PredictionReport(image_id=image_id, step=self.state.step, probs=probs, labels=labels))
