"""Export a trained model for use outside fcn-studio: TorchScript and ONNX, any image size.

Both exports trace :class:`AnySize`, a wrapper that redoes the model's size arithmetic with
traced tensor shapes (pad to a multiple of 32, crop the skip sums and the logits back), so
the recorded graph takes any height and width and returns logits of exactly that size. The
models' own ``forward`` turns sizes into Python ints (fine for training, constants in a
trace): tracing it at 360x480 and feeding 200x300 returned 224x320 logits.

The model description travels inside the file (as ``fcn_studio.json`` extra file in
TorchScript, as metadata properties in ONNX): backbone, label set, normalisation and the
working scale, which is everything needed to reproduce ``fcn-studio predict``::

    x = resize(image, scale)            # area filter when shrinking (cv2.INTER_AREA)
    x = (x / 255 - mean) / std          # RGB, N x 3 x h x w float32
    logits = model(x)                   # N x K x h x w
    logits = bilinear(logits, H, W)     # back to the image size, then argmax / softmax

:func:`export_checkpoint` does this for a checkpoint file (what ``fcn-studio export-model``
and the window's *File > Export model...* call).
"""

from __future__ import annotations

import io
import json
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

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
        "input": "float32 N x 3 x H x W (any H and W), RGB in 0..1, then (x - mean) / std",
        "output": "float32 N x num_classes x H x W logits (the input's H and W)",
    }
    info.update(extra or {})
    return info


class AnySize(nn.Module):
    """``model``'s forward, written so a trace keeps the image size symbolic.

    For an :class:`~fcn_studio.models.fcn.FCN`: pad bottom/right to a multiple of 32 (zero in
    normalised space, as the model does), run the trunk, fuse the skips cropping each upsampled
    map to its skip's traced size, crop the logits to the input's traced size. For a torchvision
    model: its classifier, then bilinear upsampling to the traced input size. Same numbers as
    ``model(x)`` at every size.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        from fcn_studio.models.fcn import FCN
        from fcn_studio.models.torchvision_seg import TorchvisionSegmentation

        if isinstance(model, FCN):
            self.kind = "fcn"
        elif isinstance(model, TorchvisionSegmentation):
            self.kind = "torchvision"
        else:
            raise ExportError(f"cannot export a {type(model).__name__}: only fcn-studio models (FCN, torchvision) are supported")
        self.model = model
        for name in ("backbone", "variant", "num_classes", "normalization"):
            if hasattr(model, name):
                setattr(self, name, getattr(model, name))

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2], x.shape[-1]
        if self.kind == "torchvision":
            from torchvision.models.segmentation.lraspp import LRASPP

            inner = self.model.model
            features = dict(inner.backbone(x))
            scores = inner.classifier(features if isinstance(inner, LRASPP) else features["out"])
            return F.interpolate(scores, size=(h, w), mode="bilinear", align_corners=False)
        m = self.model.pad_multiple
        x = F.pad(x, (0, (m - w % m) % m, 0, (m - h % m) % m))
        features = self.model.trunk(x)
        head = self.model.head
        first = head.specs[0]
        scores = head.score[first.name](features[first.name])
        for spec, up in zip(head.specs[1:], head.up2):
            skip = head.score[spec.name](features[spec.name])
            scores = up(scores)[..., : skip.shape[-2], : skip.shape[-1]] + skip
        return head.final_up(scores)[..., :h, :w]


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
    """Trace ``model`` (in eval mode, through :class:`AnySize`) and save it with ``torch.jit.save``.

    ``input_hw`` is only the example size of the trace; the file takes any size. Load it
    anywhere with ``torch.jit.load(path)``, no fcn-studio needed.
    """
    path = Path(path)
    was_training = model.training
    model.eval()
    extra = {TORCHSCRIPT_META: json.dumps(describe(model, {"traced_hw": list(input_hw), **(metadata or {})}))}
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # What AnySize leaves constant is size-independent (module structure, not shapes).
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            # Recent torch versions mark torch.jit deprecated; TorchScript files still load in
            # C++ (libtorch) and every torch version, which is why this export exists.
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            traced = torch.jit.trace(AnySize(model), _example(model, input_hw), check_trace=False)
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
    """Export ``model`` to ONNX: input ``image`` N x 3 x H x W, output ``logits``; N, H and W dynamic.

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
    axes = {0: "batch", 2: "height", 3: "width"}
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                AnySize(model),
                (_example(model, input_hw),),
                buffer,
                dynamo=False,
                input_names=["image"],
                output_names=["logits"],
                opset_version=opset,
                dynamic_axes={"image": axes, "logits": axes},
            )
    except ExportError:
        raise
    except Exception as exc:
        raise ExportError(f"ONNX export of {type(model).__name__} failed: {exc}") from exc
    finally:
        model.train(was_training)
    proto = onnx.load_from_string(buffer.getvalue())
    info = describe(model, {"traced_hw": list(input_hw), **(metadata or {})})
    for key, value in info.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value if isinstance(value, str) else json.dumps(value)
    onnx.checker.check_model(proto)
    atomic_write_bytes(path, proto.SerializeToString())
    return path


FORMATS = {"onnx": ".onnx", "torchscript": ".pt"}


def export_checkpoint(checkpoint: str | Path, out: str | Path, *, fmt: str, input_hw: Sequence[int] | None = None) -> dict[str, Any]:
    """Export the model in ``checkpoint`` to ``out`` as ``fmt`` (``onnx`` or ``torchscript``).

    The file carries the label set, normalisation and working scale (``input_scale``) of the
    checkpoint. ``input_hw`` is the trace's example size (default: the training crop, or
    256x256); any size works afterwards. Returns a summary for the CLI's JSON line.
    """
    from fcn_studio.models.checkpoint import load_checkpoint

    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}; use onnx or torchscript")
    model, meta = load_checkpoint(checkpoint)
    if input_hw is None:
        crop = meta.summary.get("config", {}).get("crop_size") if isinstance(meta.summary.get("config"), dict) else None
        input_hw = tuple(crop) if isinstance(crop, (list, tuple)) and len(crop) == 2 else (256, 256)
    scale = float(meta.summary.get("input_scale", 1.0))
    metadata = {
        "labelset": meta.labelset.to_json(),
        "classes": [c.name for c in meta.labelset.trainable_classes],
        "input_scale": scale,
        "preprocess": (
            f"resize the RGB image by {scale:g} (area filter when shrinking), divide by 255, subtract mean and "
            "divide by std per channel; upsample the logits bilinearly to the image size; class k of the "
            "output is classes[k]"
        ),
    }
    export = export_onnx if fmt == "onnx" else export_torchscript
    path = export(model, out, input_hw=input_hw, metadata=metadata)
    return {"checkpoint": str(checkpoint), "out": str(path), "format": fmt, "classes": metadata["classes"],
            "input_scale": scale, "normalization": meta.normalization}
