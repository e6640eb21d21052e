"""Threads that never take a signal meant for the program.

A signal sent to the process (Ctrl-C's SIGINT, a SIGTERM) is delivered to any
one of its threads that does not block it. Python runs the handler only in
the main thread, and only when that thread next runs Python code: if the
signal lands in another thread while the main thread sleeps in the event
loop, nothing wakes the main thread, and Ctrl-C does nothing until some
message or timer comes (`zeromq pull` hung so about once in 150 Ctrl-Cs).

libzmq blocks every signal in its own threads, but only once they run: a
new thread starts with its creator's mask, and a signal that comes in that
moment is taken by the thread that is starting. A context's threads start
with its first socket, right when a program has just bound and is about to
wait. So every thread this package starts, and every libzmq socket it makes,
is started or made with the signals blocked in the creating thread: the new
thread inherits the blocked mask from its first instruction. Signals that
come meanwhile stay pending and go to the creating thread as soon as it
unblocks them.

The faults a thread's own code raises (SIGSEGV and the like) are left
unblocked: blocked, they would kill the process without `faulthandler`'s
report.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any

import zmq

# The signals a thread raises on itself by faulting, not sent to the program.
_FAULTS = {
    getattr(signal, name)
    for name in ("SIGSEGV", "SIGBUS", "SIGFPE", "SIGILL", "SIGTRAP", "SIGSYS", "SIGABRT")
    if hasattr(signal, name)
}
_BLOCKABLE: set[signal.Signals] = (
    set(signal.valid_signals()) - _FAULTS if hasattr(signal, "pthread_sigmask") else set()
)


@contextlib.contextmanager
def signals_blocked() -> Iterator[None]:
    """Block the program's signals in this thread for the block's time (not
    on platforms without `pthread_sigmask`). Handlers of signals that came
    meanwhile run when the block ends, and may raise there."""
    if not _BLOCKABLE:
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _BLOCKABLE)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def start(thread: threading.Thread) -> None:
    """`thread.start()`, the new thread blocking the program's signals for
    its whole life."""
    with signals_blocked():
        thread.start()


def native_socket(context: zmq.Context[Any], kind: int) -> zmq.Socket[Any]:
    """`context.socket(kind)`: a new libzmq socket. The context's first one
    starts libzmq's threads, which so start blocking the program's signals."""
    with signals_blocked():
        sock: zmq.Socket[Any] = context.socket(kind)
    return sock
