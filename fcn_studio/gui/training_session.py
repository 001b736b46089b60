"""Glue between the training panel, the trainer thread, the live layers and the editor.

The main window creates one :class:`TrainingSession`; it turns the panel's requests into
training runs, routes previews to the image on screen, keeps the latest model for
predictions when the user moves to another image, and runs "Predict all" in the background.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QFileDialog

from fcn_studio.data.checkpoint_files import CHECKPOINT_FILTER, PROJECT_CHECKPOINT, checkpoint_candidates, file_signature
from fcn_studio.data.display_size import DISPLAY_MAX_PIXELS
from fcn_studio.data.labelset import UNPAINTED
from fcn_studio.data.paint import label_component
from fcn_studio.errors import FcnStudioError
from fcn_studio.gui.background import Background
from fcn_studio.gui.prediction_layers import PredictionLayers, PreparedPrediction
from fcn_studio.gui.screen_first import ScreenFirst
from fcn_studio.gui.training_texts import FIRST_STEP, finished_text, uncertainty_text
from fcn_studio.gui.training_worker import TrainingController
from fcn_studio.inference.prediction_process import RemotePredictor
from fcn_studio.training.messages import EpochEnded, Failed, Notice, PreviewImage, RefineEdges, StepReported, dispatch





#: Milliseconds after the last change of a training choice before project.json is written.
CHOICES_SAVE_DELAY_MS = 800


class TrainingSession(QObject):
    prediction_shown = Signal(str)  # image id whose prediction is now on screen
    predict_all_done = Signal(object)  # summary dict

    def __init__(self, window, panel, layers: PredictionLayers, parent: QObject | None = None):
        super().__init__(parent)
        self.window = window
        self.panel = panel
        self.layers = layers
        self.controller = TrainingController(self)
        self.mode = ""
        self.predictions: dict[str, np.ndarray] = {}  # latest labels per image (uint8), for Accept
        self._remote = RemotePredictor()  # its process starts with the first model to load
        self._predictor: Any = None
        self._loading_predictor = False
        self._predictor_signature: list[int] | None = None
        self._predict = Background("fcn-predict", self)
        #: Predict all's queue: beside the on-screen predictions, which it lets go first
        self._batch = Background("fcn-predict-all", self)
        self._batch_running = False
        self._screen_first = ScreenFirst()
        self._stop_predict_all = False
        self._last_report_step: int | None = None

        panel.fine_tune_requested.connect(lambda: self.start("fine-tune"))
        panel.update_requested.connect(lambda: self.start("update"))
        panel.live_toggled.connect(lambda on: self.start("live") if on else self.controller.stop())
        panel.stop_requested.connect(self.stop)
        panel.accept_requested.connect(self.accept_prediction)
        panel.predict_all_requested.connect(self.predict_all)
        panel.sort_by_uncertainty.connect(self._sort_by_uncertainty)
        panel.load_checkpoint_requested.connect(self.load_checkpoint_dialog)
        panel.save_checkpoint_requested.connect(self.save_checkpoint_dialog)
        panel.imagenet_view_requested.connect(self.show_imagenet_view)
        #: what each message of the running training does here (other kinds are not shown)
        self._handlers = {
            StepReported: lambda m: panel.on_step(m.report),
            EpochEnded: lambda m: panel.on_epoch(m.report),
            PreparedPrediction: self._on_prediction,
            Notice: lambda m: window.status.showMessage(m.text, 8000),
            Failed: lambda m: self._on_error(m.message),
        }
        self.controller.message.connect(lambda m: dispatch(self._handlers, m))
        self.controller.finished.connect(self._on_finished)
        window.editor.image_loaded.connect(self._on_image_shown)
        self._generation = 0  # bumped when another project opens: late model loads are dropped
        # Choices are the project's as soon as they are made, not only when a run starts (a
        # Length set and the window closed was forgotten, issue 27 item 9); written a moment
        # after the last change, so a spin box held down writes once.
        self._save_choices = QTimer(self, singleShot=True, interval=CHOICES_SAVE_DELAY_MS)
        self._save_choices.timeout.connect(self._write_choices)
        window.session.choices_changed.connect(self._choices_changed)
        self.show_project()

    # -- projects -------------------------------------------------------------------------------
    def show_project(self) -> None:
        """The current project's training choices and model: reopening it trains on from there."""
        has_checkpoint = self.checkpoint_path.exists()
        self.panel.apply_settings(self.project.extra.get("training"), has_checkpoint=has_checkpoint)
        self._show_refine_state(self.refine_edges())
        if has_checkpoint:
            # until the model has loaded (seconds), not "Paint a few strokes…" (issue 34 item 7)
            self.panel.status.setText("Loading the project's model…")
            self._load_predictor(self.checkpoint_path, announce=True)
        else:
            self.panel.status.setText(FIRST_STEP)

    def leave_project(self) -> None:
        """Before another project opens: end the run (the controller stays usable for the next
        one) and forget the old project's model and predictions."""
        self._stop_predict_all = True
        self.controller.wait(close=False)
        self._generation += 1
        self._predictor = None
        self.window.session.set_checkpoint(None)
        self._loading_predictor = False
        self.predictions.clear()
        self.layers.clear()
        for w in (self.panel.accept, self.panel.predict_all, self.panel.save_ckpt, self.panel.paint_next):
            w.setEnabled(False)

    def _remember_choices(self) -> None:
        """Keep the panel's choices in project.json (saved with the project)."""
        self.project.extra["training"] = self.window.session.choices.to_json()

    def _choices_changed(self, _choices: object) -> None:
        if self.project.extra.get("training") != self.window.session.choices.to_json():
            self._remember_choices()
            self._save_choices.start()

    def _write_choices(self) -> None:
        try:
            self.project.save()
        except (FcnStudioError, OSError) as exc:  # said, and kept in memory for the next save
            self.window.status.showMessage(f"Could not save the training choices: {exc}", 8000)

    # -- paths ----------------------------------------------------------------------------------
    @property
    def project(self):
        return self.window.project

    @property
    def checkpoint_path(self) -> Path:
        """The project's model: the one project.json names, else the one the CLI or an older
        version wrote, else where the next training writes (``checkpoints/model.fcnckpt``)."""
        for rel in checkpoint_candidates(self.project.extra.get("checkpoint")):
            try:
                path = self.project.path_of(rel)
            except FcnStudioError:  # a recorded path that leaves the project is not followed
                continue
            if path.is_file():
                return path
        return self.project.path_of(PROJECT_CHECKPOINT)

    # -- training -------------------------------------------------------------------------------
    def build_config(self, mode: str, **overrides: Any):
        """The panel's choices as the TrainConfig the child trains with (``overrides``: tests and the
        self-test shrink the model and the run)."""
        from fcn_studio.training.choices import config_from_choices

        return config_from_choices(
            self.window.session.choices, mode, checkpoint=self.checkpoint_path, preview_image=self.window.editor.image_id,
            refine_edges=self.refine_edges(), **overrides,
        )

    def start(self, mode: str, **overrides: Any) -> bool:
        if self.controller.running:
            return False
        if not any(e.painted > 0 for e in self.project.images):
            self.window.show_error("Nothing to learn from yet", "Paint a few strokes of each class first, then train.", warning=True)
            self.panel.set_running(False)
            return False
        self.window.editor.flush()  # the trainer reads masks from disk
        try:
            config = self.build_config(mode, **overrides)
        except FcnStudioError as exc:
            self.window.show_error("Cannot start training", str(exc), warning=True)
            self.panel.set_running(False)
            return False
        self._show_refine_state(self.refine_edges())  # the automatic value follows what was painted
        self._remember_choices()
        self.checkpoint_path.parent.mkdir(exist_ok=True)
        self.mode = mode
        self.panel.reset_curves()
        self.panel.set_running(True, mode)
        return self.controller.start(config, self.project)

    def stop(self) -> None:
        self.controller.stop()
        self._stop_predict_all = True

    def _on_prediction(self, report) -> None:
        self.predictions = {report.image_id: report.labels}
        if report.image_id == self.window.editor.image_id:
            self.layers.show_prepared(report)
            self.panel.accept.setEnabled(True)
            self.prediction_shown.emit(report.image_id)

    def _on_error(self, message: str) -> None:
        if "ImageNet" in message or "weights" in message.lower():
            message += "\n\nChoose 'Random init' under 'Start from' to train without them."
        self.window.show_error("Training stopped", message)

    def _on_finished(self, summary: dict) -> None:
        self.panel.set_running(False)
        ckpt = summary.get("checkpoint")
        if ckpt and Path(ckpt).exists():
            # the next Fine-tune continues this model (reopened, the project says so too)
            self.panel.weights.setCurrentIndex(max(0, self.panel.weights.findData("checkpoint")))
            self._remember_choices()
            try:
                rel = Path(ckpt).resolve().relative_to(self.project.root.resolve()).as_posix()
                self.project.extra["checkpoint"] = rel
                self.project.save()
            except (ValueError, FcnStudioError):
                pass
            self._load_predictor(Path(ckpt))
        self.panel.on_finished(summary, finished_text(summary))

    # -- edge refinement ------------------------------------------------------------------------
    def refine_edges(self) -> bool:
        """Whether predictions follow image edges: the user's choice, else on for scribbles."""
        chosen = self.window.session.choices.snap_edges  # the project's, kept in project.json
        if chosen is not None:
            return chosen
        from fcn_studio.inference.refine import sparse_labels

        return sparse_labels([e.painted for e in self.project.images])

    def _show_refine_state(self, on: bool) -> None:
        box = getattr(self.window, "snap_edges", None)
        if box is not None and box.isChecked() != on:
            box.blockSignals(True)
            box.setChecked(on)
            box.blockSignals(False)

    def set_refine_edges(self, on: bool) -> None:
        """The user's choice: applies to the running training's next preview and re-predicts now."""
        session = self.window.session
        session.set_choices(session.choices.replace(snap_edges=bool(on)))  # saved with the project's choices
        self.controller.send(RefineEdges(bool(on)))
        if not self.controller.running and self._predictor is not None and self.window.editor.image_id:
            self._predict_current()

    # -- predictions outside training -----------------------------------------------------------
    def _load_predictor(self, path: Path, *, announce: bool = False) -> None:
        """Load the model at ``path`` for predictions; ``announce``: say which model it is (a
        project just opened; after a run the panel keeps the run's own summary)."""
        self._loading_predictor = True
        generation = self._generation
        # usable as soon as the file is there: Predict all and Paint next wait for the load, Save
        # copies the file (they stayed disabled 10-15 s after a run until the load, issue 34)
        self._enable_model_buttons()

        def load():
            # In the prediction process: the window's process never imports torch. Set here, on
            # the ordered prediction queue, so work queued after this load sees it.
            signature = file_signature(path)  # before loading: a write in between reads as stale
            predictor = self._remote.load(path)
            if generation == self._generation:  # not if another project opened meanwhile
                self._predictor, self._predictor_signature = predictor, signature
            return predictor

        def loaded(predictor) -> None:
            if generation != self._generation:
                return
            self._loading_predictor = False
            self.window.session.set_checkpoint(path)
            if announce and not self.controller.running and getattr(predictor, "description", ""):
                # a reopened trained project says what it has, not "Paint a few strokes…"
                self.panel.status.setText(f"Model: {predictor.description}. Fine-tune continues it.")
            self._enable_model_buttons()
            if self.window.editor.image_id and self.layers.image_id != self.window.editor.image_id:
                self._predict_current()

        def failed(exc: BaseException) -> None:
            if generation != self._generation:
                return
            self._loading_predictor = False
            self._enable_model_buttons()
            self.window.show_error("Cannot load the model", str(exc))

        self._predict.submit(load, loaded, failed)

    def _enable_model_buttons(self) -> None:
        """The buttons that need a model, as the model stands (loaded or loading, or none)."""
        usable = self.has_model()
        self.panel.predict_all.setEnabled(usable and not self._batch_running)
        self.panel.paint_next.setEnabled(usable)
        self.panel.save_ckpt.setEnabled(self.checkpoint_path.exists())

    def _on_image_shown(self, image_id: str) -> None:
        if self.layers.image_id != image_id:
            self.layers.clear()
            self.panel.accept.setEnabled(False)
        self.controller.send(PreviewImage(image_id))
        if not self.controller.running and self._predictor is not None:
            self._predict_current()

    def _predict_current(self) -> None:
        image_id, image = self.window.editor.image_id, self.window.editor.image
        if image_id is None or image is None or (self._predictor is None and not self._loading_predictor):
            return

        refine = self.refine_edges()

        def run():
            with self._screen_first:  # Predict all waits while this runs
                # probabilities at screen size: the full set of a 24 MP photo froze the window (issue 34)
                pred = self._predictor.predict(image, want_probs=True, refine_edges=refine, display_pixels=DISPLAY_MAX_PIXELS)
            return PreparedPrediction(image_id, pred.probs, pred.labels)

        def done(prepared) -> None:
            pid = prepared.image_id
            self.predictions[pid] = prepared.labels
            if pid == self.window.editor.image_id:
                self.layers.show_prepared(prepared)
                self.panel.accept.setEnabled(True)
                self.prediction_shown.emit(pid)

        self._screen_first.enter_queue()
        if not self._predict.submit(run, done, self._prediction_failed):
            self._screen_first.leave()  # the window is closing: nothing will run

    def _prediction_failed(self, exc: BaseException) -> None:
        from fcn_studio.errors import one_line

        self.window.status.showMessage(f"Prediction failed: {one_line(exc)}", 10000)

    def accept_region(self, x: int, y: int) -> bool:
        """Make the predicted segment under (x, y) (its 4-connected region of one class) the mask,
        as one undoable step; nothing else of the mask changes."""
        editor = self.window.editor
        labels = self.predictions.get(editor.image_id or "")
        if labels is None or editor.mask is None or labels.shape != editor.mask.shape:
            self.window.status.showMessage("No prediction for this image yet: Fine-tune or load a model first", 4000)
            return False
        region = label_component(labels, x, y)
        if region is None:
            return False
        name = self.project.labelset.by_id(int(labels[y, x])).name
        new = editor.mask.copy()
        new[region] = labels[region]
        done = editor.replace_mask(new, "Accept region")
        if done:
            self.window.status.showMessage(f"Accepted a region of {int(region.sum())} pixels as {name}", 4000)
        return done

    def accept_prediction(self, only_unpainted: bool = False) -> bool:
        editor = self.window.editor
        labels = self.predictions.get(editor.image_id or "")
        if labels is None or editor.mask is None or labels.shape != editor.mask.shape:
            self.window.status.showMessage("No prediction for this image yet", 4000)
            return False
        new = np.where(editor.mask == UNPAINTED, labels, editor.mask) if only_unpainted else labels.copy()
        return editor.replace_mask(new.astype(np.uint8), "Accept prediction")

    @property
    def remote(self) -> RemotePredictor:
        """The prediction process's client (click-to-segment asks it for masks too)."""
        return self._remote

    def has_model(self) -> bool:
        """Whether predictions can be made (a model is loaded or loading)."""
        return self._predictor is not None or self._loading_predictor

    @property
    def batch_running(self) -> bool:
        return self._batch_running

    def predict_all(self) -> None:
        """Predict every image off the UI thread; write predictions/<id>.png and an uncertainty score.

        The batch runs on its own queue, one image per call to the prediction process, and
        steps aside whenever the image on screen needs a prediction (:meth:`_predict_current`):
        the user reviews while 2000 images are predicted, instead of waiting behind all of
        them. The button stays disabled until the batch ends; a cancelled batch says how many
        images it did predict (their predictions are kept).
        """
        project = self.project
        if self._predictor is None and not self._loading_predictor:
            self.window.show_error("No model yet", "Fine-tune first, or load a model.", warning=True)
            return
        if self._batch_running:
            return
        from fcn_studio.inference.project_batch import predict_project, summary_line

        self._stop_predict_all = False
        self._batch_running = True
        self.panel.predict_all.setEnabled(False)
        self.window._start_progress("Predicting")
        entries = list(project.images)
        refine = self.refine_edges()
        generation = self._generation

        def stopped() -> bool:
            return self._stop_predict_all or self.window._stop_requested or generation != self._generation

        def run():
            while self._loading_predictor and not stopped():
                time.sleep(0.05)  # the model (a run's new one) is still loading
            predictor, signature = self._predictor, self._predictor_signature
            if predictor is None:
                return {"predicted": 0, "total": len(entries), "failed": [], "stopped": True}
            # an image that cannot be predicted is skipped and reported in the summary's line
            summary = predict_project(
                project, predictor, refine_edges=refine, entries=entries, should_stop=stopped,
                before_each=lambda: self._screen_first.wait_clear(stopped), progress=self.window.report_progress,
                predict_kwargs={"display_pixels": DISPLAY_MAX_PIXELS},  # the score needs no more
            )
            # the model the scores were made with; none when it was reloaded during the batch
            same_model = predictor is self._predictor and signature == self._predictor_signature
            return summary | {"model_signature": signature if same_model else None}

        def end() -> None:
            self._batch_running = False
            self.panel.predict_all.setEnabled(self._predictor is not None or self._loading_predictor)
            self.window._end_progress()

        def finished(summary) -> None:
            end()
            self.window.image_list.refresh()
            self.window.status.showMessage(summary_line(summary), 15000 if summary["failed"] else 8000)
            self.predict_all_done.emit(summary)

        def failed(exc: BaseException) -> None:  # not one image: the batch itself (saving the project)
            from fcn_studio.errors import one_line

            end()
            if isinstance(exc, FcnStudioError):  # ours, with what to do (a full disk): worth a dialog
                self.window.show_error("Predict all stopped", str(exc))
            else:
                self.window.status.showMessage(f"Predict all stopped: {one_line(exc)}", 15000)
            self.predict_all_done.emit({"predicted": 0, "total": len(entries), "failed": [], "stopped": True})

        self._batch.submit(run, finished, failed)

    def _sort_by_uncertainty(self, on: bool) -> None:
        key = (lambda e: -float(e.extra.get("uncertainty", -1.0))) if on else None
        self.window.image_list.set_score_text(uncertainty_text if on else None)
        self.window.image_list.set_sort_key(key)
        if on and not any("uncertainty" in e.extra for e in self.project.images):
            self.window.status.showMessage("No image has a score yet: press Predict all to score every image", 8000)

    # -- checkpoints ----------------------------------------------------------------------------
    def load_checkpoint(self, path: str | Path) -> None:
        target = self.checkpoint_path
        target.parent.mkdir(exist_ok=True)
        if Path(path).resolve() != target.resolve():
            shutil.copy2(path, target)
        self._load_predictor(target, announce=True)

    def load_checkpoint_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.window, "Load a model checkpoint", "", CHECKPOINT_FILTER)
        if path:
            self.load_checkpoint(path)

    def save_checkpoint_dialog(self) -> None:
        if not self.checkpoint_path.exists():
            return
        path, _ = QFileDialog.getSaveFileName(self.window, "Save the model", "model.fcnckpt", CHECKPOINT_FILTER)
        if path:
            shutil.copy2(self.checkpoint_path, path)

    def show_imagenet_view(self) -> None:
        from fcn_studio.gui.imagenet_view import ImageNetView

        editor = self.window.editor
        if editor.image is None:
            return
        # the classifier runs in the prediction process: this process never imports torch
        view = ImageNetView(editor.image, self._remote.imagenet_heatmaps, parent=self.window)
        view.open()

    def shutdown(self) -> None:
        self._stop_predict_all = True
        self.controller.wait()
        self._predict.shutdown()
        self._batch.shutdown()
        self._remote.close()

