"""The DRAFT sockets: Server, Client, Radio, Dish, Gather, Scatter, Datagram,
Peer and Channel, and the DRAFT options of the other classes.

They need a libzmq built with the DRAFT API: `make draft` builds one and runs
this file there. Elsewhere only the tests of the refusal run.
"""

from __future__ import annotations

import asyncio
import gc
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import zmq
from conftest import address

import zeromq
from zeromq import ZMQError

DRAFT = zeromq.capability["draft"]
needs_draft = pytest.mark.skipif(
    not DRAFT, reason="needs a libzmq with the DRAFT API (zeromq.capability['draft'] is False); run `make draft`"
)
WAIT = 5.0  # seconds anything that must happen may take

ALL_DRAFT = (
    zeromq.Server, zeromq.Client, zeromq.Radio, zeromq.Dish, zeromq.Gather,
    zeromq.Scatter, zeromq.Datagram, zeromq.Peer, zeromq.Channel,
)  # fmt: skip


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def udp_address() -> str:
    return f"udp://127.0.0.1:{free_udp_port()}"


def fresh_address(transport: str) -> str:
    return udp_address() if transport == "udp" else address(transport)


# -- without DRAFT support ---------------------------------------------------------


@pytest.mark.skipif(DRAFT, reason="this libzmq has the DRAFT API: the refusal cannot happen")
@pytest.mark.parametrize("cls", ALL_DRAFT, ids=lambda c: c.__name__)
def test_without_draft_support_constructing_names_make_draft(cls: type[zeromq.Socket]) -> None:
    with pytest.raises(ZMQError, match="make draft") as caught:
        cls()
    assert caught.value.code == "ENOTSUP"
    assert cls.__name__ in str(caught.value)


@pytest.mark.skipif(DRAFT, reason="this libzmq has the DRAFT API: the refusal cannot happen")
@pytest.mark.parametrize("name", ["router_notify", "hello_message", "disconnect_message"])
def test_without_draft_support_a_draft_option_is_refused_naming_it(name: str) -> None:
    router = zeromq.Router(linger=0)
    try:
        with pytest.raises(ZMQError, match=f"'{name}'.*make draft"):
            getattr(router, name)
        with pytest.raises(ZMQError, match=f"'{name}'.*make draft"):
            setattr(router, name, None)
        with pytest.raises(ZMQError, match=f"'{name}'.*make draft"):
            zeromq.Router(linger=0, **{name: None})
    finally:
        router.close()


# -- each type exchanges messages over each transport it allows ----------------------

async def joined(radio: zeromq.Radio, dish: zeromq.Dish) -> None:
    """Return once the groups `dish` joined reach `radio`: a join travels to a
    tcp/ipc/inproc Radio in the background (and a udp Radio connects in the
    background). Probes go to a group of their own, left at the end: the Dish
    drops any still in flight."""
    dish.join("probe")
    async with asyncio.timeout(WAIT):
        while True:
            await radio.send("probe", group="probe")
            try:
                async with asyncio.timeout(0.05):  # a retry interval, not a synchronisation
                    await dish.receive()
                    break
            except TimeoutError:
                continue
    dish.leave("probe")


async def server_client(server: Any, client: Any) -> None:
    for i in range(3):
        await client.send(f"ping {i}")
        parts, routing_id = await server.receive()
        assert parts == [f"ping {i}".encode()]
        await server.send(f"pong {i}", routing_id=routing_id)
        assert await client.receive() == [f"pong {i}".encode()]


async def radio_dish(dish: Any, radio: Any) -> None:
    dish.join("weather", "news")
    await joined(radio, dish)
    await radio.send("sunny", group="weather")
    await radio.send("nothing", group="sports")  # not joined: not received
    await radio.send("quiet", group="news")
    assert await dish.receive() == zeromq.GroupMessage([b"sunny"], "weather")
    assert await dish.receive() == zeromq.GroupMessage([b"quiet"], "news")


async def gather_scatter(gather: Any, scatter: Any) -> None:
    for i in range(3):
        await scatter.send(str(i))
    assert [await gather.receive() for _ in range(3)] == [[b"0"], [b"1"], [b"2"]]


async def channel_channel(bound: Any, connected: Any) -> None:
    for i in range(3):
        await connected.send(f"there {i}")
        assert await bound.receive() == [f"there {i}".encode()]
        await bound.send(f"back {i}")
        assert await connected.receive() == [f"back {i}".encode()]


async def peer_peer(bound: Any, connected: Any, routing_id: int) -> None:
    for i in range(3):
        await connected.send(f"hello {i}", routing_id=routing_id)
        parts, sender = await bound.receive()
        assert parts == [f"hello {i}".encode()]
        await bound.send(f"hi {i}", routing_id=sender)
        assert await connected.receive() == zeromq.RoutedMessage([f"hi {i}".encode()], routing_id)


@dataclass(frozen=True)
class Pattern:
    name: str
    bound: type[zeromq.Socket]
    connected: type[zeromq.Socket]
    transports: tuple[str, ...]
    exchange: Callable[..., Awaitable[None]]

    def __str__(self) -> str:
        return self.name


STREAMS = ("tcp", "ipc", "inproc")
PATTERNS = (
    Pattern("server-client", zeromq.Server, zeromq.Client, STREAMS, server_client),
    Pattern("dish-radio", zeromq.Dish, zeromq.Radio, (*STREAMS, "udp"), radio_dish),
    Pattern("gather-scatter", zeromq.Gather, zeromq.Scatter, STREAMS, gather_scatter),
    Pattern("channel", zeromq.Channel, zeromq.Channel, STREAMS, channel_channel),
    Pattern("peer", zeromq.Peer, zeromq.Peer, STREAMS, peer_peer),
)
CASES = [(p, t) for p in PATTERNS for t in p.transports]


@asynccontextmanager
async def pair(pattern: Pattern, transport: str, **options: Any) -> AsyncIterator[tuple[Any, Any, Any]]:
    """The pattern's two sockets, the second connected to the first; and what
    connect() returned (a Peer's routing id)."""
    bound = pattern.bound(linger=0, **options)
    connected = pattern.connected(linger=0, **options)
    try:
        endpoint = await bound.bind(fresh_address(transport))
        yield bound, connected, connected.connect(endpoint)
    finally:
        bound.close()
        connected.close()


@needs_draft
@pytest.mark.parametrize(("pattern", "transport"), CASES, ids=[f"{p}-{t}" for p, t in CASES])
async def test_each_type_exchanges_messages(pattern: Pattern, transport: str) -> None:
    async with pair(pattern, transport) as (bound, connected, routing_id), asyncio.timeout(WAIT):
        if pattern.exchange is peer_peer:
            await peer_peer(bound, connected, routing_id)
        else:
            await pattern.exchange(bound, connected)


@needs_draft
async def test_datagram_address_ends_in_nul_and_answers_back() -> None:
    async with zeromq.Datagram(linger=0) as one, zeromq.Datagram(linger=0) as two:
        one_at = await one.bind(udp_address())
        two_at = await two.bind(udp_address())
        assert one_at.startswith("udp://127.0.0.1:")
        async with asyncio.timeout(WAIT):
            await two.send([one_at.removeprefix("udp://"), "hello"])
            sender, data = await one.receive()
            assert (sender, data) == (two_at.removeprefix("udp://").encode() + b"\0", b"hello")
            await one.send([sender, "back"])  # the address as received answers
            assert await two.receive() == [one_at.removeprefix("udp://").encode() + b"\0", b"back"]


@needs_draft
@pytest.mark.parametrize("cls", ALL_DRAFT, ids=lambda c: c.__name__)
def test_thread_safe_is_true_for_all_but_datagram(cls: type[zeromq.Socket]) -> None:
    sock = cls(linger=0)
    try:
        assert sock.thread_safe is (cls is not zeromq.Datagram)
        assert sock.type == getattr(zmq, "DGRAM" if cls is zeromq.Datagram else cls.__name__.upper())
    finally:
        sock.close()


# -- bad input ---------------------------------------------------------------------

SINGLE_PART_SENDS: list[tuple[type[zeromq.Socket], dict[str, object]]] = [
    (zeromq.Client, {}),
    (zeromq.Scatter, {}),
    (zeromq.Channel, {}),
    (zeromq.Server, {"routing_id": 1}),
    (zeromq.Peer, {"routing_id": 1}),
    (zeromq.Radio, {"group": "g"}),
]


@needs_draft
@pytest.mark.parametrize(("cls", "extra"), SINGLE_PART_SENDS, ids=lambda v: getattr(v, "__name__", ""))
async def test_a_multipart_message_is_a_value_error_on_single_part_types(
    cls: type[zeromq.Socket], extra: dict[str, object]
) -> None:
    async with cls(linger=0, send_timeout=0) as sock:
        with pytest.raises(ValueError, match=f"{cls.__name__} messages have exactly one part, not 2"):
            await sock.send(["a", "b"], **extra)  # type: ignore[attr-defined]
        with pytest.raises(TypeError, match="not object"):
            await sock.send(object(), **extra)  # type: ignore[attr-defined]


@needs_draft
@pytest.mark.parametrize(
    ("routing_id", "error", "match"),
    [("1", TypeError, "routing_id must be an int, not str"), (True, TypeError, "not bool"),
     (0, ValueError, "between 1 and 4294967295, not 0"), (2**32, ValueError, "not 4294967296")],
)  # fmt: skip
async def test_a_bad_routing_id_is_refused_naming_it(routing_id: object, error: type, match: str) -> None:
    async with zeromq.Server(linger=0) as server:
        with pytest.raises(error, match=match):
            await server.send("x", routing_id=routing_id)  # type: ignore[arg-type]


@needs_draft
@pytest.mark.parametrize(
    ("group", "error", "match"),
    [(1, TypeError, "group must be a str or bytes, not int"), ("", ValueError, "1 to 15 bytes, not 0"),
     ("x" * 16, ValueError, "1 to 15 bytes, not 16")],
)  # fmt: skip
async def test_a_bad_group_is_refused_naming_it(group: object, error: type, match: str) -> None:
    async with zeromq.Radio(linger=0) as radio, zeromq.Dish(linger=0) as dish:
        with pytest.raises(error, match=match):
            await radio.send("x", group=group)  # type: ignore[arg-type]
        with pytest.raises(error, match=match):
            dish.join(group)  # type: ignore[arg-type]


@needs_draft
async def test_sending_to_an_unknown_routing_id_is_ehostunreach() -> None:
    async with zeromq.Server(linger=0) as server:
        with pytest.raises(ZMQError) as caught:
            await server.send("nobody", routing_id=12345)
        assert caught.value.code == "EHOSTUNREACH"


@needs_draft
async def test_joining_a_group_twice_or_leaving_one_not_joined_is_a_zmq_error() -> None:
    async with zeromq.Dish(linger=0) as dish:
        dish.join("g")
        with pytest.raises(ZMQError, match="Cannot join group 'g'"):
            dish.join("g")
        dish.leave("g")
        with pytest.raises(ZMQError, match="Cannot leave group 'g'"):
            dish.leave("g")
        dish.close()
        with pytest.raises(ZMQError) as caught:
            dish.join("g")
        assert caught.value.code == "ENOTSOCK"


@needs_draft
async def test_a_dish_that_left_a_group_no_longer_receives_it() -> None:
    async with zeromq.Dish(linger=0) as dish, zeromq.Radio(linger=0) as radio:
        radio.connect(await dish.bind(udp_address()))
        dish.join("a", "b")
        await joined(radio, dish)
        dish.leave("a")
        async with asyncio.timeout(WAIT):
            await radio.send("left", group="a")
            await radio.send("kept", group="b")
            assert await dish.receive() == zeromq.GroupMessage([b"kept"], "b")


# -- the engine's guarantees ---------------------------------------------------------

# (socket that receives, socket that sends, how to send one, how a message reads)
Sender = Callable[[Any, bytes], Awaitable[None]]


async def plain_send(sock: Any, data: bytes) -> None:
    await sock.send(data)


def only_part(message: Any) -> bytes:
    parts = message.parts if isinstance(message, tuple) else message
    [data] = parts
    return bytes(data)


RECEIVING = [
    pytest.param(PATTERNS[0], "tcp", id="server-receive"),
    pytest.param(PATTERNS[2], "ipc", id="gather-receive"),
    pytest.param(PATTERNS[3], "inproc", id="channel-receive"),
    pytest.param(PATTERNS[1], "inproc", id="dish-receive"),
]


async def sender_of(pattern: Pattern, bound: Any, connected: Any, routing_id: Any) -> Sender:
    """How `connected` sends one message to `bound`."""
    if pattern.bound is zeromq.Dish:
        bound.join("g")
        await joined(connected, bound)

        async def to_group(sock: Any, data: bytes) -> None:
            await sock.send(data, group="g")

        return to_group
    return plain_send


@needs_draft
@pytest.mark.timeout(60)
@pytest.mark.parametrize(("pattern", "transport"), RECEIVING)
async def test_receives_cancelled_while_a_message_arrives_lose_nothing(pattern: Pattern, transport: str) -> None:
    """Each receive waits on the poller, a message is sent, and the receive
    is cancelled as the message arrives (at once, or a loop turn later, or by
    a tiny timeout): every message is received later, once, in order."""
    async with pair(pattern, transport) as (bound, connected, routing_id):
        send = await sender_of(pattern, bound, connected, routing_id)
        total = 1_000
        received: list[bytes] = []
        cancelled = 0

        async def cut_short() -> None:
            # The message sent is still there, for the next receive.
            nonlocal cancelled
            cancelled += 1
            received.append(only_part(await bound.receive()))

        async with asyncio.timeout(40):
            for i in range(total):
                if i % 3 == 2:
                    await send(connected, str(i).encode())
                    try:
                        async with asyncio.timeout(0.000_005):
                            received.append(only_part(await bound.receive()))
                    except TimeoutError:
                        await cut_short()
                    continue
                task = asyncio.ensure_future(bound.receive())
                await asyncio.sleep(0)  # the receive waits on the poller
                await send(connected, str(i).encode())
                if i % 3 == 1:
                    await asyncio.sleep(0)  # the wake-up may be under way
                task.cancel()
                try:
                    received.append(only_part(await task))
                except asyncio.CancelledError:
                    await cut_short()
        assert received == [str(i).encode() for i in range(total)]
        assert cancelled > total // 3  # the cancellations really did cut receives short


@needs_draft
async def test_receive_timeout_fails_as_timeout_error_and_a_late_message_still_arrives() -> None:
    async with pair(PATTERNS[0], "inproc", receive_timeout=50) as (server, client, _):
        with pytest.raises(TimeoutError) as caught:
            await server.receive()
        assert isinstance(caught.value, ZMQError) and caught.value.code == "EAGAIN"
        await client.send("late")
        assert (await server.receive()).parts == [b"late"]


@needs_draft
async def test_send_timeout_without_a_peer_fails_as_timeout_error() -> None:
    async with zeromq.Client(linger=0, send_timeout=50) as client:
        with pytest.raises(TimeoutError):
            await client.send("to nobody")


@needs_draft
@pytest.mark.parametrize("cls", [zeromq.Server, zeromq.Client, zeromq.Dish, zeromq.Peer, zeromq.Datagram])
async def test_close_ends_a_pending_receive_and_an_async_for(cls: type[zeromq.Socket]) -> None:
    async def iterate(sock: Any) -> list[object]:
        return [message async for message in sock]

    one: Any = cls(linger=0)
    two: Any = cls(linger=0)
    if cls is zeromq.Datagram:
        await one.bind(udp_address())
        await two.bind(udp_address())
    pending = asyncio.ensure_future(one.receive())
    iteration = asyncio.ensure_future(iterate(two))
    await asyncio.sleep(0)  # both wait now
    one.close()
    two.close()
    async with asyncio.timeout(WAIT):
        with pytest.raises(ZMQError) as caught:
            await pending
        assert await iteration == []  # ends cleanly
    assert caught.value.code == "ENOTSOCK"
    assert not one.readable and not one.writable


@needs_draft
async def test_a_waiting_receive_on_an_idle_socket_does_not_spin(monkeypatch: pytest.MonkeyPatch) -> None:
    """The poller's fd is reset on each read: an idle wait reads the events a
    few times at most, three messages wake it a few times, not in a loop,
    and a wait after them is idle again."""
    async with pair(PATTERNS[0], "tcp") as (server, client, _):
        reads = 0
        poll = zeromq._engine.Engine._poll

        def counting(engine: zeromq._engine.Engine, now: bool = False) -> None:
            nonlocal reads
            reads += getattr(engine, "_owner", lambda: None)() is server  # the server's lane here
            poll(engine, now)

        monkeypatch.setattr(zeromq._engine.Engine, "_poll", counting)
        waiting = asyncio.ensure_future(server.receive())
        await asyncio.sleep(0.2)  # a span to count idle wake-ups over, not a synchronisation
        assert not waiting.done()
        assert reads <= 3
        for i in range(3):
            await client.send(str(i))
        async with asyncio.timeout(WAIT):
            assert (await waiting).parts == [b"0"]
            assert (await server.receive()).parts == [b"1"]
            assert (await server.receive()).parts == [b"2"]
        assert 0 < reads <= 12
        reads = 0  # and once they are taken, a new wait is idle again
        waiting = asyncio.ensure_future(server.receive())
        await asyncio.sleep(0.2)
        assert not waiting.done()
        assert reads <= 3
        waiting.cancel()


def open_fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


async def gets_nothing(sock: Any) -> None:
    """One receive of a socket with receive_timeout=0: the loop's lane, and
    so its poller, is made."""
    with pytest.raises(TimeoutError):
        await sock.receive()


@needs_draft
@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts /proc/self/fd")
@pytest.mark.parametrize("ending", ["close", "collected", "loop ended"])
def test_a_thread_safe_socket_releases_each_loops_poller(ending: str) -> None:
    """A poller per loop that used the socket, released when the socket is
    closed or collected, and when its loop has ended (once another loop
    uses the socket)."""
    kept = zeromq.Server(linger=0, receive_timeout=0)
    asyncio.run(gets_nothing(kept))  # libzmq's own fds, and a first loop's, made once
    before = open_fd_count()
    for _ in range(50):
        if ending == "loop ended":
            asyncio.run(gets_nothing(kept))
            continue
        sock = zeromq.Server(linger=0, receive_timeout=0)
        asyncio.run(gets_nothing(sock))
        if ending == "close":
            sock.close()
        del sock
    gc.collect()
    assert open_fd_count() - before < 5  # not one eventfd per socket or loop
    assert len(kept._lanes) <= 1
    kept.close()


@needs_draft
async def test_the_observer_reports_a_server_accepting_a_client() -> None:
    async with zeromq.Server(linger=0) as server, zeromq.Client(linger=0) as client:
        events = server.events  # observing from now on
        client.connect(await server.bind("tcp://127.0.0.1:*"))
        async with asyncio.timeout(WAIT):
            async for event in events:
                if event.type == "accept":
                    break
            await client.send("after accept")
            assert (await server.receive()).parts == [b"after accept"]


@needs_draft
async def test_readable_and_writable_follow_the_poller() -> None:
    async with pair(PATTERNS[0], "inproc") as (server, client, _):
        assert not server.readable
        assert client.writable
        await client.send("x")
        async with asyncio.timeout(WAIT):
            while not server.readable:  # inproc delivers on the peer's next command read
                await asyncio.sleep(0)
        assert (await server.receive()).parts == [b"x"]
        assert not server.readable


# -- DRAFT options of the other classes ---------------------------------------------


@needs_draft
@pytest.mark.parametrize(
    ("bound_cls", "connected_cls"),
    [(zeromq.Router, zeromq.Dealer), (zeromq.Server, zeromq.Client), (zeromq.Peer, zeromq.Peer)],
    ids=["router-dealer", "server-client", "peer"],
)
async def test_hello_message_is_the_first_message_the_bound_end_receives(
    bound_cls: type[zeromq.Socket], connected_cls: type[zeromq.Socket]
) -> None:
    bound: Any = bound_cls(linger=0)
    connected: Any = connected_cls(linger=0, hello_message="hi")
    try:
        assert connected.hello_message == b"hi"
        connected.connect(await bound.bind(address("tcp")))
        async with asyncio.timeout(WAIT):
            message = await bound.receive()
        parts = message.parts if isinstance(message, tuple) else message
        assert parts[-1] == b"hi"
    finally:
        bound.close()
        connected.close()


@needs_draft
async def test_disconnect_message_arrives_when_a_peer_goes() -> None:
    async with zeromq.Router(linger=0, disconnect_message=b"gone") as router:
        dealer = zeromq.Dealer(linger=0, routing_id="d1")
        dealer.connect(await router.bind(address("tcp")))
        await dealer.send("here")
        async with asyncio.timeout(WAIT):
            assert await router.receive() == [b"d1", b"here"]
            dealer.close()
            assert await router.receive() == [b"d1", b"gone"]


@needs_draft
async def test_router_notify_delivers_an_empty_message_on_connect_and_disconnect() -> None:
    async with zeromq.Router(linger=0, router_notify="both") as router:
        assert router.router_notify == "both"
        dealer = zeromq.Dealer(linger=0, routing_id="d2")
        dealer.connect(await router.bind(address("ipc")))
        async with asyncio.timeout(WAIT):
            assert await router.receive() == [b"d2", b""]
            dealer.close()
            assert await router.receive() == [b"d2", b""]
        router.router_notify = None
        assert router.router_notify is None
        with pytest.raises(ValueError, match="'router_notify' must be one of"):
            router.router_notify = "always"  # type: ignore[assignment]
