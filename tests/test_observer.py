"""Socket events: `socket.events` (`Observer`) and the `Event`s it gives.

Connection events exist only where there are connections: over tcp and ipc.
An inproc socket has none, only its ``"end"`` (pinned by
`test_inproc_sockets_have_only_the_end_event`). Events that loopback cannot
provoke (``accept:error``, ``close:error``, ``handshake:error:other``,
``unknown``) are checked through the decoder, from libzmq's wire format.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import os
import struct
import threading
import time
import uuid
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import zmq
from conftest import TRANSPORTS, address, bind, run_then_abandon

import zeromq
from zeromq import Event, Observer, ZMQError
from zeromq._observer import _sweep, decode

WAIT = 5.0  # seconds anything that must happen may take
NETWORK = ("tcp", "ipc")


async def next_event(events: Observer, kind: str) -> Event:
    """The next event of a type, skipping others."""
    async with asyncio.timeout(WAIT):
        while True:
            event = await events.receive()
            if event.type == kind:
                return event


async def until_end(events: Observer) -> list[Event]:
    """Every event up to and with "end"; the iteration must then stop."""
    async with asyncio.timeout(WAIT):
        return [event async for event in events]


def types(events: list[Event]) -> list[str]:
    return [event.type for event in events]


def in_order(seen: list[str], expected: list[str]) -> bool:
    """Whether `expected` occurs in `seen` in this order (others between)."""
    rest = iter(seen)
    return all(kind in rest for kind in expected)


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@asynccontextmanager
async def zap_handler(ctx: zeromq.Context, status: str) -> AsyncIterator[None]:
    """A ZAP handler on `ctx` that answers every request with `status`."""
    handler = zeromq.Reply(context=ctx, linger=0)
    await handler.bind("inproc://zeromq.zap.01")

    async def serve() -> None:
        async for request in handler:
            await handler.send(["1.0", request[1], status, "refused", "", ""])

    task = asyncio.create_task(serve())
    try:
        yield
    finally:
        handler.close()
        await task


# -- the observer object ---------------------------------------------------------------


async def test_events_is_made_on_first_access_and_is_the_same_object_afterwards() -> None:
    async with zeromq.Dealer(linger=0) as sock:
        events = sock.events
        assert isinstance(events, Observer)
        assert sock.events is events
        assert not events.closed


async def test_a_socket_never_observed_pays_nothing() -> None:
    ctx = zeromq.Context()
    async with zeromq.Dealer(context=ctx, linger=0) as a, zeromq.Dealer(context=ctx, linger=0) as b:
        b.connect(await bind(a, "tcp"))
        await b.send("x")
        assert await a.receive() == [b"x"]
        assert a._observer is None and b._observer is None
        assert len(ctx._sockets) == 2  # no monitor reader was made
        a.events  # noqa: B018
        assert len(ctx._sockets) == 3


async def test_observer_of_a_closed_socket_is_closed_and_empty() -> None:
    sock = zeromq.Dealer(linger=0)
    sock.close()
    events = sock.events
    assert events.closed
    assert await until_end(events) == []
    with pytest.raises(ZMQError) as info:
        await events.receive()
    assert info.value.code == "ENOTSOCK"


async def test_a_second_observer_of_a_socket_is_refused() -> None:
    async with zeromq.Dealer(linger=0) as sock:
        sock.events  # noqa: B018
        with pytest.raises(ZMQError) as info:
            Observer(sock)
        assert info.value.code == "EBUSY"
        with pytest.raises(TypeError):
            Observer("not a socket")  # type: ignore[arg-type]


# -- the events ------------------------------------------------------------------------


@pytest.mark.parametrize("transport", NETWORK)
async def test_connection_events_in_order(transport: str) -> None:
    server = zeromq.Dealer(linger=0)
    client = zeromq.Dealer(linger=0)
    server_events, client_events = server.events, client.events
    endpoint = await bind(server, transport)
    client.connect(endpoint)
    await client.send("hello")
    async with asyncio.timeout(WAIT):
        assert await server.receive() == [b"hello"]

    handshake = await next_event(client_events, "handshake")
    assert handshake.address == endpoint
    client.close()
    client_seen = await until_end(client_events)
    assert client_seen[-1] == Event("end")

    disconnect = await next_event(server_events, "disconnect")
    assert disconnect.address == endpoint
    server.close()
    server_seen = await until_end(server_events)
    assert types(server_seen)[-2:] == ["close", "end"]
    assert server_seen[-2].address == endpoint
    assert server_events.closed and client_events.closed


@pytest.mark.parametrize("transport", NETWORK)
async def test_bind_accept_connect_and_handshake_events(transport: str) -> None:
    server = zeromq.Dealer(linger=0)
    client = zeromq.Dealer(linger=0)
    server_events, client_events = server.events, client.events
    endpoint = await bind(server, transport)
    client.connect(endpoint)
    async with asyncio.timeout(WAIT):
        bound = await server_events.receive()
        assert bound == Event("bind", endpoint)
        accepted = await server_events.receive()
        assert accepted == Event("accept", endpoint)
        assert await server_events.receive() == Event("handshake", endpoint)

        first = await client_events.receive()
        if transport == "tcp":  # a tcp connect is asynchronous, an ipc one is not
            assert first == Event("connect:delay", endpoint)
            first = await client_events.receive()
        assert first == Event("connect", endpoint)
        assert await client_events.receive() == Event("handshake", endpoint)
    server.close()
    client.close()


async def test_inproc_sockets_have_only_the_end_event() -> None:
    server = zeromq.Pair(linger=0)
    client = zeromq.Pair(linger=0)
    server_events = server.events
    client.connect(await bind(server, "inproc"))
    await client.send("x")
    async with asyncio.timeout(WAIT):
        assert await server.receive() == [b"x"]
    client.close()
    server.close()
    assert await until_end(server_events) == [Event("end")]


@pytest.mark.parametrize("transport", ("tcp", "ipc", "inproc"))
async def test_the_stream_ends_with_end_when_the_socket_closes(transport: str) -> None:
    sock = zeromq.Router(linger=0)
    events = sock.events
    await bind(sock, transport)
    sock.close()
    assert events.closed
    seen = await until_end(events)
    assert seen[-1].type == "end"
    assert seen.count(Event("end")) == 1
    with pytest.raises(ZMQError) as info:
        await events.receive()
    assert info.value.code == "ENOTSOCK"


async def test_bind_error_carries_the_errno() -> None:
    async with zeromq.Dealer(linger=0) as first, zeromq.Dealer(linger=0) as second:
        endpoint = await bind(first, "tcp")
        events = second.events
        with pytest.raises(ZMQError) as raised:
            await second.bind(endpoint)
        assert raised.value.code == "EADDRINUSE"
        event = await next_event(events, "bind:error")
        assert event.error is not None
        assert event.error.code == "EADDRINUSE"
        assert event.error.errno == errno.EADDRINUSE
        # libzmq reports the address without its transport.
        assert event.address is not None and endpoint.endswith(event.address)


async def test_unbind_gives_a_close_event() -> None:
    async with zeromq.Dealer(linger=0) as sock:
        events = sock.events
        endpoint = await bind(sock, "tcp")
        await sock.unbind(endpoint)
        assert await next_event(events, "close") == Event("close", endpoint)


@pytest.mark.parametrize("transport", NETWORK)
async def test_connect_retry_gives_the_reconnect_interval(transport: str) -> None:
    if transport == "tcp":
        # A port nothing listens on: bound, then let go.
        async with zeromq.Dealer(linger=0) as probe:
            endpoint = await bind(probe, "tcp")
    else:
        endpoint = address("ipc")  # no such file
    async with zeromq.Dealer(linger=0, reconnect_interval=10) as sock:
        events = sock.events
        sock.connect(endpoint)
        if transport == "tcp":
            assert await next_event(events, "connect:delay") == Event("connect:delay", endpoint)
        retry = await next_event(events, "connect:retry")
        assert retry.address == endpoint
        assert retry.interval is not None and 10 <= retry.interval < 20  # libzmq adds jitter


@pytest.mark.parametrize("transport", NETWORK)
async def test_handshake_error_auth_carries_the_zap_status(transport: str) -> None:
    ctx = zeromq.Context()
    async with (
        zap_handler(ctx, "400"),
        zeromq.Pull(context=ctx, linger=0, plain_server=True) as server,
        zeromq.Push(context=ctx, linger=0, plain_username="u", plain_password="p") as client,
    ):
        server_events, client_events = server.events, client.events
        endpoint = await bind(server, transport)
        client.connect(endpoint)
        for events in (server_events, client_events):
            event = await next_event(events, "handshake:error:auth")
            assert event.address == endpoint
            assert event.error is not None
            assert event.error.status == 400  # type: ignore[attr-defined]
            assert event.error.code == "EACCES"
            assert "400" in str(event.error)


@pytest.mark.parametrize("transport", NETWORK)
async def test_handshake_error_protocol_names_the_protocol_error(transport: str) -> None:
    async with (
        zeromq.Pull(linger=0, plain_server=True) as server,
        zeromq.Push(linger=0) as client,  # no security: the mechanisms differ
    ):
        events = server.events
        endpoint = await bind(server, transport)
        client.connect(endpoint)
        event = await next_event(events, "handshake:error:protocol")
        assert event.address == endpoint
        assert event.error is not None
        assert event.error.code == "ERR_ZMTP_MECHANISM_MISMATCH"
        assert event.error.errno == errno.EPROTO
        assert "mechanism mismatch" in str(event.error)


def frames(number: int, value: int, endpoint: str = "tcp://127.0.0.1:5555") -> list[bytes]:
    return [struct.pack("=HI", number, value), endpoint.encode()]


@pytest.mark.parametrize(
    ("number", "kind"),
    [
        (zmq.EVENT_ACCEPT_FAILED, "accept:error"),
        (zmq.EVENT_CLOSE_FAILED, "close:error"),
        (zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL, "handshake:error:other"),
    ],
)
def test_error_events_loopback_cannot_provoke_carry_the_errno(number: int, kind: str) -> None:
    event = decode(frames(number, errno.EMFILE))
    assert event.type == kind
    assert event.address == "tcp://127.0.0.1:5555"
    assert event.error is not None
    assert event.error.code == "EMFILE"
    assert event.error.address == "tcp://127.0.0.1:5555"
    assert event.interval is None


def test_an_event_libzmq_adds_later_is_unknown() -> None:
    assert decode(frames(0x8000, 0)) == Event("unknown", "tcp://127.0.0.1:5555")
    assert decode([b"garbage"]) == Event("unknown")


def test_every_protocol_error_has_a_name() -> None:
    for name in dir(zmq):
        if name.startswith("PROTOCOL_ERROR_"):
            event = decode(frames(zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL, getattr(zmq, name)))
            assert event.error is not None
            assert event.error.code == "ERR_" + name.removeprefix("PROTOCOL_ERROR_")


# -- receiving ----------------------------------------------------------------------------


async def test_a_cancelled_receive_loses_no_event() -> None:
    async with zeromq.Dealer(linger=0) as sock:
        events = sock.events
        pending = asyncio.ensure_future(events.receive())
        await asyncio.sleep(0)  # let it start waiting
        pending.cancel()
        endpoint = await bind(sock, "tcp")
        with pytest.raises(asyncio.CancelledError):
            await pending
        assert await next_event(events, "bind") == Event("bind", endpoint)


async def binds(sock: zeromq.Socket, transport: str, times: int) -> list[Event]:
    """Bind `times` times; the events that makes, in order (each "bind" is
    sent from bind() itself: their order is known, unlike that of "close"
    events, which libzmq's I/O thread sends later)."""
    return [Event("bind", await bind(sock, transport)) for _ in range(times)]


@pytest.mark.parametrize("transport", NETWORK)
async def test_concurrent_receives_get_one_event_each_in_call_order(transport: str) -> None:
    async with zeromq.Dealer(linger=0) as sock:
        events = sock.events
        pending = [asyncio.ensure_future(events.receive()) for _ in range(4)]
        await asyncio.sleep(0)  # all four wait, in this order
        made = await binds(sock, transport, 4)
        async with asyncio.timeout(WAIT):
            assert await asyncio.gather(*pending) == made


async def test_cancelled_receives_in_line_take_nothing_and_the_next_moves_up() -> None:
    async with zeromq.Dealer(linger=0) as sock:
        events = sock.events
        first, second, third, fourth = (asyncio.ensure_future(events.receive()) for _ in range(4))
        await asyncio.sleep(0)
        second.cancel()  # in the middle of the line
        first.cancel()  # at its head
        made = await binds(sock, "tcp", 2)
        async with asyncio.timeout(WAIT):
            assert [await third, await fourth] == made
        for cancelled in (first, second):
            with pytest.raises(asyncio.CancelledError):
                await cancelled


async def test_every_pending_receive_ends_when_the_observer_or_its_socket_closes() -> None:
    async with zeromq.Dealer(linger=0) as sock, zeromq.Dealer(linger=0) as other:
        events = sock.events
        pending = [asyncio.ensure_future(events.receive()) for _ in range(3)]
        ending = [asyncio.ensure_future(until_end(other.events)) for _ in range(2)]
        last = [asyncio.ensure_future(other.events.receive()) for _ in range(2)]
        await asyncio.sleep(0)
        events.close()
        other.close()  # an inproc socket's only event: its "end"
        async with asyncio.timeout(WAIT):
            for each in pending:
                with pytest.raises(ZMQError) as info:
                    await each
                assert info.value.code == "ENOTSOCK"
            # The first in line gets "end"; the iterations then end, the rest fail.
            assert sorted(map(types, await asyncio.gather(*ending))) == [[], ["end"]]
            for each in last:
                with pytest.raises(ZMQError) as info:
                    await each
                assert info.value.code == "ENOTSOCK"


async def test_every_event_after_the_first_access_is_delivered_even_if_nobody_reads() -> None:
    # More events than libzmq's default queue of 1000 + 1000: a bounded queue
    # would block the socket (and libzmq's I/O thread) here.
    cycles = 1100
    async with zeromq.Dealer(linger=0) as sock:
        events = sock.events
        for _ in range(cycles):
            await sock.bind("tcp://127.0.0.1:*")
            await sock.unbind(sock.last_endpoint or "")
        sock.close()
        seen = types(await until_end(events))
    assert seen.count("bind") == cycles
    assert seen.count("close") == cycles
    assert seen[-1] == "end"


# -- closing the observer -----------------------------------------------------------------


async def test_close_ends_the_stream_and_leaves_the_socket_open() -> None:
    async with zeromq.Pair(linger=0) as a, zeromq.Pair(linger=0) as b:
        events = a.events
        iterating = asyncio.ensure_future(until_end(events))
        await asyncio.sleep(0)  # let it start waiting
        events.close()
        events.close()  # idempotent
        assert events.closed
        assert await iterating == []
        # The socket works on, and no event is delivered any more.
        b.connect(await bind(a, "tcp"))
        await b.send("still")
        async with asyncio.timeout(WAIT):
            assert await a.receive() == [b"still"]
        assert await until_end(events) == []


async def test_close_makes_a_pending_receive_raise() -> None:
    async with zeromq.Dealer(linger=0) as sock:
        events = sock.events
        pending = asyncio.ensure_future(events.receive())
        await asyncio.sleep(0)  # let it start waiting
        events.close()
        with pytest.raises(ZMQError) as info:
            await pending
        assert info.value.code == "ENOTSOCK"


async def test_closing_the_observer_of_a_closing_socket_reads_on_to_the_end() -> None:
    # libzmq's monitor sends blocking: were the observer's reader gone before
    # the socket's last event, the libzmq thread sending it would hang. Here
    # the last events come after `linger`, for a message that cannot go.
    async with zeromq.Dealer(linger=0) as probe:
        nowhere = await bind(probe, "tcp")
    sock = zeromq.Dealer(linger=100)
    events = sock.events
    sock.connect(nowhere)
    await sock.send("never delivered")
    sock.close()
    events.close()
    assert events.closed
    assert events._pair is not None  # still reading, and dropping what it reads
    assert await until_end(events) == []
    async with asyncio.timeout(WAIT):
        assert events._pump is not None
        await events._pump.wait()
    assert events._pair is None
    async with zeromq.Push(linger=0) as push, zeromq.Pull(linger=0) as pull:
        push.connect(await bind(pull, "tcp"))
        await push.send("libzmq's threads alive")
        async with asyncio.timeout(WAIT):
            assert await pull.receive() == [b"libzmq's threads alive"]


# -- emitter mode ------------------------------------------------------------------------


async def test_listeners_get_the_events_of_their_type() -> None:
    sock = zeromq.Dealer(linger=0)
    bound: list[Event] = []
    ended = asyncio.Event()
    events = sock.events
    assert events.on("bind", bound.append).on("end", lambda event: ended.set()) is events
    endpoint = await bind(sock, "tcp")
    sock.close()
    async with asyncio.timeout(WAIT):
        await ended.wait()
    assert bound == [Event("bind", endpoint)]


async def test_after_on_receive_raises() -> None:
    async with zeromq.Dealer(linger=0) as sock:
        events = sock.events
        events.on("bind", lambda event: None)
        with pytest.raises(ZMQError) as info:
            await events.receive()
        assert info.value.code == "EBUSY"
        assert "emitter" in str(info.value)
        with pytest.raises(ZMQError):
            async for _ in events:
                pass


async def test_off_removes_a_listener() -> None:
    sock = zeromq.Dealer(linger=0)
    removed: list[Event] = []
    kept: list[Event] = []
    ended = asyncio.Event()
    events = sock.events
    events.on("bind", removed.append).on("bind", kept.append).on("end", lambda e: ended.set())
    assert events.off("bind", removed.append) is events
    events.off("close", removed.append)  # never added: nothing happens
    await bind(sock, "tcp")
    sock.close()
    async with asyncio.timeout(WAIT):
        await ended.wait()
    assert removed == []
    assert types(kept) == ["bind"]


async def test_events_queued_before_on_go_to_the_listeners() -> None:
    sock = zeromq.Dealer(linger=0)
    events = sock.events
    endpoint = await bind(sock, "tcp")
    bound: list[Event] = []
    ended = asyncio.Event()
    events.on("bind", bound.append)
    events.on("end", lambda event: ended.set())
    sock.close()
    async with asyncio.timeout(WAIT):
        await ended.wait()
    assert bound == [Event("bind", endpoint)]


async def test_a_raising_listener_is_reported_and_stops_nothing() -> None:
    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda loop, context: reported.append(context))
    sock = zeromq.Dealer(linger=0)
    after: list[Event] = []
    ended = asyncio.Event()

    def boom(event: Event) -> None:
        raise RuntimeError("listener failed")

    sock.events.on("bind", boom).on("bind", after.append).on("end", lambda e: ended.set())
    await bind(sock, "tcp")
    await bind(sock, "tcp")
    sock.close()
    async with asyncio.timeout(WAIT):
        await ended.wait()
    assert types(after) == ["bind", "bind"]
    assert len(reported) == 2
    assert isinstance(reported[0]["exception"], RuntimeError)
    assert reported[0]["event"].type == "bind"


async def test_on_checks_its_arguments() -> None:
    async with zeromq.Dealer(linger=0) as sock:
        with pytest.raises(ValueError, match="unknown event type"):
            sock.events.on("bound", print)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            sock.events.on("bind", "print")  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            sock.events.off("bound", print)  # type: ignore[arg-type]


def test_an_observer_made_outside_the_event_loop_works_in_it() -> None:
    sock = zeromq.Dealer(linger=0)
    events = sock.events  # no loop runs yet: events wait in libzmq's queue

    async def main() -> list[Event]:
        endpoint = await bind(sock, "tcp")
        sock.close()
        seen = await until_end(events)
        assert seen[0] == Event("bind", endpoint)
        return seen

    assert asyncio.run(main())[-1] == Event("end")


@pytest.mark.parametrize("transport", NETWORK)
def test_events_still_come_after_the_loop_that_read_them_was_closed_without_ending(
    transport: str,
) -> None:
    # loop.close() after run_until_complete() leaves the loop's tasks pending
    # for good, the observer's reader among them; the next loop must read on.
    server = zeromq.Dealer(linger=0)
    client = zeromq.Dealer(linger=0)
    events = server.events

    async def first() -> str:
        endpoint = await bind(server, transport)
        assert await next_event(events, "bind") == Event("bind", endpoint)
        return endpoint

    endpoint = run_then_abandon(first())

    async def second() -> Event:
        client.connect(endpoint)
        return await next_event(events, "accept")

    try:
        assert asyncio.run(second()) == Event("accept", endpoint)
    finally:
        client.close()
        server.close()


@pytest.mark.parametrize("transport", NETWORK)
def test_another_threads_loop_is_refused_while_one_reads_the_events(transport: str) -> None:
    # Woken from the reading loop's thread, a receive waiting in another
    # loop waited on until something else woke that loop (forever, perhaps).
    import threading

    server = zeromq.Dealer(linger=0)
    events = server.events
    reading = threading.Event()
    endpoint: list[str] = []
    stop: list[Any] = []  # (the reading loop, its event that ends it)

    async def read_in_its_own_loop() -> None:
        endpoint.append(await bind(server, transport))
        await next_event(events, "bind")
        done = asyncio.Event()
        stop.append((asyncio.get_running_loop(), done))
        reading.set()
        await done.wait()

    thread = threading.Thread(target=asyncio.run, args=(read_in_its_own_loop(),))
    thread.start()
    try:
        assert reading.wait(WAIT)

        async def from_here() -> None:
            with pytest.raises(ZMQError, match="another event loop") as info:
                async with asyncio.timeout(WAIT):
                    await events.receive()
            assert info.value.code == "EBUSY"
            with pytest.raises(ZMQError, match="another event loop"):
                events.on("accept", print)

        asyncio.run(from_here())
    finally:
        if stop:
            loop, done = stop[0]
            loop.call_soon_threadsafe(done.set)
        thread.join(WAIT)

    async def once_it_ended() -> Event:  # the events are this loop's to read now
        client = zeromq.Dealer(linger=0)
        client.connect(endpoint[0])
        try:
            return await next_event(events, "accept")
        finally:
            client.close()

    try:
        assert asyncio.run(once_it_ended()) == Event("accept", endpoint[0])
    finally:
        server.close()


@pytest.mark.parametrize("transport", NETWORK)
def test_listeners_are_never_called_outside_an_event_loop(transport: str) -> None:
    # A socket closed after its listeners' loop has ended: its last events
    # are dropped, not emitted from close(), nor from whichever thread reads
    # the parked observer on to its end (any thread making an observer).
    sock = zeromq.Dealer(linger=0)
    seen: list[Event] = []

    async def listen() -> str:
        bound = asyncio.Event()
        sock.events.on("bind", lambda event: (seen.append(event), bound.set()))
        sock.events.on("close", seen.append)
        sock.events.on("end", seen.append)
        endpoint = await bind(sock, transport)
        async with asyncio.timeout(WAIT):
            await bound.wait()
        return endpoint

    endpoint = asyncio.run(listen())
    events = sock.events
    sock.close()
    # No loop runs: the observer is read on to its end by sweeps alone. libzmq's
    # reaper sends the last events in the background, nothing to wait on but this.
    deadline = time.monotonic() + WAIT
    while events._pair is not None and time.monotonic() < deadline:
        _sweep()
        time.sleep(0.005)
    assert events._pair is None, "the observer never read its end"
    assert seen == [Event("bind", endpoint)]


def test_on_needs_a_running_event_loop() -> None:
    sock = zeromq.Dealer(linger=0)
    try:
        with pytest.raises(RuntimeError, match=r"events\.on\(\) needs a running event loop"):
            sock.events.on("bind", print)
        # Nothing changed: the observer is still in receive() mode.
        assert sock.events._listeners is None
    finally:
        sock.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_observers_made_in_many_threads_at_once_split_and_lose_no_event(transport: str) -> None:
    # An observer of a socket closed with no loop running is parked until its
    # "end", and making any observer drains the parked ones. Threads making
    # observers at once drained the same Pair together: libzmq aborted, or a
    # message's two frames went to two threads ("unknown" events, an "end"
    # never delivered, events out of order).
    threads, rounds = 4, 50
    observers: list[Observer] = []
    errors: list[BaseException] = []
    together = threading.Barrier(threads)

    def make_and_close() -> None:
        try:
            together.wait(WAIT)
            for _ in range(rounds):
                sock = zeromq.Dealer(linger=0)
                observers.append(sock.events)  # drains the parked observers
                sock._native.bind(address(transport))
                sock.close()  # no loop: its observer takes what is there and parks
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=make_and_close) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []

    async def read_all() -> list[list[str]]:
        seen: list[list[str]] = [[] for _ in observers]

        async def read(events: Observer, into: list[str]) -> None:
            async for event in events:
                into.append(event.type)

        with contextlib.suppress(TimeoutError):  # an "end" lost: seen says which
            async with asyncio.timeout(WAIT):
                await asyncio.gather(*map(read, observers, seen))
        return seen

    seen = asyncio.run(read_all())
    # A listener's "close" may come after the monitor stopped (and so not at all).
    expected = [["end"]] if transport == "inproc" else [["bind", "close", "end"], ["bind", "end"]]
    assert [events for events in seen if events not in expected] == []
    assert len(seen) == threads * rounds


# -- lifetime and leaks --------------------------------------------------------------------


async def test_an_observer_never_keeps_its_socket_alive() -> None:
    sock = zeromq.Dealer(linger=0)
    events = sock.events
    endpoint = await bind(sock, "tcp")
    ref = weakref.ref(sock)
    del sock
    gc.collect()
    assert ref() is None
    # The collected socket was closed: its observer ends.
    seen = await until_end(events)
    assert seen[0] == Event("bind", endpoint)
    assert seen[-1] == Event("end")


async def test_an_emitting_observer_never_keeps_its_socket_alive() -> None:
    sock = zeromq.Dealer(linger=0)
    ended = asyncio.Event()
    sock.events.on("end", lambda event: ended.set())
    ref = weakref.ref(sock)
    del sock
    gc.collect()
    assert ref() is None
    async with asyncio.timeout(WAIT):
        await ended.wait()


@pytest.mark.parametrize("mode", ["receive", "on", "unread", "closed", "dropped"])
async def test_no_fds_or_tasks_are_left_behind(mode: str) -> None:
    async def cycle() -> None:
        sock = zeromq.Dealer(linger=0)
        events = sock.events
        ended = asyncio.Event()
        if mode == "on":
            events.on("end", lambda event: ended.set())
        await bind(sock, "tcp")
        if mode == "dropped":
            del sock, events  # neither closed: the collector closes the socket
            return
        sock.close()
        if mode == "receive":
            await until_end(events)
        elif mode == "on":
            async with asyncio.timeout(WAIT):
                await ended.wait()
        elif mode == "closed":
            events.close()

    await cycle()  # warm up: the context's own threads and fds
    before = open_fds()
    for _ in range(20):
        await cycle()
    async with asyncio.timeout(WAIT):
        # Observers read on to their socket's end by themselves.
        others = asyncio.all_tasks() - {asyncio.current_task()}
        await asyncio.gather(*others)
        # libzmq's reaper thread frees closed sockets' fds in the background:
        # nothing to await but the count.
        while open_fds() > before:
            await asyncio.sleep(0.005)
    assert asyncio.all_tasks() == {asyncio.current_task()}


async def test_the_readme_style_loop_over_events() -> None:
    # `async for` over the events of a socket closed from another task.
    sock = zeromq.Router(linger=0)
    name = f"inproc://{uuid.uuid4().hex}"

    async def close_soon() -> None:
        await sock.bind(name)
        sock.close()

    closer = asyncio.create_task(close_soon())
    seen = await until_end(sock.events)
    await closer
    assert seen == [Event("end")]


def test_event_repr_shows_what_is_set() -> None:
    assert repr(Event("connect:retry", "tcp://a:1", interval=5)) == (
        "Event(type='connect:retry', address='tcp://a:1', interval=5)"
    )
    assert repr(Event("end")) == "Event(type='end')"


async def test_close_from_another_thread_ends_a_receive_waiting_in_the_loop() -> None:
    # close() from another thread woke the waiting receive from that thread,
    # though asyncio's objects are not thread-safe: in debug mode asyncio
    # refuses that (RuntimeError in the closing thread), and otherwise it
    # worked only because other wake-ups of the loop followed.
    asyncio.get_running_loop().set_debug(True)
    failed: list[BaseException] = []

    def close() -> None:
        try:
            events.close()
        except BaseException as exc:
            failed.append(exc)

    async with zeromq.Dealer(linger=0) as sock:
        events = sock.events
        waiting = asyncio.ensure_future(events.receive())
        await asyncio.sleep(0)  # one loop turn: the receive now waits for an event
        assert not waiting.done()
        closer = threading.Thread(target=close)
        closer.start()
        closer.join(WAIT)  # close() itself never waits for the loop
        assert failed == []
        with pytest.raises(ZMQError, match="Observer is closed"):
            async with asyncio.timeout(WAIT):
                await waiting
        assert events.closed
        assert not sock.closed  # closing the observer leaves the socket open
