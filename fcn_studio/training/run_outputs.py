"""What a run leaves, the trainer's third job: its checkpoints (best, resume, on cancel) and its
summary, as JSON, for the checkpoints and the CLI.

A mixin over :class:`~fcn_studio.training.trainer.Trainer`'s state; the writing itself is
:mod:`fcn_studio.training.checkpointing`'s. The summary goes into every checkpoint (the window
and ``fcn-studio info`` read it) and is what :func:`~fcn_studio.training.trainer.train` returns.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from fcn_studio.training.metrics import Scores


class RunOutputs:
    """The checkpoint and summary methods of :class:`~fcn_studio.training.trainer.Trainer` (see the module)."""

    @property
    def _out(self) -> Path | None:
        return None if self.config.out is None else Path(self.config.out)

    def _out_exists(self) -> bool:
        return self._out is not None and self._out.is_file()

    def _save_best(self, scores: Scores | None) -> None:
        """Offer a new best to the writer (rank 0), which writes it now or at the next flush."""
        self.state.wrote_checkpoint = True
        if self.dist.is_main:
            self.writer.offer(self._deployed(), self._summary(scores))

    def _written(self, path: Path, summary: dict[str, Any]) -> None:
        self.callbacks.on_checkpoint(path, {k: summary.get(k) for k in ("step", "epoch", "miou", "pixel_acc")})

    def _save_resume(self, *, force: bool = False) -> None:
        st = self.state
        counters = {"step": st.step, "epoch": st.epoch, "best_miou": st.best, "images_seen": st.images_seen}
        self.writer.save_resume(self.model, getattr(self, "optimizer", None), counters, force=force)

    def _on_cancel(self) -> None:
        """Leave a loadable checkpoint: the best so far, or the current weights if none was written."""
        if self._out is None:
            return
        if not self.state.wrote_checkpoint:
            self._save_best(None)
        self.writer.flush()
        self._save_resume(force=True)

    def _summary(self, scores: Scores | None = None) -> dict[str, Any]:
        st = self.state
        scores = scores if scores is not None else st.best_scores
        elapsed = time.perf_counter() - self.t0
        out: dict[str, Any] = {
            "trunk": getattr(self, "trunk", None),
            "started_from": getattr(self, "started_from", None),
            "step": st.step,
            "epoch": st.epoch,
            "stopped": st.stopped,
            "input_scale": self.scale,
            # the training images' working size: other sizes are predicted at this one's scale
            "working_pixels": self.train_ds.working_pixels,
            "train_loss": finite(st.last_loss),
            "seconds": round(elapsed, 3),
            "images_seen": st.images_seen,
            "images_per_s": round(st.rate, 4),
            "device": str(self.device),
            "world_size": self.dist.world_size,
            "batch_size": self.batch_size,
            "crop_size": list(self.crop_size),
            "metrics_on": self.val_on,
            "best_miou": None if st.best < 0 else round(st.best, 6),
            "val_images": len(self.val_ds.samples) if self.val_ds is not None else 0,
            "train_images": len(self.train_ds.samples),
            "grow_radius": self.train_ds.grow_radius,
            "grow_regions": self.train_ds.grow_regions,
            "loss": {"kind": self.loss_kind,
                     "class_weights": None if self.class_weights is None else [round(float(w), 4) for w in self.class_weights]},
            "config": self.config.to_json(),
            "selection": self._selection(),
        }
        if self.teacher is not None:
            out["unlabelled"] = {
                "painted_images": len(self.train_ds.samples), "unpainted_images": self.unlabelled.unpainted_images(),
                "pool_images": len(self.unlabelled), "pseudo_label_pixels": int(self.pseudo_pixels),
                "teacher_student_agreement": None if math.isnan(self.agreement.value) else round(self.agreement.value, 4),
                "agreement_pixels": int(self.agreement.pixels), "skipped": dict(self.unlabelled.skipped),
            }
        if scores is not None:
            names = [c.name for c in self.labelset.trainable_classes]
            out.update(scores.to_json(names))
        else:
            out.update(miou=None, pixel_acc=None, per_class_iou=None, validated=False)
        return out

    def _selection(self) -> dict[str, Any]:
        """What chose the saved weights, and on how many pixels (the run summary reports it)."""
        keep = getattr(self, "keep", "best")
        if keep == "last":
            what = "the teacher's moving average of the weights" if self.teacher is not None else "the weights"
            basis = f"{what} at the end of the run (no painted image held out, so none is scored to choose by)"
            pixels = int(self.agreement.pixels) if self.teacher is not None else 0
            return {"kept": "last", "ema": self.teacher is not None, "basis": basis, "pixels": pixels,
                    "pixels_are": "unpainted pixels on which teacher and student agreement was measured" if pixels else None}
        scores = self.state.best_scores
        return {"kept": "best", "ema": self.teacher is not None,
                "basis": f"best mIoU on the {self.val_on} images" + (f" ({len(self.val_ds.samples)})" if getattr(self, "val_ds", None) is not None else ""),
                "pixels": None if scores is None else int(scores.pixels), "pixels_are": "painted pixels scored"}


def finite(v: float) -> float | None:
    """``v`` as a float, or None when it is NaN or infinite (JSON has neither)."""
    return None if v is None or not math.isfinite(v) else float(v)
