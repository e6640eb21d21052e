"""The 12 socket classes. Each only says which halves and methods it adds; its
options come from the table in `_options.py` (types in `_sockets.pyi`)."""

from __future__ import annotations

import zmq

from ._engine import Readable, Writable
from ._options import ALL, attach, keyword_table, options_for
from ._socket import SocketBase, _connect_with_id


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
    none at first."""

    __slots__ = ()
    _socket_type = zmq.SUB

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
        from ._errors import closed_error

        if self._closed:
            raise closed_error(self._orphaned)
        for prefix in prefixes or (b"",):
            if isinstance(prefix, str):
                prefix = prefix.encode()
            elif not isinstance(prefix, (bytes, bytearray, memoryview)):
                raise TypeError(f"subscription prefix must be str or bytes, not {type(prefix).__name__}")
            self._native.set(option, bytes(prefix))


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
