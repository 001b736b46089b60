"""*Paint next*: open the image the model most wants painted, and say why.

The scores come from *Predict all* (``inference.paint_next``: mean uncertainty with painted
pixels counted as settled, written per image as ``paint_next`` in project.json). Scores made
by an older model than the project's current one mislead, so each batch records the model
file's signature as it was when the batch started (a batch during which the model was
reloaded records none), and when the model file changed since then, the button first scores every image (in the background, the image on
screen still predicted first) and then opens the winner. Images opened this way are not
offered again until the next scoring: the person is painting them.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer

from fcn_studio.data.checkpoint_files import file_signature
from fcn_studio.errors import FcnStudioError
from fcn_studio.inference.paint_next import pick_next

#: project.json key (``extra``) of the model file's signature when the scores were made.
SCORED_WITH = "paint_next_model"


class PaintNext(QObject):
    def __init__(self, window, session, parent: QObject | None = None) -> None:  # noqa: ANN001
        super().__init__(parent)
        self.window, self.session = window, session
        self._opened: set[str] = set()
        self._open_when_scored = False
        self._why: tuple[str, str] | None = None  # (image id, what the status line says once it is shown)
        session.panel.paint_next_requested.connect(self.open_next)
        window.editor.image_loaded.connect(self._say_why)
        session.predict_all_done.connect(self._scored)

    def forget(self) -> None:
        """Another project opens: nothing of this one's choices carries over."""
        self._opened.clear()
        self._open_when_scored = False

    # -- scores -----------------------------------------------------------------------------------
    def model_signature(self) -> list[int] | None:
        """The project model file's signature now (``file_signature``)."""
        return file_signature(self.session.checkpoint_path)

    def scores(self) -> dict[str, float]:
        return {e.id: float(e.extra["paint_next"]) for e in self.window.project.images
                if isinstance(e.extra.get("paint_next"), (int, float))}

    def scores_current(self) -> bool:
        sig = self.model_signature()
        return bool(self.scores()) and sig is not None and self.window.project.extra.get(SCORED_WITH) == sig

    # -- the button -------------------------------------------------------------------------------
    def open_next(self) -> str | None:
        """Open the highest-scoring image not opened since the last scoring; returns its id (None
        when scoring starts first, or nothing is left)."""
        if not self.session.has_model():
            self.window.show_error("No model yet", "Fine-tune first: Paint next needs a model's predictions to choose from.",
                                   warning=True)
            return None
        if not self.scores_current():
            if not self.session.batch_running:
                self._open_when_scored = True
                self.window.status.showMessage("Paint next: scoring every image with the current model first…", 8000)
                self.session.predict_all()
            return None
        scores = self.scores()
        pick = pick_next(scores, self._opened)
        if pick is None:
            self.window.status.showMessage(
                "Paint next: every scored image has been opened since the last scoring; Fine-tune, then Paint next "
                "scores them again", 10000)
            return None
        self._opened.add(pick)
        left = len(scores) - len(self._opened) + 1
        self._why = (pick, f"Paint next: {pick}, uncertainty {scores[pick]:.2f} over its unpainted pixels, the highest of "
                           f"{left} images not opened yet. The Uncertainty layer (C) shows where the model hesitates.")
        self.window.session.set_visible("uncertainty", True)
        self.window.image_list.select(pick)
        if self.window.editor.image_id == pick:  # already on screen: no load to wait for
            self._say_why(pick)
        return pick

    def _say_why(self, image_id: str) -> None:
        """Once the chosen image is shown (after the window's own line about it), say why it was chosen."""
        if self._why is None or self._why[0] != image_id:
            return
        text = self._why[1]
        self._why = None
        QTimer.singleShot(0, lambda: self.window.status.showMessage(text, 12000))

    def _scored(self, summary: dict) -> None:
        if summary.get("stopped") or not summary.get("predicted"):
            # cancelled, or no image could be scored (the status line says why): scoring again
            # at once would fail again, and again
            self._open_when_scored = False
            return
        # The model the scores were made with, taken when the batch started (None when the model
        # was reloaded during it: scores of two models are not current for either).
        self.window.project.extra[SCORED_WITH] = summary.get("model_signature")
        self._opened.clear()
        try:
            self.window.project.save()
        except (FcnStudioError, OSError) as exc:  # said, and kept in memory for the next save
            self.window.status.showMessage(f"Could not save the scores: {exc}", 8000)
        if self._open_when_scored:
            self._open_when_scored = False
            self.open_next()
