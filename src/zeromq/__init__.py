"""zeromq: ZeroMQ for asyncio, typed, fast and cancellation-safe.

The Python rendering of the Node.js `zeromq` 6 API on pyzmq's libzmq::

    import asyncio, zeromq

    async def main() -> None:
        async with zeromq.Push() as push, zeromq.Pull() as pull:
            endpoint = await pull.bind("tcp://127.0.0.1:*")
            push.connect(endpoint)
            await push.send("hello")
            [msg] = await pull.receive()

    asyncio.run(main())
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import zmq as _zmq

from ._auth import Authenticator, AuthenticatorWarning
from ._certs import (
    Certificate,
    load_certificate,
    load_certificates,
    write_certificate,
    write_certificates,
)
from ._context import Context, default_context
from ._curve import CurveKeyPair, curve_keypair, curve_public
from ._draft import GroupMessage, RoutedMessage
from ._engine import Message, MessagePart
from ._errors import OptionWarning, ZMQError
from ._native import ACCELERATED as _ACCELERATED
from ._observer import Event, EventType, Observer
from ._proxy import Proxy
from ._sockets import (
    Channel,
    Client,
    Datagram,
    Dealer,
    Dish,
    Gather,
    Pair,
    Peer,
    Publisher,
    Pull,
    Push,
    Radio,
    Reply,
    Request,
    Router,
    Scatter,
    Server,
    Socket,
    Stream,
    Subscriber,
    XPublisher,
    XSubscriber,
)

version: str = _zmq.zmq_version()
"""The version of libzmq in use, ``"4.3.5"`` form."""

capability: Mapping[str, bool] = MappingProxyType(
    {name: bool(_zmq.has(name)) for name in ("ipc", "pgm", "tipc", "norm", "curve", "gssapi", "draft")}
)
"""Which optional libzmq features are available (keys ipc pgm tipc norm curve gssapi draft)."""

accelerated: bool = _ACCELERATED
"""Whether the C accelerator of the send/receive hot path is in use: False
when it was not built (no C compiler at install) or ``ZEROMQ_PURE_PYTHON`` is
set to anything but ``0``. Either way everything works; pure Python is slower."""

context: Context = default_context()
"""The context of every socket made without ``context=``."""

__all__ = [
    "Authenticator",
    "AuthenticatorWarning",
    "Certificate",
    "Channel",
    "Client",
    "Context",
    "CurveKeyPair",
    "Datagram",
    "Dealer",
    "Dish",
    "Event",
    "EventType",
    "Gather",
    "GroupMessage",
    "Message",
    "MessagePart",
    "Observer",
    "OptionWarning",
    "Pair",
    "Peer",
    "Proxy",
    "Publisher",
    "Pull",
    "Push",
    "Radio",
    "Reply",
    "Request",
    "RoutedMessage",
    "Router",
    "Scatter",
    "Server",
    "Socket",
    "Stream",
    "Subscriber",
    "XPublisher",
    "XSubscriber",
    "ZMQError",
    "accelerated",
    "capability",
    "context",
    "curve_keypair",
    "curve_public",
    "load_certificate",
    "load_certificates",
    "version",
    "write_certificate",
    "write_certificates",
]
