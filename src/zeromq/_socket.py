"""What every socket has beside its options: lifecycle, addresses, readiness."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import time
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Self

import zmq

from ._engine import Engine, Readable, Writable
from ._errors import ZMQError, closed_error, from_zmq
from ._native import CLOSED_TARGET
from ._native import events as _events
from ._options import OPTIONS, Option, apply_keywords, get_option, routing_id_bytes

if TYPE_CHECKING:
    from ._context import Context
    from ._observer import Observer
    from ._proxy import Proxy


def _runs_in(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether this thread is running `loop`."""
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


# Addresses this process stopped listening on lately (unbind() or close()),
# and when. libzmq closes a tcp listener in its I/O thread after zmq_unbind or
# zmq_close return, and tells nobody when it is done, so a bind to the same
# address right after can fail with EADDRINUSE for a moment; bind() retries
# such an address for up to _REBIND_SECONDS.
_RELEASED: dict[str, float] = {}
_LAST_ENDPOINT = next(o for o in OPTIONS if o.name == "last_endpoint")
_REBIND_SECONDS = 1.0


def _released(addresses: list[str]) -> None:
    now = time.monotonic()
    for address, when in list(_RELEASED.items()):
        if now - when > _REBIND_SECONDS:
            del _RELEASED[address]
    for address in addresses:
        # Not a wildcard port (tcp://host:*) or ipc name: such a bind picks a
        # free one anyway. tcp://*:5555 (any interface) is kept.
        if not address.endswith(":*") and address != "ipc://*":
            _RELEASED[address] = now


def _check_address(address: object, what: str) -> str:
    if not isinstance(address, str):
        raise TypeError(f"{what}: address must be a str, not {type(address).__name__}")
    return address


class SocketBase(Engine):
    """The behaviour every socket class shares (options come from the table)."""

    __slots__ = ("_bound", "_context", "_endpoints", "_observer", "_option_cache", "_proxy")

    _socket_type: ClassVar[int]
    _keywords: ClassVar[dict[str, Option]] = {}

    def __init__(self, *, context: Context | None = None, **options: Any) -> None:
        from ._context import Context, default_context

        if not hasattr(self, "_socket_type"):
            raise TypeError(
                f"{type(self).__name__} is the base of the socket classes: make a Pair, "
                "Publisher, Subscriber, Request, Reply, Dealer, Router, Pull, Push, "
                "XPublisher, XSubscriber or Stream"
            )
        if context is None:
            context = default_context()
        elif not isinstance(context, Context):
            raise TypeError(f"context must be a zeromq.Context, not {type(context).__name__}")
        try:
            native = context._native.socket(self._socket_type)
        except zmq.ZMQError as exc:
            raise from_zmq(exc, f"Cannot create {type(self).__name__} socket") from None
        self._init_engine(native)
        # How many addresses are bound or connected (a Proxy needs one at least).
        self._endpoints = 0
        # What each bind bound: [the address as given, the endpoint libzmq reports].
        self._bound: list[list[str]] = []
        # The running Proxy whose thread uses the native socket, or None.
        self._proxy: Proxy[Any, Any] | None = None
        self._context = context
        self._option_cache: dict[str, object] = {}
        self._observer: Observer | None = None
        context._sockets.add(self)
        try:
            apply_keywords(self, type(self).__name__, self._keywords, options)
        except BaseException:
            # Nothing is left half-open by a bad keyword.
            self._close_engine()
            native.close(linger=0)
            raise

    # -- lifecycle ---------------------------------------------------------

    @property
    def context(self) -> Context:
        """The context the socket belongs to."""
        return self._context

    @property
    def closed(self) -> bool:
        """Whether `close()` was called."""
        return self._closed

    def close(self) -> None:
        """Close the socket; calling it again does nothing.

        A pending `send()` or `receive()` ends with a `ZMQError` (code
        ``ENOTSOCK``) and an `async for` over the socket ends. Queued outgoing
        messages are kept for `linger` milliseconds. The observer, if any,
        delivers its ``"end"`` event and closes.

        Called from another thread than the one whose event loop waits on
        the socket, it refuses new operations at once and closes the socket
        in the loop's own thread, which also ends the pending operations.
        """
        if self._closed:
            return
        loop = self._loop
        if loop is not None and loop.is_running() and not _runs_in(loop):
            self._closed = True
            loop.call_soon_threadsafe(self._close_now)
            return
        self._close_now()

    def _close_at_exit(self) -> None:
        """Close at process exit. A socket whose event loop still runs in
        another (daemon) thread is closed quietly: its waiters are not woken
        from this thread, and that thread dies with the process."""
        if self._closed:
            return
        loop = self._loop
        if loop is not None and loop.is_running() and not _runs_in(loop):
            self._closed = True
            self._target = CLOSED_TARGET
            self._native.close()
            return
        self.close()

    def _close_now(self) -> None:
        if self._native.closed:
            return
        self._close_engine()
        proxy = self._proxy
        if proxy is None:
            for names in self._bound:
                # libzmq frees an inproc name only at unbind (a closed socket
                # keeps it until libzmq reaps the socket, later). Not tcp or
                # ipc: unbinding those also ends the connections accepted
                # there, dropping what `linger` would still deliver; bind()
                # retries their addresses instead.
                if names[-1].startswith("inproc://"):
                    with contextlib.suppress(zmq.ZMQError):
                        self._native.unbind(names[-1])
                _released(names)
            self._bound.clear()
            self._native.close()
        else:
            # A running proxy's thread uses the native socket: the proxy
            # stops, and closes the socket once its thread has let go of it.
            proxy._end_closed()
        observer = self._observer
        if observer is not None:
            observer._socket_closed()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __del__(self) -> None:
        # An unreachable socket has no pending operation (a pending one keeps
        # it reachable, see engine._WAITING): close it, as the reference does.
        try:
            if not self._closed:
                self.close()
        except Exception:  # attributes may be missing (failed __init__) or torn down
            pass

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"fd={self._fd}"
        return f"<zeromq.{type(self).__name__} {state}>"

    # -- addresses ---------------------------------------------------------

    def _address_call(self, what: str, address: object, call: Callable[[str], object]) -> None:
        address = _check_address(address, what)
        if self._closed:
            raise closed_error(self._orphaned)
        if self._proxy is not None:
            raise ZMQError(errno.EBUSY, f"Cannot {what}: the socket is in use by a running Proxy")
        if what in ("bind", "connect"):
            self._check_security(what, address)
        try:
            call(address)
        except zmq.ZMQError as exc:
            raise from_zmq(exc, f"Cannot {what}", address) from None
        self._endpoints += 1 if what in ("bind", "connect") else -1
        if what == "bind":
            endpoint = get_option(self, _LAST_ENDPOINT) or address
            self._bound.append([address] if endpoint == address else [address, endpoint])
        elif what == "unbind":
            for names in self._bound:
                if address in names:
                    self._bound.remove(names)
                    _released(names)
                    break

    def _check_security(self, what: str, address: str) -> None:
        """Refuse what libzmq would abort the process for.

        libzmq 4.3 asserts (and so kills the process) on the first connection
        of a PLAIN server with `zap_enforce_domain` and no `zap_domain`.
        """
        native = self._native
        if (
            native.get(zmq.PLAIN_SERVER)
            and native.get(zmq.ZAP_ENFORCE_DOMAIN)
            and not native.get(zmq.ZAP_DOMAIN)
        ):
            raise ZMQError(
                errno.EINVAL,
                f"Cannot {what}: a PLAIN server with zap_enforce_domain=True needs a "
                f"zap_domain ({address})",
                address=address,
            )

    async def bind(self, address: str) -> None:
        """Bind to an address such as ``tcp://127.0.0.1:5555``, ``ipc:///tmp/x``
        or ``inproc://name``; ``tcp://127.0.0.1:*`` binds a random port, which
        `last_endpoint` then tells.

        An address this process unbound or closed a socket on can be bound
        again right away: libzmq frees a tcp port in the background, so for
        such an address an ``EADDRINUSE`` is retried for up to a second.

        Raises:
            TypeError: `address` is not a str.
            ZMQError: with `address` set, e.g. code ``EADDRINUSE``, ``EINVAL``
                (malformed address) or ``EPROTONOSUPPORT`` (unknown transport).
        """
        delay = 0.001
        while True:
            try:
                self._address_call("bind", address, self._native.bind)
                return
            except ZMQError as exc:
                # Retry only an address this process released a moment ago
                # (see _RELEASED): libzmq gives no signal to wait for instead.
                released = _RELEASED.get(address)
                if exc.errno != errno.EADDRINUSE or released is None:
                    raise
                if time.monotonic() + delay > released + _REBIND_SECONDS:
                    raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)

    async def unbind(self, address: str) -> None:
        """Stop listening on an address bound before (use `last_endpoint` for
        a wildcard bind).

        Raises:
            ZMQError: code ``ENOENT`` when the address is not bound.
        """
        self._address_call("unbind", address, self._native.unbind)

    def connect(self, address: str) -> None:
        """Connect to an address; returns at once, the connection is made
        (and remade after failures) in the background.

        Raises:
            TypeError: `address` is not a str.
            ZMQError: with `address` set, e.g. ``EINVAL`` for a malformed
                address or ``EPROTONOSUPPORT`` for an unknown transport.
        """
        self._address_call("connect", address, self._native.connect)

    def disconnect(self, address: str) -> None:
        """Disconnect from an address connected before; returns at once.

        Raises:
            ZMQError: code ``ENOENT`` when the address is not connected.
        """
        self._address_call("disconnect", address, self._native.disconnect)

    # -- readiness ---------------------------------------------------------

    @property
    def readable(self) -> bool:
        """Whether `receive()` would complete at once; always False for a
        class that cannot receive and for a closed socket."""
        return isinstance(self, Readable) and self._ready(zmq.POLLIN)

    @property
    def writable(self) -> bool:
        """Whether `send()` would complete at once; always False for a class
        that cannot send and for a closed socket."""
        return isinstance(self, Writable) and self._ready(zmq.POLLOUT)

    def _ready(self, flag: int) -> bool:
        if self._closed:
            return False
        try:
            return bool(_events(self._target) & flag)
        except zmq.ZMQError:
            return False
        finally:
            # Reading ZMQ_EVENTS consumes the fd's edge: wake who it concerns.
            if self._receive_waiter is not None or self._send_waiter is not None:
                self._poll()

    @property
    def events(self) -> Observer:
        """The socket's `Observer` of connection events (the same object
        every time); created on first access."""
        observer = self._observer
        if observer is None:
            from ._observer import Observer

            observer = self._observer = Observer(self)
        return observer


def _connect_with_id(sock: SocketBase, address: str, routing_id: str | bytes | None) -> None:
    if routing_id is not None:
        routing_id = routing_id_bytes("routing_id", routing_id)
    native = sock._native

    def connect(where: str) -> None:
        # Set only once the socket is known to be usable (not closed, not lent to a Proxy).
        if routing_id is not None:
            native.set(zmq.CONNECT_ROUTING_ID, routing_id)
        native.connect(where)

    sock._address_call("connect", address, connect)


__all__ = ["SocketBase", "ZMQError"]
