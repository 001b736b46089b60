"""Keep Python's cyclic garbage collector from freezing the window.

The GUI process imports torch and loads trained models on background threads. Both create
many long-lived objects, and each full pass of the cyclic collector over them runs under the
GIL: measured with ``gc.callbacks`` during ``bench/ui_latency.py --only training``, passes of
40-190 ms while torch was imported and while a trained model loaded, and the event loop
stalled up to 70 ms. :func:`long_lived_objects` switches the collector off while such objects
are made and then moves everything that exists to the permanent generation (``gc.freeze``),
so later passes only look at what is new. Objects are still freed by reference counting;
only cycles among frozen objects would stay, and torch modules and tensors do not form them.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def long_lived_objects() -> Iterator[None]:
    """No collection inside the block; afterwards, freeze every object that exists."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()
