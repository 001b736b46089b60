"""Export a project's masks (painted, predicted, or both merged) in the formats other tools read."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Literal, Sequence

import numpy as np

from fcn_studio.data.labelset import UNPAINTED
from fcn_studio.data.project import Project
from fcn_studio.errors import FcnStudioError, ProjectError, one_line

Source = Literal["painted", "predicted", "merged"]
FORMATS = ("index", "color", "overlay", "coco")


@dataclass
class ExportSummary:
    written: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    cancelled: bool = False

    def to_json(self) -> dict:
        return {"written": len(self.written), "skipped": [{"image": i, "why": w} for i, w in self.skipped], "cancelled": self.cancelled}


def mask_for_export(project: Project, image_id: str, source: Source) -> np.ndarray | None:
    """The mask to export for one image, or None when that source has nothing for it."""
    from fcn_studio.data.masks import read_mask

    entry = project.entry(image_id)
    painted = project.load_mask(image_id) if project.has_mask(image_id) else None
    predicted = None
    pred_path = project.path_of(entry.prediction)
    if source != "painted" and pred_path.exists():
        predicted = read_mask(pred_path, project.labelset, expected_hw=(entry.height, entry.width))
    if source == "painted":
        return painted
    if source == "predicted":
        return predicted
    if painted is None:
        return predicted
    if predicted is None:
        return painted
    return np.where(painted != UNPAINTED, painted, predicted)


def export_masks(
    project: Project,
    out: str | Path,
    *,
    formats: Sequence[str] = ("index",),
    opacity: float = 0.5,
    source: Source = "painted",
    image_ids: Iterable[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> ExportSummary:
    """Write ``out/<format>/<image id>.png`` (and ``out/coco.json``) for the chosen images.

    ``progress(done, total)`` is called after each image; ``should_stop()`` is polled between
    images so a GUI can cancel. One bad image is reported in the summary, not raised.
    """
    from fcn_studio.data.coco import export_coco
    from fcn_studio.data.masks import write_color_png, write_indexed_png, write_overlay_png

    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise FcnStudioError(f"unknown export format(s) {unknown}; choose from {', '.join(FORMATS)}")
    out = Path(out)
    try:
        for f in formats:
            if f != "coco":
                (out / f).mkdir(parents=True, exist_ok=True)
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ProjectError(f"cannot create export folder {out}: {exc.strerror or exc}") from None
    ids = list(image_ids) if image_ids is not None else [e.id for e in project.images]
    summary = ExportSummary()
    coco_items = []
    for done, image_id in enumerate(ids, 1):
        if should_stop is not None and should_stop():
            summary.cancelled = True
            break
        entry = project.entry(image_id)
        try:
            mask = mask_for_export(project, image_id, source)
            if mask is None:
                summary.skipped.append((entry.file, f"no {source} mask"))
                continue
            if "index" in formats:
                write_indexed_png(out / "index" / f"{image_id}.png", mask, project.labelset)
            if "color" in formats:
                write_color_png(out / "color" / f"{image_id}.png", mask, project.labelset)
            if "overlay" in formats:
                write_overlay_png(out / "overlay" / f"{image_id}.png", project.load_image(image_id), mask, project.labelset, opacity)
            if "coco" in formats:
                coco_items.append((Path(entry.file).name, len(coco_items) + 1, mask))
            summary.written.append(image_id)
        except ProjectError:
            raise  # disk full / read-only: stop, the message says what to do
        except Exception as exc:  # noqa: BLE001 - one image's failure is one line in the summary; the rest go on
            summary.skipped.append((entry.file, one_line(exc)))
        finally:
            if progress is not None:
                progress(done, len(ids))
    if "coco" in formats and coco_items and not summary.cancelled:
        export_coco(out / "coco.json", coco_items, project.labelset)
    return summary


def export_project_masks(project_dir: str | Path, out: str | Path, **kwargs) -> dict:
    """CLI form of :func:`export_masks`: opens the project, returns a JSON-ready summary."""
    project = Project.open(project_dir)
    summary = export_masks(project, out, **kwargs)
    return summary.to_json() | {"out": str(out)}
