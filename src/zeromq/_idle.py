"""Sleeping in the event loop's place while it has nothing else to do.

A `send` or `receive` that finds its socket not ready normally goes back to
the event loop, which sleeps in `epoll_wait` until libzmq's fd signals, then
runs a callback that resumes the task: a loop turn, a callback and a task
step on every wake-up, which is most of what a round trip costs us beyond
pyzmq's blocking calls.

When the loop has nothing else to do anyway (no callback ready, the loop not
stopping), `idle_wait` does the loop's sleep itself, in `ppoll` on two fds:
the socket's and the loop's own epoll fd, which is readable as soon as any fd
the loop watches is (its self-pipe too, which `call_soon_threadsafe` and
signals write to), capped at the loop's next timer. If the socket's fd
signals first and its ZMQ_EVENTS says the operation can go on, it is retried
in the same task step: no loop turn. (ZMQ_EVENTS must be read: the fd signals
any command libzmq queues for the socket, and a failed send does not always
process them, so retrying at each signal would spin.) If anything else happens first (another fd, a timer due, a callback
from another thread), it returns at once and the caller waits through the
loop as usual, which then finds that work ready: nothing waits longer than
it would have, and timers wake sooner than with the loop's own
millisecond-rounded `epoll_wait`.

This reads the stock loop's internals (`_ready`, `_scheduled`, `_stopping`,
`_debug`, `_thread_id`, `_selector`) and asyncio's set of tasks running an
eager first step (whose creator's step is in progress, so the loop is not
idle though `_ready` is empty), so it is guarded: it is used only on
the exact loop class it was written and tested for (asyncio's
`_UnixSelectorEventLoop` with an `EpollSelector`, on the Python versions in
`_VERSIONS`, with the C accelerator's `wait_ready`), after checking at a
loop's first use that those internals are what it relies on; anything else
(uvloop, a subclass, debug mode, another selector or version) takes the
plain path through the loop.

It is ON by default; ``ZEROMQ_IDLE_WAIT=0`` turns it off (read at a loop's
first use). It was opt-in for a while, after the CLI's ``pair`` test hung
about one run in sixteen with it on: that was the test's own race, not a
lost wake-up (``pair --count 1`` exits once it has received one message,
and with the faster wake-up that message could come before the line read
from stdin had been sent), and the test now takes turns.

A receive's fast path sleeps here in one C call (`recv_idle`), without
entering the engine's slow path at all; other waits call `idle_wait`.
"""

from __future__ import annotations

import asyncio
import collections
import os
import selectors
import sys
import time
import weakref
from collections.abc import Callable
from typing import Any

from ._native import _SPEEDUPS

# The Python versions whose asyncio internals this was checked against.
_VERSIONS = ((3, 11), (3, 12), (3, 13))

_wait_ready: Callable[[Any, int, int, float, int], bool] | None = getattr(_SPEEDUPS, "wait_ready", None)

recv_idle: Callable[[Any, int, Any, int, int], list[bytes] | float | None] = getattr(
    _SPEEDUPS, "recv_idle", None
) or (lambda handle, fd, loop, loop_fd, timeout_ms: None)
"""`recv_idle(handle, fd, loop, loop_fd, timeout_ms)`: the receive fast path's
one call into C. It receives a whole message from the socket whose raw
libzmq handle is `handle` and whose ZMQ_FD is `fd`; finding none, when
`loop` (one that `receive_fd` gave `loop_fd` for) runs in this thread with
nothing else to do, it sleeps in the loop's place as `idle_wait` does
(capped at the loop's next timer and at `timeout_ms`, if not -1, from the
call) and receives again. A message: done. None: no message and no sleep:
wait through the loop. A float: no message after a sleep; the loop time at
which `timeout_ms` ends (-1.0 without a timeout), for the wait through the
loop to keep. Raises zmq.ZMQError as a receive; never called with a
`timeout_ms` of 0."""

# Each loop's epoll fd, or None where the plain path must be taken; and the
# last loop looked up, checked first (a weak reference is read faster than a
# WeakKeyDictionary, and most programs run one loop; several loops in
# several threads only pay the dictionary when they take turns).
_LOOPS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, int | None] = weakref.WeakKeyDictionary()
_last: tuple[weakref.ref[asyncio.AbstractEventLoop], int | None] | None = None

_has_recv_idle = hasattr(_SPEEDUPS, "recv_idle")

# asyncio's set of the tasks running their eager first step (Python 3.12+;
# `asyncio.eager_task_factory`, `Task(..., eager_start=True)`). Such a step
# runs inside the step of the task that created it, a task in no ready queue:
# while the set is not empty, the loop is not idle, whatever `_ready` says.
# Absent (3.11): no eager tasks. Not a set: this module stays off (`_check`).
_EAGER_TASKS: Any = getattr(sys.modules.get("asyncio.tasks"), "_eager_tasks", set())
if type(_EAGER_TASKS) is set and hasattr(_SPEEDUPS, "watch_eager_tasks"):
    _SPEEDUPS.watch_eager_tasks(_EAGER_TASKS)

# wait_ready's deadlines are CLOCK_MONOTONIC times, as loop.time()'s must be.
_CLOCK_FITS = time.get_clock_info("monotonic").implementation == "clock_gettime(CLOCK_MONOTONIC)"


def _stock_loop_class() -> type | None:
    unix_events = sys.modules.get("asyncio.unix_events")
    return getattr(unix_events, "_UnixSelectorEventLoop", None)


def _check(loop: asyncio.AbstractEventLoop) -> int | None:
    """The loop's epoll fd if this module may sleep in its place, else None."""
    if (
        _wait_ready is None
        or os.environ.get("ZEROMQ_IDLE_WAIT", "").strip() == "0"
        or sys.version_info[:2] not in _VERSIONS
        or type(loop) is not _stock_loop_class()
        or not _CLOCK_FITS
        or type(_EAGER_TASKS) is not set
        or (_has_recv_idle and not hasattr(_SPEEDUPS, "watch_eager_tasks"))
    ):
        return None
    state: Any = loop
    try:
        ready, scheduled, selector = state._ready, state._scheduled, state._selector
        fits = (
            type(ready) is collections.deque
            and type(scheduled) is list
            and type(state._stopping) is bool
            and type(state._debug) is bool
            and type(state._thread_id) in (int, type(None))
            and type(selector) is selectors.EpollSelector
            and "_when" in getattr(asyncio.TimerHandle, "__slots__", ())
        )
        fd = selector.fileno() if fits else -1
    except (AttributeError, OSError, ValueError):
        return None
    return fd if fd >= 0 else None


def _loop_fd(loop: asyncio.AbstractEventLoop) -> int | None:
    global _last
    last = _last
    if last is not None and last[0]() is loop:
        return last[1]
    try:
        fd = _LOOPS[loop]
    except KeyError:
        fd = _LOOPS[loop] = _check(loop)
    _last = (weakref.ref(loop), fd)
    return fd


def receive_fd(loop: asyncio.AbstractEventLoop) -> int | None:
    """The `loop_fd` that `recv_idle` takes for `loop`, or None where a
    receive must not sleep in its place (then `recv_idle` must not be used)."""
    return _loop_fd(loop) if _has_recv_idle else None


def supported(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether `idle_wait` may sleep in `loop`'s place."""
    return _loop_fd(loop) is not None


def idle_wait(
    loop: asyncio.AbstractEventLoop, fd: int, deadline: float | None, handle: Any, want: int
) -> bool:
    """Sleep until the socket's ZMQ_EVENTS has a bit of `want` (POLLIN,
    POLLOUT), if the loop has nothing else to do; False at once if it has,
    or when anything else needs the loop first (another fd, a callback from
    another thread, its next timer or `deadline` due).

    Call it from a task's step, right where the task would otherwise wait
    through the loop for the socket whose ZMQ_FD is `fd` and whose raw
    libzmq handle is `handle`. True: the socket is ready (or closed); retry
    the operation at once. False: wait through the loop. Raises nothing.
    """
    last = _last
    loop_fd = last[1] if last is not None and last[0]() is loop else _loop_fd(loop)
    if loop_fd is None:
        return False
    state: Any = loop
    if state._ready or state._stopping or state._debug or _EAGER_TASKS:
        return False
    scheduled = state._scheduled
    when = deadline
    if scheduled:
        # The head of the heap is the next timer (a cancelled one at worst,
        # which only wakes us early).
        first: float = scheduled[0]._when
        if when is None or first < when:
            when = first
    assert _wait_ready is not None
    # The stock loop's time() is time.monotonic(), wait_ready's clock; it
    # returns False at once if `when` has come.
    return _wait_ready(handle, fd, loop_fd, -1.0 if when is None else when, want)

