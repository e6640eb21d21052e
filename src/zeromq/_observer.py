"""Socket events: an `Observer` reads libzmq's socket monitor; an `Event` is one event.

An observer starts libzmq's monitor of its socket (`zmq_socket_monitor`) on a
private inproc address and reads the monitor's messages with a `Pair` of its
own, so the engine does the waiting: no thread, no polling.

Two properties of libzmq's monitor shape this module:

- The monitor socket *blocks* when it cannot send, in whichever libzmq thread
  emits the event (most events come from an I/O thread, which would stall
  every socket of the context). So our Pair has no receive high water mark
  (an observer nobody reads only queues), and it stays open and connected
  until libzmq has sent its last event (MONITOR_STOPPED, our ``"end"``) or we
  have stopped the monitor ourselves.
- A socket closes in the background: libzmq's reaper sends the socket's last
  events (``"close"`` of its listeners) and ``"end"`` after `close()`
  returns, after `linger` if messages are queued.

Hence one task per observer, the pump, owns the Pair and reads it until
``"end"``: into the observer's queue for `receive()`, or to the listeners in
emitter mode, and on to the end after the observer is closed or dropped.
"""

from __future__ import annotations

import collections
import errno
import struct
import threading
import uuid
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, get_args

import zmq

from . import _backends
from ._errors import ZMQError, from_zmq
from ._sockets import Pair

if TYPE_CHECKING:
    from ._socket import SocketBase

EventType = Literal[
    "accept",
    "accept:error",
    "bind",
    "bind:error",
    "connect",
    "connect:delay",
    "connect:retry",
    "close",
    "close:error",
    "disconnect",
    "end",
    "handshake",
    "handshake:error:protocol",
    "handshake:error:auth",
    "handshake:error:other",
    "unknown",
]
"""The type of an `Event`: the event type strings of the reference."""

EVENT_TYPES: frozenset[str] = frozenset(get_args(EventType))

Listener = Callable[["Event"], object]

_TYPES: dict[int, EventType] = {
    int(zmq.EVENT_CONNECTED): "connect",
    int(zmq.EVENT_CONNECT_DELAYED): "connect:delay",
    int(zmq.EVENT_CONNECT_RETRIED): "connect:retry",
    int(zmq.EVENT_LISTENING): "bind",
    int(zmq.EVENT_BIND_FAILED): "bind:error",
    int(zmq.EVENT_ACCEPTED): "accept",
    int(zmq.EVENT_ACCEPT_FAILED): "accept:error",
    int(zmq.EVENT_CLOSED): "close",
    int(zmq.EVENT_CLOSE_FAILED): "close:error",
    int(zmq.EVENT_DISCONNECTED): "disconnect",
    int(zmq.EVENT_MONITOR_STOPPED): "end",
    int(zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL): "handshake:error:other",
    int(zmq.EVENT_HANDSHAKE_SUCCEEDED): "handshake",
    int(zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL): "handshake:error:protocol",
    int(zmq.EVENT_HANDSHAKE_FAILED_AUTH): "handshake:error:auth",
}

# Events whose value is an errno, and what failed.
_ERRNO_EVENTS: dict[str, str] = {
    "accept:error": "Accept failed",
    "bind:error": "Bind failed",
    "close:error": "Close failed",
    "handshake:error:other": "Handshake failed",
}

# ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH -> "ERR_ZMTP_MECHANISM_MISMATCH".
_PROTOCOL_ERRORS: dict[int, str] = {
    int(getattr(zmq, name)): "ERR_" + name.removeprefix("PROTOCOL_ERROR_")
    for name in dir(zmq)
    if name.startswith("PROTOCOL_ERROR_")
}

# Monitor events of the version 1 format: a 6-byte frame (uint16 event,
# uint32 value, native byte order), then a frame with the endpoint.
_HEADER = struct.Struct("=HI")


@dataclass(frozen=True, slots=True, repr=False)
class Event:
    """One event of a socket, as its `Observer` gives it.

    Attributes:
        type: what happened: ``"bind"``, ``"accept"``, ``"connect"``,
            ``"connect:retry"``, ``"close"``, ``"end"`` (the last event: the
            socket closed) and so on, the event types of the reference.
        address: the endpoint concerned, such as ``"tcp://127.0.0.1:5555"``;
            ``None`` when libzmq gives none (``"end"``). libzmq gives the
            address of ``"bind:error"`` without its ``tcp://``.
        interval: for ``"connect:retry"``, the milliseconds until the next
            attempt; otherwise ``None``.
        error: for the ``:error`` events, a `ZMQError` saying what failed.
            For ``"handshake:error:auth"`` it has a ``status``: the ZAP status
            code, such as ``400``; for ``"handshake:error:protocol"`` its
            ``code`` names the protocol error, such as
            ``"ERR_ZMTP_MECHANISM_MISMATCH"``. Otherwise ``None``.
    """

    type: EventType
    address: str | None = None
    interval: int | None = None
    error: ZMQError | None = None

    def __repr__(self) -> str:
        fields = [f"type={self.type!r}"]
        for name in ("address", "interval", "error"):
            value = getattr(self, name)
            if value is not None:
                fields.append(f"{name}={value!r}")
        return f"Event({', '.join(fields)})"


def _protocol_error(value: int, address: str | None) -> ZMQError:
    name = _PROTOCOL_ERRORS.get(value, f"ERR_PROTOCOL_{value:#x}")
    words = name.removeprefix("ERR_").split("_")
    text = " ".join([words[0], *(word.lower() for word in words[1:])])
    if address:
        text = f"{text} ({address})"
    error = ZMQError(errno.EPROTO, f"Handshake failed: {text}", address=address)
    error.code = name
    return error


def _auth_error(status: int, address: str | None) -> ZMQError:
    text = f"Handshake failed: authentication refused with ZAP status {status}"
    if address:
        text = f"{text} ({address})"
    return ZMQError(errno.EACCES, text, address=address, status=status)


def decode(frames: list[bytes]) -> Event:
    """Turn one message of libzmq's monitor into an `Event`."""
    if len(frames) != 2 or len(frames[0]) != _HEADER.size:
        return Event("unknown")
    number, value = _HEADER.unpack(frames[0])
    address = frames[1].decode("utf-8", "replace") or None
    kind = _TYPES.get(number, "unknown")
    if kind == "end":
        return Event(kind)
    if kind == "connect:retry":
        return Event(kind, address, interval=value)
    if kind in _ERRNO_EVENTS:
        return Event(
            kind, address, error=from_zmq(zmq.ZMQError(value), _ERRNO_EVENTS[kind], address)
        )
    if kind == "handshake:error:protocol":
        return Event(kind, address, error=_protocol_error(value, address))
    if kind == "handshake:error:auth":
        return Event(kind, address, error=_auth_error(value, address))
    return Event(kind, address)


def _observer_closed() -> ZMQError:
    return ZMQError(errno.ENOTSOCK, "Observer is closed")


# Observers whose socket has closed but whose "end" could not be read yet for
# want of a running event loop: their Pair must stay open (see the module
# docstring) until `_sweep()` finds the end. Any thread making an observer
# sweeps them, so one parked observer may be drained by several threads at
# once: `_drain_now` lets only one of them at a time read its Pair.
_PARKED: set[Observer] = set()


def _sweep() -> None:
    for observer in list(_PARKED):
        observer._drain_now()


class _Turn:
    """A pending `Observer.receive()`'s place in line."""

    __slots__ = ("woken",)

    def __init__(self) -> None:
        self.woken: _backends.Event | None = None


class Observer:
    """The events of one socket: `socket.events`.

    Made on the first access of `socket.events`, which is the same observer
    every time; every event after that first access is delivered, in order,
    until the ``"end"`` event that follows the socket's closing. Read events
    with `receive()` or ``async for event in socket.events``, or have them
    call listeners with `on()` (emitter mode); not both.

    The observer holds its socket weakly: it never keeps it alive. Events it
    has not delivered yet are queued without limit, so an observer nobody
    reads never slows its socket down.
    """

    __slots__ = (
        "__weakref__",
        "_draining",
        "_ended",
        "_events",
        "_listeners",
        "_pair",
        "_pump",
        "_socket",
        "_stopped",
        "_waiters",
    )

    def __init__(self, socket: SocketBase) -> None:
        """Observe `socket`; use `socket.events` rather than this.

        Raises:
            TypeError: `socket` is not a zeromq socket.
            ZMQError: the socket already has an observer (``EBUSY``) or is in
                use by a running `Proxy` (``EBUSY``), or libzmq refused.
        """
        from ._socket import SocketBase

        if not isinstance(socket, SocketBase):
            raise TypeError(f"Observer() takes a zeromq socket, not {type(socket).__name__}")
        if socket._observer is not None:
            raise ZMQError(errno.EBUSY, "The socket already has an observer: use socket.events")
        if socket._proxy is not None:
            raise ZMQError(errno.EBUSY, "Cannot observe a socket in use by a running Proxy")
        self._socket: weakref.ref[SocketBase] = weakref.ref(socket)
        self._events: collections.deque[Event] = collections.deque()
        # The pending receive()s, oldest first: only the first may take an
        # event; the others wait for their turn (as the sockets' receives do).
        self._waiters: collections.deque[_Turn] = collections.deque()
        self._listeners: dict[str, list[Listener]] | None = None
        self._pump: _backends.Task | None = None
        self._pair: Pair | None = None
        # Held while one thread reads the Pair outside a pump (`_drain_now`):
        # a libzmq socket must not be used by two threads at once, and two
        # readers would split a monitor message's two frames between them.
        self._draining = threading.Lock()
        # `close()` was called: deliver nothing more.
        self._stopped = False
        # No event will come any more: "end" was read, or the monitor stopped.
        self._ended = socket.closed
        if not self._ended:
            _sweep()
            address = f"inproc://zeromq.observer.{uuid.uuid4().hex}"
            pair = Pair(context=socket.context, linger=0, receive_high_water_mark=0)
            try:
                # Connected before the monitor binds: libzmq never finds the
                # monitor without its reader (it would block, see above).
                pair.connect(address)
                socket._native.monitor(address, zmq.EVENT_ALL)
            except zmq.ZMQError as exc:
                pair.close()
                raise from_zmq(exc, "Cannot observe the socket") from None
            except BaseException:
                pair.close()
                raise
            self._pair = pair
            self._start_pump()
        socket._observer = self

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<zeromq.Observer {state} queued={len(self._events)}>"

    # -- state -------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """Whether the observer was closed, with `close()` or because its
        socket was closed. Events that were on their way (up to ``"end"``)
        can still be read after the socket closes."""
        if self._stopped or self._ended:
            return True
        socket = self._socket()
        return socket is None or socket.closed

    def close(self) -> None:
        """Stop observing; calling it again does nothing.

        No event is received or emitted afterwards: a pending `receive()`
        raises, an ``async for`` ends, queued events are dropped. The socket
        itself stays open. Closing an observer is optional: it ends by itself
        after its socket closes.
        """
        if self._stopped:
            return
        self._stopped = True
        if not (_pumping(self._pump) and self._handed_to_pump(self._stop)):
            self._stop()

    def _stop(self) -> None:
        """The rest of `close()`, in the pump's loop where one runs."""
        self._events.clear()
        self._wake()
        if self._ended:
            return
        socket = self._socket()
        pair = self._pair
        if socket is not None and not socket._native.closed and pair is not None:
            try:
                # Stopping the monitor makes libzmq send its last message,
                # after which the Pair may go.
                socket._native.monitor(None, 0)
            except zmq.ZMQError:
                pass  # the context is terminating: the pump drains to the end
            else:
                self._finish()
                return
        # The socket is closing: its last events are still to come. The pump
        # reads on to the end (dropping them) and then closes the Pair.
        self._keep_draining()

    def _socket_closed(self) -> None:
        """Called by the socket when it closes: read on until "end".

        In whichever thread closed it: a thread-safe socket's last loop to
        let go of it may be another thread's than the observer's. The pump,
        the queue and the waiting receives belong to the loop (or trio run)
        the pump runs in, whose objects no other thread may touch, so the
        work is handed to that loop. One that has ended for good runs
        nothing any more, and nothing of it waits: then the closing thread
        drains the observer (in its own loop's pump, or what is there now,
        parked until the end). Never raises: it runs inside `close()`.
        """
        if self._ended:
            return
        if not self._handed_to_pump(self._socket_closed_here):
            self._keep_draining()

    def _handed_to_pump(self, work: Callable[[], None]) -> bool:
        """From another thread than the pump's loop (or trio run), whose
        objects (the pump, the queue, the waiting receives) no other thread
        may touch: hand `work` to that loop and say so. False where it is to
        be done here: no pump, this is its loop, or that loop has ended (just
        now, perhaps: then nothing of it runs or waits any more)."""
        pump = self._pump
        if pump is None or pump.runner.is_current():
            return False
        try:
            pump.runner.call_soon(work)
        except RuntimeError:
            return False
        return True

    def _socket_closed_here(self) -> None:
        """`_socket_closed`, handed to the pump's loop and run in it."""
        if not self._ended:
            self._keep_draining()

    # -- reading -----------------------------------------------------------

    async def receive(self) -> Event:
        """The next event; waits without blocking the event loop until one
        comes. Any number of tasks may wait at once: they get one event each,
        in the order they called. Cancelling a pending `receive()` loses no
        event: it is there for the next one.

        Raises:
            ZMQError: ``ENOTSOCK`` when the observer is closed or has given
                its ``"end"`` event (the receives waiting then all fail);
                ``EBUSY`` in emitter mode (after `on()`), or while another
                thread's event loop (or trio run) reads the events.
        """
        if self._listeners is not None:
            raise ZMQError(
                errno.EBUSY,
                "Observer is in event emitter mode: after on() its events go to the "
                "listeners and receive() is not available",
            )
        self._check_runner()
        events = self._events
        waiters = self._waiters
        if events and not waiters:
            return events.popleft()  # nobody before this one: no wait
        backend = _backends.current()
        turn = _Turn()
        waiters.append(turn)
        try:
            while True:
                if events:
                    if waiters[0] is turn:
                        # Taken only now, in this task's own step: a
                        # cancelled wait took nothing.
                        return events.popleft()
                elif self._stopped or self._ended:
                    raise _observer_closed()  # nothing more will come, for any waiter
                else:
                    self._start_pump()
                # A fresh event per wait (trio's cannot be cleared): set by
                # _wake for the first in line, or for all when none will come.
                turn.woken = backend.event()
                await turn.woken.wait()
        finally:
            # Leave the line however it ends; the next one's turn comes at once.
            if waiters and waiters[0] is turn:
                waiters.popleft()
                self._wake()
            else:
                waiters.remove(turn)

    def _check_runner(self) -> None:
        """Refuse the running loop (or trio run) when another thread's reads
        the events: its pump wakes the waiting receives, which only their own
        loop's thread may do (woken from another, a receive waits on until
        something else wakes its loop, forever perhaps)."""
        pump = self._pump
        if _pumping(pump):
            assert pump is not None
            runner = pump.runner
            if not runner.is_current() and runner.is_running():
                raise ZMQError(
                    errno.EBUSY,
                    "Observer is in use by another event loop; use each socket's events "
                    "from the loop that uses them",
                )

    def __aiter__(self) -> Observer:
        return self

    async def __anext__(self) -> Event:
        """The next event; the iteration ends after ``"end"`` or `close()`."""
        try:
            return await self.receive()
        except ZMQError:
            if self._listeners is None and (self._stopped or self._ended):
                raise StopAsyncIteration from None
            raise

    # -- emitter mode --------------------------------------------------------

    def on(self, type: EventType, listener: Callable[[Event], object]) -> Observer:
        """Call `listener(event)` for every event of a type, from now on.

        The first call switches the observer to event emitter mode for good:
        events go to the listeners (events of a type without listener are
        dropped) and `receive()` raises. Events queued and not yet received
        go to the listeners too. A listener that raises is reported to the
        event loop's exception handler (under trio, logged to the ``zeromq``
        logger); the other listeners and later events are not affected. Must
        be called with an event loop (or trio run) running.

        Listeners are only ever called from a running event loop (or trio
        run), never from inside `close()`: from the loop that `on()` was
        called from, or, once that one is closed, from the one in which the
        socket closes. Events that come when there is no such loop are
        dropped, ``"end"`` included: those of a socket closed after
        `asyncio.run()` returned (by plain code, or by the garbage
        collector). Most of a socket's last events come after its `close()`
        returns, so there would be little to hand over then anyway. A loop
        that is only stopped, as between two `run_until_complete()` calls,
        gets them when it runs again.

        Returns:
            The observer, so calls can be chained.

        Raises:
            ValueError: `type` is not an event type.
            TypeError: `listener` is not callable.
            ZMQError: ``EBUSY`` while a `receive()` is pending, or while
                another thread's event loop (or trio run) reads the events.
            RuntimeError: no event loop is running.
        """
        _check_type(type)
        if not callable(listener):
            raise TypeError(f"listener must be callable, not {listener.__class__.__name__}")
        if self._waiters:
            raise ZMQError(
                errno.EBUSY, "Cannot switch to event emitter mode while a receive() is pending"
            )
        try:
            runner = _backends.current_runner()
        except RuntimeError:
            raise RuntimeError(
                "events.on() needs a running event loop (its listeners are called from "
                "it): call it from a coroutine"
            ) from None
        self._check_runner()
        listeners = self._listeners
        if listeners is None:
            listeners = self._listeners = {}
            if self._events:
                # Hand the queued events over after this call, so that
                # listeners added right after this one get them too.
                queued = list(self._events)
                self._events.clear()
                runner.call_soon(self._emit_all, queued)
        listeners.setdefault(type, []).append(listener)
        self._start_pump()
        return self

    def off(self, type: EventType, listener: Callable[[Event], object]) -> Observer:
        """Stop calling a listener added with `on()` for a type (its last
        addition); does nothing if it was not added.

        Returns:
            The observer, so calls can be chained.

        Raises:
            ValueError: `type` is not an event type.
        """
        _check_type(type)
        if self._listeners is not None:
            registered = self._listeners.get(type)
            if registered:
                for i in range(len(registered) - 1, -1, -1):
                    if registered[i] == listener:
                        del registered[i]
                        break
        return self

    def _emit_all(self, events: list[Event]) -> None:
        for event in events:
            self._emit(event)

    def _emit(self, event: Event) -> None:
        if self._stopped or self._listeners is None:
            return
        for listener in list(self._listeners.get(event.type, ())):
            try:
                listener(event)
            except Exception as exc:
                _backends.current_runner().report(
                    f"Exception in a zeromq.Observer listener for {event.type!r} events",
                    exc,
                    event=event,
                    observer=self,
                )

    # -- the pump ------------------------------------------------------------

    def _deliver(self, event: Event) -> None:
        if self._stopped:
            return
        if self._listeners is not None:
            self._emit(event)
        else:
            self._events.append(event)
            self._wake()

    def _wake(self) -> None:
        """Wake the first receive in line; all of them once no event will
        come (each then fails, or waits for its turn to take one left)."""
        waiters = self._waiters
        if not waiters:
            return
        for turn in waiters if self._stopped or self._ended else (waiters[0],):
            woken = turn.woken
            if woken is not None and not woken.is_set():
                woken.set()

    def _start_pump(self) -> bool:
        """Make sure a pump reads the Pair on the running loop (or trio run);
        False if none can."""
        if self._pair is None:
            return True
        runner = _backends.current_runner_or_none()
        if runner is None:
            return False
        pump = self._pump
        if pump is not None and pump.runner == runner:
            if not pump.done():
                return True
            if pump.cancelled():
                # Only the loop's shutdown cancels a pump: start no task now.
                return False
        elif _pumping(pump):
            return False  # pumping on another loop
        self._pump = runner.spawn(self._run_pump, "zeromq.Observer pump")
        return True

    async def _run_pump(self) -> None:
        # A drain that another thread began before this pump was set (a
        # sweep) reads the Pair until it lets go, a moment (it never waits);
        # any drain after that sees the pump and leaves the Pair to it.
        with self._draining:
            pair = self._pair
        if pair is None:
            return
        try:
            while True:
                frames = await pair.receive()
                event = decode(frames)
                if event.type == "end":
                    self._finish()
                self._deliver(event)
                if event.type == "end":
                    return
        except ZMQError:
            # Our Pair was closed after the monitor stopped, or the context
            # is terminating: either way no event will come.
            self._finish()
        except BaseException:
            # Cancelled: the loop (or trio run) is shutting down. The Pair
            # stays open for a later pump; a closing socket's observer waits
            # parked for its end.
            if self._pair is not None:
                socket = self._socket()
                if socket is None or socket.closed:
                    _PARKED.add(self)
            raise

    def _keep_draining(self) -> None:
        if self._pair is None:
            return
        if not self._start_pump():
            # No loop to wait on: take what is there, park until the end.
            self._drain_now()
            if self._pair is not None:
                _PARKED.add(self)

    def _drain_now(self) -> None:
        """Read what the Pair holds without waiting (no pump can run).

        Several threads may try at once (sweeps, the socket's closing): one
        reads, the others leave it to that one rather than wait for it.
        """
        if not self._draining.acquire(blocking=False):
            return
        try:
            self._drain_locked()
        finally:
            self._draining.release()

    def _drain_locked(self) -> None:
        pair = self._pair
        if pair is None:
            _PARKED.discard(self)
            return
        if _pumping(self._pump):
            return
        while True:
            try:
                frames = pair._native.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            except zmq.ZMQError:
                self._finish()
                return
            event = decode(frames)
            if event.type == "end":
                self._finish()
                if self._listeners is None and not self._stopped:
                    self._events.append(event)
                return
            if self._listeners is None and not self._stopped:
                self._events.append(event)

    def _finish(self) -> None:
        """No event will come any more: close the Pair."""
        self._ended = True
        _PARKED.discard(self)
        pair, self._pair = self._pair, None
        if pair is not None:
            pair.close()
        self._wake()


def _pumping(pump: _backends.Task | None) -> bool:
    """Whether `pump` may still read: not over, and its loop not closed. A
    loop closed without ending its tasks (`loop.close()` after
    `run_until_complete`) leaves the pump pending for good; another loop's
    pump, or `_drain_now`, must then take over, or no event ever comes."""
    return pump is not None and not pump.done() and not pump.runner.is_closed()


def _check_type(type: object) -> None:
    if type not in EVENT_TYPES:
        raise ValueError(
            f"unknown event type {type!r}; the types are: {', '.join(sorted(EVENT_TYPES))}"
        )


__all__ = ["EVENT_TYPES", "Event", "EventType", "Observer", "decode"]
