"""Peer restarts: a peer in a child process is killed (SIGKILL) mid-stream
and restarted on the same address. The survivor reconnects by itself and
messages flow again, in order; a Request client recovers with `correlate` +
`relaxed`; nothing leaks into unrelated tasks of the survivor's event loop."""

from __future__ import annotations

import asyncio
import itertools
import signal

import pytest
from reliability_harness import REPLY_CHILD, Child, LoopErrors, free_tcp_port

import zeromq

HWM = 100
BUFFER = 131072  # kernel buffers: with 1 KiB messages what is in flight stays small
PAYLOAD = b"x" * 1024
# What a killed Pull can take with it: both queues, the kernel buffers (twice
# the size asked), and libzmq's encoder and decoder.
IN_FLIGHT_LIMIT = 2 * HWM + 4 * BUFFER // len(PAYLOAD) + 8

PULL_CHILD = f"""
import asyncio, sys, zeromq
async def main():
    async with zeromq.Pull(
        linger=0, receive_high_water_mark={HWM}, receive_buffer_size={BUFFER}
    ) as pull:
        await pull.bind(sys.argv[1])
        print("ready", flush=True)
        async for [seq, _] in pull:
            print(seq.decode(), flush=True)
asyncio.run(main())
"""


async def unrelated_traffic(stop: asyncio.Event) -> int:
    """Round trips on sockets that have nothing to do with the restarts: they
    must keep going, and see no error, whatever happens to the other peer."""
    trips = 0
    async with zeromq.Pair(linger=0) as a, zeromq.Pair(linger=0) as b:
        await a.bind("inproc://unrelated-traffic")
        b.connect("inproc://unrelated-traffic")
        while not stop.is_set():
            await a.send(b"%d" % trips)
            assert await b.receive() == [b"%d" % trips]
            trips += 1
            await asyncio.sleep(0.001)
    return trips


@pytest.mark.timeout(60)
async def test_push_reconnects_to_a_restarted_pull_and_messages_flow_again() -> None:
    errors = LoopErrors().install()
    address = f"tcp://127.0.0.1:{free_tcp_port()}"
    stop = asyncio.Event()
    sent = 0
    incarnations: list[list[int]] = []

    async with zeromq.Push(
        linger=0, reconnect_interval=20, send_high_water_mark=HWM, send_buffer_size=BUFFER
    ) as push:
        push.connect(address)  # nobody listens yet: connects when the first child is up

        async def produce() -> None:
            nonlocal sent
            while not stop.is_set():
                await push.send([b"%d" % sent, PAYLOAD])  # waits while no child can take it
                sent += 1

        producer = asyncio.ensure_future(produce())
        unrelated = asyncio.ensure_future(unrelated_traffic(stop))
        async with asyncio.timeout(45):
            for incarnation in range(4):
                async with Child(PULL_CHILD, address) as child:
                    assert await child.line() == "ready"
                    seen = [int(await child.line()) for _ in range(500)]
                    if incarnation < 3:
                        # Killed mid-stream; keep what it printed before it died.
                        assert child.proc is not None
                        child.proc.send_signal(signal.SIGKILL)
                        seen += [int(line) for line in await child.rest()]
                    else:
                        stop.set()
                        await producer
                        while seen[-1] != sent - 1:  # everything up to the last one sent
                            seen.append(int(await child.line()))
                incarnations.append(seen)
            trips = await unrelated

    assert not errors.contexts, f"errors leaked into the event loop: {errors}"
    assert producer.exception() is None
    for seen in incarnations:
        assert len(seen) >= 500  # messages flowed again after each restart
        # In order, nothing lost or duplicated while a peer was up.
        assert seen == list(range(seen[0], seen[-1] + 1))
    lost_at_kills = [
        after[0] - before[-1] - 1 for before, after in itertools.pairwise(incarnations)
    ]
    # Only what was in flight to (or queued in) a killed peer can be lost.
    assert all(0 <= lost <= IN_FLIGHT_LIMIT for lost in lost_at_kills), lost_at_kills
    assert trips > 100
    print(f"\n[restarts push/pull] messages sent={sent} faults injected=3 kills "
          f"lost={sum(lost_at_kills)} (in flight to a killed peer: {lost_at_kills}); "
          f"unrelated round trips={trips}, errors leaked=0")


@pytest.mark.timeout(60)
async def test_request_recovers_from_killed_servers_with_correlate_and_relaxed() -> None:
    errors = LoopErrors().install()
    address = f"tcp://127.0.0.1:{free_tcp_port()}"
    stop = asyncio.Event()
    unrelated = asyncio.ensure_future(unrelated_traffic(stop))
    total = 300
    retries = 0
    servers = [Child(REPLY_CHILD, address, "100")]  # dies holding request 100
    async with zeromq.Request(linger=0, correlate=True, relaxed=True, reconnect_interval=20) as req:
        req.connect(address)
        try:
            await servers[-1].start()
            assert await servers[-1].line() == "ready"
            async with asyncio.timeout(45):
                for i in range(total):
                    request = [b"%d" % i, b"payload"]
                    while True:
                        await req.send(request)  # relaxed: allowed again after a lost reply
                        if i == 200 and len(servers) == 2 and not servers[-1].exited:
                            # The second server is killed from outside while
                            # it may be holding this request.
                            await servers[-1].kill()
                        try:
                            async with asyncio.timeout(0.5):
                                reply = await req.receive()
                            break
                        except TimeoutError:
                            retries += 1
                            if servers[-1].exited:
                                servers.append(Child(REPLY_CHILD, address, "0"))
                                await servers[-1].start()
                                assert await servers[-1].line() == "ready"
                    # correlate: never the late reply to an earlier request
                    assert reply == request
        finally:
            for server in servers:
                await server.kill()
    stop.set()
    trips = await unrelated
    assert not errors.contexts, f"errors leaked into the event loop: {errors}"
    assert len(servers) == 3, "each killed server was noticed and replaced"
    assert retries >= 2
    print(f"\n[restarts req/rep] requests={total} answered={total} faults injected=2 kills, "
          f"retries={retries}, lost=0; unrelated round trips={trips}, errors leaked=0")


async def test_a_late_reply_to_an_abandoned_request_is_never_taken_for_the_new_one() -> None:
    """The reference's warning for `relaxed` without `correlate`: a slow
    server's reply to an abandoned request must not pass for the reply to the
    request that superseded it."""
    async with (
        zeromq.Router(linger=0) as server,
        zeromq.Request(linger=0, correlate=True, relaxed=True) as req,
    ):
        await server.bind("inproc://late-reply")
        req.connect("inproc://late-reply")
        await req.send("question")
        first = await server.receive()  # [peer, request id, b"", b"question"]
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.05):
                await req.receive()  # the server is slow: give up, ask again
        await req.send("question")
        second = await server.receive()
        assert first[-1] == second[-1] == b"question" and first[1] != second[1]
        await server.send([*first[:-1], b"late answer to the abandoned request"])
        await server.send([*second[:-1], b"answer"])
        async with asyncio.timeout(5):
            assert await req.receive() == [b"answer"]
