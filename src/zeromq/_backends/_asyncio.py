"""The asyncio backend: any asyncio event loop (see `zeromq._backends`)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any

from . import _selector

library = "asyncio"

# asyncio keeps only weak references to tasks: a background task must be
# held here until it ends.
_TASKS: set[asyncio.Task[None]] = set()


class Runner:
    """An asyncio event loop."""

    __slots__ = ("loop",)

    library = "asyncio"

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Runner) and other.loop is self.loop

    def __hash__(self) -> int:
        return id(self.loop)

    def __repr__(self) -> str:
        return f"<asyncio runner {self.loop!r}>"

    def is_running(self) -> bool:
        return self.loop.is_running()

    def is_closed(self) -> bool:
        return self.loop.is_closed()

    def is_current(self) -> bool:
        return asyncio._get_running_loop() is self.loop

    def call_soon(self, fn: Callable[..., object], *args: Any) -> None:
        if self.is_current():
            self.loop.call_soon(fn, *args)
        else:
            self.loop.call_soon_threadsafe(fn, *args)

    def spawn(self, fn: Callable[[], Coroutine[Any, Any, None]], name: str) -> Task:
        task = self.loop.create_task(fn(), name=name)
        _TASKS.add(task)
        task.add_done_callback(_TASKS.discard)
        return Task(self, task)

    def report(self, message: str, exc: BaseException, **context: object) -> None:
        self.loop.call_exception_handler({"message": message, "exception": exc, **context})


class Task:
    """An asyncio task started by `Runner.spawn`."""

    __slots__ = ("runner", "task")

    def __init__(self, runner: Runner, task: asyncio.Task[None]) -> None:
        self.runner = runner
        self.task = task

    def done(self) -> bool:
        return self.task.done()

    def cancelled(self) -> bool:
        return self.task.cancelled()

    def cancel(self) -> None:
        self.task.cancel()

    def is_current(self) -> bool:
        return asyncio.current_task() is self.task

    async def wait(self) -> None:
        await asyncio.wait([self.task])


def runner() -> Runner:
    return Runner(asyncio.get_running_loop())


async def sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


async def checkpoint() -> None:
    await asyncio.sleep(0)


def event() -> asyncio.Event:
    return asyncio.Event()


def lock() -> asyncio.Lock:
    return asyncio.Lock()


async def wait_uncancelled(event: Any) -> None:
    # A second cancellation ends only this wait (the first is the caller's,
    # re-raised by it after this returns).
    waiting = asyncio.ensure_future(event.wait())
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.shield(waiting)


# -- watching a socket's fd --------------------------------------------------------
# A loop that watches fds itself (`add_reader`: the selector loops, uvloop) is
# used directly. One that cannot (Windows' Proactor loop raises
# NotImplementedError) gets a shared selector thread (`_selector`). Either way
# `callback(arg)` runs in the loop's thread while the fd is readable; the
# engine's waiters and timers are plain loop callbacks on both.


def watch(loop: asyncio.AbstractEventLoop, fd: int, callback: Callable[[Any], object], arg: Any) -> None:
    """Run `callback(arg)` in the loop's thread whenever `fd` is readable."""
    try:
        loop.add_reader(fd, callback, arg)
    except NotImplementedError:
        _selector.watch(loop, fd, callback, arg)


def unwatch(loop: asyncio.AbstractEventLoop, fd: int) -> None:
    """Stop watching `fd` (a no-op if it is not watched)."""
    try:
        loop.remove_reader(fd)
    except NotImplementedError:
        _selector.unwatch(loop, fd)
