"""Training set-ups the app offers, as :class:`TrainConfig` values (shared by GUI and benches).

The GUI's three buttons map to three presets: *Fine-tune* (a first model from the heads on
cached features within seconds, then full fine-tuning), *Update* (the heads only, then
stop) and *Live* (fine-tuning until stopped). All of them leave one CPU core to the GUI and
refresh the live preview every few seconds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fcn_studio.training.config import TrainConfig

MODES = ("fine-tune", "update", "live")


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
    config = TrainConfig(
        backbone=backbone,
        variant=variant,
        weights=weights,
        resume=resume,
        epochs=epochs,
        minutes=minutes,
        fast_mode=True,
        leave_core_for_gui=True,
        out=out,
        preview_image=preview_image,
        preview_every_s=3.0,
    )
    if mode == "update":
        config = config.replace(fast_only=True, epochs=None, minutes=None)
    elif mode == "live":
        config = config.replace(epochs=None, minutes=None)
    return config.replace(**overrides) if overrides else config
