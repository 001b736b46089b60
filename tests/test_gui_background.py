"""The window's one background queue: callbacks on the GUI thread, order kept, queued work droppable."""

from __future__ import annotations

import threading

import pytest

from fcn_studio.gui.background import Background

pytestmark = pytest.mark.gui


def test_results_errors_and_streams_arrive_on_the_gui_thread_in_order(qtbot):
    bg = Background("fcn-test")
    gui = threading.get_ident()
    seen: list = []

    def record(kind):  # noqa: ANN001, ANN202
        return lambda value: seen.append((kind, value, threading.get_ident() == gui))

    def numbers():  # noqa: ANN202
        yield 1
        yield 2
        return "three"

    def boom():  # noqa: ANN202
        raise ValueError("bad")

    assert bg.submit(lambda: threading.current_thread().name, record("done"))
    assert bg.submit(lambda: None, record("none"))  # a bare None result is fine
    assert bg.submit(boom, record("never"), record("error"))
    assert bg.stream(numbers, record("item"), record("end"))
    qtbot.waitUntil(lambda: bg.pending == 0, timeout=10000)
    assert seen[0][1].startswith("fcn-test")  # the queue's threads carry its name
    assert [(k, v if not isinstance(v, Exception) else str(v)) for k, v, _ in seen[1:]] == [
        ("none", None), ("error", "bad"), ("item", 1), ("item", 2), ("end", "three")]
    assert all(on_gui for _, _, on_gui in seen)
    bg.shutdown()
    assert not bg.submit(lambda: 1)


def test_clear_drops_jobs_that_have_not_started(qtbot):
    bg = Background("fcn-test")
    gate, running = threading.Event(), threading.Event()
    ran: list[int] = []
    bg.submit(lambda: (running.set(), gate.wait()))
    assert running.wait(5)  # the first job runs (a one-thread queue): the others wait behind it
    for i in range(3):
        bg.submit(lambda i=i: ran.append(i))
    assert bg.clear() == 3
    gate.set()
    assert bg.wait(5000)
    qtbot.waitUntil(lambda: bg.pending == 0, timeout=5000)
    assert ran == []


_DELETE_WHILE_DELIVERING = """
import sys, time
import shiboken6
from PySide6.QtCore import QCoreApplication, QObject
from fcn_studio.gui.background import Background

app = QCoreApplication(sys.argv)
late = []
for _ in range(30):
    owner = QObject()
    queue = Background("fcn-test", owner, threads=2)
    for _ in range(2):
        queue.stream(lambda: iter(range(2000)), late.append)
    time.sleep(0.002)
    shiboken6.delete(owner)  # what Qt does to a closed window's children, queues included
    assert not shiboken6.isValid(queue)
    QCoreApplication.processEvents()
time.sleep(0.2)
QCoreApplication.processEvents()
print("late answers delivered:", len(late))
"""


def test_a_queue_deleted_while_its_threads_deliver_does_not_crash(tmp_path):
    """Qt deletes a closed window's queues while their threads may still be delivering; that
    emission read freed memory (a segfault while the next test's window opened, at every run
    of this script before the fix). In a child process, so a crash fails only this test; the
    late answers are dropped on the GUI thread, never handed to a deleted owner."""
    import os
    import subprocess
    import sys

    script = tmp_path / "delete_while_delivering.py"
    script.write_text(_DELETE_WHILE_DELIVERING)
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=240,
                         env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert run.returncode == 0, f"exit {run.returncode}: {run.stderr[-2000:]}"
    assert "late answers delivered: 0" in run.stdout  # each queue was gone before its answers came


def test_a_call_from_another_thread_runs_on_the_gui_thread_unless_its_owner_is_gone(qtbot):
    """The project's signals fire in worker threads (a mask saved, images imported); the image
    list follows them through call_in_gui_thread, which must drop a call whose widget is gone."""
    import shiboken6
    from PySide6.QtCore import QObject

    from fcn_studio.gui.background import call_in_gui_thread

    gui = threading.get_ident()
    kept, gone = QObject(), QObject()
    seen: list = []

    def record(owner, tag):  # noqa: ANN001, ANN202
        seen.append((owner is kept, tag, threading.get_ident() == gui))

    worker = threading.Thread(target=lambda: [call_in_gui_thread(kept, record, "a"), call_in_gui_thread(gone, record, "b")])
    worker.start()
    worker.join()
    shiboken6.delete(gone)  # deleted before the GUI thread got to its call
    qtbot.waitUntil(lambda: len(seen) > 0, timeout=5000)
    qtbot.wait(50)
    assert seen == [(True, "a", True)]
