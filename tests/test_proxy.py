"""`Proxy`: libzmq's steerable proxy, run in a thread while the event loop runs on.

Each pattern the proxy serves (request-reply through ROUTER/DEALER, pub-sub
through XSUB/XPUB, a PULL/PUSH pipeline) is tested over every transport.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import pytest
from conftest import LIBZMQ_4_3_5, bind
from conftest import proxy_counted as counted

import zeromq
from zeromq import Proxy, ZMQError

WAIT = 5.0  # seconds anything that must happen may take
QUIET_MS = 100  # how long a held-back message must stay away
CONTROL_COMMANDS = [[b"PAUSE"], [b"RESUME"], [b"TERMINATE"], [b"STATISTICS"]]


async def captured(tap: zeromq.Pull) -> list[bytes]:
    """The next message the capture socket copied, past libzmq 4.3.4's copies
    of control commands."""
    while True:
        message = await tap.receive()
        if LIBZMQ_4_3_5 or message not in CONTROL_COMMANDS:
            return message


async def start(proxy: Proxy[zeromq.Socket, zeromq.Socket]) -> asyncio.Task[None]:
    """Run the proxy in a task; return once it runs."""
    task = asyncio.create_task(proxy.run())
    # run() starts the proxy's thread in its first step, before it awaits.
    await asyncio.sleep(0)
    if task.done():
        task.result()  # raise what run() raised
    return task


async def stop(proxy: Proxy[zeromq.Socket, zeromq.Socket], task: asyncio.Task[None]) -> None:
    proxy.terminate()
    async with asyncio.timeout(WAIT):
        await task
    assert proxy.front_end.closed
    assert proxy.back_end.closed


S1 = TypeVar("S1", bound=zeromq.Socket)
S2 = TypeVar("S2", bound=zeromq.Socket)


@asynccontextmanager
async def proxying(
    proxy: Proxy[Any, Any], transport: str, front_peer: S1, back_peer: S2
) -> AsyncIterator[tuple[S1, S2]]:
    """Bind the proxy's ends on `transport`, connect a peer to each and run the
    proxy. On leaving, terminate it (unless the test did) and, if the test
    passed, check that run() closed both ends."""
    front = await bind(proxy.front_end, transport)
    back = await bind(proxy.back_end, transport)
    async with front_peer, back_peer:
        front_peer.connect(front)
        back_peer.connect(back)
        task = await start(proxy)
        try:
            yield front_peer, back_peer
        finally:
            if not task.done():
                proxy.terminate()
            async with asyncio.timeout(WAIT):
                await task
    assert proxy.front_end.closed and proxy.back_end.closed


@asynccontextmanager
async def broker(
    transport: str,
) -> AsyncIterator[tuple[zeromq.Request, zeromq.Reply, Proxy[zeromq.Router, zeromq.Dealer]]]:
    """REQ -> ROUTER | proxy | DEALER -> REP, the proxy running."""
    proxy = Proxy(zeromq.Router(linger=0), zeromq.Dealer(linger=0))
    peers = proxying(proxy, transport, zeromq.Request(linger=0), zeromq.Reply(linger=0))
    async with peers as (req, rep):
        yield req, rep, proxy


@asynccontextmanager
async def pipeline(
    transport: str,
) -> AsyncIterator[tuple[zeromq.Push, zeromq.Pull, Proxy[zeromq.Pull, zeromq.Push]]]:
    """PUSH -> PULL | proxy | PUSH -> PULL, the proxy running."""
    proxy = Proxy(zeromq.Pull(linger=0), zeromq.Push(linger=0))
    peers = proxying(proxy, transport, zeromq.Push(linger=0), zeromq.Pull(linger=0))
    async with peers as (source, sink):
        yield source, sink, proxy


async def round_trip(req: zeromq.Request, rep: zeromq.Reply, text: str) -> None:
    async with asyncio.timeout(WAIT):
        await req.send(text)
        [request] = await rep.receive()
        await rep.send(request.upper())
        assert await req.receive() == [text.upper().encode()]


# -- the patterns ---------------------------------------------------------------------


async def test_request_reply_through_router_and_dealer(transport: str) -> None:
    async with broker(transport) as (req, rep, proxy):
        for i in range(3):
            await round_trip(req, rep, f"request {i}")
    assert proxy.front_end.closed and proxy.back_end.closed


async def test_pause_holds_messages_back_until_resume(transport: str) -> None:
    async with broker(transport) as (req, rep, proxy):
        await round_trip(req, rep, "before")
        proxy.pause()
        # The proxy answers commands in order: once this returns it has paused.
        await proxy.statistics()
        await req.send("held")
        rep.receive_timeout = QUIET_MS
        with pytest.raises(TimeoutError):
            await rep.receive()
        rep.receive_timeout = -1
        proxy.resume()
        async with asyncio.timeout(WAIT):
            assert await rep.receive() == [b"held"]
            await rep.send("done")
            assert await req.receive() == [b"done"]


async def test_pausing_and_resuming_under_load_loses_nothing_and_keeps_counting(
    transport: str,
) -> None:
    count = 5000
    async with pipeline(transport) as (source, sink, proxy):

        async def produce() -> None:
            for i in range(count):
                await source.send(str(i))

        async def consume() -> list[bytes]:
            return [(await sink.receive())[0] for _ in range(count)]

        async def steer() -> None:
            for _ in range(30):
                proxy.pause()
                proxy.pause()  # pausing a paused proxy does nothing
                await asyncio.sleep(0)
                proxy.resume()
                proxy.resume()
                await asyncio.sleep(0)

        async with asyncio.timeout(WAIT * 4):
            _, received, _ = await asyncio.gather(produce(), consume(), steer())
        assert received == [str(i).encode() for i in range(count)]
        # The counts carry on over the pauses (libzmq's own restart at zero).
        stats = await proxy.statistics()
        assert stats.front_end.received_parts == count
        assert stats.back_end.sent_parts == count


def _thread_cpu_seconds(name: str) -> float:
    """CPU time (user + system) of this process's thread called `name`."""
    import os
    import threading

    [thread] = [t for t in threading.enumerate() if t.name == name]
    with open(f"/proc/self/task/{thread.native_id}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/task")
async def test_a_paused_proxy_with_messages_waiting_uses_no_cpu() -> None:
    # libzmq 4.3.5's own paused proxy spins while a message waits: a whole CPU.
    async with pipeline("inproc") as (source, sink, proxy):
        proxy.pause()
        await proxy.statistics()  # returns once the proxy has paused
        for _ in range(10):
            await source.send("waiting")
        before = _thread_cpu_seconds("zeromq.Proxy")
        await asyncio.sleep(0.5)  # not a synchronisation: the span CPU time is measured over
        assert _thread_cpu_seconds("zeromq.Proxy") - before < 0.05
        proxy.resume()
        async with asyncio.timeout(WAIT):
            for _ in range(10):
                assert await sink.receive() == [b"waiting"]


async def test_statistics_answer_after_pause_resume_pause() -> None:
    # The second pause() may come before the proxy's thread has acted on the
    # first pause's end of libzmq's proxy; its commands must still be answered.
    async with broker("inproc") as (req, rep, proxy):
        await round_trip(req, rep, "before")
        stats = await proxy.statistics()
        # routing id, delimiter, body
        assert stats.front_end.received_parts == counted(3, 1)
        for _ in range(20):
            proxy.pause()
            proxy.resume()
            proxy.pause()
            async with asyncio.timeout(WAIT):
                assert await proxy.statistics() == stats
            proxy.resume()
        await round_trip(req, rep, "after")


async def test_terminating_a_paused_proxy() -> None:
    async with broker("inproc") as (req, rep, proxy):
        await round_trip(req, rep, "before")
        proxy.pause()
        await proxy.statistics()
    assert proxy.front_end.closed and proxy.back_end.closed  # broker() terminated it


async def test_pub_sub_through_xsubscriber_and_xpublisher(transport: str) -> None:
    proxy = Proxy(zeromq.XSubscriber(linger=0), zeromq.XPublisher(linger=0))
    peers = proxying(proxy, transport, zeromq.Publisher(linger=0), zeromq.Subscriber(linger=0))
    async with peers as (pub, sub):
        sub.subscribe("news")
        # The subscription travels sub -> XPUB -> proxy -> XSUB -> pub: until
        # it has arrived the publisher drops what it sends. Publish until the
        # subscriber hears, each wait bounded.
        sub.receive_timeout = 20
        async with asyncio.timeout(WAIT):
            while True:
                await pub.send(["weather", "sunny"])  # not subscribed to
                await pub.send(["news", "proxy works"])
                try:
                    message = await sub.receive()
                except TimeoutError:
                    continue
                break
        assert message == [b"news", b"proxy works"]


async def test_pipeline_through_pull_and_push(transport: str) -> None:
    async with pipeline(transport) as (source, sink, _):
        for i in range(10):
            await source.send(["part", i])
        async with asyncio.timeout(WAIT):
            for i in range(10):
                assert await sink.receive() == [b"part", str(i).encode()]


async def test_capture_gets_a_copy_of_every_message(transport: str) -> None:
    async with zeromq.Pull(linger=0) as tap, zeromq.Push(linger=0) as capture:
        capture.connect(await bind(tap, "inproc"))
        proxy = Proxy(zeromq.Pull(linger=0), zeromq.Push(linger=0), capture=capture)
        assert proxy.capture is capture
        peers = proxying(proxy, transport, zeromq.Push(linger=0), zeromq.Pull(linger=0))
        async with peers as (source, sink):
            await source.send(["a", "b"])
            async with asyncio.timeout(WAIT):
                assert await sink.receive() == [b"a", b"b"]
                assert await captured(tap) == [b"a", b"b"]
        # The capture socket is the caller's: it stays open and works.
        assert not capture.closed
        await capture.send("after")
        async with asyncio.timeout(WAIT):
            assert await captured(tap) == [b"after"]


# -- running off the event loop ---------------------------------------------------------


async def test_the_event_loop_keeps_running_while_the_proxy_runs() -> None:
    ticks = 0
    ticked = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.001)
            ticks += 1
            if ticks == 5:
                ticked.set()

    async with broker("tcp") as (req, rep, _):
        clock = asyncio.create_task(ticker())
        async with asyncio.timeout(WAIT):
            await ticked.wait()  # would never happen if run() held the loop
        await round_trip(req, rep, "while ticking")
        clock.cancel()
    assert ticks >= 5


async def test_statistics_count_parts_and_bytes_each_way(transport: str) -> None:
    async with pipeline(transport) as (source, sink, proxy):
        for _ in range(4):
            await source.send(["12345", "123"])
        async with asyncio.timeout(WAIT):
            for _ in range(4):
                await sink.receive()
        stats = await proxy.statistics()
        assert stats.front_end == (counted(8, 4), 32, 0, 0)
        assert stats.back_end.received_parts == 0
        assert stats.back_end.sent_parts == counted(8, 4)
        assert stats.back_end.sent_bytes == 32


# -- lifecycle ----------------------------------------------------------------------------


async def test_run_returns_after_terminate_with_both_ends_closed() -> None:
    proxy = Proxy(zeromq.Router(linger=0), zeromq.Dealer(linger=0))
    await bind(proxy.front_end, "tcp")
    await bind(proxy.back_end, "inproc")
    task = await start(proxy)
    assert not proxy.front_end.closed
    await stop(proxy, task)


async def test_closing_an_end_terminates_the_proxy(transport: str) -> None:
    proxy = Proxy(zeromq.Router(linger=0), zeromq.Dealer(linger=0))
    await bind(proxy.front_end, transport)
    await bind(proxy.back_end, transport)
    task = await start(proxy)
    proxy.back_end.close()
    assert proxy.back_end.closed
    async with asyncio.timeout(WAIT):
        await task
    assert proxy.front_end.closed
    with pytest.raises(ZMQError) as info:
        proxy.terminate()
    assert info.value.code == "EFSM"


async def test_cancelling_run_terminates_the_proxy() -> None:
    proxy = Proxy(zeromq.Router(linger=0), zeromq.Dealer(linger=0))
    await bind(proxy.front_end, "tcp")
    await bind(proxy.back_end, "tcp")
    task = await start(proxy)
    task.cancel()
    async with asyncio.timeout(WAIT):
        with pytest.raises(asyncio.CancelledError):
            await task
    assert proxy.front_end.closed and proxy.back_end.closed
    with pytest.raises(ZMQError):
        proxy.pause()


async def test_the_ends_refuse_to_be_used_while_the_proxy_runs() -> None:
    async with broker("inproc") as (_, _rep, proxy):
        front, back = proxy.front_end, proxy.back_end
        # ENOTSOCK as on a closed socket (only the proxy's thread uses it), saying why.
        with pytest.raises(ZMQError) as info:
            await back.send(["", "x"])
        assert (info.value.code, str(info.value)) == (
            "ENOTSOCK",
            "Cannot send: the socket is in use by a running Proxy",
        )
        with pytest.raises(ZMQError) as info:
            await front.receive()
        assert (info.value.code, str(info.value)) == (
            "ENOTSOCK",
            "Cannot receive: the socket is in use by a running Proxy",
        )
        with pytest.raises(ZMQError) as info:
            await front.bind("tcp://127.0.0.1:*")
        assert info.value.code == "EBUSY"
        with pytest.raises(ZMQError):
            back.connect("tcp://127.0.0.1:1")
        assert not front.readable and not back.writable


# -- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize("end", ["front-end", "back-end"])
async def test_run_refuses_an_end_neither_bound_nor_connected(end: str) -> None:
    async with zeromq.Router(linger=0) as front, zeromq.Dealer(linger=0) as back:
        if end == "back-end":
            await bind(front, "tcp")
        else:
            back.connect("inproc://somewhere")
        proxy = Proxy(front, back)
        with pytest.raises(ZMQError) as info:
            await proxy.run()
        assert info.value.code == "EINVAL"
        assert f"{end} socket must be bound or connected" in str(info.value)
        # Nothing was taken: the sockets are open and the proxy can run later.
        assert not front.closed and not back.closed
        if end == "back-end":
            await bind(back, "tcp")
        else:
            await bind(front, "tcp")
        await stop(proxy, await start(proxy))


async def test_an_end_unbound_again_counts_as_unbound() -> None:
    async with zeromq.Router(linger=0) as front, zeromq.Dealer(linger=0) as back:
        await bind(back, "inproc")
        endpoint = await bind(front, "tcp")
        await front.unbind(endpoint)
        with pytest.raises(ZMQError, match="front-end"):
            await Proxy(front, back).run()


@pytest.mark.parametrize("command", ["pause", "resume", "terminate"])
async def test_steering_before_run_is_an_error(command: str) -> None:
    async with zeromq.Router(linger=0) as front, zeromq.Dealer(linger=0) as back:
        proxy = Proxy(front, back)
        with pytest.raises(ZMQError) as info:
            getattr(proxy, command)()
        assert info.value.code == "EFSM"
        assert "not running" in str(info.value)
        with pytest.raises(ZMQError, match="not running"):
            await proxy.statistics()


@pytest.mark.parametrize("command", ["pause", "resume", "terminate"])
async def test_steering_after_termination_is_an_error(command: str) -> None:
    proxy = Proxy(zeromq.Pull(linger=0), zeromq.Push(linger=0))
    await bind(proxy.front_end, "inproc")
    await bind(proxy.back_end, "inproc")
    await stop(proxy, await start(proxy))
    with pytest.raises(ZMQError) as info:
        getattr(proxy, command)()
    assert info.value.code == "EFSM"
    assert "terminated" in str(info.value)
    with pytest.raises(ZMQError, match="terminated"):
        await proxy.statistics()


async def test_running_twice_is_an_error() -> None:
    proxy = Proxy(zeromq.Pull(linger=0), zeromq.Push(linger=0))
    await bind(proxy.front_end, "inproc")
    await bind(proxy.back_end, "inproc")
    task = await start(proxy)
    with pytest.raises(ZMQError) as info:
        await proxy.run()
    assert info.value.code == "EBUSY"
    await stop(proxy, task)
    with pytest.raises(ZMQError) as info:
        await proxy.run()
    assert info.value.code == "EFSM"


async def test_run_refuses_an_end_with_a_pending_receive() -> None:
    async with zeromq.Router(linger=0) as front, zeromq.Dealer(linger=0) as back:
        await bind(front, "inproc")
        await bind(back, "inproc")
        pending = asyncio.ensure_future(front.receive())
        await asyncio.sleep(0)  # let it start waiting
        with pytest.raises(ZMQError) as info:
            await Proxy(front, back).run()
        assert info.value.code == "EBUSY"
        assert "pending receive" in str(info.value)
        pending.cancel()
        with pytest.raises(asyncio.CancelledError):
            await pending


async def test_run_refuses_a_closed_end() -> None:
    async with zeromq.Router(linger=0) as front, zeromq.Dealer(linger=0) as back:
        await bind(front, "inproc")
        await bind(back, "inproc")
        back.close()
        with pytest.raises(ZMQError) as info:
            await Proxy(front, back).run()
        assert info.value.code == "ENOTSOCK"


async def test_a_socket_serves_one_proxy_at_a_time() -> None:
    shared = zeromq.Pull(linger=0)
    await bind(shared, "inproc")
    async with zeromq.Push(linger=0) as other:
        await bind(other, "inproc")
        first = Proxy(shared, zeromq.Push(linger=0))
        await bind(first.back_end, "inproc")
        task = await start(first)
        with pytest.raises(ZMQError) as info:
            await Proxy(shared, other).run()
        assert info.value.code == "EBUSY"
        await stop(first, task)


def test_the_constructor_checks_its_arguments() -> None:
    front, back = zeromq.Router(linger=0), zeromq.Dealer(linger=0)
    try:
        proxy = Proxy(front, back)
        assert proxy.front_end is front and proxy.back_end is back and proxy.capture is None
        with pytest.raises(TypeError):
            Proxy(front, "back")  # type: ignore[type-var]
        with pytest.raises(TypeError, match="capture"):
            Proxy(front, back, capture=zeromq.Subscriber(linger=0))
        with pytest.raises(ValueError):
            Proxy(front, back, capture=back)
    finally:
        front.close()
        back.close()


async def test_an_observed_end_reports_its_events_through_the_run() -> None:
    proxy = Proxy(zeromq.Router(linger=0), zeromq.Dealer(linger=0))
    events = proxy.front_end.events
    front = await bind(proxy.front_end, "tcp")
    await bind(proxy.back_end, "inproc")
    task = await start(proxy)
    async with zeromq.Request(linger=0) as req:
        req.connect(front)
        async with asyncio.timeout(WAIT):
            async for event in events:
                if event.type == "handshake":
                    break
    await stop(proxy, task)
    async with asyncio.timeout(WAIT):
        seen = [event.type async for event in events]
    assert seen[-1] == "end"
