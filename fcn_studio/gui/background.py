"""The one way the window runs work off its thread: a :class:`Background` queue per purpose.

Every background job of the GUI goes through here: mask loads and saves, predictions,
thumbnails, exports, imports, counting a class's pixels, and relaying a training process's
messages. (The trainer and the predictor themselves run in child processes:
:mod:`fcn_studio.training.process`, :mod:`fcn_studio.inference.prediction_process`.)

The shape is superqt's worker, without its import: a job is a function (``submit``: its result
arrives as ``on_done``, its exception as ``on_error``) or a generator (``stream``: each value it
yields arrives as ``on_item``, then its return value as ``on_done``); every callback runs on
the GUI thread, because the relay object lives there. Cancelling is cooperative, as with
superqt's ``quit()``: the job checks a flag or an event the caller owns. superqt's package
import costs 0.4-0.8 s on a 2-core machine (all its widgets load), and the first mask load
runs while the window opens, so the queue here is a plain ``ThreadPoolExecutor`` whose results
come back through a Qt signal of one relay that lives as long as the process (its threads
are never joined by a Qt destructor: a window deleted while a job runs does not wait for it,
and the job's late answer is dropped on the GUI thread).

Each queue has its own pool: a one-thread queue keeps its jobs in order (mask saves never
overtake each other), and a busy queue (thumbnails) cannot starve another (an export).
"""

from __future__ import annotations

import threading
import weakref
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from typing import Any, Callable, Generator

import shiboken6
from PySide6.QtCore import QCoreApplication, QObject, Signal, Slot


class _Relay(QObject):
    """Carries work from any thread to the GUI thread: one per process, never deleted.

    Widgets and queues are children of a window, and Qt deletes a closed window's children from
    the event loop while pool threads may still be emitting; emitting on a QObject that another
    thread is destroying reads freed memory (the suite crashed so while the next test's window
    opened, and once hung until CI's limit). Other threads therefore emit only on this object,
    naming their receiver weakly, and a call whose receiver is gone is dropped on the GUI thread.
    """

    # One payload object: shiboken mis-counts references of a bare None passed through a
    # queued `object` argument (a "deallocating None" abort on Python < 3.12), so calls always
    # travel wrapped in a tuple.
    delivered = Signal(object)

    def __init__(self) -> None:
        super().__init__()
        self.delivered.connect(self._deliver)

    @Slot(object)
    def _deliver(self, payload: tuple) -> None:
        ref, fn, args = payload
        owner = ref()
        if owner is not None and shiboken6.isValid(owner):
            fn(owner, *args)


_relay: _Relay | None = None
_relay_lock = threading.Lock()


def _gui_relay() -> _Relay:
    """The process's relay, living in the GUI thread whichever thread asks first."""
    global _relay  # noqa: PLW0603
    with _relay_lock:
        if _relay is None:
            relay = _Relay()
            app = QCoreApplication.instance()
            if app is not None and relay.thread() is not app.thread():
                relay.moveToThread(app.thread())
            _relay = relay
        return _relay


def call_in_gui_thread(owner: QObject, fn: Callable[..., None], *args: Any) -> None:
    """From any thread: ``fn(owner, *args)`` on the GUI thread soon, unless ``owner`` has been
    deleted by then. ``fn`` is a plain function (an unbound method), so nothing here keeps
    ``owner`` alive."""
    try:
        _gui_relay().delivered.emit((weakref.ref(owner), fn, args))
    except RuntimeError:  # the application is going away: nobody to tell
        pass


class Background(QObject):
    """A queue of background jobs whose callbacks run on the GUI thread (see the module).

    ``threads=1`` (the default) runs jobs one at a time in submission order.
    """

    def __init__(self, name: str, parent: QObject | None = None, *, threads: int = 1):
        super().__init__(parent)
        self.name = name
        self._pool = ThreadPoolExecutor(max_workers=max(1, int(threads)), thread_name_prefix=name)
        self._relay = _gui_relay()
        #: results the pool has handed over, not yet given to their callbacks (in order)
        self._inbox: deque[tuple] = deque()
        self._queued: dict[object, Future] = {}
        #: jobs submitted whose last callback has not run yet
        self.pending = 0
        self._closed = False

    # -- submitting (GUI thread) -------------------------------------------------------------
    def submit(
        self,
        fn: Callable[[], Any],
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> bool:
        """Queue ``fn``; False (nothing queued) after :meth:`shutdown`, when the window closed."""

        def run(emit: Callable[[tuple], None]) -> None:
            try:
                result = fn()
            except BaseException as exc:  # delivered, never lost: the caller decides what to show
                emit((on_error, exc, True))
            else:
                emit((on_done, result, True))

        return self._start(run)

    def stream(
        self,
        gen: Callable[[], Generator[Any, None, Any]],
        on_item: Callable[[Any], None],
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> bool:
        """Queue a generator: each yielded value reaches ``on_item``, in order, then its return
        value ``on_done`` (or an exception ``on_error``); False after :meth:`shutdown`."""

        def run(emit: Callable[[tuple], None]) -> None:
            try:
                it = gen()
                while True:
                    try:
                        item = next(it)
                    except StopIteration as stop:
                        emit((on_done, stop.value, True))
                        return
                    emit((on_item, item, False))
            except BaseException as exc:
                emit((on_error, exc, True))

        return self._start(run)

    def _start(self, run: Callable[[Callable[[tuple], None]], None]) -> bool:
        if self._closed:
            return False
        job = object()  # the job's name in payloads; its Future is only needed here, to cancel
        # Only a weak reference travels with the job (not call_in_gui_thread(self, ...), whose
        # closure would hold this wrapper): a pool thread must never free a QObject's wrapper.
        delivered, me, inbox = self._relay.delivered, weakref.ref(self), self._inbox

        def emit(payload: tuple) -> None:  # a pool thread; never touches this queue's QObject
            inbox.append((job, *payload))
            try:
                delivered.emit((me, Background.deliver_now, ()))
            except RuntimeError:  # the application is going away: nobody to tell
                pass

        # Deliveries are queued to the GUI thread, so none is handled before this returns.
        self._queued[job] = self._pool.submit(run, emit)
        self.pending += 1
        return True

    # -- results (GUI thread) ----------------------------------------------------------------
    def deliver_now(self) -> None:
        """Hand every result that has arrived to its callback now, in order (the relay does this
        soon anyway; :meth:`wait` then this: the jobs' answers are known when it returns)."""
        while True:
            try:
                payload = self._inbox.popleft()
            except IndexError:
                return
            self._deliver(payload)

    def _deliver(self, payload: tuple) -> None:
        job, callback, value, last = payload
        if last:
            self._queued.pop(job, None)
            self.pending -= 1
        if callback is not None:
            callback(value)

    # -- control ------------------------------------------------------------------------------
    def clear(self) -> int:
        """Drop the jobs that have not started (another project opened); returns how many.
        Jobs already running finish and deliver (callers drop stale answers themselves)."""
        dropped = [job for job, future in list(self._queued.items()) if future.cancel()]
        for job in dropped:
            del self._queued[job]
        self.pending -= len(dropped)
        return len(dropped)

    def wait(self, msecs: int = -1) -> bool:
        """Block until the queued and running jobs end (shutdown, tests); True when all ended.
        Their callbacks run later, from the event loop, or at :meth:`deliver_now`."""
        jobs = list(self._queued.values())
        _, not_done = futures_wait(jobs, timeout=None if msecs < 0 else msecs / 1000)
        return not not_done

    def shutdown(self) -> None:
        """Accept no more jobs and wait for those queued (the window closes)."""
        self._closed = True
        self._pool.shutdown(wait=True)
