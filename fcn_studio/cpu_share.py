"""How fcn-studio's torch processes share a CPU that something else is using (issue 34 item 9).

A person's desktop always runs something else. torch's CPU kernels run on OpenMP threads
(libgomp) that, by default, spin at every barrier waiting for each other; when another process
holds one of the cores, the spinning threads burn their time slices while the one that has real
work waits for a core, and a low priority then starves them. On a 2-core machine with one
``yes > /dev/null`` per core, training with all cores ran 7x slower than idle where a fair share
is about 2x (bench/busy_cpu.py, results in bench/results/busy_cpu/).

So every process that runs torch for the app (the window's training and prediction processes,
the command line) asks libgomp to sleep instead of spin (``OMP_WAIT_POLICY=PASSIVE``), unless the
user chose a policy, and the window's training process keeps one core for the window and runs
at :data:`TRAINING_NICENESS`. libgomp reads the variable once, when torch loads it, so
:func:`prefer_passive_wait` must run before ``import torch`` in that process.

Neither torch nor Qt here: the floors above call it before they import torch.
"""

from __future__ import annotations

import os
import sys
from typing import MutableMapping

#: What libgomp's threads do at a barrier: sleep (PASSIVE) rather than spin (ACTIVE).
WAIT_POLICY = "PASSIVE"

#: How much lower the window's training process runs than the window (``nice`` steps). 5 left
#: it a quarter of its core beside one busy process per core (under 1/3 of idle speed); the
#: window keeps its own core either way (the trainer uses cores-1 threads), and wins ties with
#: the trainer as long as it is the nicer one, so a small step keeps both. See bench/busy_cpu.py.
TRAINING_NICENESS = 2


def prefer_passive_wait(environ: MutableMapping[str, str] | None = None) -> bool:
    """Set ``OMP_WAIT_POLICY`` to :data:`WAIT_POLICY` unless it is set already (the user's choice wins).

    Returns whether this process's torch will see it: False when the user set a policy or when
    torch is already imported (too late for this process; its children still inherit it).
    """
    env = os.environ if environ is None else environ
    if env.get("OMP_WAIT_POLICY"):
        return False
    env["OMP_WAIT_POLICY"] = WAIT_POLICY
    return "torch" not in sys.modules


def lower_priority(niceness: int) -> None:
    """Run this process ``niceness`` steps nicer; call before torch starts threads (they inherit it).

    Best effort: where the OS refuses (or has no ``os.nice``) the process runs at its priority.
    """
    if niceness <= 0 or not hasattr(os, "nice"):
        return
    try:
        os.nice(niceness)
    except OSError:
        pass
