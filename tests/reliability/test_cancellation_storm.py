"""Cancellation storm: sends and receives cancelled at random (asyncio.timeout,
wait_for, Task.cancel) lose, duplicate and reorder nothing.

The contract: a cancelled `receive()` has taken nothing off the socket and a
cancelled `send()` has queued nothing, so retrying after a cancellation must
yield every message exactly once, in order per peer. Each side falls behind
or starves the other at random, so that the cancellations strike sends and
receives while they are pending, not only before they start."""

from __future__ import annotations

import asyncio
import collections
import functools
import random

import pytest
from conftest import bind
from reliability_harness import under_random_cancellation

import zeromq

TOTAL = 100_000
PEERS = 4
# Short queues and kernel buffers, which 1 KiB messages fill fast: the senders
# soon wait when the receiver falls behind, and the receiver soon drains
# everything and waits when the senders are held back. (Not smaller: below
# twice the loopback MSS, TCP's silly-window avoidance slows a connection
# whose receiver falls behind to a few messages per second.)
HWM = 20
BUFFER = 131072
PAYLOAD = b"x" * 1024

Faults = collections.Counter[str]


def report(name: str, sent: int, sends: Faults, receives: Faults) -> None:
    print(f"\n[{name}] messages sent={sent} faults injected={sum((sends + receives).values())} "
          f"(sends {dict(sends)}, receives {dict(receives)}) lost=0")


def assert_struck_both_ways(sends: Faults, receives: Faults, at_least: int) -> None:
    """The storm really did cut pending sends and receives short, by each mechanism."""
    assert sum(sends.values()) >= at_least, sends
    assert sum(receives.values()) >= at_least, receives
    for how in ("asyncio.timeout", "wait_for", "Task.cancel"):
        assert sends[how] + receives[how] >= at_least // 2, (how, sends, receives)


@pytest.mark.timeout(90)
@pytest.mark.parametrize("transport", ["tcp", "inproc"])
async def test_100k_messages_under_random_cancellation_arrive_once_in_order_per_peer(
    transport: str,
) -> None:
    sends: Faults = collections.Counter()
    receives: Faults = collections.Counter()
    per_peer = TOTAL // PEERS
    async with zeromq.Pull(
        linger=0, receive_high_water_mark=HWM, receive_buffer_size=BUFFER
    ) as pull:
        endpoint = await bind(pull, transport)
        pushes = [
            zeromq.Push(linger=0, send_high_water_mark=HWM, send_buffer_size=BUFFER)
            for _ in range(PEERS)
        ]
        senders_may_go = asyncio.Event()
        senders_may_go.set()
        try:
            for push in pushes:
                push.connect(endpoint)

            async def produce(peer: int) -> None:
                rng = random.Random(peer)
                push = pushes[peer]
                seq = 0
                while seq < per_peer:
                    await senders_may_go.wait()
                    # A cancelled send queued nothing: send the same message again.
                    message = [b"%d" % peer, b"%d" % seq, PAYLOAD]
                    sent, _ = await under_random_cancellation(
                        functools.partial(push.send, message), rng, sends
                    )
                    seq += sent

            producers = [asyncio.ensure_future(produce(peer)) for peer in range(PEERS)]
            rng = random.Random(TOTAL)
            received: list[list[int]] = [[] for _ in range(PEERS)]
            count = starve_until = 0
            async with asyncio.timeout(80):
                while count < per_peer * PEERS:
                    starving = not senders_may_go.is_set()
                    done, message = await under_random_cancellation(
                        pull.receive, rng, receives, always=starving
                    )
                    if done:
                        assert message is not None
                        received[int(message[0])].append(int(message[1]))
                        count += 1
                    if starving:
                        # Hold the senders back until the receiver has drained
                        # the queues and had a few pending receives cut short.
                        if sum(receives.values()) >= starve_until:
                            senders_may_go.set()
                    elif (luck := rng.random()) < 0.002:
                        await asyncio.sleep(0.002)  # fall behind: the senders wait
                    elif luck < 0.004:
                        senders_may_go.clear()
                        starve_until = sum(receives.values()) + 10
                await asyncio.gather(*producers)
        finally:
            for push in pushes:
                push.close()

    for peer in range(PEERS):
        assert received[peer] == list(range(per_peer)), f"peer {peer} lost or reordered messages"
    report(f"storm {transport}", TOTAL, sends, receives)
    assert_struck_both_ways(sends, receives, 300)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("transport", ["tcp", "inproc"])
async def test_a_socket_sending_and_receiving_at_once_under_cancellation_loses_nothing(
    transport: str,
) -> None:
    """Both directions of each Dealer are pending at once (they share one
    edge-triggered fd) while both are cancelled at random."""
    total = 20_000
    payload = PAYLOAD * 4  # a few fill the kernel buffers: tcp sends wait too
    sends: Faults = collections.Counter()
    receives: Faults = collections.Counter()
    options = {
        "linger": 0,
        "send_high_water_mark": 50,
        "receive_high_water_mark": 50,
        "send_buffer_size": BUFFER,
        "receive_buffer_size": BUFFER,
    }
    async with zeromq.Dealer(**options) as a, zeromq.Dealer(**options) as b:
        b.connect(await bind(a, transport))

        async def produce(sock: zeromq.Dealer, seed: int) -> None:
            rng = random.Random(seed)
            seq = 0
            while seq < total:
                sent, _ = await under_random_cancellation(
                    functools.partial(sock.send, [b"%d" % seq, payload]), rng, sends
                )
                seq += sent
                if rng.random() < 0.005:
                    await asyncio.sleep(0.003)  # starve the other side's receiver

        async def consume(sock: zeromq.Dealer, seed: int) -> list[int]:
            rng = random.Random(seed)
            got: list[int] = []
            while len(got) < total:
                done, message = await under_random_cancellation(sock.receive, rng, receives)
                if done:
                    assert message is not None
                    got.append(int(message[0]))
                if rng.random() < 0.005:
                    await asyncio.sleep(0.002)  # fall behind: the other side's sends wait
            return got

        async with asyncio.timeout(50):
            _, _, at_a, at_b = await asyncio.gather(
                produce(a, 1), produce(b, 2), consume(a, 3), consume(b, 4)
            )
    assert at_a == list(range(total))
    assert at_b == list(range(total))
    report(f"bidirectional {transport}", 2 * total, sends, receives)
    assert_struck_both_ways(sends, receives, 60)
