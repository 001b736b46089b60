"""The window's side of the annotation-loop bench, without a window: what fcn-studio does while
a person paints, on the path the window takes.

* the project is a real project folder (``Project``; masks saved by ``Project.save_mask`` as the
  window's autosave saves them, ``project.json`` written by the project itself);
* training is *Live* in the window's training process (``LiveRun`` over ``TrainingProcess``,
  the config made by ``config_from_choices(choices, "live")`` from the panel's default choices),
  running all the time the person acts: what they save joins the next epoch;
* the prediction on screen comes from the project's model, reloaded whenever the trainer
  writes it (as the window's prediction process does), snapped to image edges when the
  window would snap (``sparse_labels``); the trainer previews the image on screen;
* *Paint next* scores every image with the current model when the model changed since its
  last scores (signature taken when the scoring starts), then opens the highest score not
  opened since; the region brush's colour regions are cut when an image opens.

All of that work runs in this process, on the core the bench is pinned to, beside the trainer
(niced, as the window runs it): it is charged to the person's time, as it would be on their
machine.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np

from fcn_studio.data.checkpoint_files import PROJECT_CHECKPOINT, file_signature
from fcn_studio.data.labelset import UNPAINTED, LabelSet
from fcn_studio.data.project import Project
from fcn_studio.data.regions import image_regions
from fcn_studio.inference.paint_next import pick_next, score_from_probs
from fcn_studio.inference.refine import sparse_labels
from fcn_studio.training.choices import TrainingChoices, config_from_choices
from fcn_studio.training.live_run import LiveRun
from fcn_studio.training.process import TrainingProcess


class HeadlessWindow:
    """The window's behaviour the loop needs, on a project folder at ``root``."""

    def __init__(self, root: Path, image_files: list[Path], labelset: LabelSet, *, overrides: dict | None = None) -> None:
        self.project = Project.create(root, labelset)
        added = self.project.add_images(image_files, mode="link")
        if len(added.added) != len(image_files):
            raise SystemExit(f"the project took {len(added.added)} of {len(image_files)} images: {added.refused}")
        self.ids = [e.id for e in self.project.images]
        self.overrides = overrides or {}
        self.process = TrainingProcess().spawn()  # the window starts it ahead (prewarm)
        self.run: LiveRun | None = None
        self.live_starts = 0
        self.predictor = None
        self._loaded: list[int] | None = None  # signature of the model file loaded
        self._images: dict[str, np.ndarray] = {}
        self._regions: dict[str, np.ndarray] = {}
        self.scores: dict[str, float] = {}
        self.scored_with: list[int] | None = None
        self.opened_since_scoring: set[str] = set()
        self.work_s = {"predict": 0.0, "paint_next": 0.0, "regions": 0.0, "load_model": 0.0, "sam_embed": 0.0,
                       "sam_click": 0.0}
        self._segmenter = None

    # -- files ----------------------------------------------------------------------------------
    @property
    def checkpoint(self) -> Path:
        return self.project.path_of(PROJECT_CHECKPOINT)

    def image(self, image_id: str) -> np.ndarray:
        if image_id not in self._images:
            self._images[image_id] = self.project.load_image(image_id)
        return self._images[image_id]

    def mask(self, image_id: str) -> np.ndarray:
        return self.project.load_mask(image_id)

    def save(self, image_id: str, mask: np.ndarray) -> None:
        self.project.save_mask(image_id, mask)

    def painted_images(self) -> int:
        return sum(1 for e in self.project.images if e.painted > 0)

    # -- training -------------------------------------------------------------------------------
    def live(self) -> None:
        """Press *Live*: from the project's model if there is one, else from ImageNet (the panel's default)."""
        choices = TrainingChoices(weights="checkpoint" if self.checkpoint.exists() else "imagenet")
        config = config_from_choices(choices, "live", checkpoint=self.checkpoint, refine_edges=self.snap(),
                                     **self.overrides)
        process, self.process = self.process, None
        self.run = LiveRun(config, self.project.root, process=process)
        self.live_starts += 1

    def wait_for_model(self, timeout_s: float = 600.0) -> None:
        """The first model (Live's head phase writes one within seconds of its start)."""
        if not self.run.wait_for(lambda s: bool(s.checkpoints) or s.failure is not None, timeout_s):
            raise SystemExit("no model was written in time")
        if self.run.state.failure:
            raise SystemExit(f"training failed: {self.run.state.failure}")

    def show(self, image_id: str) -> None:
        if self.run is not None:
            self.run.show(image_id)

    def stop(self) -> dict:
        summary = self.run.stop() if self.run is not None else {}
        if self.process is not None:
            self.process.close()
        return summary

    # -- predictions ------------------------------------------------------------------------------
    def snap(self) -> bool:
        """*Snap segmentation to image edges* as the window sets it automatically (sparse masks)."""
        return sparse_labels([e.painted for e in self.project.images])

    def _current_model(self):  # noqa: ANN202
        """The project's model, reloaded when training wrote a new one (as the window does)."""
        from fcn_studio.inference.predictor import Predictor

        sig = file_signature(self.checkpoint)
        if sig is not None and sig != self._loaded:
            t = time.perf_counter()
            self.predictor = Predictor.from_checkpoint(self.checkpoint, device="cpu")
            self._loaded = sig
            self.work_s["load_model"] += time.perf_counter() - t
        return self.predictor

    def predict(self, image_id: str, *, probs: bool = False):  # noqa: ANN201
        """The prediction the window shows for ``image_id`` (labels, or the full Prediction)."""
        t = time.perf_counter()
        pred = self._current_model().predict(self.image(image_id), want_probs=probs, refine_edges=self.snap())
        self.work_s["predict"] += time.perf_counter() - t
        return pred if probs else pred.labels

    def regions(self, image_id: str) -> np.ndarray:
        """The region brush's colour regions, cut when the image opens with the tool active."""
        if image_id not in self._regions:
            t = time.perf_counter()
            self._regions[image_id] = image_regions(self.image(image_id))
            self.work_s["regions"] += time.perf_counter() - t
        return self._regions[image_id]

    # -- click to segment ---------------------------------------------------------------------------
    def embed(self, image_id: str):  # noqa: ANN201
        """The image's MobileSAM embedding, computed when it opens with the tool active (cached)."""
        from fcn_studio.inference.click_segment import ClickSegmenter

        t = time.perf_counter()
        if self._segmenter is None:
            self._segmenter = ClickSegmenter()
        emb = self._segmenter.embed(self.image(image_id), key=image_id)
        self.work_s["sam_embed"] += time.perf_counter() - t
        return emb

    def click(self, image_id: str, points: list, labels: list, guide: np.ndarray | None, previous=None):  # noqa: ANN001, ANN201
        """The tool's mask for these clicks, chosen with the on-screen prediction as the window does
        (``gui/click_segment.py``: the model decides among SAM's masks when there is a prediction)."""
        emb = self.embed(image_id)
        t = time.perf_counter()
        seg = self._segmenter.segment(emb, points, labels, guide=guide, previous=previous,
                                      choose="model" if guide is not None else "score")
        self.work_s["sam_click"] += time.perf_counter() - t
        return seg

    # -- Paint next ---------------------------------------------------------------------------------
    def paint_next(self) -> str | None:
        """Press *Paint next*: rescore every image when the model changed since the scores, then
        open the highest score not opened since the scoring."""
        self._current_model()
        if self.scored_with is None or self.scored_with != self._loaded:
            t = time.perf_counter()
            signature = self._loaded  # taken when the scoring starts
            model = self.predictor
            for image_id in self.ids:  # charged to paint_next only (not to predict as well)
                m = self.mask(image_id)
                pred = model.predict(self.image(image_id), want_probs=True, refine_edges=self.snap())
                self.scores[image_id] = score_from_probs(pred.probs.astype(np.float32), m != UNPAINTED)
            self.scored_with = signature
            self.opened_since_scoring.clear()
            self.work_s["paint_next"] += time.perf_counter() - t
        pick = pick_next(self.scores, self.opened_since_scoring)
        if pick is not None:
            self.opened_since_scoring.add(pick)
        return pick

    # -- round snapshots ----------------------------------------------------------------------------------
    def snapshot(self, folder: Path, name: str) -> Path | None:
        """Copy the project's model as it is now (what the window would predict and export with)."""
        if not self.checkpoint.exists():
            return None
        folder.mkdir(parents=True, exist_ok=True)
        out = folder / f"{name}.fcnckpt"
        shutil.copy2(self.checkpoint, out)
        return out
