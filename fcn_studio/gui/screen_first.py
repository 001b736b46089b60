"""The image on screen goes first: its prediction overtakes *Predict all*'s queue.

Two threads share it (the on-screen prediction queue and Predict all's); no Qt here.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class ScreenFirst:
    """Priority of the image on screen over Predict all, between two threads.

    The GUI thread counts an on-screen prediction in (:meth:`enter_queue`) when it queues it;
    the job leaves when it has run (``with``). Predict all calls :meth:`wait_clear` before each
    image, so at most the one image it is predicting stands between the user and their image.
    """

    def __init__(self) -> None:
        self._pending = 0
        self._cond = threading.Condition()

    def enter_queue(self) -> None:
        with self._cond:
            self._pending += 1

    def __enter__(self) -> "ScreenFirst":
        return self

    def __exit__(self, *exc: object) -> None:
        self.leave()

    def leave(self) -> None:
        with self._cond:
            self._pending = max(0, self._pending - 1)
            self._cond.notify_all()

    def wait_clear(self, give_up: Callable[[], bool], poll_s: float = 0.1) -> None:
        """Return when no on-screen prediction is queued (or ``give_up()`` says so)."""
        with self._cond:
            while self._pending and not give_up():
                self._cond.wait(poll_s)
