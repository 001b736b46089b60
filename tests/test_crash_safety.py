"""Kill -9 while painting, 20 times: the project opens, masks are whole and agree with project.json,
and only the last ~2 s of edits are gone (see tests/crash_drill.py for the child and the checks)."""

from __future__ import annotations

import os
import random
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from crash_drill import Painters, check_after_kill, make_project, wait_for_ready  # noqa: E402

pytestmark = [
    pytest.mark.gui,
    pytest.mark.skipif(os.name != "posix" or not hasattr(os, "fork"), reason="needs fork and SIGKILL"),
]

KILLS = 20
#: The autosave deadline (2 s) plus a mask write and the scheduling of a busy two-core machine.
BOUND_S = 3.0


def test_twenty_kills_while_painting(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    make_project(root)
    rng = random.Random(16)
    saved: dict[str, int] = {}
    long_rounds = edits = lost = 0
    with Painters() as painters:
        for i in range(KILLS):
            log = tmp_path / f"kill{i}.log"
            pid = painters.start(root, log, seed=i)
            long = False
            if i % 7 == 3:
                time.sleep(rng.uniform(0.0, 0.25))  # while it opens the project, loads, repairs
            else:
                assert wait_for_ready(log) is not None, "the painting child never got going"
                long = i % 5 in (1, 4)  # painted longer than the deadline: the bound is tested
                time.sleep(rng.uniform(2.4, 3.6) if long else rng.uniform(0.0, 1.2))
            killed_at = painters.kill(pid)
            res = check_after_kill(root, log, killed_at, saved, bound_s=BOUND_S)
            assert not res.problems, f"after kill {i + 1}: {res.problems}"
            edits += res.edits
            lost += res.lost_edits
            if long:
                long_rounds += 1
                assert res.saves >= 1, f"kill {i + 1}: {res.edits} edits over 2.4 s or more, never saved"
    assert long_rounds >= 6 and sum(saved.values()) > 0
    # each edit was either saved or is among the recent ones a kill took (the child repaints those)
    assert sum(saved.values()) == edits - lost
