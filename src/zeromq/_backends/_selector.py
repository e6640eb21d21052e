"""Watching a socket's fd for asyncio loops that cannot (Windows' Proactor
loop: its `add_reader` raises NotImplementedError).

One selector thread per loop, shared by all its sockets, waits for the fds to
become readable and hands each readiness back to the loop with
`call_soon_threadsafe`, where the engine's callback runs as it would from
`add_reader`. The engine's waiting, ordering and cancellation rules are the
same: only who notices readiness differs.
"""

from __future__ import annotations

import asyncio
import contextlib
import selectors
import socket
import threading
import weakref
from collections.abc import Callable
from typing import Any

from .. import _threads

# How often an idle selector thread checks whether its loop was closed.
_IDLE_CHECK = 1.0

_THREADS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _SelectorThread] = (
    weakref.WeakKeyDictionary()
)
_THREADS_LOCK = threading.Lock()


class _SelectorThread:
    """The thread that watches one loop's fds."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = weakref.ref(loop)
        # What the loop's thread wants watched: fd -> (callback, argument).
        # Changed in the loop's thread only, read by the selector thread
        # under the lock; the wake-up socket tells it to look again.
        self._wanted: dict[int, tuple[Callable[[Any], object], Any]] = {}
        self._lock = threading.Lock()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._thread = threading.Thread(
            target=self._run, name="zeromq selector", daemon=True
        )
        _threads.start(self._thread)

    def watch(self, fd: int, callback: Callable[[Any], object], arg: Any) -> None:
        with self._lock:
            self._wanted[fd] = (callback, arg)
        self._wake()

    def unwatch(self, fd: int) -> None:
        with self._lock:
            self._wanted.pop(fd, None)
        self._wake()

    def _wake(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):  # a wake-up is pending already
            self._wake_w.send(b"\0")

    def _fire(self, fd: int) -> None:
        """In the loop's thread: run the callback of a readable fd, then watch
        it again (the fd is watched one readiness at a time, so that the
        selector thread does not report it over and over while the loop has
        not yet read ZMQ_EVENTS, which clears it)."""
        with self._lock:
            wanted = self._wanted.get(fd)
        if wanted is None:
            return  # unwatched meanwhile
        callback, arg = wanted
        try:
            callback(arg)
        finally:
            self._wake()  # the selector thread registers it again

    def _run(self) -> None:
        selector = selectors.DefaultSelector()
        selector.register(self._wake_r, selectors.EVENT_READ)
        # fd -> the watch it was registered for: an fd number closed and
        # reused by a new socket is a new watch, registered afresh (the
        # selector forgot the closed one).
        registered: dict[int, object] = {}
        fired: set[int] = set()  # handed to the loop, not yet watched again
        try:
            while True:
                loop = self._loop()
                if loop is None or loop.is_closed():
                    return
                del loop
                for key, _ in selector.select(_IDLE_CHECK):
                    if key.fileobj is self._wake_r:
                        with contextlib.suppress(BlockingIOError, OSError):
                            while self._wake_r.recv(4096):
                                pass
                        # Every _fire ends with a wake-up. Another one may come
                        # first and register a fired fd again early: at worst
                        # its callback runs twice, reading ZMQ_EVENTS twice.
                        fired.clear()
                        continue
                    fd = key.fd
                    selector.unregister(fd)
                    del registered[fd]
                    fired.add(fd)
                    loop = self._loop()
                    if loop is None:
                        return
                    try:
                        loop.call_soon_threadsafe(self._fire, fd)
                    except RuntimeError:  # the loop was closed
                        return
                    del loop
                with self._lock:
                    wanted = {fd: w for fd, w in self._wanted.items() if fd not in fired}
                for fd, watch in list(registered.items()):
                    if wanted.get(fd) is not watch:
                        with contextlib.suppress(KeyError, ValueError, OSError):
                            selector.unregister(fd)
                        del registered[fd]
                for fd, watch in wanted.items():
                    if fd in registered:
                        continue
                    try:
                        selector.register(fd, selectors.EVENT_READ)
                    except (ValueError, OSError):
                        continue  # closed meanwhile: the engine unwatches it
                    registered[fd] = watch
        finally:
            selector.close()
            self._wake_r.close()
            self._wake_w.close()


def _thread_of(loop: asyncio.AbstractEventLoop) -> _SelectorThread:
    with _THREADS_LOCK:
        thread = _THREADS.get(loop)
        if thread is None or not thread._thread.is_alive():
            thread = _THREADS[loop] = _SelectorThread(loop)
        return thread


def watch(loop: asyncio.AbstractEventLoop, fd: int, callback: Callable[[Any], object], arg: Any) -> None:
    """Call `callback(arg)` in the loop's thread whenever `fd` is readable."""
    _thread_of(loop).watch(fd, callback, arg)


def unwatch(loop: asyncio.AbstractEventLoop, fd: int) -> None:
    """Stop watching `fd` for `loop`."""
    with _THREADS_LOCK:
        thread = _THREADS.get(loop)
    if thread is not None:
        thread.unwatch(fd)
