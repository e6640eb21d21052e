"""Process exit: flush what sockets still have queued, as libzmq's contexts do.

Like the reference, the process waits at exit for messages queued on sockets
whose `linger` allows it. Unlike a silent hang, after half a second it says
once on stderr what it is waiting for and what would stop the wait (only what
would help: `blocky=False` only where a blocky context's sockets linger
forever), and Ctrl-C then ends the wait and the process (status 130).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import queue
import sys
import threading
import time
import weakref
from dataclasses import dataclass
from typing import Protocol

import zmq

from . import _threads

HINT_AFTER = 0.5
INTERRUPTED = 130  # the exit status after Ctrl-C (128 + SIGINT)

# How the hint tells to wait less, where the program is not a Python one that
# sets socket options: the command line sets its own (it has `--linger`).
cure: str | None = None


@dataclass
class Lingering:
    """What the sockets a context closed may still be waiting for."""

    forever: bool = False  # some had linger -1
    longest: int = 0  # the longest finite linger, in ms

    def add(self, other: Lingering) -> None:
        self.forever |= other.forever
        self.longest = max(self.longest, other.longest)


def exit_hint(lingering: Lingering, blocky_helps: bool) -> str:
    """The line printed when the exit wait lasts. `blocky_helps`: some
    socket lingers forever only because its context is blocky."""
    text = "zeromq: waiting for queued messages to be sent before the process exits"
    if not lingering.forever and lingering.longest > 0:
        text += f" (for up to {lingering.longest} ms, the sockets' linger)"
    if cure is not None:
        how = cure
    else:
        how = "set `linger` on sockets (linger=0 drops queued messages)"
        if blocky_helps:
            how += " or `blocky=False` on their context"
        how += " to exit without waiting"
    return f"{text}; {how}; Ctrl-C exits now\n"


class _Closable(Protocol):
    def close(self) -> None: ...
    def _close_at_exit(self, deadline: float) -> None: ...
    def _forget(self) -> None: ...


# Seconds the exit waits, in all, for event loops still running in other
# (daemon) threads to let go of the sockets they use (thread-safe sockets:
# each of their loops closes its share in its own thread); a running loop
# takes a turn in far less.
LET_GO_WITHIN = 1.0


def time_left(deadline: float) -> float:
    """Seconds from now until `deadline` (a `time.monotonic()` time), at
    least 0: how long a wait bounded by it may still last."""
    return max(0.0, deadline - time.monotonic())


class _Tracked(Protocol):
    _native: zmq.Context[zmq.Socket[bytes]]
    _pid: int
    _sockets: weakref.WeakSet[_Closable]


class _Worker(Protocol):
    """What terminates contexts: a thread, or a job of the standby thread."""

    def join(self, timeout: float | None = None) -> None: ...
    def is_alive(self) -> bool: ...


_CONTEXTS: weakref.WeakSet[_Tracked] = weakref.WeakSet()
# Workers terminating contexts that were dropped (see `retire`).
_RETIRING: list[_Worker] = []
# What each of those contexts' sockets may wait for, and whether it was blocky.
_RETIRING_LINGERS: weakref.WeakKeyDictionary[_Worker, tuple[Lingering, bool]] = (
    weakref.WeakKeyDictionary()
)
# For each context, what its closed sockets may still be waiting for: so that
# the exit hint suggests only what would help.
_LINGERING: weakref.WeakKeyDictionary[_Tracked, Lingering] = weakref.WeakKeyDictionary()

# Python 3.12 refuses to start a thread once the interpreter is shutting down,
# atexit hooks included (3.11 and 3.13 allow it). There a daemon thread,
# started with the first socket, stands by to terminate contexts at exit, so
# that the exit still waits for queued messages, says why, and yields to Ctrl-C.
# (Not with the first context: `import zeromq` makes the default one, and a
# process that only imports it must stay single-threaded, to fork in peace.
# Without sockets, terminating a context never waits.)
_STANDBY_NEEDED = sys.version_info[:2] == (3, 12)


class _Job:
    """A termination handed to the standby thread; joined like a thread."""

    def __init__(self, natives: list[zmq.Context[zmq.Socket[bytes]]]) -> None:
        self.natives = natives
        self.done = threading.Event()

    def join(self, timeout: float | None = None) -> None:
        self.done.wait(timeout)

    def is_alive(self) -> bool:
        return not self.done.is_set()


class _Standby:
    """A daemon thread that terminates the contexts of the jobs handed to it."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        _threads.start(threading.Thread(target=self._run, daemon=True, name="zeromq-exit"))

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            with contextlib.suppress(Exception):  # best effort; the next jobs still run
                _terminate(job.natives)
            job.done.set()

    def submit(self, natives: list[zmq.Context[zmq.Socket[bytes]]]) -> _Job:
        job = _Job(natives)
        self._jobs.put(job)
        return job


_STANDBY: _Standby | None = None


def _spawn(natives: list[zmq.Context[zmq.Socket[bytes]]], name: str) -> _Worker | None:
    """Terminate `natives` on a thread of their own, or on the standby thread
    when no thread can start any more; None when neither can."""
    thread = threading.Thread(target=_terminate, args=(natives,), daemon=True, name=name)
    try:
        _threads.start(thread)
    except RuntimeError:  # Python 3.12, shutting down
        standby = _STANDBY
        if standby is None or standby.pid != os.getpid():
            return None
        return standby.submit(natives)
    return thread


def closing(ctx: _Tracked, native: zmq.Socket[bytes]) -> None:
    """Note the linger of a socket about to close (called by the socket)."""
    try:
        linger = int(native.get(zmq.LINGER))
    except zmq.ZMQError:
        return
    if linger == 0:
        return
    entry = _LINGERING.get(ctx)
    if entry is None:
        entry = _LINGERING[ctx] = Lingering()
    if linger < 0:
        entry.forever = True
    else:
        entry.longest = max(entry.longest, linger)


def track_context(ctx: _Tracked) -> None:
    _CONTEXTS.add(ctx)


def socket_made() -> None:
    """Called for every new socket: see _STANDBY_NEEDED."""
    global _STANDBY
    if _STANDBY_NEEDED and (_STANDBY is None or _STANDBY.pid != os.getpid()):
        # Made at exit already (from an atexit hook): no standby then, and
        # the exit terminates the contexts itself.
        with contextlib.suppress(RuntimeError):
            _STANDBY = _Standby()


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
    lingers = (_LINGERING.get(ctx) or Lingering(), _blocky(ctx))
    worker = _spawn([ctx._native], "zeromq-term")
    if worker is None:
        return  # shutting down: the exit terminates it with the others
    _RETIRING_LINGERS[worker] = lingers
    _RETIRING[:] = [t for t in _RETIRING if t.is_alive()]
    _RETIRING.append(worker)


def _blocky(ctx: _Tracked) -> bool:
    try:
        return bool(ctx._native.get(zmq.BLOCKY))
    except zmq.ZMQError:
        return True


def _at_exit() -> None:
    try:
        _exit_wait()
    except KeyboardInterrupt:
        # Ctrl-C while waiting: the user chose to drop what is queued. Leave
        # now, with the status of an interrupted process and no traceback
        # (raising here would print one, then go on waiting in libzmq).
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(INTERRUPTED)


def _exit_wait() -> None:
    contexts = list(_CONTEXTS)
    let_go_by = time.monotonic() + LET_GO_WITHIN  # one deadline for all sockets

    def order(s: _Closable) -> tuple[bool, bool]:
        # The ends of running proxies first: the proxy stops when one is
        # closed, which takes its control socket, open still. Then observed
        # sockets: their last events must still find the observers' reading
        # sockets open (libzmq's monitor sends blocking).
        return getattr(s, "_proxy", None) is None, getattr(s, "_observer", None) is None

    for ctx in contexts:
        for sock in sorted(ctx._sockets, key=order):
            with contextlib.suppress(Exception):  # best effort at exit
                sock._close_at_exit(let_go_by)
    natives = [ctx._native for ctx in contexts]
    workers = [t for t in _RETIRING if t.is_alive()]
    lingering = Lingering()
    blocky_helps = False
    for each, blocky in [(_LINGERING.get(c), _blocky(c)) for c in contexts] + [
        _RETIRING_LINGERS.get(t, (Lingering(True), True)) for t in workers
    ]:
        if each is not None:
            lingering.add(each)
            blocky_helps |= blocky and each.forever
    if natives:
        worker = _spawn(natives, "zeromq-exit")
        if worker is None:
            # No thread at all: wait here (Ctrl-C still interrupts the wait,
            # but nothing says what it waits for).
            _terminate(natives)
        else:
            workers.append(worker)
    if not workers:
        return
    deadline = time.monotonic() + HINT_AFTER
    for worker in workers:
        worker.join(time_left(deadline))
    if any(worker.is_alive() for worker in workers):
        sys.stderr.write(exit_hint(lingering, blocky_helps))
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
    global _STANDBY
    _CONTEXTS.clear()
    _RETIRING.clear()  # the parent's threads do not exist here
    _STANDBY = None  # nor its standby thread: the next context starts one
    from . import _context

    _context._reset_default_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
