"""How fcn-studio's torch processes share a CPU that something else is using (issue 34 item 9).

A person's desktop always runs something else. torch's CPU kernels run on OpenMP threads
(libgomp) that, by default, spin at every barrier waiting for each other; when another process
holds one of the cores, the spinning threads burn their time slices while the one that has real
work waits for a core, and a low priority then starves them. On the 2-core bench machine,
training on both cores made 0.73 steps/s with the default policy and 3.4 with PASSIVE beside
other people's light work alone, 0.61 and 1.65 beside one ``yes > /dev/null`` per core
(bench/busy_cpu.py, results in bench/results/busy_cpu/).

So every process that runs torch for the app (the window's training and prediction processes,
the command line) asks libgomp to sleep instead of spin (``OMP_WAIT_POLICY=PASSIVE``), unless the
user chose a policy; the window's training and prediction processes leave one core to the window
(:func:`window_threads`), and the training process runs at :data:`TRAINING_NICENESS`. libgomp
reads the variables once, when torch loads it, so :func:`prefer_passive_wait` and
:func:`leave_core_for_window` must run before ``import torch`` in that process.

Neither torch nor Qt here: the floors above call it before they import torch.
"""

from __future__ import annotations

import os
import sys
from typing import MutableMapping

#: What libgomp's threads do at a barrier: sleep (PASSIVE) rather than spin (ACTIVE).
WAIT_POLICY = "PASSIVE"

#: How much lower the window's training process runs than the window (``nice`` steps). At 5 it
#: kept 0.24-0.28 of its idle speed beside one busy process per core and 0.15 beside two (the
#: scheduler gives a nice-5 thread a quarter of a core it shares with a nice-0 one); at 1 it kept
#: 0.70 and 0.42, as much as at 0 (0.65 and 0.41), while the window stays the one that wins
#: ties. The window keeps its own core either way (the trainer uses :func:`window_threads`).
#: bench/busy_cpu.py, bench/busy_cpu_ui.py; results in bench/results/busy_cpu/.
TRAINING_NICENESS = 1


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


def window_threads() -> int:
    """Torch threads for a process that works beside the window: all cores but one, at least one.

    The window keeps a core for painting. On the 2-core bench machine one thread also predicted
    faster than two, idle or busy (bench/results/busy_cpu/)."""
    return max(1, (os.cpu_count() or 1) - 1)


def leave_core_for_window(environ: MutableMapping[str, str] | None = None) -> bool:
    """Set ``OMP_NUM_THREADS`` (torch's default thread count) to :func:`window_threads` unless it
    is set already; before ``import torch``. Returns whether it set it."""
    env = os.environ if environ is None else environ
    if env.get("OMP_NUM_THREADS"):
        return False
    env["OMP_NUM_THREADS"] = str(window_threads())
    return True


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
