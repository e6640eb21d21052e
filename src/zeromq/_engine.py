"""The engine: non-blocking send and receive on a libzmq socket under asyncio.

Every `send` and `receive` first tries the operation at once with
`ZMQ_DONTWAIT`. Only when libzmq says EAGAIN does it wait, and then it waits
for *readiness*, never for a message: the message is taken off the socket in
the awaiting coroutine's own step, after the wait. That is what makes a
cancelled `receive` lose nothing (see `Readable._receive_waiting`).

Readiness comes from libzmq's `ZMQ_FD`, which is edge-triggered: it signals
that the socket's state *changed*, and reading `ZMQ_EVENTS` (or any send or
receive, which process the same command queue) consumes the signal. So after
any operation while someone is waiting, `_poll()` re-reads `ZMQ_EVENTS`;
otherwise a waiter could sleep until some unrelated later event.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import errno
import weakref
from collections.abc import Callable, Generator, Sequence
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

import zmq

from ._errors import ZMQError, busy_error, closed_error, from_zmq, timeout_error
from ._native import ACCELERATED, CLOSED_TARGET, target_of
from ._native import events as _events
from ._native import recv_message as _recv_message
from ._native import recv_parts as _recv_parts
from ._native import send_message as _send_message

_POLLIN = int(zmq.POLLIN)
_POLLOUT = int(zmq.POLLOUT)
_NativeError = zmq.ZMQError

T = TypeVar("T")

# How many operations may complete at once before `send`/`receive` yield to
# the event loop. An `await` that does not suspend never lets other tasks
# run, so a loop over a socket with a backlog would otherwise starve them.
YIELD_EVERY = 256

# Parts this large are handed to libzmq without a copy.
_ZERO_COPY_MIN = 65536

if TYPE_CHECKING:
    from typing import TypeAlias

    from typing_extensions import Buffer

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


def _on_readable(ref: weakref.ref[Engine]) -> None:
    engine = ref()
    if engine is None:
        return
    if engine._receive_waiter is None and engine._send_waiter is None:
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

    __slots__ = ("_asyncio_future_blocking", "_callback", "_context", "_loop", "_state")

    _PENDING, _READY, _EXPIRED, _CANCELLED = 0, 1, 2, 3

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._state = Waiter._PENDING
        self._callback: Callable[[Waiter], object] | None = None
        self._context: contextvars.Context | None = None
        self._asyncio_future_blocking = False

    def wake(self, expired: bool = False, now: bool = False) -> None:
        """Complete the wait (a no-op once done); `now` resumes the task at once."""
        if self._state != Waiter._PENDING:
            return
        self._state = Waiter._EXPIRED if expired else Waiter._READY
        callback, self._callback = self._callback, None
        if callback is None:
            return
        context = self._context or contextvars.copy_context()
        if now:
            context.run(callback, self)
        else:
            self._loop.call_soon(callback, self, context=context)

    # -- what asyncio.Task uses of a Future ----------------------------------

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def done(self) -> bool:
        return self._state != Waiter._PENDING

    def cancelled(self) -> bool:
        return self._state == Waiter._CANCELLED

    def result(self) -> bool:
        if self._state == Waiter._CANCELLED:
            raise asyncio.CancelledError
        if self._state == Waiter._PENDING:
            raise asyncio.InvalidStateError("the wait is not over")
        return self._state == Waiter._EXPIRED

    def exception(self) -> BaseException | None:
        if self._state == Waiter._CANCELLED:
            raise asyncio.CancelledError
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
        "_loop",
        "_native",
        "_orphaned",
        "_receive_owner",
        "_receive_timeout",
        "_receive_waiter",
        "_send_owner",
        "_send_timeout",
        "_send_waiter",
        "_target",
    )

    _native: zmq.Socket[bytes]

    def _init_engine(self, native: zmq.Socket[bytes]) -> None:
        self._native = native
        self._fd: int = int(native.get(zmq.FD))
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self._orphaned = False  # a parent's socket in a forked child
        self._budget = YIELD_EVERY
        self._receive_waiter: Waiter | None = None
        self._send_waiter: Waiter | None = None
        # The token of the pending wait of each direction, or None.
        self._receive_owner: object | None = None
        self._send_owner: object | None = None
        self._receive_timeout = -1
        self._send_timeout = -1
        # What the hot calls of _native take: the raw libzmq handle or the socket.
        self._target: Any = target_of(native)

    # -- readiness ---------------------------------------------------------

    def _poll(self, now: bool = False) -> None:
        """Read ZMQ_EVENTS (consuming the fd's edge) and wake who can go on;
        `now` (only from a loop callback, see `Waiter`) resumes them at once."""
        try:
            events = _events(self._target)
        except _NativeError:
            return  # closed: close() has woken the waiters
        if events & _POLLIN and self._receive_waiter is not None:
            self._receive_waiter.wake(now=now)
        # Read again: a task resumed just now may have changed it.
        if events & _POLLOUT and self._send_waiter is not None:
            self._send_waiter.wake(now=now)

    def _watch(self) -> asyncio.AbstractEventLoop:
        """Make sure the running loop watches our fd; return that loop."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            old = self._loop
            if old is not None and not old.is_closed():
                if old.is_running():
                    raise ZMQError(
                        errno.EBUSY,
                        "Socket is in use by another event loop; use each socket from one loop",
                    )
                old.remove_reader(self._fd)
            loop.add_reader(self._fd, _on_readable, weakref.ref(self))
            self._loop = loop
        return loop

    def _unwatch(self) -> None:
        loop, self._loop = self._loop, None
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError, ValueError, OSError):  # loop tearing down
                loop.remove_reader(self._fd)

    async def _complete(
        self, receiving: bool, attempt: Callable[[Any], T | None], tried: bool = False
    ) -> T:
        """The slow path of `send` and `receive`: retry `attempt` (a hot call
        of _native, None meaning EAGAIN) until it completes, waiting for
        readiness in between, within the direction's timeout. `tried`: the
        caller's fast path has just made the attempt and got EAGAIN, so the
        first step is to wait.

        One coroutine does both the attempts and the waits (no helper
        coroutine per wait): this runs once per wake-up, so every frame and
        call on it costs round-trip latency.
        """
        owner = object()
        if receiving:
            self._receive_owner = owner
        else:
            self._send_owner = owner
        what = "receive" if receiving else "send"
        try:
            if self._budget <= 0:
                self._budget = YIELD_EVERY
                # Yield to other tasks before the attempt, so that a
                # cancellation here has taken or sent nothing.
                await asyncio.sleep(0)
            deadline: float | None = None
            first = True
            while True:
                # The message is taken (or queued) in this coroutine's own step,
                # never in a callback: a task cancelled while it waits has had
                # nothing taken off the socket.
                if not tried:
                    try:
                        result = attempt(self._target)
                    except _NativeError as exc:
                        raise self._error(exc, f"Cannot {what}") from None
                    if result is not None:
                        if (self._send_waiter if receiving else self._receive_waiter) is not None:
                            self._poll()
                        return result
                tried = False
                if first:
                    timeout = self._receive_timeout if receiving else self._send_timeout
                    deadline = self._deadline(timeout, what)
                    first = False
                # Wait for readiness. The caller retries its operation after
                # and may find it still not ready (another wake-up came first),
                # in which case it waits again.
                loop = self._watch()
                waiter = Waiter(loop)
                if receiving:
                    self._receive_waiter = waiter
                else:
                    self._send_waiter = waiter
                timer = None if deadline is None else loop.call_at(deadline, _expire, waiter)
                _WAITING.add(self)
                try:
                    # No edge is lost for this direction: a send or receive
                    # that fails with EAGAIN has processed libzmq's pending
                    # commands first, so any later change signals the fd anew.
                    # But that processing may have consumed the edge the
                    # *other* direction's waiter needs.
                    if (self._send_waiter if receiving else self._receive_waiter) is not None:
                        self._poll()
                    # The waiter only ever gets a result, never an exception:
                    # errors are raised fresh below, so no future keeps a
                    # traceback (and through its frames this socket) alive
                    # after the caller dropped the error.
                    expired = await waiter
                finally:
                    if timer is not None:
                        timer.cancel()
                    # A cancelled wait may have been taken over already (see _take_over).
                    if receiving:
                        if self._receive_waiter is waiter:
                            self._receive_waiter = None
                    elif self._send_waiter is waiter:
                        self._send_waiter = None
                    if self._receive_waiter is None and self._send_waiter is None:
                        _WAITING.discard(self)
                if self._closed:
                    raise closed_error(self._orphaned)
                if expired:
                    raise timeout_error(what)
        finally:
            if receiving:
                if self._receive_owner is owner:
                    self._receive_owner = None
            elif self._send_owner is owner:
                self._send_owner = None

    def _check_loop(self, waiter: Waiter) -> None:
        """Refuse an operation from another thread's loop while this socket's
        own loop waits on it: libzmq sockets must not be used from two
        threads at once, and the waiter could not be woken safely."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not waiter._loop:
            raise ZMQError(
                errno.EBUSY,
                "Socket is in use by another event loop; use each socket from one loop",
            )

    def _take_over(self, receiving: bool) -> bool:
        """Whether the pending operation of a direction was cancelled, and if
        so release it so that a new one may start at once.

        `task.cancel()` cancels the future the task waits on at once, but the
        task only unwinds on its next step. That step takes nothing off the
        socket, so a new operation need not fail with EBUSY meanwhile; the old
        one's cleanup sees it is no longer the owner and leaves the new alone.
        """
        waiter = self._receive_waiter if receiving else self._send_waiter
        if waiter is None or not waiter.cancelled():
            return False
        if receiving:
            self._receive_waiter = self._receive_owner = None
        else:
            self._send_waiter = self._send_owner = None
        return True

    def _deadline(self, timeout: int, what: str) -> float | None:
        if timeout < 0:
            return None
        if timeout == 0:
            raise timeout_error(what)
        return asyncio.get_running_loop().time() + timeout / 1000

    def _error(self, exc: zmq.ZMQError, what: str) -> ZMQError:
        if self._closed:
            return closed_error(self._orphaned)
        return from_zmq(exc, what)

    def _forget(self) -> None:
        """Drop the socket without touching libzmq (in a forked child, where
        the parent's libzmq state must not be used)."""
        self._closed = self._orphaned = True
        self._target = CLOSED_TARGET
        self._loop = None
        self._receive_waiter = self._send_waiter = None

    def _close_engine(self) -> None:
        self._closed = True
        self._target = CLOSED_TARGET
        self._unwatch()
        for waiter in (self._receive_waiter, self._send_waiter):
            if waiter is not None:
                waiter.wake()  # the woken operation sees _closed
        _WAITING.discard(self)


def _expire(waiter: Waiter) -> None:
    waiter.wake(expired=True, now=True)


class Readable(Engine):
    """The receiving half: `receive()` and `async for`."""

    __slots__ = ()

    async def receive(self) -> list[bytes]:
        """Receive the next message, as a list of its parts.

        Completes at once when a message is queued; otherwise waits without
        blocking the event loop, for at most `receive_timeout` milliseconds.
        Cancelling a pending `receive()` loses no message: it is either
        returned or stays queued for the next `receive()`.

        Raises:
            ZMQError: code ``EAGAIN`` (also a ``TimeoutError``) when
                `receive_timeout` expires; ``EBUSY`` when another `receive()`
                is pending; ``ENOTSOCK`` when the socket is or gets closed;
                ``EFSM`` when the socket's pattern does not allow a receive now.
        """
        if self._receive_owner is not None and not self._take_over(True):
            raise busy_error("receive")
        if self._send_waiter is not None:
            self._check_loop(self._send_waiter)
        self._budget -= 1
        if self._budget > 0:
            # Fast path: one call takes a whole message; no future, no loop trip.
            try:
                message = _recv_message(self._target)
            except _NativeError as exc:
                raise self._error(exc, "Cannot receive") from None
            if message is not None:
                if self._send_waiter is not None:
                    self._poll()
                return message
        # The fast path made the attempt unless it was this call's turn to yield.
        return await self._complete(True, _recv_message, tried=self._budget > 0)

    async def receive_buffers(self) -> list[memoryview]:
        """Like `receive()`, but without copying: each part is a read-only
        `memoryview` of the memory libzmq received the message into (kept
        until the view and everything made from it are gone). For large
        messages, e.g. ``numpy.frombuffer(part, dtype)``.

        Raises:
            ZMQError: as `receive()`.
        """
        if self._receive_owner is not None and not self._take_over(True):
            raise busy_error("receive")
        if self._send_waiter is not None:
            self._check_loop(self._send_waiter)
        self._budget -= 1
        parts = None
        if self._budget > 0:
            # Fast path, as in receive().
            try:
                parts = _recv_parts(self._target)
            except _NativeError as exc:
                raise self._error(exc, "Cannot receive") from None
            if parts is not None and self._send_waiter is not None:
                self._poll()
        if parts is None:
            parts = await self._complete(True, _recv_parts, tried=self._budget > 0)
        return [memoryview(part) for part in parts]

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> list[bytes]:
        """The next message; the iteration ends when the socket is closed."""
        if self._closed:
            raise StopAsyncIteration
        try:
            return await self.receive()
        except ZMQError:
            if self._closed:
                raise StopAsyncIteration from None
            raise


class Writable(Engine):
    """The sending half: `send()`."""

    __slots__ = ()

    async def send(self, message: Message) -> None:
        """Queue a message for sending: one part, or a list, tuple or other
        sequence of parts (a buffer is always one part).

        A part is `bytes`, `bytearray`, `memoryview` or any buffer (sent as
        raw bytes; `bytes` of 64 KiB or more without a copy), `str` (UTF-8),
        `int` or `float` (their `str()`), or `None` (an empty part). Completes at once when the message can be
        queued; otherwise waits, for at most `send_timeout` milliseconds. A
        cancelled `send()` has sent nothing.

        Raises:
            TypeError: a part of another type (nothing is sent).
            ValueError: an empty list, tuple or other sequence.
            ZMQError: code ``EAGAIN`` (also a ``TimeoutError``) when
                `send_timeout` expires; ``EBUSY`` when another `send()` is
                pending; ``ENOTSOCK`` when the socket is or gets closed;
                ``EFSM``/``EHOSTUNREACH`` as the socket's pattern decides.
        """
        if self._send_owner is not None and not self._take_over(False):
            raise busy_error("send")
        if self._receive_waiter is not None:
            self._check_loop(self._receive_waiter)
        # All parts are converted before any is sent: a bad part sends nothing.
        data = message if type(message) is bytes else to_parts(message)
        self._budget -= 1
        if self._budget > 0:
            try:
                sent = _send_message(self._target, data)
            except _NativeError as exc:
                raise self._error(exc, "Cannot send") from None
            if sent:
                if self._receive_waiter is not None:
                    self._poll()
                return
        await self._complete(
            False, lambda target: _send_message(target, data) or None, tried=self._budget > 0
        )
