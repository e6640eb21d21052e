"""What every socket has beside its options: lifecycle, addresses, readiness."""

from __future__ import annotations

import contextlib
import errno
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Self

import zmq

from . import _backends, _threads
from ._backends import _asyncio
from ._engine import _ATTACHING, Engine
from ._errors import ZMQError, address_hint, closed_error, from_zmq
from ._lifecycle import closing, socket_made, time_left
from ._native import CLOSED_TARGET, target_of
from ._options import OPTIONS, Option, apply_keywords, get_option, routing_id_bytes

if TYPE_CHECKING:
    from ._context import Context
    from ._observer import Observer
    from ._proxy import Proxy


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
            native = _threads.native_socket(context._native, self._socket_type)
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
        socket_made()
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
        # Decided under the lock an operation starting in a loop (or trio
        # run) takes to watch the fd (see engine._ATTACHING): either that loop
        # is seen here and closes the socket itself, or the operation sees
        # _closed.
        with _ATTACHING:
            if self._closed:
                return
            runner = self._runner_elsewhere()
            self._closed = True
        if runner is not None:
            try:
                runner.call_soon(self._close_now)
                return
            except RuntimeError:
                pass  # it ended just now: nothing waits any more
        self._close_now()

    def _close_at_exit(self, deadline: float) -> None:
        """Close at process exit.

        A socket whose event loop still runs in another (daemon) thread is
        closed in that thread: that loop may be inside libzmq on the socket
        (`_idle.recv_idle` sleeps in a call that holds the raw socket), and
        closed from here, the socket could be freed under it. It is closed
        quietly: its pending operations are not woken (they would raise into
        a thread that dies with the process, printing tracebacks at exit).
        The exit waits for that loop until `deadline` (monotonic, shared by
        all sockets); one that does not run by then is stuck outside libzmq
        (in Python code, which holds no socket), and the socket is closed
        quietly from here.
        """
        if self._closed:
            return
        runner = self._runner_elsewhere()
        if runner is None:
            proxy = self._proxy
            self.close()
            if proxy is not None:  # lent to a running Proxy: close() stops it
                proxy._wait_stopped(deadline)
            return
        closed_there = threading.Event()

        def close_there() -> None:
            try:
                self._close_quietly(in_its_thread=True)
            finally:
                closed_there.set()

        with contextlib.suppress(RuntimeError):  # (the loop ended just now)
            runner.call_soon(close_there)
            if closed_there.wait(time_left(deadline)):
                return
        self._close_quietly(in_its_thread=False)

    def _close_quietly(self, in_its_thread: bool) -> None:
        """Close the libzmq socket without waking the pending operations
        (at exit); `in_its_thread`: called in the thread of the loop or trio
        run watching the socket, which then stops watching it."""
        with _ATTACHING:
            if self._closed:
                return
            self._closed = True
        self._target = CLOSED_TARGET
        if in_its_thread:
            self._unwatch()
        closing(self._context, self._native)
        self._native.close()

    def _runner_elsewhere(self) -> _backends.Runner | None:
        """The event loop or trio run watching the socket, when another
        thread runs it (it must be the one to wake its waiters)."""
        runner: _backends.Runner
        watch = self._trio_watch
        if watch is not None and not watch.done:
            runner = watch.runner
        elif self._loop is not None:
            runner = _asyncio.Runner(self._loop)
        else:
            return None
        if runner.is_running() and not runner.is_current():
            return runner
        return None

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
            closing(self._context, self._native)  # for the exit hint
            self._native.close()
        else:
            # A running proxy's thread uses the native socket: the proxy
            # stops, and closes the socket once its thread has let go of it.
            proxy._end_closed()
        observer = self._observer
        if observer is not None:
            observer._socket_closed()

    def _lend(self, proxy: Proxy[Any, Any]) -> None:
        """Let a running proxy's thread have the libzmq socket: the engine
        lets go of it (stops watching its fd), and its send and receive
        fail (ENOTSOCK, naming the Proxy: see Engine._error) without
        touching it. Called by `Proxy.run()` in its loop's thread."""
        self._unwatch()
        self._target = CLOSED_TARGET
        self._proxy = proxy

    def _close_after_proxy(self) -> None:
        """Finish a close() that came while a running Proxy's thread had the
        socket: that thread has let go of it now (called in run()'s loop)."""
        if not self._native.closed:
            closing(self._context, self._native)  # for the exit hint
            self._native.close()

    def _give_back(self) -> None:
        """The proxy's thread has let go of the libzmq socket."""
        self._proxy = None
        if not self._closed:
            self._target = target_of(self._native)

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

    def _address_call(self, what: str, address: object, call: Callable[[str], object]) -> str:
        """Run a bind/unbind/connect/disconnect; return the endpoint (for a
        bind, the one libzmq resolved, e.g. the port chosen for ``:*``)."""
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
            hint = address_hint(what, address, exc.errno)
            raise from_zmq(exc, f"Cannot {what}", address, hint) from None
        # An inproc connect attaches its pipe in this thread, without a
        # command, so the fd is not signalled: waiting operations would not
        # learn that they can go on.
        self._wake_waiting()
        self._endpoints += 1 if what in ("bind", "connect") else -1
        if what == "bind":
            endpoint = get_option(self, _LAST_ENDPOINT) or address
            if "://" not in endpoint:  # libzmq 4.3.4 reports a udp bind without its scheme
                endpoint = address.partition("://")[0] + "://" + endpoint
            self._bound.append([address] if endpoint == address else [address, endpoint])
            return str(endpoint)
        if what == "unbind":
            for names in self._bound:
                if address in names:
                    self._bound.remove(names)
                    _released(names)
                    break
        return address

    def _wake_waiting(self) -> None:
        """Have the waiting operations look at the socket again, after a
        change libzmq signals to nobody."""
        if self._receivers or self._senders:
            self._poll()

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

    async def bind(self, address: str) -> str:
        """Bind to an address such as ``tcp://127.0.0.1:5555``, ``ipc:///tmp/x``
        or ``inproc://name``, and return the endpoint bound:
        ``tcp://127.0.0.1:*`` binds a random port and returns the address with
        that port (``tcp://127.0.0.1:41234``, also in `last_endpoint`).

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
                return self._address_call("bind", address, self._native.bind)
            except ZMQError as exc:
                # Retry only an address this process released a moment ago
                # (see _RELEASED): libzmq gives no signal to wait for instead.
                released = _RELEASED.get(address)
                if exc.errno != errno.EADDRINUSE or released is None:
                    raise
                if time.monotonic() + delay > released + _REBIND_SECONDS:
                    raise
            await _backends.current().sleep(delay)
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
        return hasattr(self, "receive") and self._ready(zmq.POLLIN)

    @property
    def writable(self) -> bool:
        """Whether `send()` would complete at once; always False for a class
        that cannot send and for a closed socket."""
        return hasattr(self, "send") and self._ready(zmq.POLLOUT)

    def _ready(self, flag: int) -> bool:
        if self._closed:
            return False
        try:
            return bool(self._read_events() & flag)
        except zmq.ZMQError:
            return False
        finally:
            # Reading ZMQ_EVENTS consumes the fd's edge: wake who it concerns.
            if self._receivers or self._senders:
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
