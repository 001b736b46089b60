"""What the window shows and what the user chose, in one Qt-free model with psygnal events.

Before this model, the same state lived in several widgets: mask visibility in the canvas, the
layers panel and the *Show mask* action (each told the other two); a prediction layer's opacity
in the prediction layers and in the panel's slider. Now :class:`SessionModel` holds it once.
Widgets follow its events and write through its setters, napari's way (a layer's setter emits
``layer.events.<name>``, the Qt control connects to it and writes back through the setter);
a setter that does not change the value emits nothing, so a widget that writes and follows
cannot loop.

Qt-free (psygnal, like :class:`~fcn_studio.data.project.Project`), so it is tested without a
window. It sits above the floors it names (data, training) and below ``gui/``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from psygnal import Signal

from fcn_studio.data.overlay import MASK_OPACITY, PREDICTION_OPACITY
from fcn_studio.training.choices import TrainingChoices

#: The canvas layers, bottom to top of the overlays, and how they start.
MASK = "mask"
PREDICTION_LAYERS = ("prediction", "heatmap", "uncertainty")


@dataclass(frozen=True)
class LayerState:
    """One layer's display: shown or not, and its opacity (0..1)."""

    visible: bool
    opacity: float


DEFAULT_LAYERS: dict[str, LayerState] = {
    MASK: LayerState(True, MASK_OPACITY),
    "prediction": LayerState(True, PREDICTION_OPACITY),
    "heatmap": LayerState(False, 0.6),
    "uncertainty": LayerState(False, 0.6),
}


class SessionModel:
    """The window's state: the open project, its model checkpoint, layer display, training choices.

    Events (psygnal): ``project_changed(project)``, ``checkpoint_changed(path or None)``,
    ``layer_changed(name, LayerState)``, ``choices_changed(TrainingChoices)``.
    """

    project_changed = Signal(object)
    checkpoint_changed = Signal(object)
    layer_changed = Signal(str, object)
    choices_changed = Signal(object)

    def __init__(self, project: Any = None) -> None:
        self._project = project
        self._checkpoint: Path | None = None
        self._layers: dict[str, LayerState] = dict(DEFAULT_LAYERS)
        self._choices = TrainingChoices()

    # -- project and model ------------------------------------------------------------------
    @property
    def project(self) -> Any:
        return self._project

    def set_project(self, project: Any) -> None:
        """Another project is open; its model is unknown until :meth:`set_checkpoint`."""
        if project is self._project:
            return
        self._project = project
        self.project_changed.emit(project)
        self.set_checkpoint(None)

    @property
    def checkpoint(self) -> Path | None:
        """The model predictions come from (None: no model loaded)."""
        return self._checkpoint

    def set_checkpoint(self, path: str | Path | None) -> None:
        path = None if path is None else Path(path)
        if path != self._checkpoint:
            self._checkpoint = path
            self.checkpoint_changed.emit(path)

    # -- layers -----------------------------------------------------------------------------
    @property
    def layer_names(self) -> tuple[str, ...]:
        return tuple(self._layers)

    def layer(self, name: str) -> LayerState:
        return self._layers[name]

    def visible(self, name: str) -> bool:
        return self._layers[name].visible

    def opacity(self, name: str) -> float:
        return self._layers[name].opacity

    def set_visible(self, name: str, visible: bool) -> None:
        self._set_layer(name, replace(self._layers[name], visible=bool(visible)))

    def toggle(self, name: str) -> None:
        self.set_visible(name, not self.visible(name))

    def set_opacity(self, name: str, opacity: float) -> None:
        self._set_layer(name, replace(self._layers[name], opacity=min(1.0, max(0.0, float(opacity)))))

    def _set_layer(self, name: str, state: LayerState) -> None:
        if state != self._layers[name]:
            self._layers[name] = state
            self.layer_changed.emit(name, state)

    # -- training choices -------------------------------------------------------------------
    @property
    def choices(self) -> TrainingChoices:
        return self._choices

    def set_choices(self, choices: TrainingChoices) -> None:
        if choices != self._choices:
            self._choices = choices
            self.choices_changed.emit(choices)
