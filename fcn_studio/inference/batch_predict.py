"""Predict a folder of images into another folder: every good image written, no name written twice.

Why a module of its own: a folder from the field holds a bad file now and then (a truncated
PNG, a text file named ``.png``, a decompression-bomb header). One such file must not end the
run, and the report must say which ones failed. And two images that share a stem
(``plain.png`` and ``plain.jpg``) must not end up in one output file.

So :func:`plan_outputs` names every output before anything is written: ``<stem>.png`` (or
``.npz`` for ``probs``), and ``<file name>.png`` (``plain.jpg.png``) for stems that several
images share; a name that would still be written twice, or an existing file (without
``overwrite``), is refused up front. :func:`predict_folder` then predicts each image, reports a
file that cannot be read or predicted through ``on_failure`` (one line,
:func:`fcn_studio.errors.one_line`) and carries on, whatever the error.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fcn_studio.data.imageio import IMAGE_SUFFIXES, read_image
from fcn_studio.errors import FcnStudioError, one_line

FORMATS = ("index", "color", "overlay", "probs")


class OutputClashError(FcnStudioError):
    """Outputs would overwrite each other or files already there (nothing was written)."""


def list_images(folder: Path) -> list[Path]:
    """Image files directly in ``folder`` (hidden files left out), sorted; refuses an empty folder."""
    from fcn_studio.data.mask_import import list_image_files

    files = list_image_files(folder)
    if not files:
        raise OutputClashError(f"{folder} holds no image files ({', '.join(IMAGE_SUFFIXES)}); nothing to predict")
    return files


def plan_outputs(files: Sequence[Path], out: Path, fmt: str, *, overwrite: bool = False) -> dict[Path, Path]:
    """``{image: output path}`` with no two outputs alike (compared case-insensitively).

    Raises :class:`OutputClashError` before anything is written when ``out`` is a file, when
    names still clash, or (without ``overwrite``) when some outputs exist already.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; use {', '.join(FORMATS)}")
    if out.exists() and not out.is_dir():
        raise OutputClashError(f"--out {out} is a file; give a folder (it is created if missing)")
    ext = ".npz" if fmt == "probs" else ".png"
    stems = Counter(p.stem.casefold() for p in files)
    plan = {p: out / ((p.stem if stems[p.stem.casefold()] == 1 else p.name) + ext) for p in files}
    seen: dict[str, Path] = {}
    for image, target in plan.items():
        other = seen.setdefault(target.name.casefold(), image)
        if other is not image:
            raise OutputClashError(f"{other.name} and {image.name} would both be written to {target.name}; rename one of them")
    if not overwrite:
        existing = [t for t in plan.values() if t.exists()]
        if existing:
            listed = ", ".join(t.name for t in existing[:3]) + (f" and {len(existing) - 3} more" if len(existing) > 3 else "")
            raise OutputClashError(f"{out} already holds {listed}; choose an empty folder or pass --overwrite")
    return plan


def predict_folder(
    predictor: Any,
    images: str | Path,
    out: str | Path,
    *,
    fmt: str = "index",
    opacity: float | None = None,
    overwrite: bool = False,
    progress: Callable[[int, int], None] | None = None,
    on_failure: Callable[[Path, str], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> dict[str, Any]:
    """Predict every image in ``images`` into ``out`` with a :class:`~fcn_studio.inference.predictor.Predictor`.

    ``fmt``: ``index`` (indexed PNG of class ids), ``color`` (class colours), ``overlay`` (the
    image with colours blended as the window shows them, :func:`fcn_studio.data.overlay.blend`)
    or ``probs`` (``.npz`` with float16 ``probs`` KxHxW, ``labels`` and ``confidence``).
    Returns a summary: images, written, failed (``[{"file", "reason"}]``), out, format.
    """
    from fcn_studio.data.masks import write_color_png, write_indexed_png
    from fcn_studio.data.overlay import PREDICTION_OPACITY, blend
    from fcn_studio.data.atomic import atomic_write

    images, out = Path(images), Path(out)
    files = list_images(images)
    plan = plan_outputs(files, out, fmt, overwrite=overwrite)
    alpha = PREDICTION_OPACITY if opacity is None else float(opacity)
    out.mkdir(parents=True, exist_ok=True)
    labelset = predictor.labelset
    written: list[str] = []
    failed: list[dict[str, str]] = []
    for i, path in enumerate(files):
        if should_stop is not None and should_stop():
            break
        target = plan[path]
        try:
            image = read_image(path)
            pred = predictor.predict(image, want_probs=fmt == "probs")
        except Exception as exc:  # noqa: BLE001 - one image's failure is reported; the run goes on
            reason = one_line(exc)
            failed.append({"file": path.name, "reason": reason})
            if on_failure is not None:
                on_failure(path, reason)
        else:
            if fmt == "index":
                write_indexed_png(target, pred.labels, labelset)
            elif fmt == "color":
                write_color_png(target, pred.labels, labelset)
            elif fmt == "overlay":
                from PIL import Image

                rgb = Image.fromarray(blend(image, pred.labels, labelset, alpha))
                atomic_write(target, lambda fh: rgb.save(fh, format="PNG"))
            else:
                probs, labels, conf = pred.probs, pred.labels, pred.confidence.astype(np.float16)
                atomic_write(target, lambda fh: np.savez_compressed(fh, probs=probs, labels=labels, confidence=conf))
            written.append(target.name)
        if progress is not None:
            progress(i + 1, len(files))
    return {"images": len(files), "written": len(written), "failed": failed, "out": str(out), "format": fmt}
