"""The app's torch processes share a busy CPU (issue 34 item 9; speeds in bench/busy_cpu.py).

What matters and can break silently: libgomp reads ``OMP_WAIT_POLICY`` once, when torch loads
it, so each entry (the training process, the prediction process, the command line) must set it
before anything imports torch, and must leave a policy the user chose alone. Each entry runs in
a fresh Python with an import hook that records the environment and the niceness at the moment
``torch`` is first imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fcn_studio import cpu_share

REPO = Path(__file__).resolve().parent.parent

# Records OMP_WAIT_POLICY and the niceness when torch is first imported, prints them at exit.
SPY = """
import atexit, json, os, sys
class _Spy:
    seen = None
    def find_spec(self, name, path=None, target=None):
        if name == "torch" and _Spy.seen is None:
            _Spy.seen = {"policy": os.environ.get("OMP_WAIT_POLICY"), "nice": os.nice(0),
                         "threads": os.environ.get("OMP_NUM_THREADS")}
        return None
sys.meta_path.insert(0, _Spy())
start_nice = os.nice(0)
atexit.register(lambda: print("SEEN " + json.dumps(dict(_Spy.seen or {}, start_nice=start_nice))))
"""

TRAINING = """
from multiprocessing import Pipe
from fcn_studio.training.messages import Quit
from fcn_studio.training.process import child_main
control_r, control_w = Pipe(duplex=False)
events_r, events_w = Pipe(duplex=False)
control_w.send(Quit())
child_main(control_r, events_w, 3)
"""

PREDICTION = """
from multiprocessing import Pipe
from fcn_studio.inference.messages import LoadModel, Quit
from fcn_studio.inference.prediction_process import child_main
window, child = Pipe()
window.send(LoadModel("no-such-model.fcnckpt"))
window.send(Quit())
child_main(child)
assert type(window.recv()).__name__ == "Failed"
"""

CLI = """
import sys
from fcn_studio.app import main
code = main(["predict", "--checkpoint", sys.argv[1], "--images", sys.argv[2], "--out", sys.argv[3]])
assert code == 2, code
"""


def _seen_at_torch_import(code: str, *args: str, policy: str | None = None, threads: str | None = "1") -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    for name in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS"):
        env.pop(name, None)
    if threads is not None:
        env["OMP_NUM_THREADS"] = threads
    if policy is not None:
        env["OMP_WAIT_POLICY"] = policy
    out = subprocess.run([sys.executable, "-c", SPY + code, *args], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    line = next(x for x in out.stdout.splitlines() if x.startswith("SEEN "))
    seen = json.loads(line[len("SEEN "):])
    assert "policy" in seen, "torch was never imported: the test does not reach the entry's torch"
    return seen


def test_prefer_passive_wait_keeps_the_users_choice() -> None:
    env: dict[str, str] = {}
    cpu_share.prefer_passive_wait(env)
    assert env["OMP_WAIT_POLICY"] == "PASSIVE"
    mine = {"OMP_WAIT_POLICY": "ACTIVE", "OMP_NUM_THREADS": "7"}
    assert cpu_share.prefer_passive_wait(mine) is False
    assert cpu_share.leave_core_for_window(mine) is False
    assert mine == {"OMP_WAIT_POLICY": "ACTIVE", "OMP_NUM_THREADS": "7"}


@pytest.mark.skipif(not hasattr(os, "nice"), reason="no os.nice on this OS")
def test_training_process_sets_wait_policy_and_priority_before_torch() -> None:
    seen = _seen_at_torch_import(TRAINING)
    assert seen["policy"] == "PASSIVE"
    assert seen["nice"] == min(19, seen["start_nice"] + 3)  # torch's threads inherit it


def test_prediction_process_sets_wait_policy_and_leaves_the_window_a_core_before_torch() -> None:
    seen = _seen_at_torch_import(PREDICTION, threads=None)
    assert seen["policy"] == "PASSIVE"
    assert seen["threads"] == str(max(1, (os.cpu_count() or 1) - 1))
    assert _seen_at_torch_import(PREDICTION, threads="3")["threads"] == "3"  # the user's count wins


def test_cli_sets_wait_policy_before_torch_and_keeps_the_users(tmp_path: Path) -> None:
    from PIL import Image

    bad = tmp_path / "model.fcnckpt"
    bad.write_bytes(b"not a checkpoint")  # the command imports torch to read it, then fails cleanly
    images = tmp_path / "images"
    images.mkdir()
    Image.new("RGB", (8, 8)).save(images / "a.png")
    args = (str(bad), str(images), str(tmp_path / "out"))
    assert _seen_at_torch_import(CLI, *args)["policy"] == "PASSIVE"
    assert _seen_at_torch_import(CLI, *args, policy="ACTIVE")["policy"] == "ACTIVE"


@pytest.mark.skipif(not hasattr(os, "getpriority"), reason="no process priorities on this OS")
def test_window_training_process_runs_just_below_the_window_on_all_but_one_core() -> None:
    """The trainer must lose ties with the window (nicer) yet not by so much that a busy CPU
    starves it (5 steps left it under 1/3 of its idle speed beside one busy process per core)."""
    from fcn_studio.training.presets import interactive_config
    from fcn_studio.training.process import TrainingProcess

    config = interactive_config("fine-tune", backbone="efficientnet_lite0", variant=None, weights="imagenet",
                                epochs=None, minutes=1.0, out="m.fcnckpt")
    assert config.cpu_threads() == max(1, (os.cpu_count() or 1) - 1)  # the window keeps a core
    assert 1 <= cpu_share.TRAINING_NICENESS < 5  # nicer than the window, not starved (bench/busy_cpu.py)
    proc = TrainingProcess().spawn()
    try:
        deadline = time.monotonic() + 120
        while not proc.is_ready() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert proc.is_ready()
        child = os.getpriority(os.PRIO_PROCESS, proc.pid)
        assert child == min(19, os.getpriority(os.PRIO_PROCESS, 0) + cpu_share.TRAINING_NICENESS)
    finally:
        proc.close()
