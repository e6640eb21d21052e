"""`Proxy`: libzmq's steerable proxy between two sockets, run off the event loop.

`run()` lends the sockets to a thread that runs `zmq_proxy_steerable` and
steers it through a PAIR over inproc (PAUSE, RESUME, TERMINATE, STATISTICS).
libzmq sockets must not be used from two threads at once, so for the length
of the run the engine lets go of the sockets (it stops watching their fds)
and everything that would touch them from the event loop's thread refuses
(`send`, `receive`, `bind`, `connect`...) or is deferred (`close`).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import struct
import threading
import uuid
from collections.abc import Callable
from typing import Any, Generic, NamedTuple, TypeVar

import zmq

from ._engine import Writable
from ._errors import ZMQError, from_zmq
from ._native import CLOSED_TARGET, target_of
from ._socket import SocketBase
from ._sockets import Pair, Socket

F = TypeVar("F", bound=Socket)
B = TypeVar("B", bound=Socket)

_READY, _RUNNING, _TERMINATED = "ready", "running", "terminated"
_EFSM = int(zmq.EFSM)
_NOBLOCK = int(zmq.NOBLOCK)
_UINT64 = struct.Struct("=Q")

# libzmq 4.3.5's rewritten steerable proxy has PAUSE and RESUME the wrong way
# round, and acknowledges both (and TERMINATE) with an empty message whatever
# the control socket's type; the release after it fixes both (libzmq #4600).
_SWAPPED = zmq.zmq_version_info() == (4, 3, 5)
_PAUSE, _RESUME = (b"RESUME", b"PAUSE") if _SWAPPED else (b"PAUSE", b"RESUME")


class ProxyEndStatistics(NamedTuple):
    """What went through one end of a proxy. libzmq counts message parts
    (frames), not whole messages."""

    received_parts: int
    """Parts the proxy received from this end."""
    received_bytes: int
    """Bytes in those parts."""
    sent_parts: int
    """Parts the proxy sent out of this end."""
    sent_bytes: int
    """Bytes in those parts."""


class ProxyStatistics(NamedTuple):
    """What went through a proxy since `run()` began, per end."""

    front_end: ProxyEndStatistics
    back_end: ProxyEndStatistics


# What the engine's calls get while a proxy's thread uses the socket: the
# target of a closed socket, so that they fail (ENOTSOCK) instead of touching
# a socket another thread is using.
_LENT_TARGET: Any = CLOSED_TARGET


def _serve(
    natives: list[zmq.Socket[bytes]],
    capture: zmq.Socket[bytes] | None,
    control: zmq.Socket[bytes],
    loop: asyncio.AbstractEventLoop,
    report: Callable[[BaseException | None], None],
) -> None:
    """The proxy's thread."""
    error: BaseException | None = None
    try:
        zmq.proxy_steerable(natives[0], natives[1], capture, control)
    except BaseException as exc:  # reported to run(), in the loop's thread
        error = exc
    finally:
        control.close(linger=0)
    try:
        loop.call_soon_threadsafe(report, error)
    except RuntimeError:
        # The event loop is gone: no one will run `report`, and no one else
        # uses the sockets now. Close what run() would have closed.
        for native in set(natives):
            native.close()


class Proxy(Generic[F, B]):
    """Forwards messages between two sockets: libzmq's proxy, steerable.

    Conceptually messages flow from the front end to the back end and
    replies, where the socket types have them, the other way; the proxy is
    symmetric. Typical pairs: `Router` / `Dealer` (request-reply broker),
    `XSubscriber` / `XPublisher` (pub-sub forwarder), `Pull` / `Push`
    (pipeline streamer).

    Bind or connect both ends (and set their options) first, then
    ``await proxy.run()``. While it runs, the sockets belong to the proxy's
    thread: their `send` and `receive` raise a `ZMQError` (``ENOTSOCK``),
    `bind`, `connect`, `unbind` and `disconnect` too (``EBUSY``), and their
    `close()` terminates the proxy.

    Args:
        front_end: the front-end socket.
        back_end: the back-end socket.
        capture: optional (beyond the reference): a sending socket to which
            the proxy also sends every message it forwards. It must not
            block the proxy: a `Publisher` is best (a `Push` or `Pair` waits
            at its high water mark, and with it the proxy). It stays open
            when the proxy terminates.

    Raises:
        TypeError: an end is not a zeromq socket, or `capture` cannot send.
        ValueError: `capture` is one of the ends.
    """

    __slots__ = ("_back_end", "_capture", "_control", "_done", "_front_end", "_lock", "_state")

    def __init__(self, front_end: F, back_end: B, *, capture: Socket | None = None) -> None:
        for name, sock in (("front_end", front_end), ("back_end", back_end)):
            if not isinstance(sock, Socket):
                raise TypeError(f"Proxy {name} must be a zeromq socket, not {type(sock).__name__}")
        if capture is not None:
            if not isinstance(capture, Socket) or not isinstance(capture, Writable):
                raise TypeError(
                    f"Proxy capture must be a zeromq socket that can send, not {type(capture).__name__}"
                )
            if capture is front_end or capture is back_end:
                raise ValueError("Proxy capture must not be one of its ends")
        self._front_end = front_end
        self._back_end = back_end
        self._capture = capture
        self._state = _READY
        self._control: Pair | None = None
        self._done: asyncio.Future[BaseException | None] | None = None
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"<zeromq.Proxy {self._state} {self._front_end!r} {self._back_end!r}>"

    @property
    def front_end(self) -> F:
        """The front-end socket."""
        return self._front_end

    @property
    def back_end(self) -> B:
        """The back-end socket."""
        return self._back_end

    @property
    def capture(self) -> Socket | None:
        """The capture socket, or None."""
        return self._capture

    # -- running -------------------------------------------------------------

    def _roles(self) -> list[tuple[str, SocketBase]]:
        roles: list[tuple[str, SocketBase]] = [("front-end", self._front_end)]
        if self._back_end is not self._front_end:
            roles.append(("back-end", self._back_end))
        if self._capture is not None:
            roles.append(("capture", self._capture))
        return roles

    async def run(self) -> None:
        """Proxy messages until `terminate()`, in a thread of its own: the
        event loop keeps running meanwhile. Afterwards both ends are closed
        (the capture socket is not).

        Cancelling `run()` terminates the proxy (and closes the ends).

        Raises:
            ZMQError: with a message naming the problem: an end (or the
                capture socket) is neither bound nor connected (``EINVAL``),
                is closed (``ENOTSOCK``), has a `send` or `receive` pending
                or is used by another proxy (``EBUSY``); the proxy is already
                running (``EBUSY``) or was terminated (``EFSM``); or the
                proxy failed, e.g. its context was terminated (``ETERM``).
        """
        loop = asyncio.get_running_loop()
        if self._state == _RUNNING:
            raise ZMQError(errno.EBUSY, "Proxy is already running")
        if self._state == _TERMINATED:
            raise ZMQError(_EFSM, "Proxy was terminated and its sockets closed: make a new Proxy")
        roles = self._roles()
        for role, sock in roles:
            _check_can_lend(role, sock)

        address = f"inproc://zeromq.proxy.{uuid.uuid4().hex}"
        context = self._front_end.context
        theirs: zmq.Socket[bytes] = context._native.socket(zmq.PAIR)
        theirs.linger = 0
        theirs.bind(address)
        # No high water mark: the proxy's thread must never wait to answer.
        control = Pair(context=context, linger=0, receive_high_water_mark=0)
        control.connect(address)

        for _, sock in roles:
            _lend(sock, self)
        self._control = control
        self._state = _RUNNING
        done = self._done = loop.create_future()
        capture = self._capture
        thread = threading.Thread(
            target=_serve,
            args=(
                [self._front_end._native, self._back_end._native],
                None if capture is None else capture._native,
                theirs,
                loop,
                self._stopped,
            ),
            name="zeromq.Proxy",
            daemon=True,
        )
        try:
            thread.start()
        except BaseException:
            for _, sock in roles:
                _give_back(sock)
            self._state = _READY
            self._control = None
            control.close()
            theirs.close(linger=0)
            raise

        try:
            error = await asyncio.shield(done)
        except asyncio.CancelledError:
            if self._state == _RUNNING:
                self.terminate()
            # Wait for the thread to let go of the sockets (it does at once
            # after TERMINATE); a second cancellation stops only the wait.
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(done)
            raise
        if error is not None:
            if isinstance(error, zmq.ZMQError):
                raise from_zmq(error, "Proxy stopped") from None
            raise error

    def _stopped(self, error: BaseException | None) -> None:
        """The proxy's thread has ended (in the loop's thread)."""
        self._state = _TERMINATED
        if self._control is not None:
            self._control.close()
        ends = {id(s): s for s in (self._front_end, self._back_end)}.values()
        for sock in ends:
            _give_back(sock)
            if sock._closed:
                sock._native.close()  # its close() came during the run
            else:
                sock.close()
        capture = self._capture
        if capture is not None:
            _give_back(capture)
            if capture._closed:
                capture._native.close()
        done = self._done
        if done is not None and not done.done():
            done.set_result(error)

    def _end_closed(self) -> None:
        """`close()` of a socket the proxy's thread uses: stop the proxy,
        which closes the socket when the thread has let go of it."""
        if self._state == _RUNNING:
            # A failure means the proxy's thread has already gone.
            with contextlib.suppress(ZMQError):
                self.terminate()

    # -- steering -------------------------------------------------------------

    def _check_running(self, what: str) -> Pair:
        if self._state == _READY:
            raise ZMQError(
                _EFSM, f"Cannot {what}: the proxy is not running (run() has not started)"
            )
        if self._state == _TERMINATED or self._control is None:
            raise ZMQError(_EFSM, f"Cannot {what}: the proxy was terminated")
        return self._control

    def _command(self, what: str, command: bytes) -> None:
        control = self._check_running(what)
        native = control._native
        try:
            if not self._lock.locked():
                # libzmq 4.3.5 acknowledges PAUSE, RESUME and TERMINATE with
                # an empty message; drop those of earlier commands (statistics()
                # skips them too, and holds the lock while it waits).
                while True:
                    native.recv(_NOBLOCK)
        except zmq.Again:
            pass
        except zmq.ZMQError as exc:
            raise from_zmq(exc, f"Cannot {what}") from None
        try:
            native.send(command, _NOBLOCK)
        except zmq.ZMQError as exc:
            raise from_zmq(exc, f"Cannot {what}") from None
        # Calls past the engine may consume the fd's edge a pending
        # statistics() waits for.
        control._poll()

    def pause(self) -> None:
        """Suspend forwarding: messages wait in the sockets' queues until
        `resume()`. Takes effect as soon as the proxy's thread reads the
        command; `statistics()` after `pause()` returns once it has.

        Raises:
            ZMQError: ``EFSM`` when the proxy is not running.
        """
        self._command("pause the proxy", _PAUSE)

    def resume(self) -> None:
        """Resume forwarding after `pause()`.

        Raises:
            ZMQError: ``EFSM`` when the proxy is not running.
        """
        self._command("resume the proxy", _RESUME)

    def terminate(self) -> None:
        """Stop the proxy: `run()` returns shortly after, with both ends
        closed.

        Raises:
            ZMQError: ``EFSM`` when the proxy is not running (before `run()`
                has started, or after `terminate()`).
        """
        self._command("terminate the proxy", b"TERMINATE")
        self._state = _TERMINATED

    async def statistics(self) -> ProxyStatistics:
        """What went through the proxy so far (beyond the reference), from
        the steerable proxy's STATISTICS command.

        Raises:
            ZMQError: ``EFSM`` when the proxy is not running or terminates
                before it answers.
        """
        control = self._check_running("read the proxy's statistics")
        async with self._lock:  # one question at a time: the answers come in order
            control = self._check_running("read the proxy's statistics")
            try:
                await control.send(b"STATISTICS")
                frames = await control.receive()
                while len(frames) != 8:  # acknowledgements of earlier commands
                    frames = await control.receive()
            except ZMQError:
                if control.closed:
                    raise ZMQError(
                        _EFSM, "Cannot read the proxy's statistics: the proxy was terminated"
                    ) from None
                raise
        values = [_UINT64.unpack(frame)[0] for frame in frames]
        return ProxyStatistics(ProxyEndStatistics(*values[:4]), ProxyEndStatistics(*values[4:8]))


def _check_can_lend(role: str, sock: SocketBase) -> None:
    if sock.closed:
        raise ZMQError(errno.ENOTSOCK, f"Proxy {role} socket is closed")
    if sock._proxy is not None:
        raise ZMQError(errno.EBUSY, f"Proxy {role} socket is in use by another running Proxy")
    if sock._endpoints <= 0:
        raise ZMQError(errno.EINVAL, f"Proxy {role} socket must be bound or connected before run()")
    for receiving in (True, False):
        owner = sock._receive_owner if receiving else sock._send_owner
        if owner is not None and not sock._take_over(receiving):
            raise ZMQError(
                errno.EBUSY,
                f"Proxy {role} socket has a pending {'receive' if receiving else 'send'}: "
                "the proxy cannot take it over",
            )


def _lend(sock: SocketBase, proxy: Proxy[Any, Any]) -> None:
    """Let the proxy's thread have the socket: the engine lets go of it."""
    sock._unwatch()
    sock._target = _LENT_TARGET
    sock._proxy = proxy


def _give_back(sock: SocketBase) -> None:
    sock._proxy = None
    if not sock._closed:
        sock._target = target_of(sock._native)


__all__ = ["Proxy", "ProxyEndStatistics", "ProxyStatistics"]
