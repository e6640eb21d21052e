"""The engine: non-blocking send and receive on a libzmq socket under asyncio or trio.

Every `send` and `receive` first tries the operation at once with
`ZMQ_DONTWAIT`, unless operations of its direction are already waiting (it
must not overtake them). Otherwise it joins its direction's line, a FIFO of
waiting operations, and waits for its turn and then for *readiness*, never for
a message: the message is taken off the socket in the awaiting coroutine's own
step, after the wait. That is what makes a cancelled `receive` lose nothing
and a cancelled `send` send nothing (see `Engine._complete`).

Waiting for the fd is the one thing asked of the event loop (`_backends._asyncio`:
`add_reader`, or a selector thread for loops without it); the lines, the
attempts, timeouts and cancellation are all here.

Readiness comes from libzmq's `ZMQ_FD`, which is edge-triggered: it signals
that the socket's state *changed*, and reading `ZMQ_EVENTS` (or any send or
receive, which process the same command queue) consumes the signal. So after
any operation while someone is waiting, `_poll()` re-reads `ZMQ_EVENTS`;
otherwise a waiter could sleep until some unrelated later event.

What differs under trio is only how an operation waits: one task per socket
waits for the fd (`_backends._trio.FdWatch`, as trio lets one task at a time
wait on an fd) and runs the same `_poll()`, and each waiter carries its own
deadline instead of a loop timer (`_backends._trio.Waiter`).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import errno
import functools
import threading
import weakref
from collections import deque
from collections.abc import Callable, Generator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Self, TypeVar, cast

import zmq

from . import _backends, _idle
from ._backends import _asyncio as _asyncio_backend
from ._errors import ZMQError, closed_error, from_zmq, lent_error, state_hint, timeout_error
from ._idle import idle_wait
from ._native import _SPEEDUPS, ACCELERATED, CLOSED_TARGET, target_of
from ._native import bytes_parts as _bytes_parts
from ._native import events as _events
from ._native import recv_message as _recv_message
from ._native import recv_parts as _recv_parts
from ._native import send_message as _send_message
from ._native import send_plain as _send_plain

_POLLIN = int(zmq.POLLIN)
_POLLOUT = int(zmq.POLLOUT)
_NativeError = zmq.ZMQError

T = TypeVar("T")
M = TypeVar("M")  # what a receive gives: list[bytes], or a DRAFT message

# How many operations may complete at once before `send`/`receive` yield to
# the event loop. An `await` that does not suspend never lets other tasks
# run, so a loop over a socket with a backlog would otherwise starve them.
YIELD_EVERY = 256

# Parts this large are handed to libzmq without a copy.
_ZERO_COPY_MIN = 65536

if TYPE_CHECKING:
    from typing import TypeAlias

    from typing_extensions import Buffer

    from ._backends._trio import FdWatch

    MessagePart: TypeAlias = Buffer | str | int | float | None
    Message: TypeAlias = MessagePart | Sequence[MessagePart]
else:
    MessagePart = bytes | bytearray | memoryview | str | int | float | None
    Message = MessagePart | Sequence[MessagePart]
# MessagePart: one part of a message: a buffer, a str (UTF-8), a number (its str()) or None.
# Message: one part, or a sequence (list, tuple...) of parts.

# Engines with a pending wait. The loop holds a socket's reader callback only
# weakly and asyncio holds tasks weakly, so without this a socket whose
# receive is pending in an unreferenced task could be collected mid-wait.
_WAITING: set[Engine] = set()

# Held while an engine starts watching its fd in a loop, and by a close()
# from a thread other than that loop's while it decides how to close. Without
# it a close() from another thread could find no loop watching (so close the
# fd right there) while a receive() just starting in a loop is between its
# attempt and watching the fd: it would then watch a closed fd (EBADF) or
# wait on one that nothing will ever signal. Both are rare and slow-path only.
_ATTACHING = threading.Lock()


def _on_readable(ref: weakref.ref[Engine]) -> None:
    """The loop's callback while our fd is readable: wake the heads that can
    go on (its C twin, `_speedups.on_readable`, does the same in one call)."""
    engine = ref()
    if engine is None:
        return
    if not engine._receivers and not engine._senders:
        # Nobody waits: stop watching rather than read ZMQ_EVENTS, so that an
        # idle socket is never touched from this loop's thread (it may be in
        # use from another). The signal stays pending on the fd (the loop's
        # watch is level-triggered), so the next wait, which watches again,
        # sees it at once: nothing is lost.
        engine._unwatch()
        return
    engine._poll(now=True)


class Waiter:
    """What a waiting `send` or `receive` awaits: a minimal Future-like
    object (asyncio Tasks accept any object with `_asyncio_future_blocking`).

    Its result says whether the wait timed out. Unlike `asyncio.Future`,
    `wake(now=True)` resumes the waiting task right away instead of on the
    loop's next turn, which saves one event-loop iteration per wake-up. That
    is only allowed from a plain loop callback (the fd watch, a timer), never
    from inside a task's step, where a task cannot start another.
    """

    __slots__ = ("_asyncio_future_blocking", "_callback", "_cancel_message", "_context", "_late", "_loop", "_state")

    _PENDING, _READY, _EXPIRED, _CANCELLED = 0, 1, 2, 3

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._state = Waiter._PENDING
        self._callback: Callable[[Waiter], object] | None = None
        self._context: contextvars.Context | None = None
        self._asyncio_future_blocking = False
        # Set (for good) when the operation's deadline passes: a wake that
        # comes while the task is not awaiting the waiter is not lost.
        self._late = False
        # cancel()'s message, which the task's CancelledError carries.
        self._cancel_message: object = None

    def wake(self, expired: bool = False, now: bool = False) -> None:
        """Complete the wait (a no-op once done); `now` resumes the task at once."""
        if self._state != Waiter._PENDING:
            return
        self._state = Waiter._EXPIRED if expired else Waiter._READY
        callback, self._callback = self._callback, None
        if callback is None:
            return
        # `is None`, not `or`: an empty Context is falsy. The task's own
        # context, even empty, is where it must run: in a copy of the fd
        # callback's context, what it sets would be lost at its next wait.
        context = contextvars.copy_context() if self._context is None else self._context
        if now:
            context.run(callback, self)
        else:
            self._loop.call_soon(callback, self, context=context)

    def rearm(self) -> None:
        """Make a waiter whose task has resumed pending again, for its next wait.
        A wake that comes after this and before the next `await` makes that
        `await` return at once: it is not lost."""
        self._state = Waiter._PENDING
        self._asyncio_future_blocking = False

    # -- what asyncio.Task uses of a Future ----------------------------------
    # (No get_loop(): without it the Task reads `_loop`, one Python call less
    # per wait.)

    def done(self) -> bool:
        return self._state != Waiter._PENDING

    def cancelled(self) -> bool:
        return self._state == Waiter._CANCELLED

    def _cancelled_error(self) -> asyncio.CancelledError:
        """What a Future raises once cancelled: with cancel()'s message, if any."""
        message = self._cancel_message
        return asyncio.CancelledError() if message is None else asyncio.CancelledError(message)

    def result(self) -> bool:
        if self._state == Waiter._CANCELLED:
            raise self._cancelled_error()
        if self._state == Waiter._PENDING:
            raise asyncio.InvalidStateError("the wait is not over")
        return self._state == Waiter._EXPIRED

    def exception(self) -> BaseException | None:
        if self._state == Waiter._CANCELLED:
            raise self._cancelled_error()
        return None

    def add_done_callback(
        self, callback: Callable[[Waiter], object], *, context: contextvars.Context | None = None
    ) -> None:
        if self._state != Waiter._PENDING:
            self._loop.call_soon(callback, self, context=context)
        else:
            self._callback, self._context = callback, context

    def remove_done_callback(self, callback: Callable[[Waiter], object]) -> int:
        if self._callback is not None and self._callback == callback:
            self._callback = None
            return 1
        return 0

    def cancel(self, msg: object = None) -> bool:
        if self._state != Waiter._PENDING:
            return False
        self._state = Waiter._CANCELLED
        self._cancel_message = msg  # the task's CancelledError carries it
        callback, self._callback = self._callback, None
        if callback is not None:
            self._loop.call_soon(callback, self, context=self._context)
        return True

    def __await__(self) -> Generator[Waiter, None, bool]:
        if self._state == Waiter._PENDING:
            self._asyncio_future_blocking = True
            yield self
            # Resumed normally, so done and not cancelled: the task throws
            # CancelledError in at the yield instead.
            return self._state == Waiter._EXPIRED
        return self.result()


# What `_complete` makes for each waiting operation on asyncio: the C twin
# of `Waiter` when the accelerator is built (same behaviour, several Python
# calls fewer per wait), else `Waiter`.
new_waiter: Callable[[asyncio.AbstractEventLoop], Waiter] = getattr(_SPEEDUPS, "Waiter", Waiter)
_on_readable_c: Any = getattr(_SPEEDUPS, "on_readable", None)


def _part(part: object) -> object:
    """Convert one message part to what pyzmq sends."""
    cls = type(part)
    if cls is bytes:
        return part
    if cls is str:
        return part.encode()  # type: ignore[attr-defined]
    if part is None:
        return b""
    if cls is bool:
        raise TypeError("message part must be bytes, a buffer, str, int, float or None, not bool")
    if cls is int or cls is float or isinstance(part, (int, float)):
        return str(part).encode()
    if isinstance(part, str):
        return part.encode()
    try:
        view = memoryview(part)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(
            "message part must be bytes, a buffer, str, int, float or None, "
            f"not {cls.__name__}"
        ) from None
    if not view.c_contiguous:
        return view.tobytes()
    if view.nbytes >= _ZERO_COPY_MIN and type(view.obj) is bytes and not ACCELERATED:
        # Large views of bytes go without a copy (the accelerator does the
        # same in C). Other memory can change, even behind a read-only view,
        # and a change must not alter a message still queued: it is copied.
        return zmq.Frame(view, copy=False)
    return view


# Types that are one part: checked first, so that a single part does not pay
# for the Sequence check below.
_ONE_PART = frozenset({bytes, str, bytearray, memoryview, int, float, type(None)})


def to_parts(message: object) -> list[object]:
    """Convert a message (one part or a sequence of parts) to pyzmq parts."""
    cls = type(message)
    if cls in _ONE_PART:
        return [_part(message)]
    # A list or tuple of bytes (what receive() returns) needs no conversion:
    # one C call copies it (the copy is what a retried send sends).
    parts_of_bytes = _bytes_parts(message)
    if parts_of_bytes is not None:
        return parts_of_bytes  # type: ignore[return-value]
    if cls is not list and cls is not tuple:
        if not isinstance(message, Sequence) or isinstance(message, (str, bytes)):
            return [_part(message)]
        # Another sequence (a deque, a list subclass...) holds parts, unless it
        # is a buffer itself (an array.array is a sequence too): one part.
        try:
            memoryview(message)  # type: ignore[arg-type]
        except TypeError:
            pass
        else:
            return [_part(message)]
    parts = cast("Sequence[object]", message)
    if not parts:
        raise ValueError("cannot send a message with no parts")
    return [_part(p) for p in parts]


class Engine:
    """State and waiting shared by the sending and receiving halves."""

    __slots__ = (
        "__weakref__",
        "_budget",
        "_closed",
        "_fd",
        "_idle_fd",
        "_loop",
        "_native",
        "_orphaned",
        "_receive_timeout",
        "_receivers",
        "_send_timeout",
        "_senders",
        "_target",
        "_trio_watch",
    )

    _native: zmq.Socket[bytes]
    # Whether a wait may sleep in the event loop's place (_idle): not where the
    # readiness fd is not libzmq's ZMQ_FD (the DRAFT thread-safe sockets).
    _IDLE_WAIT: ClassVar[bool] = True

    def _init_engine(self, native: zmq.Socket[bytes]) -> None:
        self._native = native
        self._fd: int = self._readiness_fd(native)
        self._loop: asyncio.AbstractEventLoop | None = None
        # The epoll fd of `_loop` while a receive may sleep in its place
        # (`_idle`), else None; set and cleared with `_loop`.
        self._idle_fd: int | None = None
        # The trio run's watch of our fd, or None.
        self._trio_watch: FdWatch | None = None
        self._closed = False
        self._orphaned = False  # a parent's socket in a forked child
        self._budget = YIELD_EVERY
        # The line of waiting operations of each direction, oldest first, one
        # Waiter each. Only the head may take (or queue) a message; the others
        # wait for their turn. The waiting sends' messages stay in their own
        # tasks: nothing is buffered here beyond libzmq's high-water mark.
        self._receivers: deque[Waiter] = deque()
        self._senders: deque[Waiter] = deque()
        self._receive_timeout = -1
        self._send_timeout = -1
        # What the hot calls of _native take: the raw libzmq handle or the socket.
        self._target: Any = target_of(native)

    # -- readiness ---------------------------------------------------------

    # The readiness hook: the one fd the loop watches for this socket, and how
    # its events are read (which also consumes the fd's signal). Here libzmq's
    # ZMQ_FD and ZMQ_EVENTS; the DRAFT thread-safe sockets, whose ZMQ_FD is
    # unusable, override both to wait on a zmq_poller of their own (_draft.py).

    def _readiness_fd(self, native: zmq.Socket[bytes]) -> int:
        """The fd the event loop watches (called once, from `_init_engine`)."""
        return int(native.get(zmq.FD))

    def _read_events(self) -> int:
        """The socket's ZMQ_POLLIN/ZMQ_POLLOUT flags, consuming the fd's signal.

        Raises:
            zmq.ZMQError: the socket is closed.
        """
        return _events(self._target)

    def _poll(self, now: bool = False) -> None:
        """Read ZMQ_EVENTS (consuming the fd's edge) and wake the head of each
        line that can go on; `now` (only from a loop callback, see `Waiter`)
        resumes them at once."""
        try:
            events = self._read_events()
        except _NativeError:
            return  # closed: close() has woken the waiters
        if events & _POLLIN and self._receivers:
            self._receivers[0].wake(now=now)
        # A head resumed just now may have changed the lines: index afresh. A
        # send woken on stale readiness only tries, finds EAGAIN, waits again.
        if events & _POLLOUT and self._senders:
            self._senders[0].wake(now=now)

    def _watch(self, loop: asyncio.AbstractEventLoop) -> None:
        """Make sure `loop`, the running loop, watches our fd."""
        if self._loop is not loop:
            with _ATTACHING:
                # Under the lock, a close() from another thread has either
                # finished deciding (then _closed is set) or will see this
                # loop and close the socket in it, waking our waiter.
                if self._closed:
                    raise closed_error(self._orphaned)
                self._check_no_trio_watch()
                old = self._loop
                if old is not None and not old.is_closed():
                    if old.is_running():
                        raise ZMQError(
                            errno.EBUSY,
                            "Socket is in use by another event loop; use each socket from one loop",
                        )
                    _asyncio_backend.unwatch(old, self._fd)
                elif old is not None:
                    # Woken from this loop, one of the closed loop's waiters
                    # would take a message into a task nobody can await.
                    self._drop_waiters_of(old)
                _asyncio_backend.watch(loop, self._fd, self._readable_callback(), weakref.ref(self))
                self._loop = loop
                self._idle_fd = _idle.receive_fd(loop) if self._IDLE_WAIT else None

    def _readable_callback(self) -> Callable[[weakref.ref[Engine]], object]:
        """What the loop calls when our fd signals: `_on_readable`, or its C
        twin where readiness is the base `_read_events` (ZMQ_EVENTS)."""
        if _on_readable_c is not None and type(self)._read_events is Engine._read_events:
            return _on_readable_c  # type: ignore[no-any-return]
        return _on_readable

    def _check_no_trio_watch(self) -> None:
        watch = self._trio_watch
        if watch is not None:
            if not watch.done and watch.runner.is_running():
                raise _busy()
            self._trio_watch = None

    def _watch_trio(self) -> None:
        """Make sure the running trio run watches our fd."""
        watch = self._trio_watch
        if watch is None or watch.done:
            with _ATTACHING:  # as in _watch
                if self._closed:
                    raise closed_error(self._orphaned)
                loop = self._loop
                if loop is not None and not loop.is_closed() and loop.is_running():
                    raise _busy()
                if loop is not None and loop.is_closed():
                    self._drop_waiters_of(loop)  # at a line's head, they would hold up this run's
                self._unwatch()
                ref = weakref.ref(self)
                self._trio_watch = _backends.trio_backend().FdWatch(
                    self._fd,
                    functools.partial(_on_trio_readable, ref),
                    functools.partial(_on_trio_failed, ref),
                )
        elif not watch.runner.is_current():
            raise _busy()

    def _unwatch(self) -> None:
        watch, self._trio_watch = self._trio_watch, None
        if watch is not None and not watch.done:
            watch.stop()
        loop, self._loop, self._idle_fd = self._loop, None, None
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError, ValueError, OSError):  # loop tearing down
                _asyncio_backend.unwatch(loop, self._fd)

    def _check_loop(self) -> None:
        """Refuse an operation from another thread's loop while this socket's
        own loop has operations waiting: libzmq sockets must not be used from
        two threads at once, and the waiters could not be woken safely."""
        watch = self._trio_watch
        if watch is not None and not watch.done:
            wrong = not watch.runner.is_current()
        else:
            wrong = asyncio._get_running_loop() is not self._loop
        if wrong:
            raise _busy()

    async def _complete(
        self,
        receiving: bool,
        attempt: Callable[[Any], T | None],
        tried: bool = False,
        slept: bool = False,
        ends: float | None = None,
    ) -> T:
        """The slow path of `send` and `receive`: join the direction's line,
        and once at its head retry `attempt` (a hot call of _native, None
        meaning EAGAIN) until it completes, waiting for readiness in between,
        within the direction's timeout counted from this call. `tried`: the
        caller's fast path has just made the attempt on an empty line and got
        EAGAIN, so the first step is to wait; `slept`: that attempt also tried
        the idle wait (`_idle.recv_idle`), so the first wait is the loop's;
        `ends`: the loop time at which the timeout ends, if that attempt
        started counting it (it slept).

        One coroutine does both the attempts and the waits (no helper
        coroutine per wait): this runs once per wake-up, so every frame and
        call on it costs round-trip latency.
        """
        if self._closed:
            raise closed_error(self._orphaned)
        line, other = (
            (self._receivers, self._senders) if receiving else (self._senders, self._receivers)
        )
        what = "receive" if receiving else "send"
        timeout = self._receive_timeout if receiving else self._send_timeout
        if timeout == 0 and (tried or not _gone(line)):
            # It would wait at once (for readiness, or behind others): fail
            # without watching the fd (no syscalls, no selector thread).
            raise self._timeout_error(what)
        # One waiter for the operation's whole stay in the line, so that the
        # deadline and every wake (turn, readiness, close) reach it. asyncio:
        # the loop watches the fd and a timer expires the waiter; trio: a task
        # per socket watches the fd and the waiter waits with the deadline.
        waiter: Any
        timer = None
        deadline: float | None = None
        # (Read once: on Python 3.11 each read of the running loop is a getpid().)
        loop = asyncio._get_running_loop()
        on_asyncio = loop is not None
        if loop is not None:
            if self._loop is not loop:
                self._watch(loop)
            waiter = new_waiter(loop)
            if timeout > 0:
                timer = loop.call_at(loop.time() + timeout / 1000 if ends is None else ends, _expire, waiter)
        else:
            trio_backend = _backends.trio_backend()
            self._watch_trio()
            waiter = trio_backend.Waiter()
            if timeout > 0:
                deadline = trio_backend.time() + timeout / 1000
        line.append(waiter)
        _WAITING.add(self)
        try:
            while True:
                # Wakes from here on count: one that comes before the await
                # below makes it return at once, and we look again.
                waiter.rearm()
                if line[0] is waiter:
                    if not tried:
                        if self._budget <= 0:
                            self._budget = YIELD_EVERY
                            # Yield to other tasks before the attempt, so that
                            # a cancellation here has taken or sent nothing.
                            await _backends.current().checkpoint()
                            if self._closed:
                                raise closed_error(self._orphaned)
                        # The message is taken (or queued) in this coroutine's
                        # own step, never in a callback: a task cancelled
                        # while it waits has had nothing taken off the socket.
                        try:
                            result = attempt(self._target)
                        except _NativeError as exc:
                            raise self._error(exc, f"Cannot {what}") from None
                        if result is not None:
                            # The attempt processed libzmq's commands, which
                            # may have consumed the fd edge the other line's
                            # head needs: look for it.
                            if other:
                                self._poll()
                            return result
                    tried = False
                    if timeout == 0:
                        raise self._timeout_error(what)
                    # No edge is lost for this line: a send or receive that
                    # fails with EAGAIN has processed libzmq's pending
                    # commands first, so any later change signals the fd anew.
                    # But that processing may have consumed the edge the
                    # *other* line's head needs.
                    if other:
                        self._poll()
                    # The loop has nothing else to do: sleep in its place and,
                    # once ZMQ_EVENTS allows this line, attempt again at once,
                    # without a loop turn (see _idle: opt-in, guarded). Only
                    # with the other line empty, as idle_wait reads ZMQ_EVENTS
                    # for this line only; the timeout's timer caps the sleep.
                    elif slept:
                        slept = False
                    # (_idle_fd: the loop is one idle_wait is for.)
                    elif loop is not None and self._idle_fd is not None and idle_wait(
                        loop, self._fd, None, self._target, _POLLIN if receiving else _POLLOUT
                    ):
                        continue
                elif timeout == 0:
                    raise self._timeout_error(what)  # cannot complete at once: others are first
                # The waiter only ever gets a result, never an exception:
                # errors are raised fresh below, so no future keeps a
                # traceback (and through its frames this socket) alive after
                # the caller dropped the error.
                if on_asyncio:
                    await waiter
                else:
                    watch = self._trio_watch
                    if watch is None or watch.done:
                        self._watch_trio()  # the last one failed (see _on_trio_failed)
                    await waiter.wait(deadline)  # sets _late once the deadline passes
                if self._closed:
                    raise closed_error(self._orphaned)
                if waiter._late:
                    raise self._timeout_error(what)
        finally:
            if timer is not None:
                timer.cancel()
            # Leave the line, whatever the ending (result, error, timeout,
            # cancellation). A head that leaves hands the turn on at once: the
            # next one attempts without waiting for an fd edge, which this
            # head's own attempt may have consumed.
            if line and line[0] is waiter:
                line.popleft()
                if line:
                    line[0].wake()
            else:
                # Not the head (a timeout, a cancellation or close() while it
                # waited for its turn). O(n), only on those endings.
                with contextlib.suppress(ValueError):
                    line.remove(waiter)
            if not line and not other:
                _WAITING.discard(self)

    def _pending(self, receiving: bool) -> bool:
        """Whether operations of a direction wait, not counting cancelled ones:
        `task.cancel()` cancels the waiter at once, but the task only unwinds,
        taking nothing, on its next step."""
        line = self._receivers if receiving else self._senders
        return any(not waiter.cancelled() for waiter in line)

    def _timeout_error(self, what: str) -> ZMQError:
        """The error of a `send` or `receive` whose timeout expired (a socket
        class may add why it likely did)."""
        return timeout_error(what)

    def _error(self, exc: zmq.ZMQError, what: str) -> ZMQError:
        if self._closed:
            return closed_error(self._orphaned)
        if self._target is CLOSED_TARGET:
            # An open socket whose target was taken away: only a running
            # Proxy does that, lending the socket to its thread (SocketBase._lend).
            return lent_error(what)
        hint = None
        if exc.errno == zmq.EFSM:  # what is `Cannot send` or `Cannot receive`
            hint = state_hint(type(self).__name__, what.rsplit(" ", 1)[-1])
        return from_zmq(exc, what, hint=hint)

    def _forget(self) -> None:
        """Drop the socket without touching libzmq (in a forked child, where
        the parent's libzmq state must not be used)."""
        self._closed = self._orphaned = True
        self._target = CLOSED_TARGET
        self._loop = self._trio_watch = self._idle_fd = None
        self._receivers.clear()
        self._senders.clear()

    def _drop_waiters_of(self, loop: asyncio.AbstractEventLoop) -> None:
        """Take out of the lines the operations waiting in `loop`, closed
        while they waited (tasks it never ran to their end): they can never
        take their turn."""
        for line in (self._receivers, self._senders):
            for waiter in [w for w in line if getattr(w, "_loop", None) is loop]:
                line.remove(waiter)

    def _close_engine(self, wake: bool = True) -> None:
        """Mark the engine closed and stop watching; `wake` (not at exit,
        where they would raise into threads that die with the process): wake
        every waiting operation, which then fails with ENOTSOCK. Unwoken, they
        stay referenced (`_WAITING`): collected, their tasks would say they
        were destroyed pending."""
        self._closed = True
        self._target = CLOSED_TARGET
        self._unwatch()
        if not wake:
            return
        # Every waiting operation, head or not, is woken at once; each sees
        # _closed, fails with ENOTSOCK and leaves its line.
        for line in (self._receivers, self._senders):
            for waiter in line:
                loop = getattr(waiter, "_loop", None)
                if loop is not None and loop.is_closed():
                    # Its loop was closed with the operation's task still
                    # waiting: nothing will ever run it, and waking it would
                    # raise here, leaving the libzmq socket open (and the
                    # process exit waiting for it forever).
                    continue
                waiter.wake()
        _WAITING.discard(self)


def _busy() -> ZMQError:
    return ZMQError(
        errno.EBUSY, "Socket is in use by another event loop; use each socket from one loop"
    )


def _on_trio_readable(ref: weakref.ref[Engine]) -> bool:
    """The trio watch's callback: whether to keep watching."""
    engine = ref()
    if engine is None:
        return False
    if not engine._receivers and not engine._senders:
        # Nobody waits: stop watching, as _on_readable does; the signal stays
        # pending on the fd for the next wait's watch.
        engine._trio_watch = None
        return False
    engine._poll()
    return True


def _on_trio_failed(ref: weakref.ref[Engine]) -> None:
    engine = ref()
    if engine is not None:
        engine._trio_watch = None
        for line in (engine._receivers, engine._senders):
            for waiter in line:
                waiter.wake()  # each looks again, and a new wait watches anew


def _gone(line: deque[Any]) -> bool:
    """Drop the waiters at the head of `line` whose operation was cancelled
    but whose task has not unwound yet, and say whether the line is then empty.

    Such a task takes nothing when it does unwind (an attempt is made only by
    the head, in its own step, after its wait), so a new operation need not
    queue behind it, nor a `timeout == 0` one fail for it. Its own cleanup
    then finds it no longer in the line. A live waiter that becomes the head
    is woken, as when a head leaves.
    """
    dropped = False
    while line and line[0].cancelled():
        line.popleft()
        dropped = True
    if dropped and line:
        line[0].wake()
    return not line


def _expire(waiter: Waiter) -> None:
    waiter._late = True
    waiter.wake(expired=True, now=True)


class Iterating(Engine, Generic[M]):
    """`async for` over what the class's `receive()` returns (a list of parts
    here, a routed or group message for some DRAFT sockets), until the
    socket is closed."""

    __slots__ = ()

    async def receive(self) -> M:
        raise NotImplementedError

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> M:
        """The next message; the iteration ends when the socket is closed."""
        if self._closed:
            raise StopAsyncIteration
        try:
            return await self.receive()
        except ZMQError:
            if self._closed:
                raise StopAsyncIteration from None
            raise


class Readable(Iterating[list[bytes]]):
    """The receiving half: `receive()` and `async for`."""

    __slots__ = ()

    async def receive(self) -> list[bytes]:
        """Receive the next message, as a list of its parts.

        Completes at once when a message is queued and no other `receive()`
        is waiting; otherwise waits without blocking the event loop, for at
        most `receive_timeout` milliseconds from this call. Any number of
        tasks may wait at once: they get one whole message each, in the order
        they called. Cancelling a waiting `receive()` loses no message: it is
        either returned or stays queued for the next `receive()`.

        Raises:
            ZMQError: code ``EAGAIN`` (also a ``TimeoutError``) when
                `receive_timeout` expires; ``ENOTSOCK`` when the socket is or
                gets closed; ``EFSM`` when the socket's pattern does not allow
                a receive now; ``EBUSY`` when called from another thread's
                event loop while this socket's loop has operations waiting
                (not on the thread-safe DRAFT sockets, which serve several
                threads' loops at once).
        """
        if self._senders:
            self._check_loop()
        if not self._receivers or _gone(self._receivers):
            self._budget -= 1
            if self._budget > 0:
                # Fast path: one call takes a whole message; no future, no loop
                # trip. Where the loop may be slept for (`_idle`: the stock
                # loop, watching our fd, with nothing else to do), the same
                # call waits in its place for a message when there is none
                # yet (unless sends wait, or the timeout is 0).
                idle_fd = self._idle_fd
                timeout = self._receive_timeout
                try:
                    if idle_fd is not None and timeout != 0 and not self._senders:
                        message = _idle.recv_idle(self._target, self._fd, self._loop, idle_fd, timeout)
                    else:
                        message = _recv_message(self._target)
                except _NativeError as exc:
                    raise self._error(exc, "Cannot receive") from None
                if isinstance(message, list):
                    if self._senders:
                        self._poll()
                    return message
                if message is None:
                    return await self._complete(True, _recv_message, tried=True, slept=idle_fd is not None)
                # It slept: the timeout counts from before the sleep.
                ends = message if message >= 0 else None
                return await self._complete(True, _recv_message, tried=True, slept=True, ends=ends)
        # Others wait already (FIFO: no overtaking), or it is this call's turn to yield.
        return await self._complete(True, _recv_message)

    async def receive_buffers(self) -> list[memoryview]:
        """Like `receive()`, but without copying: each part is a read-only
        `memoryview` of the memory libzmq received the message into (kept
        until the view and everything made from it are gone). For large
        messages, e.g. ``numpy.frombuffer(part, dtype)``.

        Raises:
            ZMQError: as `receive()`.
        """
        if self._senders:
            self._check_loop()
        parts = None
        tried = False
        if not self._receivers or _gone(self._receivers):
            self._budget -= 1
            if self._budget > 0:
                # Fast path, as in receive().
                try:
                    parts = _recv_parts(self._target)
                except _NativeError as exc:
                    raise self._error(exc, "Cannot receive") from None
                if parts is not None and self._senders:
                    self._poll()
                tried = True
        if parts is None:
            parts = await self._complete(True, _recv_parts, tried)
        return [memoryview(part) for part in parts]


class Writable(Engine):
    """The sending half: `send()`."""

    __slots__ = ()

    async def send(self, message: Message) -> None:
        """Queue a message for sending: one part, or a list, tuple or other
        sequence of parts (a buffer is always one part).

        A part is `bytes`, `bytearray`, `memoryview` or any buffer (sent as
        raw bytes; `bytes` of 64 KiB or more without a copy), `str` (UTF-8),
        `int` or `float` (their `str()`), or `None` (an empty part). Completes
        at once when the message can be queued and no other `send()` is
        waiting; otherwise waits, for at most `send_timeout` milliseconds from
        this call. Any number of tasks may wait at once: their messages are
        queued whole, in the order they called, and each waiting message stays
        with its task (back-pressure reaches every sender). A cancelled
        `send()` has sent nothing.

        Raises:
            TypeError: a part of another type (nothing is sent).
            ValueError: an empty list, tuple or other sequence.
            ZMQError: code ``EAGAIN`` (also a ``TimeoutError``) when
                `send_timeout` expires; ``ENOTSOCK`` when the socket is or gets
                closed; ``EFSM``/``EHOSTUNREACH`` as the socket's pattern
                decides; ``EBUSY`` when called from another thread's event
                loop while this socket's loop has operations waiting (not on
                the thread-safe DRAFT sockets, which serve several threads'
                loops at once).
        """
        if self._receivers:
            self._check_loop()
        data: object = None
        tried = False
        if not self._senders or _gone(self._senders):
            self._budget -= 1
            if self._budget > 0:
                try:
                    # Fast path: bytes, or a list or tuple of bytes (what
                    # receive() returns), go as they are in one call.
                    sent = _send_plain(self._target, message)
                    if sent is None:
                        # All parts are converted before any is sent: a bad
                        # part sends nothing.
                        data = to_parts(message)
                        sent = _send_message(self._target, data)
                except _NativeError as exc:
                    raise self._error(exc, "Cannot send") from None
                if sent:
                    if self._receivers:
                        self._poll()
                    return
                tried = True
        if data is None:
            # What the waiting send retries: bytes as they are, anything else
            # converted now, into a list of our own that later changes to the
            # caller's list cannot alter.
            data = message if type(message) is bytes else to_parts(message)
        await self._complete(False, lambda target: _send_message(target, data) or None, tried=tried)
