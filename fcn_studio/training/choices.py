"""The Training panel's choices as one value, and the one function that turns them into a config.

The way from the *Fine-tune* button to the trainer used to change shape six times (widget
values, a dict, a settings dict with string sentinels, keyword arguments, a config and its
``.replace()`` calls). Now the panel fills a :class:`TrainingChoices`, the project keeps its
:meth:`~TrainingChoices.to_json`, and :func:`config_from_choices` makes the
:class:`TrainConfig` the child process trains with. The defaults are read from
:class:`TrainConfig` (as the CLI reads them), the "no weights" word from
:data:`fcn_studio.models.registry.NO_WEIGHTS`.

No torch and no Qt here: the panel imports this before torch is loaded, and the tests check
the translation without a window.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from fcn_studio.errors import TrainingError
from fcn_studio.models.registry import NO_WEIGHTS, weights_from_name
from fcn_studio.training.config import UNLABELLED, TrainConfig
from fcn_studio.training.presets import DEFAULT_MINUTES, interactive_config

#: *Start from* choices: torchvision's ImageNet trunk, the project's own model, random init.
IMAGENET = "imagenet"
CHECKPOINT = "checkpoint"
START_FROM = (IMAGENET, CHECKPOINT, NO_WEIGHTS)
#: How the run's length is given.
LENGTHS = ("minutes", "epochs")
#: The panel's epoch count when the length is given in epochs.
DEFAULT_EPOCHS = 8


def default_start(imagenet_cached: bool) -> str:
    """ImageNet when its file is on disk (no surprise download), else a random start."""
    return IMAGENET if imagenet_cached else NO_WEIGHTS


@dataclass(frozen=True)
class TrainingChoices:
    """What the user chose in the Training panel, as plain values (frozen: changes are new values).

    ``weights`` is one of :data:`START_FROM`; ``length`` says which of ``minutes`` and
    ``epochs`` bounds the run (both are kept, so switching back shows the old number).
    ``snap_edges`` is the *Snap segmentation to image edges* box: True or False once the user
    set it, None for automatic (on when the masks are scribbles); a reopened project keeps it.
    """

    backbone: str = TrainConfig.backbone
    variant: str | None = TrainConfig.variant
    length: str = "minutes"
    minutes: float = DEFAULT_MINUTES
    epochs: int = DEFAULT_EPOCHS
    weights: str = IMAGENET
    unlabelled: str = TrainConfig.unlabelled
    snap_edges: bool | None = None

    def replace(self, **changes: Any) -> "TrainingChoices":
        return replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        """JSON values for ``project.json`` (``extra["training"]``), so a reopened project trains on."""
        return asdict(self)

    @classmethod
    def from_json(
        cls, saved: Any, *, has_checkpoint: bool, imagenet_cached: bool, base: "TrainingChoices | None" = None
    ) -> "TrainingChoices":
        """Choices saved by :meth:`to_json` (or an older version); missing or broken values keep
        ``base``'s (the panel passes what it shows, so a project without saved choices changes
        nothing but *Start from*), else the defaults.

        With a checkpoint on disk *Start from* is the checkpoint, whatever the last run began
        from: the model the user trained is what the next Fine-tune should continue. Without
        one, a saved "checkpoint" (its file deleted) falls back to :func:`default_start`.
        Backbone and variant are only type-checked here; the panel keeps its current one
        when a saved name is not in its list.
        """
        saved = saved if isinstance(saved, dict) else {}
        out = (base or cls()).replace(weights=default_start(imagenet_cached))
        changes: dict[str, Any] = {}
        if isinstance(saved.get("backbone"), str):
            changes["backbone"] = saved["backbone"]
        if isinstance(saved.get("variant"), str):
            changes["variant"] = saved["variant"]
        if saved.get("length") in LENGTHS:
            changes["length"] = saved["length"]
        for key, kind in (("minutes", float), ("epochs", int)):
            value = saved.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
                changes[key] = kind(value)
        if saved.get("unlabelled") in UNLABELLED:
            changes["unlabelled"] = saved["unlabelled"]
        # the project's own choice or automatic: never the previous project's
        changes["snap_edges"] = saved["snap_edges"] if isinstance(saved.get("snap_edges"), bool) else None
        if has_checkpoint:
            changes["weights"] = CHECKPOINT
        elif saved.get("weights") in (IMAGENET, NO_WEIGHTS):
            changes["weights"] = saved["weights"]
        return out.replace(**changes)


def config_from_choices(
    choices: TrainingChoices,
    mode: str,
    *,
    checkpoint: Path,
    preview_image: str | None = None,
    refine_edges: bool = False,
    **overrides: Any,
) -> TrainConfig:
    """The :class:`TrainConfig` for ``mode`` (*fine-tune*, *update*, *live*) from the panel's choices.

    ``checkpoint`` is the project's model: the run writes it, and *Start from: Last
    checkpoint* resumes from it (a :class:`TrainingError` the user can act on when it does not
    exist yet). ``overrides`` are TrainConfig fields (tests and the self-test shrink the model
    and the run with them).
    """
    if choices.weights not in START_FROM:
        raise TrainingError(f"unknown start {choices.weights!r}; choose one of {', '.join(START_FROM)}")
    weights: str | None = None
    resume: Path | None = None
    if choices.weights == CHECKPOINT:
        if not Path(checkpoint).exists():
            raise TrainingError("There is no checkpoint yet: choose ImageNet or Random init for the first run.")
        resume = Path(checkpoint)
    else:
        weights = weights_from_name(choices.weights)
    by_epochs = choices.length == "epochs"
    settings: dict[str, Any] = dict(
        backbone=choices.backbone,
        variant=choices.variant,
        weights=weights,
        epochs=choices.epochs if by_epochs else None,
        minutes=None if by_epochs else choices.minutes,
        out=checkpoint,
        preview_image=preview_image,
        resume=resume,
        refine_edges=refine_edges,
        unlabelled=choices.unlabelled,
    )
    settings.update(overrides)
    return interactive_config(mode, **settings)
