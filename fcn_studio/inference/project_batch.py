"""*Predict all* on a project: every image predicted, written and scored; one bad image is skipped.

Why a module of its own, apart from the window: the batch is what makes *Paint next* and
*Sort by uncertainty* work, and on a real project it meets what a test project never does
(a 12 MP phone photo, 19 classes, an image file moved away). Here it is Qt-free, so tests run
it on real sizes and label sets with a model in-process, and the window only drives it from a
background thread. Like ``fcn-studio predict`` (:mod:`.batch_predict`), a failure on one image
is reported (one line, :func:`fcn_studio.errors.one_line`) and the batch goes on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from fcn_studio.data.labelset import UNPAINTED
from fcn_studio.errors import FcnStudioError, one_line
from fcn_studio.inference.paint_next import paint_next_score
from fcn_studio.inference.prediction_types import entropy


def painted_on_disk(project: Any, entry: Any) -> np.ndarray | None:
    """Where the saved mask of ``entry`` is painted (bool HxW), None when nothing is saved or it
    cannot be read. Read directly: safe off the UI thread (the project's own mask cache is not touched)."""
    from fcn_studio.data.masks import read_mask

    try:
        path = project.path_of(entry.mask)
        if not path.exists():
            return None
        return read_mask(path, project.labelset, expected_hw=(entry.height, entry.width)) != UNPAINTED
    except (FcnStudioError, OSError, ValueError):
        return None


def predict_entry(project: Any, entry: Any, predictor: Any, *, refine_edges: bool | None = None,
                  predict_kwargs: dict[str, Any] | None = None) -> None:
    """Predict one project image: ``predictions/<id>.png``, and its uncertainty and Paint next scores
    in ``entry`` (``predicted``, ``extra["uncertainty"]``, ``extra["paint_next"]``); raises on failure."""
    from fcn_studio.data.masks import write_indexed_png

    pred = predictor.predict(project.load_image(entry.id), want_probs=True, refine_edges=refine_edges, **(predict_kwargs or {}))
    out = project.path_of(entry.prediction)
    out.parent.mkdir(exist_ok=True)
    write_indexed_png(out, pred.labels, project.labelset)
    uncertainty = entropy(pred.probs, normalized=True)
    entry.predicted = True
    entry.extra["uncertainty"] = round(float(uncertainty.mean()), 5)
    painted = painted_on_disk(project, entry)  # Paint next's score: painted pixels count as settled
    entry.extra["paint_next"] = round(paint_next_score(uncertainty, painted), 5)


def predict_project(
    project: Any,
    predictor: Any,
    *,
    refine_edges: bool | None = None,
    entries: Sequence[Any] | None = None,
    should_stop: Callable[[], bool] | None = None,
    before_each: Callable[[], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
    on_failure: Callable[[str, str], None] | None = None,
    predict_kwargs: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Predict ``entries`` (default: every image) with :func:`predict_entry`; save the project if any was.

    ``before_each()`` runs before each image (the window lets the image on screen go first),
    ``should_stop()`` is polled between images, ``progress(done, total)`` counts images tried,
    ``on_failure(image id, one-line reason)`` reports an image that could not be predicted;
    ``predict_kwargs`` go to ``predictor.predict`` (the window asks its prediction process for
    screen-sized probabilities: the scores need no more).
    Returns ``{"predicted", "total", "failed": [{"image", "reason"}], "stopped"}``.
    """
    entries = list(project.images if entries is None else entries)
    predicted, tried = 0, 0
    failed: list[dict[str, str]] = []
    for entry in entries:
        if before_each is not None:
            before_each()
        if should_stop is not None and should_stop():
            break
        try:
            predict_entry(project, entry, predictor, refine_edges=refine_edges, predict_kwargs=predict_kwargs)
        except Exception as exc:  # noqa: BLE001 - one image's failure is reported; the batch goes on
            reason = one_line(exc)
            failed.append({"image": entry.id, "reason": reason})
            if on_failure is not None:
                on_failure(entry.id, reason)
        else:
            predicted += 1
        tried += 1
        if progress is not None:
            progress(tried, len(entries))
    if predicted:
        project.save()
    return {"predicted": predicted, "total": len(entries), "failed": failed, "stopped": tried < len(entries)}


def summary_line(summary: dict[str, Any]) -> str:
    """The status line after a batch: how many were predicted, and the first failure in one line."""
    done, total, failed = summary["predicted"], summary["total"], summary.get("failed", [])
    if summary.get("stopped"):
        text = f"Predict all stopped: {done} of {total} images predicted (their predictions are kept)"
    elif failed:
        text = f"Predicted {done} of {total} images"
    else:
        text = f"Predicted all {total} images"
    if failed:
        first = failed[0]
        more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
        text += f"; could not predict {first['image']}{more}: {first['reason']}"
    return text
