"""Training set-ups the app offers, as :class:`TrainConfig` values (shared by GUI and benches).

The GUI's three buttons map to three presets: *Fine-tune* (a first model from the heads on
cached features within seconds, then full fine-tuning), *Update* (the heads only, then
stop) and *Live* (fine-tuning until stopped, in one-minute cosine cycles with warm
restarts, the model saved annealed at each cycle's end; from the project's model it continues
that model's schedule: no head-only phase again, no new warm-up). All of them leave one CPU core to the GUI and
refresh the live preview every few seconds.

The fast phase (heads on frozen, cached trunk features) needs a trunk that has learned
something: ImageNet weights, a weights file or the last checkpoint. A randomly initialised
trunk's features are noise, and freezing them first costs the whole run: on the demo
(``bench/demo_first_model.py``, 2-core CPU, 60 s) road IoU ended at 0.63 with the fast phase
and 0.80-0.87 without it over five seeds. So from random init every mode trains the whole
network from the first step, and *Update* becomes a short full run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fcn_studio.training.config import TrainConfig

MODES = ("fine-tune", "update", "live")
#: The panel's default length of a Fine-tune run: a time budget, so the user knows when it ends.
DEFAULT_MINUTES = 1.0
#: The trunk's learning rate relative to the heads' in the window's runs from learned weights
#: (ImageNet or the project's model). The window's runs are short (a minute by default), on
#: few painted images: a full-rate trunk drifts from its ImageNet features before the heads
#: have learned. Chosen again on the loop on the window's path (issue 32, ``bench/annotation_loop.py
#: --protocol tune-drive``, ``bench/results/annotation_loop_tune/``): with 11 classes 1.0 was behind
#: 0.1 at every round (val 0.245 against 0.271 on average), with road vs not road even. On
#: 10-minute runs of many images the two are even (0.376 vs 0.382, issue 25), so the command
#: line keeps 1.0.
INTERACTIVE_TRUNK_LR_MULT = 0.1
#: *Live* anneals in cosine cycles of this length, its model scored and saved at each cycle's end.
#: Chosen on the loop's tuning drive (issue 32, road): 0.5 min 0.910 mean val, 1 min 0.915, 2 min 0.872.
LIVE_CYCLE_MINUTES = 1.0
#: How long *Update* trains a randomly initialised network (it has no fast phase to run).
UPDATE_FROM_SCRATCH_MINUTES = 0.5


def learned_trunk(weights: str | Path | None, resume: str | Path | None) -> bool:
    """Whether the network starts from learned weights (so its trunk features are worth caching)."""
    return weights is not None or resume is not None


def interactive_config(
    mode: str,
    *,
    backbone: str,
    variant: str | None,
    weights: str | Path | None,
    epochs: int | None,
    minutes: float | None,
    out: str | Path,
    preview_image: str | None = None,
    resume: str | Path | None = None,
    **overrides: Any,
) -> TrainConfig:
    if mode not in MODES:
        raise ValueError(f"unknown training mode {mode!r}; use one of {', '.join(MODES)}")
    fast = learned_trunk(weights, resume)
    config = TrainConfig(
        backbone=backbone,
        variant=variant,
        weights=weights,
        resume=resume,
        epochs=epochs,
        minutes=minutes,
        fast_mode=fast,
        leave_core_for_gui=True,
        out=out,
        preview_image=preview_image,
        preview_every_s=3.0,
        trunk_lr_mult=INTERACTIVE_TRUNK_LR_MULT if fast else 1.0,
    )
    if mode == "update":
        if fast:
            config = config.replace(fast_only=True, epochs=None, minutes=None)
        else:
            config = config.replace(epochs=None, minutes=UPDATE_FROM_SCRATCH_MINUTES)
    elif mode == "live":
        # Live from the project's model goes on where that model's training left off.
        config = config.replace(epochs=None, minutes=None, continue_schedule=resume is not None,
                                cycle_minutes=LIVE_CYCLE_MINUTES)
    return config.replace(**overrides) if overrides else config
