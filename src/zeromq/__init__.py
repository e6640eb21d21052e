"""zeromq: ZeroMQ for asyncio, typed, fast and cancellation-safe.

The Python rendering of the Node.js `zeromq` 6 API on pyzmq's libzmq::

    import asyncio, zeromq

    async def main() -> None:
        async with zeromq.Push() as push, zeromq.Pull() as pull:
            await pull.bind("tcp://127.0.0.1:*")
            push.connect(pull.last_endpoint)
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
from ._engine import Message, MessagePart
from ._errors import OptionWarning, ZMQError
from ._observer import Event, EventType, Observer
from ._proxy import Proxy
from ._sockets import (
    Dealer,
    Pair,
    Publisher,
    Pull,
    Push,
    Reply,
    Request,
    Router,
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

context: Context = default_context()
"""The context of every socket made without ``context=``."""

__all__ = [
    "Authenticator",
    "AuthenticatorWarning",
    "Certificate",
    "Context",
    "CurveKeyPair",
    "Dealer",
    "Event",
    "EventType",
    "Message",
    "MessagePart",
    "Observer",
    "OptionWarning",
    "Pair",
    "Proxy",
    "Publisher",
    "Pull",
    "Push",
    "Reply",
    "Request",
    "Router",
    "Socket",
    "Stream",
    "Subscriber",
    "XPublisher",
    "XSubscriber",
    "ZMQError",
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
