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


def test_floors_import_only_downward():
    """data -> models -> inference -> training -> cli/gui -> app: no module imports a floor above its own
    (the rooms of issue 15; an upward import is how cycles start)."""
    above = {
        "data": ("fcn_studio.models", "fcn_studio.training", "fcn_studio.inference", "fcn_studio.cli", "fcn_studio.gui", "fcn_studio.app"),
        "models": ("fcn_studio.training", "fcn_studio.inference", "fcn_studio.cli", "fcn_studio.gui", "fcn_studio.app"),
        "training": ("fcn_studio.cli", "fcn_studio.gui", "fcn_studio.app"),
        # inference/ and training/ share a floor, but training/ imports the predictor (evaluation):
        # inference/ importing training/ back made the two a loop (issue 34 item 10)
        "inference": ("fcn_studio.training", "fcn_studio.cli", "fcn_studio.gui", "fcn_studio.app"),
        "cli": ("fcn_studio.gui", "fcn_studio.app"),
    }
    offenders = []
    #: the window's session model (fcn_studio/session.py) sits between training and gui
    files = {floor: list((REPO / "fcn_studio" / floor).rglob("*.py")) for floor in above}
    files["session"] = [REPO / "fcn_studio" / "session.py"]
    above["session"] = ("fcn_studio.cli", "fcn_studio.gui", "fcn_studio.app")
    for floor, banned in above.items():
        for path in files[floor]:
            for line in path.read_text().splitlines():
                s = line.strip()
                if s.startswith(("import ", "from ")) and any(s.split()[1] == b or s.split()[1].startswith(b + ".") for b in banned):
                    offenders.append(f"{path.relative_to(REPO).as_posix()}: {s}")
    assert not offenders, offenders


#: A module past this many lines is usually two jobs (STYLE.md; issue 34 item 12: the trainer,
#: the main window and the training session had grown to 532, 525 and 523).
MAX_MODULE_LINES = 520


def test_no_module_grows_past_two_jobs():
    package = Path(__file__).resolve().parent.parent / "fcn_studio"
    sizes = {str(p.relative_to(package)): len(p.read_text(encoding="utf-8").splitlines()) for p in package.rglob("*.py")}
    assert sizes and max(sizes.values()) > 100  # the walk found the package
    too_long = {name: n for name, n in sizes.items() if n > MAX_MODULE_LINES}
    assert not too_long, f"split these into rooms of their own: {too_long}"
