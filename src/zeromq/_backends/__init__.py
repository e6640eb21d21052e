"""What differs between async libraries, behind one set of names.

Everything else (the engine's message taking and edge-triggered fd logic,
ordering and cancellation rules, the Observer, the Proxy, the Authenticator)
is shared. Each library has one module here with the same names:
`_asyncio` (any asyncio event loop) and `_trio` (imported only once a trio
run asks for it, so trio stays an optional extra). `current()` says which
one is running in this thread; the fast paths (an operation that completes
at once) never ask.

How the engine waits for a socket's fd: under asyncio in `_asyncio` here
(`watch`: `add_reader`, or `_selector`'s thread for loops without it), under
trio in `_trio` (`FdWatch`, `Waiter`).
"""

from __future__ import annotations

import sys
from asyncio import _get_running_loop
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any, Protocol

from . import _asyncio

NO_LOOP = "no async library is running: call this from asyncio or trio code"


class Event(Protocol):
    """asyncio.Event or trio.Event: set once, awaited by any number of tasks."""

    def set(self) -> None: ...
    def is_set(self) -> bool: ...
    async def wait(self) -> Any: ...


class Lock(Protocol):
    """asyncio.Lock or trio.Lock."""

    def locked(self) -> bool: ...
    async def __aenter__(self) -> Any: ...
    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
        /,
    ) -> Any: ...


class Task(Protocol):
    """A background task started with `Runner.spawn`."""

    @property
    def runner(self) -> Runner: ...

    def done(self) -> bool:
        """Whether it has ended, however."""

    def cancelled(self) -> bool:
        """Whether it ended cancelled (by `cancel()`, or its run shutting down)."""

    def cancel(self) -> None:
        """Ask it to stop; it ends at its next wait."""

    def is_current(self) -> bool:
        """Whether it is the task running this code."""

    async def wait(self) -> None:
        """Wait until it has ended (its exception, if any, is not raised)."""


class Runner(Protocol):
    """One asyncio event loop or one trio run: where a socket waits and a
    background task runs. Two runners compare equal when they are the same
    loop or run."""

    library: str

    def is_running(self) -> bool:
        """Whether it still runs (in any thread)."""

    def is_closed(self) -> bool:
        """Whether it has ended for good (an asyncio loop closed, a trio run
        over): nothing handed to it will run any more. An asyncio loop that
        is stopped but not closed may run again (safe from any thread)."""

    def is_current(self) -> bool:
        """Whether this thread is running it now."""

    def call_soon(self, fn: Callable[..., object], *args: Any) -> None:
        """Call `fn(*args)` in its thread soon; safe from any thread.

        Raises:
            RuntimeError: it has ended.
        """

    def spawn(self, fn: Callable[[], Coroutine[Any, Any, None]], name: str) -> Task:
        """Run `fn()` as a task that outlives its caller (until it returns or
        the run ends); only from the runner's own thread."""

    def report(self, message: str, exc: BaseException, **context: object) -> None:
        """Report an exception no caller can receive (a listener's, a callback's)."""


class Backend(Protocol):
    """What one async library provides (the modules of this package)."""

    def runner(self) -> Runner:
        """The runner of this thread."""

    async def sleep(self, seconds: float) -> None: ...

    async def checkpoint(self) -> None:
        """Let other tasks run (a cancellation may be delivered here)."""

    def event(self) -> Event: ...

    def lock(self) -> Lock: ...

    async def wait_uncancelled(self, event: Event) -> None:
        """Wait for `event` even if the caller is being cancelled (the
        cancellation is raised by the caller afterwards)."""


def current() -> Backend:
    """The library running in this thread: asyncio first (a trio run in
    asyncio's guest mode still answers to asyncio), then trio.

    Raises:
        RuntimeError: neither is running.
    """
    if _get_running_loop() is not None:
        return _asyncio
    trio = sys.modules.get("trio")
    if trio is not None and trio.lowlevel.in_trio_run():
        backend: Backend = trio_backend()
        return backend
    raise RuntimeError(NO_LOOP)


_TRIO_BACKEND: Any = None


def trio_backend() -> Any:
    """`_trio`, imported on first use (trio is an optional extra); kept, as
    an import statement costs on every call (the engine's waits call this)."""
    global _TRIO_BACKEND
    if _TRIO_BACKEND is None:
        from . import _trio

        _TRIO_BACKEND = _trio
    return _TRIO_BACKEND


def current_runner() -> Runner:
    """The loop or trio run of this thread.

    Raises:
        RuntimeError: none is running.
    """
    return current().runner()


def current_runner_or_none() -> Runner | None:
    try:
        return current().runner()
    except RuntimeError:
        return None


__all__ = [
    "Backend", "Event", "Lock", "Runner", "Task", "current", "current_runner", "current_runner_or_none",
    "trio_backend",
]
