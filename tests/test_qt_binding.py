"""Guards against Qt-binding bugs that would crash the app long after start-up."""

import sys

from PySide6.QtCore import QEventLoop
from PySide6.QtWidgets import QApplication, QLabel


def test_void_qt_calls_do_not_eat_references_to_none(qapp):
    """PySide6 6.12.0 decremented None's refcount on each void call: a 'deallocating None' abort."""
    label = QLabel("x")
    before = sys.getrefcount(None)
    for i in range(500):
        label.setText(str(i))
        QApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 1)
    lost = before - sys.getrefcount(None)
    assert lost < 50, f"{lost} references to None lost in 1000 Qt calls: this Qt binding will crash the app"
