"""Run plain Python callables off the UI thread and get their results back on it.

A single-thread executor per purpose keeps work ordered (mask saves never overtake each
other); results and errors come back through a Qt signal, which Qt delivers on the GUI
thread because the bridge object lives there.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable

from PySide6.QtCore import QObject, Signal


class Background(QObject):
    """``submit(fn, on_done, on_error)``: fn runs in a worker thread, callbacks on the GUI thread."""

    # One payload object: shiboken mis-counts references of a bare None passed through a
    # queued `object` argument (a "deallocating None" abort on Python < 3.12), so results
    # always travel wrapped in a tuple.
    _done = Signal(object)

    def __init__(self, name: str, parent: QObject | None = None):
        super().__init__(parent)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._done.connect(self._deliver)
        self.pending = 0
        self._closed = False

    def submit(
        self,
        fn: Callable[[], Any],
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> Future | None:
        """Queue ``fn``; after :meth:`shutdown` (the window closed) work is dropped, returning None."""
        if self._closed:
            return None
        self.pending += 1

        def finished(fut: Future) -> None:
            exc = fut.exception()
            self._done.emit(((on_done, on_error), None if exc else fut.result(), exc))

        future = self._pool.submit(fn)
        future.add_done_callback(finished)
        return future

    def _deliver(self, payload: tuple) -> None:
        callbacks, result, error = payload
        self.pending -= 1
        on_done, on_error = callbacks
        if error is not None:
            if on_error is not None:
                on_error(error)
        elif on_done is not None:
            on_done(result)

    def wait(self) -> None:
        """Block until queued work is done (only at shutdown, when waiting is what we want)."""
        self._pool.submit(lambda: None).result()

    def shutdown(self) -> None:
        self._closed = True
        self._pool.shutdown(wait=True)
