"""Checked by mypy --strict in `make typecheck`, never run: what a user's type
checker (and IDE) sees of the public API. Each deliberate mistake carries a
`type: ignore[...]`; strict mode's warn_unused_ignores fails the check if the
mistake stops being caught."""

from __future__ import annotations

import zeromq


async def sockets() -> None:
    async with zeromq.Dealer(linger=0, routing_id="me", send_high_water_mark=10) as dealer:
        linger: int = dealer.linger
        routing_id: bytes | None = dealer.routing_id
        mechanism: str | None = dealer.security_mechanism
        dealer.receive_timeout = 100
        await dealer.send(["a", b"b", 1, 2.5, None, memoryview(b"c")])
        parts: list[bytes] = await dealer.receive()
        views: list[memoryview] = await dealer.receive_buffers()
        async for message in dealer:
            first: bytes = message[0]
        del linger, routing_id, mechanism, parts, views, first

        zeromq.Dealer(lingr=0)  # type: ignore[call-arg]
        zeromq.Dealer(linger="0")  # type: ignore[arg-type]
        zeromq.Router(conflate=True)  # type: ignore[call-arg]
        dealer.type = 5  # type: ignore[misc]
        dealer.last_endpoint = "x"  # type: ignore[misc]

    pull = zeromq.Pull()
    await pull.send("x")  # type: ignore[attr-defined]
    pull.send_high_water_mark  # type: ignore[attr-defined]  # noqa: B018
    push = zeromq.Push()
    await push.receive()  # type: ignore[attr-defined]

    sub = zeromq.Subscriber()
    sub.subscribe("topic", b"bytes")
    router = zeromq.Router(mandatory=True)
    router.connect("tcp://127.0.0.1:5555", routing_id="peer")
    xpub = zeromq.XPublisher(verbosity="all_subs_unsubs")
    xpub.verbosity = "everything"  # type: ignore[assignment]


def module_attributes() -> None:
    accelerated: bool = zeromq.accelerated
    libzmq: str = zeromq.version
    has_curve: bool = zeromq.capability["curve"]
    del accelerated, libzmq, has_curve


def contexts() -> None:
    ctx = zeromq.Context(io_threads=2, blocky=False)
    threads: int = ctx.io_threads
    ctx.max_sockets_limit = 3  # type: ignore[misc]
    zeromq.Context(io_thread=2)  # type: ignore[call-arg]
    zeromq.Pair(context=ctx)
    del threads


async def errors() -> None:
    try:
        await zeromq.Pair().receive()
    except zeromq.ZMQError as err:
        code: str = err.code
        address: str | None = err.address
        status: int | None = err.status
        del code, address, status


async def events_and_proxy() -> None:
    sock = zeromq.Router()
    event: zeromq.Event = await sock.events.receive()
    kind: str = event.type
    proxy = zeromq.Proxy(zeromq.Router(), zeromq.Dealer())
    front: zeromq.Router = proxy.front_end
    del kind, front


def listener_for(kind: zeromq.EventType) -> None:
    """The event type names are a Literal users can annotate with."""


listener_for("handshake:error:auth")
listener_for("no such event")  # type: ignore[arg-type]


async def draft_sockets() -> None:
    async with zeromq.Server(linger=0) as server, zeromq.Client(linger=0) as client:
        client.connect(await server.bind("tcp://127.0.0.1:*"))
        await client.send("ping")
        [request], routing_id = await server.receive()
        routed: zeromq.RoutedMessage = await server.receive()
        await server.send(request, routing_id=routing_id)
        reply: list[bytes] = await client.receive()
        async for _parts, sender in server:
            who: int = sender
        safe: bool = server.thread_safe
        del routed, reply, who, safe

        await server.send("x")  # type: ignore[call-arg]
        await server.send("x", routing_id="1")  # type: ignore[arg-type]
        server.routing_id  # type: ignore[attr-defined]  # noqa: B018

    radio, dish = zeromq.Radio(), zeromq.Dish()
    dish.join("weather", b"news")
    dish.leave("news")
    await radio.send("sunny", group="weather")
    grouped: zeromq.GroupMessage = await dish.receive()
    group: str = grouped.group
    await radio.receive()  # type: ignore[attr-defined]
    await dish.send("x")  # type: ignore[attr-defined]

    peer = zeromq.Peer()
    peer_id: int = peer.connect("tcp://127.0.0.1:5555")
    await peer.send("hi", routing_id=peer_id)
    datagram = zeromq.Datagram()
    await datagram.send([b"127.0.0.1:5556", b"data"])
    for cls in (zeromq.Gather, zeromq.Scatter, zeromq.Channel):
        cls(linger=0).close()
    router = zeromq.Router(hello_message="hi", disconnect_message=b"bye", router_notify="both")
    notify: str | None = router.router_notify
    hello: bytes | None = router.hello_message
    zeromq.Router(router_notify="always")  # type: ignore[arg-type]
    zeromq.Pull(hello_message="hi")  # type: ignore[call-arg]
    del group, notify, hello
