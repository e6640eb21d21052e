"""The trio backend (see `zeromq._backends`); imported only inside a trio run."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

import trio

library = "trio"

logger = logging.getLogger("zeromq")


class Runner:
    """One trio run, known by its token (the same object for the whole run)."""

    __slots__ = ("token",)

    library = "trio"

    def __init__(self, token: trio.lowlevel.TrioToken) -> None:
        self.token = token

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Runner) and other.token is self.token

    def __hash__(self) -> int:
        return id(self.token)

    def __repr__(self) -> str:
        return f"<trio runner {self.token!r}>"

    def is_running(self) -> bool:
        try:
            # A no-op callback: fails once the run has finished.
            self.token.run_sync_soon(_nothing)
        except trio.RunFinishedError:
            return False
        return True

    def is_closed(self) -> bool:
        return not self.is_running()  # a trio run never runs again

    def is_current(self) -> bool:
        try:
            return trio.lowlevel.current_trio_token() is self.token
        except RuntimeError:
            return False

    def call_soon(self, fn: Callable[..., object], *args: Any) -> None:
        # Raises trio.RunFinishedError, a RuntimeError, once the run is over.
        self.token.run_sync_soon(self._call, fn, args)

    def _call(self, fn: Callable[..., object], args: tuple[Any, ...]) -> None:
        try:
            fn(*args)
        except Exception as exc:
            # Raised out of a run_sync_soon callback, it would crash the run
            # (asyncio's loop only logs a failing callback).
            self.report(f"Exception in callback {fn!r}", exc)

    def spawn(self, fn: Callable[[], Coroutine[Any, Any, None]], name: str) -> Task:
        task = Task(self)
        # A system task, not a nursery's: it outlives the task that starts it
        # (an Observer's pump, an Authenticator's server), and trio cancels it
        # when the run's main task has returned.
        trio.lowlevel.spawn_system_task(task._run, fn, name=name)
        return task

    def report(self, message: str, exc: BaseException, **context: object) -> None:
        # trio has no exception handler to hand this to: log it, as asyncio's
        # default handler does.
        logger.error("%s", message, exc_info=exc, extra={"zeromq_context": context})


def _nothing() -> None:
    pass


class Task:
    """A trio system task started by `Runner.spawn`."""

    __slots__ = ("_cancelled", "_done", "_scope", "_task", "runner")

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self._task: trio.lowlevel.Task | None = None
        self._scope = trio.CancelScope()
        self._done = trio.Event()
        self._cancelled = False

    async def _run(self, fn: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self._task = trio.lowlevel.current_task()
        try:
            with self._scope:
                await fn()
        except trio.Cancelled:
            self._cancelled = True
            raise
        except Exception as exc:
            # An exception out of a system task would crash the whole run.
            self.runner.report(f"Exception in zeromq background task {fn!r}", exc)
        finally:
            if self._scope.cancelled_caught:
                self._cancelled = True
            self._done.set()

    def done(self) -> bool:
        return self._done.is_set()

    def cancelled(self) -> bool:
        return self._cancelled

    def cancel(self) -> None:
        self._scope.cancel()

    def is_current(self) -> bool:
        try:
            return trio.lowlevel.current_task() is self._task
        except RuntimeError:
            return False

    async def wait(self) -> None:
        await self._done.wait()


def runner() -> Runner:
    return Runner(trio.lowlevel.current_trio_token())


async def sleep(seconds: float) -> None:
    await trio.sleep(seconds)


async def checkpoint() -> None:
    await trio.lowlevel.checkpoint()


def event() -> trio.Event:
    return trio.Event()


def lock() -> trio.Lock:
    return trio.Lock()


async def wait_uncancelled(event: Any) -> None:
    with trio.CancelScope(shield=True):
        await event.wait()


def time() -> float:
    return trio.current_time()



# -- the engine's waiting ----------------------------------------------------------


class Waiter:
    """What a waiting `send` or `receive` waits on in a trio run: the trio
    twin of the engine's asyncio `Waiter` (same `wake`, `rearm`, `done`,
    `cancelled` and `_late`), one per operation for its stay in its line.

    Waking reschedules the waiting task; it then takes the message in its own
    step, so a wait ended by a cancel scope has taken nothing.
    """

    __slots__ = ("_late", "_state", "_task")

    _PENDING, _READY, _EXPIRED, _CANCELLED = 0, 1, 2, 3

    def __init__(self) -> None:
        self._state = Waiter._PENDING
        self._task: trio.lowlevel.Task | None = None
        # Set (for good) once the operation's deadline has passed.
        self._late = False

    def wake(self, expired: bool = False, now: bool = False) -> None:
        """Complete the wait (a no-op once done); `now` is for asyncio's only."""
        if self._state != Waiter._PENDING:
            return
        self._state = Waiter._EXPIRED if expired else Waiter._READY
        task, self._task = self._task, None
        if task is not None:
            trio.lowlevel.reschedule(task)

    def rearm(self) -> None:
        """Pending again, for the next wait; a wake before that wait makes it
        return at once (it is not lost)."""
        self._state = Waiter._PENDING

    def done(self) -> bool:
        return self._state != Waiter._PENDING

    def cancelled(self) -> bool:
        return self._state == Waiter._CANCELLED

    def _abort(self, _raise_cancel: object) -> trio.lowlevel.Abort:
        self._task = None
        if self._state == Waiter._PENDING:
            self._state = Waiter._CANCELLED
        return trio.lowlevel.Abort.SUCCEEDED

    async def wait(self, deadline: float | None) -> None:
        """Wait until woken, or until `deadline` (trio's clock), which sets
        `_late`. A cancellation raises as usual, having taken nothing."""
        if deadline is not None and trio.current_time() >= deadline:
            self._late = True
        if self._state != Waiter._PENDING or self._late:
            await trio.lowlevel.checkpoint()
            return
        self._task = trio.lowlevel.current_task()
        if deadline is None:
            await trio.lowlevel.wait_task_rescheduled(self._abort)
            return
        with trio.CancelScope(deadline=deadline) as scope:
            await trio.lowlevel.wait_task_rescheduled(self._abort)
        if scope.cancelled_caught:
            # Our deadline, not an outer cancellation (that raises).
            self._late = True
            self._state = Waiter._EXPIRED


class FdWatch:
    """One trio run watching one socket's fd for all of its waiters.

    trio lets one task at a time wait for an fd to become readable, and a
    socket's fd serves both directions (and, with queued operations, many
    waiters), so one system task per socket waits for it and calls
    `on_readable()` each time; that reads ZMQ_EVENTS (consuming the
    edge-triggered fd's signal) and wakes whom it concerns. `on_readable`
    returns False when nobody waits any more: the watch then ends, leaving
    the fd alone until the next wait starts a new one. Should the wait
    itself fail, `on_failed()` wakes every waiter to look again.
    """

    __slots__ = ("_fd", "_on_failed", "_on_readable", "_scope", "done", "runner")

    def __init__(
        self, fd: int, on_readable: Callable[[], bool], on_failed: Callable[[], object]
    ) -> None:
        self._fd = fd
        self._on_readable = on_readable
        self._on_failed = on_failed
        self._scope = trio.CancelScope()
        self.done = False
        self.runner = runner()
        trio.lowlevel.spawn_system_task(self._run, name=f"zeromq fd {fd} watch")

    async def _run(self) -> None:
        try:
            with self._scope:
                # Not once stopped, even before this task first ran: the fd
                # may be closed already, and trio registers an fd with epoll
                # before a cancelled wait notices its cancellation.
                while not self.done:
                    await trio.lowlevel.wait_readable(self._fd)
                    # Stopped while this task was already due to run: the
                    # socket may be closed and libzmq may have closed the fd,
                    # which must not be waited on again.
                    if self.done or not self._on_readable() or self.done:
                        return
        except trio.ClosedResourceError:
            pass  # the socket was closed: its waiters were woken by close()
        except Exception as exc:
            # Not expected (another task waiting on our fd?); an exception out
            # of a system task would crash the whole run. Say so, and let the
            # waiters look at the socket again (a new wait starts a new watch).
            logger.error("zeromq: watching socket fd %d failed", self._fd, exc_info=exc)
            self.done = True
            self._on_failed()
        finally:
            self.done = True

    def stop(self) -> None:
        """Stop watching (from the run's thread). The wait on the fd ends
        before this returns, so libzmq may close the fd right after."""
        self.done = True
        self._scope.cancel()
