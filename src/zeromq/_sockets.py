"""The 12 socket classes and the 9 DRAFT ones. Each only says which halves and
methods it adds; its options come from the table in `_options.py` (types in
`_sockets.pyi`)."""

from __future__ import annotations

import errno
import inspect
from collections import Counter
from typing import TYPE_CHECKING, Any

import zmq

from ._draft import (
    GroupReceive,
    GroupSend,
    RoutedReceive,
    RoutedSend,
    SinglePartWritable,
    ThreadSafe,
    connect_peer,
    group_bytes,
)
from ._engine import Readable, Writable
from ._errors import ZMQError, closed_error, from_zmq
from ._options import ALL, DRAFT, attach, keyword_signature, keyword_table, options_for
from ._socket import SocketBase, _connect_with_id

if TYPE_CHECKING:
    from ._context import Context

_CONTEXT_PARAMETER = inspect.Parameter(
    "context", inspect.Parameter.KEYWORD_ONLY, default=None, annotation="Context | None"
)


class Socket(SocketBase):
    """A ZeroMQ socket: the base of the 12 socket classes, not made directly.

    Every option of a class is a keyword of its constructor and a typed
    property. An unknown keyword is a `TypeError`; an option value of the
    wrong type a `TypeError`, out of range a `ValueError` or `ZMQError`,
    each naming the option.
    """

    __slots__ = ()

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        name = cls.__name__
        attach(cls, (o for o in options_for(name) if o.targets != ALL))
        cls._keywords = keyword_table(name)
        # inspect.signature(cls) and help(cls) show the option keywords, not **options.
        cls.__signature__ = keyword_signature(name, [_CONTEXT_PARAMETER])  # type: ignore[attr-defined]


attach(Socket, (o for o in options_for("Pair") if o.targets == ALL))


class Pair(Socket, Readable, Writable):
    """An exclusive pair: one peer, no routing; for threads over inproc."""

    __slots__ = ()
    _socket_type = zmq.PAIR


class Publisher(Socket, Writable):
    """Fans messages out to every Subscriber whose subscription matches; never
    waits: a subscriber at its high water mark misses messages."""

    __slots__ = ()
    _socket_type = zmq.PUB


class Subscriber(Socket, Readable):
    """Receives what Publishers send that matches its subscriptions; it has
    none at first (so it receives nothing until `subscribe()`)."""

    __slots__ = ("_subscriptions",)
    _socket_type = zmq.SUB

    def __init__(self, *, context: Context | None = None, **options: Any) -> None:
        # How many times each prefix is subscribed (libzmq counts them too: a
        # prefix subscribed twice needs two unsubscribes), so that a receive
        # that times out can say when the reason is that there is none.
        self._subscriptions: Counter[bytes] = Counter()
        super().__init__(context=context, **options)

    def subscribe(self, *prefixes: str | bytes) -> None:
        """Receive messages that start with any of the prefixes; with none,
        every message.

        Raises:
            TypeError: a prefix that is neither str nor bytes.
        """
        self._subscription(zmq.SUBSCRIBE, prefixes)

    def unsubscribe(self, *prefixes: str | bytes) -> None:
        """Undo `subscribe()` of the same prefixes; with none, undo
        `subscribe()` with none."""
        self._subscription(zmq.UNSUBSCRIBE, prefixes)

    def _subscription(self, option: int, prefixes: tuple[str | bytes, ...]) -> None:
        if self._closed:
            raise closed_error(self._orphaned)
        for prefix in prefixes or (b"",):
            if isinstance(prefix, str):
                prefix = prefix.encode()
            elif not isinstance(prefix, (bytes, bytearray, memoryview)):
                raise TypeError(f"subscription prefix must be str or bytes, not {type(prefix).__name__}")
            raw = bytes(prefix)
            self._native.set(option, raw)
            if option == zmq.SUBSCRIBE:
                self._subscriptions[raw] += 1
            elif self._subscriptions[raw] > 0:  # unsubscribing what is not subscribed does nothing
                self._subscriptions[raw] -= 1

    def _timeout_error(self, what: str) -> ZMQError:
        error = super()._timeout_error(what)
        if self._subscriptions.total() == 0:
            error.strerror = (
                f"{error.strerror}: this Subscriber has no subscriptions, so it receives "
                "nothing (call subscribe(), with no argument for every message)"
            )
        return error


class Request(Socket, Readable, Writable):
    """The client of request-reply: send a request, then receive its reply."""

    __slots__ = ()
    _socket_type = zmq.REQ


class Reply(Socket, Readable, Writable):
    """The server of request-reply: receive a request, then send its reply."""

    __slots__ = ()
    _socket_type = zmq.REP


class Dealer(Socket, Readable, Writable):
    """Round-robins sends and fair-queues receives over all peers; waits at
    the high water mark."""

    __slots__ = ()
    _socket_type = zmq.DEALER


class Router(Socket, Readable, Writable):
    """Prefixes each received message with the sender's routing id and routes
    each sent message by its first part."""

    __slots__ = ()
    _socket_type = zmq.ROUTER

    def connect(self, address: str, *, routing_id: str | bytes | None = None) -> None:
        """Connect to an address, optionally naming the peer `routing_id`
        (1 to 255 bytes, not starting with a zero byte).

        Raises:
            TypeError, ValueError: a bad `routing_id`.
            ZMQError: as `Socket.connect`.
        """
        _connect_with_id(self, address, routing_id)


class Pull(Socket, Readable):
    """Receives from Pushes, fair-queued."""

    __slots__ = ()
    _socket_type = zmq.PULL


class Push(Socket, Writable):
    """Round-robins messages to Pulls; waits when none can take one."""

    __slots__ = ()
    _socket_type = zmq.PUSH


class XPublisher(Socket, Readable, Writable):
    """A Publisher that also receives the subscriptions (``b"\\x01" + prefix``)
    and unsubscriptions (``b"\\x00" + prefix``) of its peers."""

    __slots__ = ()
    _socket_type = zmq.XPUB


class XSubscriber(Socket, Readable, Writable):
    """A Subscriber that subscribes by sending ``b"\\x01" + prefix``."""

    __slots__ = ()
    _socket_type = zmq.XSUB


class Stream(Socket, Readable, Writable):
    """Raw TCP to peers that do not speak ZeroMQ: messages are
    ``[routing_id, data]``."""

    __slots__ = ()
    _socket_type = zmq.STREAM

    def connect(self, address: str, *, routing_id: str | bytes | None = None) -> None:
        """Connect to a TCP address, optionally naming the peer `routing_id`
        (1 to 255 bytes, not starting with a zero byte).

        Raises:
            TypeError, ValueError: a bad `routing_id`.
            ZMQError: as `Socket.connect`.
        """
        _connect_with_id(self, address, routing_id)


SOCKET_CLASSES: tuple[type[Socket], ...] = (
    Pair, Publisher, Subscriber, Request, Reply, Dealer,
    Router, Pull, Push, XPublisher, XSubscriber, Stream,
)


# -- DRAFT sockets ---------------------------------------------------------------


class DraftSocket(Socket):
    """The base of the DRAFT socket classes, not made directly.

    They need a libzmq built with the DRAFT API (``zeromq.capability["draft"]``);
    pyzmq's wheels are not, and ``make draft`` builds one. All but `Datagram`
    are thread-safe and send and receive one-part messages only.

    A thread-safe one may be used from several threads' event loops (and
    trio runs) at once: each loop's operations queue in their own lines,
    complete in that loop's call order, and keep their own timeouts and
    exact cancellation; `close()` from any thread ends the pending
    operations of every loop. (`Datagram`, like the other classes, waits in
    one loop at a time: another thread's loop gets ``EBUSY``.)
    """

    __slots__ = ()

    def __init__(self, *, context: Context | None = None, **options: Any) -> None:
        if not DRAFT:
            raise ZMQError(
                errno.ENOTSUP,
                f"{type(self).__name__} is a DRAFT socket: it needs a libzmq built with "
                "the DRAFT API (zeromq.capability['draft'] is False here; pyzmq's wheels "
                "have none). `make draft` builds such a libzmq and pyzmq",
            )
        super().__init__(context=context, **options)


class Server(DraftSocket, ThreadSafe, RoutedReceive, RoutedSend):
    """Answers many Clients: each message received carries the sender's
    routing id, and each message sent goes to the peer a routing id names.
    Thread-safe: usable from several threads' event loops at once; one part
    per message (DRAFT)."""

    __slots__ = ()
    _socket_type = zmq.SERVER


class Client(DraftSocket, ThreadSafe, Readable, SinglePartWritable):
    """Talks to Servers: round-robins sends, fair-queues receives.
    Thread-safe: usable from several threads' event loops at once; one part
    per message (DRAFT)."""

    __slots__ = ()
    _socket_type = zmq.CLIENT


class Radio(DraftSocket, ThreadSafe, GroupSend):
    """Publishes each message to a group; Dishes that joined it receive it.
    Over udp:// too (multicast as well). Thread-safe: usable from several
    threads' event loops at once; one part per message (DRAFT)."""

    __slots__ = ()
    _socket_type = zmq.RADIO


class Dish(DraftSocket, ThreadSafe, GroupReceive):
    """Receives what Radios send to the groups it joined (none at first).
    Thread-safe: usable from several threads' event loops at once; one part
    per message (DRAFT)."""

    __slots__ = ()
    _socket_type = zmq.DISH

    def join(self, *groups: str | bytes) -> None:
        """Receive the messages sent to each group (1 to 15 bytes each).

        Raises:
            TypeError, ValueError: a bad group.
            ZMQError: e.g. ``EINVAL`` when the group is already joined.
        """
        self._group("join", groups)

    def leave(self, *groups: str | bytes) -> None:
        """Stop receiving the messages sent to each group joined before.

        Raises:
            TypeError, ValueError: a bad group.
            ZMQError: e.g. ``EINVAL`` when the group was not joined.
        """
        self._group("leave", groups)

    def _group(self, what: str, groups: tuple[str | bytes, ...]) -> None:
        if self._closed:
            raise closed_error(self._orphaned)
        for group in groups:
            raw = group_bytes(group)
            try:
                getattr(self._native, what)(raw)
            except zmq.ZMQError as exc:
                raise from_zmq(exc, f"Cannot {what} group {group!r}") from None


class Gather(DraftSocket, ThreadSafe, Readable):
    """Receives from Scatters, fair-queued. Thread-safe: usable from several
    threads' event loops at once; one part per message (DRAFT)."""

    __slots__ = ()
    _socket_type = zmq.GATHER


class Scatter(DraftSocket, ThreadSafe, SinglePartWritable):
    """Round-robins messages to Gathers. Thread-safe: usable from several
    threads' event loops at once; one part per message (DRAFT)."""

    __slots__ = ()
    _socket_type = zmq.SCATTER


class Datagram(DraftSocket, Readable, Writable):
    """Raw UDP (udp:// only): messages are ``[address, data]``. The address
    part received is ``b"ip:port\\0"`` (libzmq ends it with a NUL byte) and can
    be sent back as it is (DRAFT; not thread-safe: one event loop at a time)."""

    __slots__ = ()
    _socket_type = zmq.DGRAM


class Peer(DraftSocket, ThreadSafe, RoutedReceive, RoutedSend):
    """Talks to other Peers, each named by its routing id: `connect()`
    returns the id of the peer it connects to, and each message received
    carries its sender's. Thread-safe: usable from several threads' event
    loops at once; one part per message (DRAFT)."""

    __slots__ = ()
    _socket_type = zmq.PEER

    def connect(self, address: str) -> int:  # type: ignore[override]
        """Connect to a Peer at `address` and return its routing id, for
        `send(..., routing_id=...)`; the connection is made in the background.

        Raises:
            TypeError: `address` is not a str.
            ZMQError: as `Socket.connect`.
        """
        routing_ids: list[int] = []

        def connect(where: str) -> None:
            routing_ids.append(connect_peer(self._native, where))

        self._address_call("connect", address, connect)
        return routing_ids[0]


class Channel(DraftSocket, ThreadSafe, Readable, SinglePartWritable):
    """An exclusive Pair: one peer, one part per message. Thread-safe:
    usable from several threads' event loops at once (DRAFT)."""

    __slots__ = ()
    _socket_type = zmq.CHANNEL


DRAFT_SOCKET_CLASSES: tuple[type[DraftSocket], ...] = (
    Server, Client, Radio, Dish, Gather, Scatter, Datagram, Peer, Channel,
)
