"""Process exit: flush what sockets still have queued, as libzmq's contexts do.

Like the reference, the process waits at exit for messages queued on sockets
whose `linger` allows it. Unlike a silent hang, after half a second it says
once on stderr what it is waiting for and how to stop waiting.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import threading
import time
import weakref
from typing import Protocol

import zmq

HINT_AFTER = 0.5
HINT = (
    "zeromq: waiting for queued messages to be sent before the process exits; "
    "set `linger` on sockets (linger=0 drops them) or `blocky=False` on the context "
    "to exit without waiting\n"
)


class _Closable(Protocol):
    def close(self) -> None: ...
    def _close_at_exit(self) -> None: ...
    def _forget(self) -> None: ...


class _Tracked(Protocol):
    _native: zmq.Context[zmq.Socket[bytes]]
    _pid: int
    _sockets: weakref.WeakSet[_Closable]


_CONTEXTS: weakref.WeakSet[_Tracked] = weakref.WeakSet()
# Threads terminating contexts that were dropped (see `retire`).
_RETIRING: list[threading.Thread] = []


def track_context(ctx: _Tracked) -> None:
    _CONTEXTS.add(ctx)


def _terminate(natives: list[zmq.Context[zmq.Socket[bytes]]]) -> None:
    for native in natives:
        with contextlib.suppress(zmq.ZMQError):  # already terminated
            native.term()


def retire(ctx: _Tracked) -> None:
    """Terminate a dropped context without blocking the thread that dropped it.

    Its sockets are all closed (each kept it alive), but messages they queued
    may still be waiting out their `linger`; terminating waits for them.
    Done here on a thread, and waited for at exit like any context.
    """
    # Not a parent's context in a forked child (no I/O threads here), and no
    # new thread while the interpreter shuts down (it could never start).
    if ctx._pid != os.getpid() or ctx._native.closed or sys.is_finalizing():
        return
    worker = threading.Thread(
        target=_terminate, args=([ctx._native],), daemon=True, name="zeromq-term"
    )
    worker.start()
    _RETIRING[:] = [t for t in _RETIRING if t.is_alive()]
    _RETIRING.append(worker)


def _at_exit() -> None:
    contexts = list(_CONTEXTS)
    for ctx in contexts:
        # Observed sockets first: their last events must still find the
        # observers' reading sockets open (libzmq's monitor sends blocking).
        for sock in sorted(ctx._sockets, key=lambda s: getattr(s, "_observer", None) is None):
            with contextlib.suppress(Exception):  # best effort at exit
                sock._close_at_exit()
    natives = [ctx._native for ctx in contexts]
    workers = [t for t in _RETIRING if t.is_alive()]
    if natives:
        worker = threading.Thread(target=_terminate, args=(natives,), daemon=True)
        worker.start()
        workers.append(worker)
    if not workers:
        return
    deadline = time.monotonic() + HINT_AFTER
    for worker in workers:
        worker.join(max(0.0, deadline - time.monotonic()))
    if any(worker.is_alive() for worker in workers):
        sys.stderr.write(HINT)
        sys.stderr.flush()
        for worker in workers:
            worker.join()


# Registered after pyzmq's own atexit hook, so it runs before it.
atexit.register(_at_exit)


def _after_fork_in_child() -> None:
    """A forked child has a copy of the parent's libzmq state but none of its
    I/O threads: using or even closing the parent's sockets and contexts there
    could hang or corrupt the parent's connections. Drop them without touching
    libzmq, so that any use raises a clear ZMQError, and give the child a new
    default context for the sockets it makes itself."""
    for ctx in list(_CONTEXTS):
        for sock in list(ctx._sockets):
            sock._forget()
    _CONTEXTS.clear()
    _RETIRING.clear()  # the parent's threads do not exist here
    from . import _context

    _context._reset_default_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
