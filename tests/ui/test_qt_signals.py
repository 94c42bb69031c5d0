"""Guards against a PySide6 defect that ended the app: 6.12.0 drops a reference to
Python's True on every signal emit (on Python < 3.12, where True is not immortal),
so after a few hundred emits the interpreter aborts in bool_dealloc."""
import sys

from PySide6.QtCore import QObject, Signal


class Emitter(QObject):
    plain = Signal()
    text = Signal(int, str)


def test_signal_emits_keep_references_balanced(qapp):
    e = Emitter()
    e.plain.connect(lambda: None)
    e.text.connect(lambda i, t: None)
    before = sys.getrefcount(True), sys.getrefcount(False)
    for _ in range(200):
        e.plain.emit()
        e.text.emit(1, "token")
    assert (sys.getrefcount(True), sys.getrefcount(False)) == before
