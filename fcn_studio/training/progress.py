"""A tqdm progress bar on stderr for command-line training (stdout stays for the JSON line)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from tqdm import tqdm

from fcn_studio.training.callbacks import EpochReport, StepReport, TrainCallbacks


class TqdmCallbacks(TrainCallbacks):
    """Steps as a bar with loss, lr, images/s and the last mIoU; notices printed above it."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.bar: tqdm | None = None
        self._miou: float | None = None

    def __enter__(self) -> "TqdmCallbacks":
        self.bar = tqdm(disable=not self.enabled, unit="step", file=sys.stderr, dynamic_ncols=True, desc="train")
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.bar is not None:
            self.bar.close()

    def on_step(self, report: StepReport) -> None:
        if self.bar is None:
            return
        self.bar.update(1)
        post = {"loss": f"{report.loss:.3f}", "lr": f"{report.lr:.1e}", "img/s": f"{report.images_per_s:.1f}"}
        if report.eta_s is not None:
            post["eta"] = f"{report.eta_s / 60:.1f}m"
        if self._miou is not None:
            post["mIoU"] = f"{self._miou:.3f}"
        self.bar.set_postfix(post, refresh=False)
        self.bar.set_description(f"train {report.phase} ep{report.epoch}", refresh=False)

    def on_epoch_end(self, report: EpochReport) -> None:
        self._miou = report.miou

    def on_notice(self, message: str) -> None:
        if self.enabled:
            (self.bar.write if self.bar is not None else print)(f"note: {message}", file=sys.stderr)

    def on_checkpoint(self, path: Path, metrics: dict) -> None:
        pass
