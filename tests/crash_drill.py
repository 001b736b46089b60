"""Kill -9 drill for autosave: a child paints without pause through the editor; we check what is left.

Shared by ``tests/test_crash_safety.py`` (20 kills) and ``bench/crash_soak.py`` (100 kills).

The child is the window's own save path without the widgets: an offscreen QGuiApplication
with a :class:`~fcn_studio.gui.editor.MaskEditor`, painting one short brush stroke into the
next free cell of a grid every 40-550 ms (one in twenty a 900 ms pause, now and then a switch to
another image), so both autosave clocks and first saves of an image are exercised. Each
stroke is logged (unbuffered, so a kill loses no line) with the time it began. Writing
``project.json`` is slowed by :data:`SLOW_PROJECT_SAVE_S` (as it is in a project of
thousands of images on a slow disk), so kills land between a mask's write and the metadata's
often enough to matter: the state that left images "not painted" in issue 16.

After a kill, :func:`check_after_kill` opens the project and asserts:

* it opens, and every mask is whole (reads strictly, at its image's size);
* every painted share in the opened project and in ``project.json`` agrees with its mask;
* each mask's painted cells are a prefix of the cells painted (a state the editor really
  had), which never shrinks from one kill to the next;
* the edits lost are only recent ones: the oldest lost stroke began at most
  ``bound_s`` before the kill.

Children fork from a "zygote" process that imported Qt, numpy and fcn-studio once, so a
kill costs the painting time, not a second of imports each time. POSIX only (fork, SIGKILL).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

CELL = 16  # grid cell, px; one stroke paints the middle of one cell, class 1
SLOW_PROJECT_SAVE_S = 0.1
HERE = Path(__file__).resolve()


# -- the project --------------------------------------------------------------------------
def make_project(root: Path, n_images: int = 3, size: tuple[int, int] = (320, 480)) -> None:
    """A project of ``n_images`` noise photos, nothing painted."""
    from PIL import Image

    from fcn_studio.data.project import Project

    rng = np.random.default_rng(0)
    src = root.parent / f"{root.name}-sources"
    src.mkdir(parents=True, exist_ok=True)
    files = []
    for i in range(n_images):
        p = src / f"photo{i}.png"
        Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)).save(p)
        files.append(p)
    Project.create(root, "road").add_images(files)


def painted_cells(mask: np.ndarray) -> np.ndarray:
    """Per cell (row-major), whether its middle pixel holds class 1."""
    return mask[CELL // 2 :: CELL, CELL // 2 :: CELL].ravel()[: n_cells(mask.shape)] == 1


def n_cells(shape: tuple[int, int]) -> int:
    return (shape[0] // CELL) * (shape[1] // CELL)


def prefix_length(cells: np.ndarray) -> int | None:
    """How many cells are painted, if they are cells 0..n-1; None if there is a hole."""
    n = int(np.argmin(cells)) if not cells.all() else len(cells)
    return n if not cells[n:].any() else None


# -- the child ----------------------------------------------------------------------------
def child_main(project_dir: str, log_path: str, seed: int) -> None:
    """Paint until killed. Runs in a forked zygote child (or as ``crash_drill.py child ...``)."""
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PySide6.QtCore import QTimer
    from PySide6.QtGui import QGuiApplication

    from fcn_studio.data.project import Project
    from fcn_studio.gui.editor import MaskEditor

    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def say(*words: object) -> None:
        os.write(log, (" ".join(str(w) for w in words) + "\n").encode())

    app = QGuiApplication.instance() or QGuiApplication([])
    rng = random.Random(seed)
    real_save = Project.save

    def slow_save(self: Project) -> None:
        time.sleep(SLOW_PROJECT_SAVE_S)  # in the save thread, after the mask write: never the brush
        real_save(self)

    Project.save = slow_save  # type: ignore[method-assign]
    project = Project.open(project_dir)
    next_cell = {e.id: prefix_length(painted_cells(project.load_mask(e.id))) or 0 for e in project.images}
    full = {e.id: n_cells((e.height, e.width)) for e in project.images}
    editor = MaskEditor(project)
    editor.set_active_class(1)
    editor.set_brush_radius(3)
    editor.saved.connect(lambda image_id: say("saved", image_id, time.monotonic()))
    state = {"left_on_image": 0, "target": None, "ready": False}

    def switch() -> None:
        open_ids = [i for i in next_cell if next_cell[i] < full[i]]
        if not open_ids:
            return
        state["target"] = rng.choice(open_ids)
        state["left_on_image"] = rng.randint(6, 20)
        editor.open_image(state["target"])

    def tick() -> None:
        image_id = state["target"]
        if editor.image_id != image_id or editor.mask is None:
            timer.start(20)  # still loading
            return
        if not state["ready"]:
            state["ready"] = True
            say("ready", time.monotonic())
        k = next_cell[image_id]
        if k >= full[image_id] or state["left_on_image"] <= 0:
            switch()
            timer.start(20)
            return
        cols = editor.mask.shape[1] // CELL
        y, x = (k // cols) * CELL + CELL // 2, (k % cols) * CELL
        say("edit", image_id, k, time.monotonic())  # before painting: saved edits are always logged
        editor.begin_stroke(x + 5, y)
        editor.continue_stroke(x + 8, y)
        editor.continue_stroke(x + 11, y)
        editor.end_stroke()
        next_cell[image_id] = k + 1
        state["left_on_image"] -= 1
        # rarely a pause long enough for the idle save; mostly strokes that never leave it one
        timer.start(900 if rng.random() < 0.05 else rng.choice((40, 80, 150, 300, 300, 450, 550, 550)))

    timer = QTimer(singleShot=True)
    timer.timeout.connect(tick)
    switch()
    timer.start(0)
    app.exec()


def _zygote() -> None:
    """Import once, then fork a painting child per ``fork PROJECT LOG SEED`` line on stdin."""
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    import PySide6.QtGui  # noqa: F401 - what makes a cold start slow
    import fcn_studio.data.masks  # noqa: F401
    import fcn_studio.gui.editor  # noqa: F401

    print("zygote ready", flush=True)
    for line in sys.stdin:
        words = line.split()
        if words[:1] == ["fork"]:
            pid = os.fork()
            if pid == 0:
                try:
                    child_main(words[1], words[2], int(words[3]))
                finally:
                    os._exit(0)
            print(pid, flush=True)
        elif words[:1] == ["wait"]:
            os.waitpid(int(words[1]), 0)
            print("reaped", flush=True)
        elif words[:1] == ["quit"]:
            return


class Painters:
    """Start painting children quickly and kill them; a context manager around the zygote."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE), "zygote"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
        )
        self.alive: set[int] = set()
        assert self._read() == "zygote ready"

    def _read(self) -> str:
        line = self.proc.stdout.readline()  # type: ignore[union-attr]
        if not line:
            raise RuntimeError("the painting zygote died")
        return line.strip()

    def start(self, project: Path, log: Path, seed: int) -> int:
        self.proc.stdin.write(f"fork {project} {log} {seed}\n")  # type: ignore[union-attr]
        pid = int(self._read())
        self.alive.add(pid)
        return pid

    def kill(self, pid: int) -> float:
        """SIGKILL the child; returns the moment (monotonic) the signal was sent."""
        when = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        self.alive.discard(pid)
        self.proc.stdin.write(f"wait {pid}\n")  # type: ignore[union-attr]
        assert self._read() == "reaped"
        return when

    def __enter__(self) -> "Painters":
        return self

    def __exit__(self, *exc: object) -> None:
        for pid in list(self.alive):  # a failed check must not leave a child painting
            self.kill(pid)
        try:
            self.proc.stdin.write("quit\n")  # type: ignore[union-attr]
            self.proc.stdin.close()  # type: ignore[union-attr]
            self.proc.wait(10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()


def wait_for_ready(log: Path, timeout: float = 20.0) -> float | None:
    """When the child logged ``ready`` (monotonic), or None if it did not within ``timeout``."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if log.exists():
            for line in log.read_text().splitlines():
                if line.startswith("ready "):
                    return float(line.split()[1])
        time.sleep(0.01)
    return None


# -- after a kill -------------------------------------------------------------------------
@dataclass
class RoundResult:
    edits: int = 0
    saves: int = 0
    lost_edits: int = 0
    lost_window_s: float = 0.0  # kill time minus the start of the oldest lost stroke
    stale_before_open: int = 0  # project.json behind a mask (repaired by opening)
    mismatches: int = 0  # after opening: share in project.json or in memory != mask
    torn_masks: int = 0  # masks that do not read whole
    opened: bool = True
    problems: list[str] = field(default_factory=list)


def check_after_kill(root: Path, log: Path, killed_at: float, saved_before: dict[str, int], bound_s: float) -> RoundResult:
    """Verify the project after a kill; ``saved_before`` (cells per image) is updated in place."""
    from fcn_studio.data.masks import painted_fraction
    from fcn_studio.data.project import PROJECT_FILE, Project
    from fcn_studio.errors import FcnStudioError

    res = RoundResult()
    lines = log.read_text().splitlines() if log.exists() else []
    edits = [(w[1], int(w[2]), float(w[3])) for w in (ln.split() for ln in lines) if w[0] == "edit" and len(w) == 4]
    res.edits = len(edits)
    res.saves = sum(1 for ln in lines if ln.startswith("saved "))
    raw_shares = _raw_shares(root / PROJECT_FILE)
    try:
        project = Project.open(root)
    except FcnStudioError as exc:
        res.problems.append(f"the project does not open: {exc}")
        res.opened = False
        return res
    after_open = _raw_shares(root / PROJECT_FILE)
    saved_now: dict[str, int] = {}
    for entry in project.images:
        try:
            mask = project.load_mask(entry.id)
        except FcnStudioError as exc:
            res.problems.append(f"mask of {entry.id} is not whole: {exc}")
            res.torn_masks += 1
            continue
        share = painted_fraction(mask)
        if raw_shares is not None and abs(raw_shares.get(entry.id, -1.0) - share) > 1e-6:
            res.stale_before_open += 1
        if abs(entry.painted - share) > 1e-6 or after_open is None or abs(after_open.get(entry.id, -1.0) - share) > 1e-6:
            res.mismatches += 1
            res.problems.append(f"{entry.id}: project.json says {entry.painted:.6f} painted, the mask {share:.6f}")
        n = prefix_length(painted_cells(mask))
        if n is None:
            res.problems.append(f"{entry.id}: the saved cells have a hole, a state the editor never had")
            continue
        if n < saved_before.get(entry.id, 0):
            res.problems.append(f"{entry.id}: {saved_before[entry.id]} cells were saved before this run, now {n}")
        saved_now[entry.id] = n
    logged = {(i, k) for i, k, _ in edits}
    for image_id, n in saved_now.items():
        for k in range(saved_before.get(image_id, 0), n):
            if (image_id, k) not in logged:
                res.problems.append(f"{image_id}: cell {k} is saved but was never painted")
                break
    lost = [(t, i, k) for i, k, t in edits if k >= saved_now.get(i, 0)]
    res.lost_edits = len(lost)
    if lost:
        res.lost_window_s = killed_at - min(lost)[0]
        if res.lost_window_s > bound_s:
            res.problems.append(
                f"{len(lost)} edits lost, the oldest begun {res.lost_window_s:.2f} s before the kill (bound {bound_s} s)"
            )
    saved_before.update(saved_now)
    return res


def _raw_shares(path: Path) -> dict[str, float] | None:
    try:
        data = json.loads(path.read_text())
        return {e["id"]: float(e["state"]["painted"]) for e in data["images"]}
    except (OSError, ValueError, KeyError, TypeError):
        return None


if __name__ == "__main__":
    if sys.argv[1:2] == ["zygote"]:
        _zygote()
    elif sys.argv[1:2] == ["child"]:
        child_main(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        sys.exit("usage: crash_drill.py zygote | child PROJECT LOG SEED")
