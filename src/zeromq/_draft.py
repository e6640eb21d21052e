"""What the DRAFT sockets need beyond the engine: a readiness poller for the
thread-safe ones, messages that carry a routing id or a group, and
`zmq_connect_peer`.

Thread-safe sockets (Server, Client, Radio, Dish, Gather, Scatter, Peer,
Channel) have no usable ZMQ_FD: libzmq signals their state changes only to
the `zmq_poller`s they were added to. So each such socket gets a poller of
its own, made once with the socket; the loop watches the poller's fd, and
reading the events is a `zmq_poller_wait` with a zero timeout, which first
resets that fd's signal and then reads ZMQ_EVENTS. A change after the reset
signals the fd again, so, as with ZMQ_FD, no change is missed.

Thread-safe sockets may also be used from several threads' event loops (and
trio runs) at once, as libzmq allows. Each loop then gets a `Lane` of the
socket: an engine of its own (its own poller and fd, its own lines of waiting
operations, its own watch), sharing only the libzmq socket. A loop's waiters
are woken only from that loop, so no wake ever crosses threads; ordering,
cancellation and timeouts are the engine's, per loop. libzmq signals every
poller a socket is in when a command reaches the socket with none pending,
so one loop taking messages never hides a change from another's poller; a
new lane reads the commands pending when its poller is made, which signalled
only the pollers there were (see `Lane.__init__`). See `ThreadSafe`.

Routing ids and groups are properties of a libzmq message that pyzmq exposes
on its `Frame`, so these sockets send and receive through pyzmq frames.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import functools
import threading
import weakref
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple, TypeVar

import zmq

from . import _backends
from ._engine import _ATTACHING, _WAITING, Engine, Iterating, Message, Writable, to_parts
from ._errors import ZMQError, closed_error, from_zmq
from ._lifecycle import closing, time_left
from ._native import CLOSED_TARGET, _libzmq, target_of
from ._socket import SocketBase

if TYPE_CHECKING:
    from ._proxy import Proxy

T = TypeVar("T")
M = TypeVar("M")

_NOBLOCK = int(zmq.NOBLOCK)
_POLL_BOTH = int(zmq.POLLIN | zmq.POLLOUT)
class RoutedMessage(NamedTuple):
    """A message a `Server` or `Peer` received, and who sent it: pass
    `routing_id` to `send()` to answer that peer."""

    parts: list[bytes]
    routing_id: int


class GroupMessage(NamedTuple):
    """A message a `Dish` received, and the group it was sent to."""

    parts: list[bytes]
    group: str


class _PollerEvent(ctypes.Structure):
    # zmq_poller_event_t; its fd is an int on POSIX (a SOCKET on Windows, where
    # `make draft` does not build).
    _fields_ = (
        ("socket", ctypes.c_void_p),
        ("fd", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("events", ctypes.c_short),
    )


@functools.cache
def _lib() -> ctypes.CDLL:
    """pyzmq's libzmq, for `zmq_connect_peer` and `zmq_errno`."""
    lib = _libzmq()
    if lib is None or not hasattr(lib, "zmq_poller_fd"):
        raise ZMQError(
            errno.ENOTSUP,
            "cannot find the libzmq pyzmq uses, or it has no zmq_poller_fd (DRAFT API)",
        )
    lib.zmq_connect_peer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    lib.zmq_connect_peer.restype = ctypes.c_uint32
    return lib


@functools.cache
def _poller_lib() -> ctypes.PyDLL:
    """The same libzmq for the zmq_poller calls, which keep the GIL: none
    blocks (a wait has a zero timeout), and so a poller can never be
    destroyed in one thread while another waits on it (the process exit
    may release a lane's poller from its own thread while the lane's loop
    still runs in a daemon thread); the destroy clears the handle a later
    call would use (zmq_poller_destroy sets it to NULL: EFAULT, not a freed
    poller)."""
    lib = ctypes.PyDLL(_lib()._name, handle=_lib()._handle)
    lib.zmq_poller_new.restype = ctypes.c_void_p
    lib.zmq_poller_new.argtypes = []
    lib.zmq_poller_add.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_short]
    lib.zmq_poller_fd.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int)]
    lib.zmq_poller_wait.argtypes = [ctypes.c_void_p, ctypes.POINTER(_PollerEvent), ctypes.c_long]
    lib.zmq_poller_destroy.argtypes = [ctypes.POINTER(ctypes.c_void_p)]
    return lib


class Poller:
    """A zmq_poller watching one thread-safe socket for readiness."""

    __slots__ = ("_event", "_handle", "_native", "fd")

    def __init__(self, native: zmq.Socket[bytes]) -> None:
        lib = _poller_lib()
        self._native = native
        handle = lib.zmq_poller_new()
        if not handle:
            raise zmq.ZMQError(_lib().zmq_errno())
        self._handle = ctypes.c_void_p(handle)
        fd = ctypes.c_int(-1)
        if (
            lib.zmq_poller_add(self._handle, native.underlying, None, _POLL_BOTH) != 0
            or lib.zmq_poller_fd(self._handle, ctypes.byref(fd)) != 0
        ):
            number = _lib().zmq_errno()
            self.close()
            raise zmq.ZMQError(number)
        self.fd = fd.value
        self._event = _PollerEvent()

    def events(self) -> int:
        """Reset the fd's signal, then read the socket's ready flags (0: none)."""
        if not self._handle:
            raise zmq.ZMQError(zmq.ENOTSOCK)
        if _poller_lib().zmq_poller_wait(self._handle, ctypes.byref(self._event), 0) != 0:
            # EAGAIN: nothing ready (or ETERM: the context is ending, and
            # the next operation says so).
            return 0
        return int(self._event.events)

    def close(self) -> None:
        """Destroy the poller; before the socket is closed (it unregisters there).

        Should the socket be closed already (pyzmq's own finalizer, in a
        reference cycle the collector finalized in that order), the poller is
        left as it is: destroying it would touch the freed socket."""
        if self._handle:
            if not self._native.closed:
                _poller_lib().zmq_poller_destroy(ctypes.byref(self._handle))
            self._handle = ctypes.c_void_p()


def connect_peer(native: zmq.Socket[bytes], address: str) -> int:
    """`zmq_connect_peer`: connect a Peer and return the routing id of the
    peer at `address` (pyzmq does not wrap it)."""
    lib = _lib()
    routing_id = int(lib.zmq_connect_peer(native.underlying, address.encode()))
    if routing_id == 0:
        raise zmq.ZMQError(lib.zmq_errno())
    return routing_id


# -- the engine's attempts for messages with a property ---------------------------
# Each takes the pyzmq socket and the engine's target, and returns None for
# EAGAIN, as the hot calls do. They call pyzmq (for the message properties),
# not the target, so they fail as the hot calls would on a target taken away:
# a closed socket's, or one lent to a running Proxy.


def _check_target(target: Any) -> None:
    if target is CLOSED_TARGET:
        raise zmq.ZMQError(zmq.ENOTSOCK)


def recv_routed(native: zmq.Socket[bytes], target: Any) -> RoutedMessage | None:
    _check_target(target)
    try:
        frame = native.recv(_NOBLOCK, copy=False)
    except zmq.Again:
        return None
    return RoutedMessage([frame.bytes], frame.routing_id)


def recv_grouped(native: zmq.Socket[bytes], target: Any) -> GroupMessage | None:
    _check_target(target)
    try:
        frame = native.recv(_NOBLOCK, copy=False)
    except zmq.Again:
        return None
    return GroupMessage([frame.bytes], frame.group)


def send_frame(native: zmq.Socket[bytes], target: Any, frame: zmq.Frame) -> bool | None:
    _check_target(target)
    try:
        native.send(frame, _NOBLOCK, copy=False)
    except zmq.Again:
        return None
    return True


def one_part(cls_name: str, parts: list[object]) -> bytes:
    """The single part of a message for a thread-safe socket."""
    if len(parts) != 1:
        raise ValueError(
            f"{cls_name} messages have exactly one part, not {len(parts)} "
            "(thread-safe DRAFT sockets do not send multipart messages)"
        )
    part: Any = parts[0]
    return part if type(part) is bytes else bytes(part)


def group_bytes(group: object) -> bytes:
    """A Radio/Dish group: a str or bytes of 1 to 15 bytes (ZMQ_GROUP_MAX_LENGTH)."""
    if isinstance(group, str):
        raw = group.encode()
    elif isinstance(group, bytes):
        raw = group
    else:
        raise TypeError(f"group must be a str or bytes, not {type(group).__name__}")
    if not 1 <= len(raw) <= 15:
        raise ValueError(f"group must be 1 to 15 bytes, not {len(raw)} ({group!r})")
    return raw


def routing_id_int(routing_id: object) -> int:
    if not isinstance(routing_id, int) or isinstance(routing_id, bool):
        raise TypeError(f"routing_id must be an int, not {type(routing_id).__name__}")
    if not 1 <= routing_id <= 0xFFFFFFFF:
        raise ValueError(f"routing_id must be between 1 and 4294967295, not {routing_id}")
    return routing_id


# -- the halves of the DRAFT socket classes ---------------------------------------


class _Operations(Engine):
    __slots__ = ()

    async def _operation(self, receiving: bool, attempt: Callable[[Any], T | None]) -> T:
        """Run `attempt` (None meaning EAGAIN) through the engine, as
        `Readable.receive` and `Writable.send` do."""
        if self._target is CLOSED_TARGET:
            # Closed, or lent to a running Proxy: fail before watching the
            # socket, as their fast paths do.
            raise self._error(zmq.ZMQError(zmq.ENOTSOCK), "Cannot receive" if receiving else "Cannot send")
        if self._senders if receiving else self._receivers:
            self._check_loop()
        return await self._complete(receiving, attempt)


class SinglePartWritable(Writable):
    """`send()` of a thread-safe socket: one part per message."""

    __slots__ = ()

    async def send(self, message: Message) -> None:
        """Queue a one-part message for sending (a part as `Writable.send`
        takes it, or a sequence holding one).

        Raises:
            ValueError: a message of more than one part (nothing is sent).
            TypeError, ZMQError: as `Writable.send`.
        """
        part = one_part(type(self).__name__, to_parts(message))
        await Writable.send(self, part)


class _Iterable(_Operations, Iterating[M]):
    """The receiving half of a DRAFT socket whose `receive()` gives a message
    with its routing id or group, not a list of parts."""

    __slots__ = ()


class RoutedReceive(_Iterable[RoutedMessage]):
    """`receive()` of a Server or Peer: the message and its sender's routing id."""

    __slots__ = ()

    async def receive(self) -> RoutedMessage:
        """Receive the next message and the routing id of the peer that
        sent it, as ``RoutedMessage(parts, routing_id)``.

        Waits as `Readable.receive` does, honours `receive_timeout`, and a
        cancelled `receive()` loses no message.

        Raises:
            ZMQError: as `Readable.receive`.
        """
        native = self._native
        return await self._operation(True, lambda target: recv_routed(native, target))


class RoutedSend(_Operations):
    """`send()` of a Server or Peer: to one peer, named by its routing id."""

    __slots__ = ()

    async def send(self, message: Message, *, routing_id: int) -> None:
        """Queue a one-part message for the peer with `routing_id` (from
        `RoutedMessage.routing_id`, or `Peer.connect`).

        Waits as `Writable.send` does, honouring `send_timeout`; a
        cancelled `send()` has sent nothing.

        Raises:
            TypeError, ValueError: a bad part, more than one part, or a
                `routing_id` that is not an int from 1 to 2**32 - 1.
            ZMQError: code ``EHOSTUNREACH`` when no peer has that routing
                id; otherwise as `Writable.send`.
        """
        frame = zmq.Frame(one_part(type(self).__name__, to_parts(message)))
        frame.routing_id = routing_id_int(routing_id)
        native = self._native
        await self._operation(False, lambda target: send_frame(native, target, frame))


class GroupSend(_Operations):
    """`send()` of a Radio: to every Dish that joined the group."""

    __slots__ = ()

    async def send(self, message: Message, *, group: str | bytes) -> None:
        """Queue a one-part message for every Dish that joined `group`.

        Raises:
            TypeError, ValueError: a bad part, more than one part, or a
                group that is not a str or bytes of 1 to 15 bytes.
            ZMQError: as `Writable.send`.
        """
        frame = zmq.Frame(one_part(type(self).__name__, to_parts(message)))
        frame.group = group_bytes(group).decode(errors="surrogateescape")
        native = self._native
        await self._operation(False, lambda target: send_frame(native, target, frame))


class GroupReceive(_Iterable[GroupMessage]):
    """`receive()` of a Dish: the message and the group it was sent to."""

    __slots__ = ()

    async def receive(self) -> GroupMessage:
        """Receive the next message of a joined group, as
        ``GroupMessage(parts, group)``.

        Raises:
            ZMQError: as `Readable.receive`.
        """
        native = self._native
        return await self._operation(True, lambda target: recv_grouped(native, target))


# -- thread-safe sockets in several event loops at once -----------------------------


def _in_its_loop(lane: Lane, fn: Callable[[], object]) -> None:
    """Run `fn` in the thread of `lane`'s loop (or trio run): now if that is
    this one, else handed to it; a loop that has ended runs nothing, and
    nothing of it waits."""
    runner = lane._runner
    if runner.is_current():
        fn()
    else:
        with contextlib.suppress(RuntimeError):  # that loop has ended
            runner.call_soon(fn)


class Lane(Engine):
    """One event loop's (or trio run's) share of a thread-safe socket: the
    engine's whole waiting state for the operations started in that loop (a
    zmq_poller and the watch of its fd, the lines of waiting operations, the
    yield budget), over the socket's libzmq socket. Each socket class has a
    lane class of the same name mixing in its halves (see `ThreadSafe`), so
    its `send` and `receive` run on the lane unchanged.

    Only the lane's own loop touches its poller and lines; other threads
    only hand it calls through `Runner.call_soon` (close, a connect's wake).
    """

    __slots__ = ("_owner", "_poller", "_runner")
    _IDLE_WAIT: ClassVar[bool] = False  # its fd is the poller's, not ZMQ_FD

    def __init__(self, owner: ThreadSafe, runner: _backends.Runner) -> None:
        # Weakly: the socket must not be in a reference cycle, which the
        # collector could finalize in any order, closing pyzmq's socket
        # before the lanes' pollers are off it. A pending operation keeps
        # the socket alive anyway (its task runs the socket's method).
        self._owner = weakref.ref(owner)
        self._runner = runner
        self._poller: Poller | None = None
        self._init_engine(owner._native)
        # libzmq signals a command to the pollers there are when it arrives,
        # and no more until all are read: one that came before this poller
        # (a peer's "room again" while the last loop's lane waited) would
        # never wake it, and a send or receive need not read it (they read
        # commands only every millisecond or so). Read them now: later ones
        # signal this poller too.
        self._read_events()

    def __repr__(self) -> str:
        return f"<lane of {self._owner()!r} in {self._runner!r}>"

    # The engine's readiness hook (see Engine._readiness_fd): a thread-safe
    # socket's ZMQ_FD is unusable, so each lane waits on a poller of its own.
    def _readiness_fd(self, native: zmq.Socket[bytes]) -> int:
        self._poller = Poller(native)
        return self._poller.fd

    def _read_events(self) -> int:
        poller = self._poller
        if poller is None:
            raise zmq.ZMQError(zmq.ENOTSOCK)
        return poller.events()

    # The timeouts are the socket's options, read by each operation as it
    # starts; the engine's own setting of them (at _init_engine) is ignored.
    @property
    def _receive_timeout(self) -> int:
        owner = self._owner()
        return -1 if owner is None else owner._receive_timeout

    @_receive_timeout.setter
    def _receive_timeout(self, value: int) -> None:
        pass

    @property
    def _send_timeout(self) -> int:
        owner = self._owner()
        return -1 if owner is None else owner._send_timeout

    @_send_timeout.setter
    def _send_timeout(self, value: int) -> None:
        pass

    def _close_engine(self, wake: bool = True) -> None:
        super()._close_engine(wake)  # the loop stops watching the poller's fd first
        self._release_poller()

    def _let_go(self) -> None:
        """The socket was lent to a running Proxy (its target taken away, see
        `ThreadSafe._lend`): in the lane's own loop, stop watching the
        poller's fd (the proxy's traffic would wake this loop for nothing)
        and have every waiting operation look again, which fails as lent.
        An operation started after this watches again, and fails too."""
        if self._closed or self._target is not CLOSED_TARGET:
            return  # closed, or given back, meanwhile
        self._unwatch()
        for line in (self._receivers, self._senders):
            for waiter in list(line):
                waiter.wake()

    def _drop(self) -> None:
        """Release the lane of a loop that has ended for good: nothing of it
        will run again, so its waiters are dropped, not woken."""
        self._forget()
        self._orphaned = False
        _WAITING.discard(self)
        self._release_poller()

    def _release_poller(self) -> None:
        poller, self._poller = self._poller, None
        if poller is not None:
            poller.close()  # before the socket: the poller unregisters from it


def _on_lane(method: Callable[..., Coroutine[Any, Any, T]]) -> Callable[..., Coroutine[Any, Any, T]]:
    """A thread-safe socket's `method` (a half's `send`, `receive`...), run
    on the lane of the loop that runs it.

    A coroutine of its own, so that the lane is found when it runs, not when
    it is made: `asyncio.run(sock.send(...))` makes it before any loop runs,
    and a coroutine may be handed to another thread's loop.
    """

    @functools.wraps(method)
    async def on_lane(self: ThreadSafe, *args: Any, **kwargs: Any) -> T:
        lane = self._lanes.get(asyncio._get_running_loop())
        if lane is None or self._closed:
            lane = self._new_lane()
        return await method(lane, *args, **kwargs)

    return on_lane


class ThreadSafe(SocketBase):
    """A thread-safe DRAFT socket: usable from several threads' event loops
    (and trio runs) at once.

    Its operations run on the calling loop's `Lane`, made on the loop's first
    operation and released once that loop has ended. `close()` from any
    thread fails the pending operations of every loop at once (each lane is
    closed in its own loop's thread) and closes the libzmq socket when the
    last lane has let go of it.
    """

    __slots__ = ("_exit_closed", "_lanes", "_unclosed")
    _lane_class: ClassVar[type[Lane]]
    # What a socket class's halves offer that must run on a lane.
    _LANE_METHODS: ClassVar[tuple[str, ...]] = ("send", "receive", "receive_buffers")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        halves = tuple(b for b in cls.__bases__ if issubclass(b, Engine) and not issubclass(b, SocketBase))
        if not halves:
            return  # a subclass of a socket class: the lanes are its base's
        cls._lane_class = type(cls.__name__, (Lane, *halves), {"__slots__": (), "__module__": cls.__module__})
        for name in cls._LANE_METHODS:
            method = getattr(cls, name, None)
            if method is not None:
                setattr(cls, name, _on_lane(method))

    def __init__(self, **options: Any) -> None:
        # The lanes by loop (an asyncio loop, or a trio run's Runner).
        self._lanes: dict[object, Lane] = {}
        # How many lanes (and the closing call) have yet to let go of the
        # libzmq socket while it closes.
        self._unclosed = 0
        # Set once the last lane has closed the libzmq socket, while the
        # process exit waits for that (see _close_at_exit).
        self._exit_closed: threading.Event | None = None
        super().__init__(**options)

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"loops={len(self._lanes)}"
        return f"<zeromq.{type(self).__name__} {state}>"

    def _readiness_fd(self, native: zmq.Socket[bytes]) -> int:
        return -1  # none of its own: each lane has its poller's

    def _new_lane(self) -> Lane:
        """The running loop's lane, made on its first operation (`_on_lane`
        looks up an asyncio loop's itself, first).

        Raises:
            ZMQError: ``ENOTSOCK``, the socket is closed.
            RuntimeError: no event loop or trio run is running.
        """
        if self._closed:
            raise closed_error(self._orphaned)
        runner = _backends.current_runner()
        loop = asyncio._get_running_loop()
        key: object = runner if loop is None else loop
        lane = self._lanes.get(key)
        if lane is not None:
            return lane
        # Under the lock close() decides under: either it sees this lane and
        # closes it, or this sees _closed.
        with _ATTACHING:
            if self._closed:
                raise closed_error(self._orphaned)
            self._sweep()
            try:
                lane = self._lanes[key] = self._lane_class(self, runner)
            except zmq.ZMQError as exc:  # no poller (out of fds...)
                raise from_zmq(exc, f"Cannot wait on the {type(self).__name__} in this event loop") from None
            if self._proxy is not None:
                lane._target = CLOSED_TARGET  # lent, as every lane (see _lend)
        return lane

    def _sweep(self) -> None:
        """Release the lanes of loops that have ended (under _ATTACHING)."""
        for key, lane in list(self._lanes.items()):
            if lane._runner.is_closed():
                del self._lanes[key]
                lane._drop()

    def _pending(self, receiving: bool) -> bool:
        for lane in list(self._lanes.values()):
            # Copied in one C call: other threads' loops change their lines.
            line = list(lane._receivers if receiving else lane._senders)
            if any(not waiter.cancelled() for waiter in line):
                return True
        return False

    def _wake_waiting(self) -> None:
        # Each lane looks at the socket again, in its own loop.
        for lane in list(self._lanes.values()):
            if lane._receivers or lane._senders:
                _in_its_loop(lane, lane._poll)

    def close(self) -> None:
        """Close the socket; calling it again does nothing.

        From any thread: the pending operations of every event loop using
        the socket fail at once with ``ENOTSOCK`` (each loop's are woken in
        that loop's thread), new ones are refused, and the libzmq socket is
        closed once every loop has let go of it. Otherwise as
        `Socket.close`.
        """
        self._close_lanes(quietly=False)

    def _close_lanes(self, quietly: bool) -> None:
        """`close()`; `quietly` (at exit): without waking the pending
        operations, which would raise into threads that die with the process."""
        if self._closed:
            return
        with _ATTACHING:
            if self._closed:
                return
            self._closed = True
            # Each stays in _lanes until closed (see _close_at_exit).
            lanes = list(self._lanes.values())
            self._unclosed = len(lanes) + 1
            for lane in lanes:
                # An operation of any loop woken from now on fails with ENOTSOCK.
                lane._closed = True
        # This thread's own count goes first, before any loop is asked to let
        # go: the last lane to let go then closes the socket, in its own
        # thread, even when its loop does so before this thread gets here
        # again (without lanes, this closes it).
        self._lane_closed()
        for lane in lanes:
            runner = lane._runner
            if runner.is_running() and not runner.is_current():
                try:
                    runner.call_soon(self._close_lane, lane, quietly)
                    continue
                except RuntimeError:
                    pass  # it ended just now: nothing of it runs any more
            self._close_lane(lane, quietly)

    def _close_lane(self, lane: Lane, quietly: bool) -> None:
        try:
            if lane._runner.is_closed():
                lane._drop()
            else:
                lane._close_engine(wake=not quietly)
        finally:
            self._lane_closed(lane)

    def _lane_closed(self, lane: Lane | None = None) -> None:
        with _ATTACHING:
            for key, each in list(self._lanes.items()):
                if each is lane:
                    del self._lanes[key]
            self._unclosed -= 1
            last = self._unclosed == 0
        if last:
            # No lane uses the libzmq socket or has a poller on it any more.
            self._close_now()
            exit_closed = self._exit_closed
            if exit_closed is not None:
                exit_closed.set()

    def _lend(self, proxy: Proxy[Any, Any]) -> None:
        """Lend the socket to a running Proxy's thread (see
        `SocketBase._lend`) for every loop: no lane uses the libzmq socket
        until it is given back. The targets are taken at once, under the lock
        a new lane is made under, so that no loop's operation starting from
        now touches the socket; each lane stops watching in its own loop."""
        with _ATTACHING:
            super()._lend(proxy)
            lanes = list(self._lanes.values())
            for lane in lanes:
                lane._target = CLOSED_TARGET
        for lane in lanes:
            _in_its_loop(lane, lane._let_go)

    def _close_after_proxy(self) -> None:
        # Not while a loop still has its poller on the socket (its lane has
        # not let go yet): the last lane to let go closes it (_lane_closed),
        # pollers first, as ever.
        with _ATTACHING:
            lanes_left = self._unclosed > 0
        if not lanes_left:
            super()._close_after_proxy()

    def _give_back(self) -> None:
        """The proxy's thread has let go of the socket: every loop may use it
        again (a lane watches its poller again on its next wait)."""
        with _ATTACHING:
            super()._give_back()
            for lane in self._lanes.values():
                if not lane._closed:
                    lane._target = target_of(self._native)

    def _runner_elsewhere(self) -> _backends.Runner | None:
        for lane in list(self._lanes.values()):
            runner = lane._runner
            if runner.is_running() and not runner.is_current():
                return runner
        return None

    def _close_at_exit(self, deadline: float) -> None:
        exit_closed = self._exit_closed = threading.Event()
        if self._native.closed:
            return
        if self._runner_elsewhere() is not None:
            # Loops still run in other (daemon) threads, perhaps inside a
            # libzmq call on the socket: closed from here, it could be freed
            # under them (libzmq checks a socket before it locks it). As
            # close() does, each loop lets go in its own thread and the last
            # closes the socket; the exit waits a moment for that.
            self._close_lanes(quietly=True)
            if exit_closed.wait(time_left(deadline)) or self._native.closed:
                return
        elif not self._closed:
            self.close()
            return
        # Closed quietly here: a loop running in a daemon thread did not let
        # go in time, or a close() waits for a loop that will never run
        # again to let go (stopped, not closed). Left open, the socket would
        # keep the exit waiting for the context forever.
        with _ATTACHING:
            self._closed = True
            lanes = list(self._lanes.values())
            self._lanes.clear()
        for lane in lanes:
            lane._closed = True
            lane._target = CLOSED_TARGET
            lane._release_poller()  # before the socket, as ever
        self._target = CLOSED_TARGET
        closing(self._context, self._native)
        self._native.close()

    def _forget(self) -> None:
        super()._forget()
        for lane in self._lanes.values():
            lane._forget()  # the pollers are the parent's libzmq state: left alone
        self._lanes.clear()
