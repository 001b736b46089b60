"""The core must run headless: no Qt below gui/, no torch in the bottom floor."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _loaded_after(code: str) -> set[str]:
    probe = code + "\nimport sys, json\nprint(json.dumps(sorted(m.split('.')[0] for m in sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=REPO)
    import json

    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_data_floor_imports_neither_qt_nor_torch():
    mods = _loaded_after(
        "import fcn_studio.data.project, fcn_studio.data.masks, fcn_studio.data.imageio, "
        "fcn_studio.data.demo, fcn_studio.data.export, fcn_studio.data.coco, fcn_studio.cli"
    )
    assert not mods & {"PySide6", "shiboken6", "pyqtgraph", "superqt", "torch", "torchvision"}


def test_no_qt_import_outside_gui():
    offenders = []
    for path in (REPO / "fcn_studio").rglob("*.py"):
        rel = path.relative_to(REPO).as_posix()
        if rel.startswith("fcn_studio/gui/") or rel == "fcn_studio/app.py":
            continue
        for line in path.read_text().splitlines():
            s = line.strip()
            if s.startswith(("import ", "from ")) and any(q in s.split()[1] for q in ("PySide6", "shiboken6", "pyqtgraph", "superqt")):
                offenders.append(f"{rel}: {s}")
    assert not offenders, offenders


def test_models_and_training_do_not_pull_qt():
    mods = _loaded_after("import fcn_studio.models.builder, fcn_studio.models.checkpoint")
    assert "torch" in mods
    assert not mods & {"PySide6", "shiboken6", "pyqtgraph"}
