"""Checkpoints: a trained model's weights plus what is needed to use it again.

A checkpoint is one ``torch.save``-d dict of tensors and plain data only (strings, numbers,
lists, dicts), so it loads with ``torch.load(weights_only=True)`` and opening a file from
someone else can never run code::

    {"format": "fcn-studio-checkpoint", "version": 1,
     "backbone": "vgg16", "variant": "fcn8s", "num_classes": 11,
     "labelset": {...LabelSet.to_json()...}, "normalization": {"mean": [...], "std": [...]},
     "summary": {...training summary...}, "created": "2025-...", "torch": "2.x",
     "state_dict": {...}}

Loading checks the marker, the version, the model description and that every tensor fits,
and raises :class:`CheckpointError` with the reason otherwise. Writes are atomic.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from fcn_studio.data.atomic import atomic_write
from fcn_studio.data.labelset import LabelSet
from fcn_studio.errors import CheckpointError, FcnStudioError
from fcn_studio.models.registry import BACKBONES, get_model_info
from fcn_studio.models.safe_load import safe_load
from fcn_studio.models.weights import load_strict

FORMAT = "fcn-studio-checkpoint"
VERSION = 1
#: Conventional file extension (any name loads).
SUFFIX = ".fcnckpt"

_REQUIRED: dict[str, type | tuple[type, ...]] = {
    "backbone": str,
    "variant": str,
    "num_classes": int,
    "labelset": dict,
    "normalization": dict,
    "summary": dict,
    "state_dict": dict,
}


@dataclass(frozen=True)
class CheckpointMeta:
    """Everything in a checkpoint except the weights.

    ``extra`` keeps top-level keys this version does not know (written by a newer
    fcn-studio with the same major format), so nothing is silently lost.
    """

    backbone: str
    variant: str
    num_classes: int
    labelset: LabelSet
    normalization: dict[str, list[float]]
    summary: dict[str, Any]
    version: int
    created: str = ""
    torch_version: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def save_checkpoint(
    path: str | Path,
    model: nn.Module,
    *,
    labelset: LabelSet,
    backbone: str,
    variant: str,
    normalization: Mapping[str, Any],
    summary: Mapping[str, Any],
) -> Path:
    """Write ``model``'s weights and metadata to ``path`` atomically; returns the path.

    ``summary`` (epochs, metrics, training time, ...) must be plain data; anything else is
    refused here with :class:`CheckpointError`, not discovered later by a failing load.
    """
    path = Path(path)
    num_classes = int(getattr(model, "num_classes", labelset.num_classes))
    if num_classes != labelset.num_classes:
        raise CheckpointError(
            f"cannot save {path}: the model predicts {num_classes} classes but label set "
            f"{labelset.name!r} has {labelset.num_classes} trainable classes"
        )
    norm = {str(k): [float(v) for v in vals] for k, vals in normalization.items()}
    meta: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "backbone": str(backbone),
        "variant": str(variant),
        "num_classes": num_classes,
        "labelset": _plain(labelset.to_json(), "labelset"),
        "normalization": norm,
        "summary": _plain(dict(summary), "summary"),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "torch": torch.__version__.split("+")[0],
    }
    state = {k: v.detach().to("cpu").clone() for k, v in model.state_dict().items()}
    meta["state_dict"] = state
    atomic_write(path, lambda fh: torch.save(meta, fh))
    return path


def read_checkpoint_meta(path: str | Path) -> CheckpointMeta:
    """The metadata of a checkpoint without building the model (tensors are memory-mapped)."""
    return _parse(Path(path), safe_load(path, what="checkpoint", mmap=True))[0]


def load_checkpoint(path: str | Path) -> tuple[nn.Module, CheckpointMeta]:
    """Rebuild the model saved in ``path`` (in eval mode, on the CPU) and its metadata.

    Raises :class:`CheckpointError` for a missing, foreign, unsafe, damaged or
    newer-format file and for weights that do not fit the described model.
    """
    from fcn_studio.models.builder import build_model

    path = Path(path)
    meta, state = _parse(path, safe_load(path, what="checkpoint"))
    try:
        model = build_model(meta.backbone, meta.variant, num_classes=meta.num_classes, weights=None)
    except ValueError as exc:
        raise CheckpointError(
            f"checkpoint {path} describes a model this version cannot build: {exc}"
        ) from None
    load_strict(model, state, source=f"checkpoint {path}")
    model.normalization = dict(meta.normalization)
    model.eval()
    return model, meta


def _parse(path: Path, obj: Any) -> tuple[CheckpointMeta, dict[str, Tensor]]:
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        hint = ""
        if isinstance(obj, dict) and obj and all(isinstance(v, Tensor) for v in obj.values()):
            hint = " It looks like a bare state dict: use it as backbone weights (weights=PATH) instead."
        raise CheckpointError(f"{path} is not an fcn-studio checkpoint (no format marker).{hint}")
    version = obj.get("version")
    if not isinstance(version, int) or version < 1:
        raise CheckpointError(f"checkpoint {path} has an invalid format version {version!r}")
    if version > VERSION:
        raise CheckpointError(
            f"checkpoint {path} has format version {version}, newer than this fcn-studio reads "
            f"({VERSION}); update fcn-studio to open it"
        )
    for key, kind in _REQUIRED.items():
        if not isinstance(obj.get(key), kind):
            raise CheckpointError(f"checkpoint {path} is incomplete: {key!r} is missing or malformed")
    if obj["backbone"] not in BACKBONES:
        raise CheckpointError(
            f"checkpoint {path} is for backbone {obj['backbone']!r}, which this version does not know"
        )
    try:
        info = get_model_info(obj["backbone"], obj["variant"])
        labelset = LabelSet.from_json(obj["labelset"], source=f"label set in {path}")
    except (ValueError, FcnStudioError) as exc:
        raise CheckpointError(f"checkpoint {path} is malformed: {exc}") from None
    if labelset.num_classes != obj["num_classes"]:
        raise CheckpointError(
            f"checkpoint {path} is inconsistent: {obj['num_classes']} outputs but its label set "
            f"has {labelset.num_classes} trainable classes"
        )
    norm = obj["normalization"]
    if set(norm) != {"mean", "std"} or any(len(norm[k]) != 3 for k in norm):
        raise CheckpointError(f"checkpoint {path} has malformed normalization {norm!r}")
    known = set(_REQUIRED) | {"format", "version", "created", "torch"}
    meta = CheckpointMeta(
        backbone=info.backbone,
        variant=info.variant,
        num_classes=int(obj["num_classes"]),
        labelset=labelset,
        normalization={k: [float(v) for v in norm[k]] for k in ("mean", "std")},
        summary=obj["summary"],
        version=version,
        created=str(obj.get("created", "")),
        torch_version=str(obj.get("torch", "")),
        extra={k: v for k, v in obj.items() if k not in known},
    )
    return meta, obj["state_dict"]


def _plain(value: Any, where: str) -> Any:
    """Check that ``value`` holds only what ``weights_only`` loading accepts; return it.

    Tuples become lists (JSON-like), numpy/torch scalars become Python numbers.
    """
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise CheckpointError(f"cannot save checkpoint: {where} has a non-string key {k!r}")
            out[k] = _plain(v, f"{where}.{k}")
        return out
    if isinstance(value, (list, tuple)):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if hasattr(value, "tolist"):  # numpy arrays and scalars, torch tensors
        return _plain(value.tolist(), where)
    raise CheckpointError(
        f"cannot save checkpoint: {where} is a {type(value).__name__}; only numbers, strings, "
        "booleans, None, lists and dicts can be stored"
    )
