"""Export a trained model for use outside fcn-studio: TorchScript and ONNX.

Both exports are traced at one input size (``input_hw``, e.g. the training crop): the
padding to a multiple of 32 and the final crop are recorded as constants for that size, so
feed the exported model images of exactly that height and width (the batch size may vary).
The model description (backbone, classes, input normalisation) travels inside the file:
as ``fcn_studio.json`` extra file in TorchScript, as metadata properties in ONNX.
"""

from __future__ import annotations

import io
import json
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from fcn_studio.data.atomic import atomic_write, atomic_write_bytes
from fcn_studio.errors import FcnStudioError

#: Name of the JSON description stored inside a TorchScript file.
TORCHSCRIPT_META = "fcn_studio.json"


class ExportError(FcnStudioError):
    """An export could not be produced (missing optional package, unsupported model)."""


def describe(model: nn.Module, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What a consumer of the exported file needs to know to feed it and read its output."""
    info: dict[str, Any] = {
        "backbone": getattr(model, "backbone", type(model).__name__),
        "variant": getattr(model, "variant", ""),
        "num_classes": getattr(model, "num_classes", None),
        "normalization": getattr(model, "normalization", None),
        "input": "float32 N x 3 x H x W, RGB in 0..1, then (x - mean) / std",
        "output": "float32 N x num_classes x H x W logits",
    }
    info.update(extra or {})
    return info


def _example(model: nn.Module, input_hw: Sequence[int], batch: int = 1) -> torch.Tensor:
    param = next(model.parameters())
    return torch.zeros(batch, 3, int(input_hw[0]), int(input_hw[1]), dtype=param.dtype, device=param.device)


def export_torchscript(
    model: nn.Module,
    path: str | Path,
    *,
    input_hw: Sequence[int] = (360, 480),
    metadata: Mapping[str, Any] | None = None,
) -> Path:
    """Trace ``model`` (in eval mode) at ``input_hw`` and save it with ``torch.jit.save``.

    Load it anywhere with ``torch.jit.load(path)``, no fcn-studio needed.
    """
    path = Path(path)
    was_training = model.training
    model.eval()
    extra = {TORCHSCRIPT_META: json.dumps(describe(model, {"input_hw": list(input_hw), **(metadata or {})}))}
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # Shape arithmetic becomes constants for this input size: that is the contract.
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            # Recent torch versions mark torch.jit deprecated; TorchScript files still load in
            # C++ (libtorch) and every torch version, which is why this export exists.
            warnings.simplefilter("ignore", FutureWarning)
            traced = torch.jit.trace(model, _example(model, input_hw), check_trace=False)
            atomic_write(path, lambda fh: torch.jit.save(traced, fh, _extra_files=extra))
    finally:
        model.train(was_training)
    return path


def export_onnx(
    model: nn.Module,
    path: str | Path,
    *,
    input_hw: Sequence[int] = (360, 480),
    opset: int = 17,
    metadata: Mapping[str, Any] | None = None,
) -> Path:
    """Export ``model`` to ONNX (input ``image``, output ``logits``, dynamic batch size).

    Needs the ``onnx`` package (checks the graph and stores the metadata); raises
    :class:`ExportError` saying so when it is missing. Uses the TorchScript-based exporter
    (``dynamo=False``), which needs no further packages.
    """
    try:
        import onnx
    except ImportError:
        raise ExportError("ONNX export needs the 'onnx' package: pip install onnx") from None
    path = Path(path)
    was_training = model.training
    model.eval()
    buffer = io.BytesIO()
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model,
                (_example(model, input_hw),),
                buffer,
                dynamo=False,
                input_names=["image"],
                output_names=["logits"],
                opset_version=opset,
                dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}},
            )
    except Exception as exc:
        raise ExportError(f"ONNX export of {type(model).__name__} failed: {exc}") from exc
    finally:
        model.train(was_training)
    proto = onnx.load_from_string(buffer.getvalue())
    info = describe(model, {"input_hw": list(input_hw), **(metadata or {})})
    for key, value in info.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value if isinstance(value, str) else json.dumps(value)
    onnx.checker.check_model(proto)
    atomic_write_bytes(path, proto.SerializeToString())
    return path
