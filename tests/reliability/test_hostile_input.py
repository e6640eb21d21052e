"""Hostile input: thousands of loopback connections send random bytes,
truncated ZMTP greetings, oversized frames and other garbage to a bound tcp
socket while valid peers keep being served; `max_message_size` is enforced:
the offending peer is disconnected and the socket's observer says so."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import random

import pytest
from reliability_harness import (
    GREETING,
    HOSTILE,
    LoopErrors,
    hostile_peer,
    long_frame_header,
    open_fds,
    ready,
    settled,
)

import zeromq

CONNECTIONS = 2100
CONCURRENCY = 64
MAX_MESSAGE_SIZE = 65536


@pytest.mark.timeout(90)
async def test_valid_peers_are_served_throughout_a_storm_of_hostile_connections() -> None:
    errors = LoopErrors().install()
    async with zeromq.Router(
        linger=0, max_message_size=MAX_MESSAGE_SIZE, handshake_interval=200, backlog=256
    ) as server:
        await server.bind("tcp://127.0.0.1:*")
        endpoint = server.last_endpoint
        assert endpoint is not None
        host, port = endpoint.rsplit("/", 1)[1].rsplit(":", 1)
        events = server.events

        async def echo() -> None:
            async for message in server:
                await server.send(message)

        echoing = asyncio.ensure_future(echo())
        storm_over = asyncio.Event()
        latencies: list[float] = []
        first_trips: list[asyncio.Future[None]] = []

        async def valid_client(n: int) -> int:
            trips = 0
            loop = asyncio.get_running_loop()
            served = first_trips[n]
            async with zeromq.Dealer(linger=0) as client:
                client.connect(endpoint)
                while not storm_over.is_set() or trips < 10:
                    message = [b"%d" % n, b"%d" % trips, b"v" * 1000]
                    start = loop.time()
                    await client.send(message)
                    async with asyncio.timeout(10):
                        assert await client.receive() == message
                    latencies.append(loop.time() - start)
                    trips += 1
                    if not served.done():
                        served.set_result(None)
            return trips

        first_trips.extend(asyncio.get_running_loop().create_future() for _ in range(4))
        clients = [asyncio.ensure_future(valid_client(n)) for n in range(4)]
        async with asyncio.timeout(10):
            await asyncio.gather(*first_trips)  # all connected and served before the storm
        fds_before = open_fds()

        rng = random.Random(2024)
        kinds = list(HOSTILE)
        gate = asyncio.Semaphore(CONCURRENCY)
        outcomes: collections.Counter[tuple[str, str]] = collections.Counter()

        async def one(i: int) -> None:
            kind = kinds[i % len(kinds)]
            async with gate:
                outcomes[kind, await hostile_peer(host, int(port), kind, rng)] += 1

        async with asyncio.timeout(60):
            await asyncio.gather(*(one(i) for i in range(CONNECTIONS)))
            fds_after = await settled(open_fds, fds_before)  # the valid clients still connected
            storm_over.set()
            trips = await asyncio.gather(*clients)

            # Every hostile connection was accepted and ended, and the observer said so.
            seen: collections.Counter[str] = collections.Counter()
            while seen["disconnect"] < CONNECTIONS + len(clients):
                event = await events.receive()
                seen[event.type] += 1
        server.close()
        await echoing

    for kind, (must_be_dropped, _) in HOSTILE.items():
        if must_be_dropped:
            assert outcomes[kind, "dropped by the server"] == CONNECTIONS // len(HOSTILE), kind
    assert seen["accept"] == CONNECTIONS + len(clients)
    assert seen["handshake:error:protocol"] > 0
    assert all(t >= 10 for t in trips)
    assert max(latencies) < 2.0, "valid peers were starved during the storm"
    assert fds_after <= fds_before, "the hostile connections left fds behind"
    assert not errors.contexts, f"errors leaked into the event loop: {errors}"
    print(f"\n[hostile] connections={CONNECTIONS} ({len(HOSTILE)} kinds) faults injected={CONNECTIONS}; "
          f"valid round trips={sum(trips)} (slowest {max(latencies) * 1000:.0f} ms), lost=0; "
          f"events {dict(seen)}")


@pytest.mark.timeout(30)
async def test_max_message_size_disconnects_the_offending_peer_and_the_event_is_observed() -> None:
    async with (
        zeromq.Pull(linger=0, max_message_size=1024) as pull,
        zeromq.Push(linger=0, reconnect_interval=20) as push,
    ):
        await pull.bind("tcp://127.0.0.1:*")
        endpoint = pull.last_endpoint
        assert endpoint is not None
        events = pull.events
        push.connect(endpoint)
        async with asyncio.timeout(10):
            await push.send("small")
            assert await pull.receive() == [b"small"]
            await push.send(b"x" * 4096)  # over the limit: the Pull drops the connection
            # What followed the big message on the dropped connection is lost
            # with it; the Push reconnects, and what it sends then arrives.
            pull.receive_timeout = 50
            probe = 0
            while True:
                await push.send(b"probe %d" % probe)
                probe += 1
                try:
                    [message] = await pull.receive()
                    break
                except TimeoutError:
                    continue
            assert message.startswith(b"probe")  # never the big one
            pull.receive_timeout = -1
            types = []
            while "disconnect" not in types:
                event = await events.receive()
                types.append(event.type)
            assert event.address == endpoint

            # A raw peer that announces a frame over the limit is dropped too.
            host, port = endpoint.rsplit("/", 1)[1].rsplit(":", 1)
            reader, writer = await asyncio.open_connection(host, int(port))
            writer.write(GREETING + ready(b"PUSH") + long_frame_header(2048))
            with contextlib.suppress(ConnectionResetError):
                while await reader.read(65536):
                    pass  # until the Pull hangs up
            writer.close()
            while (await events.receive()).type != "disconnect":
                pass
            # And the Pull serves its valid peer still.
            await push.send("still served")
            while message != b"still served":
                [message] = await pull.receive()
