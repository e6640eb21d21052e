"""Back-pressure: a fast sender and a slow receiver with high water marks of
100. Push and Dealer `send` waits instead of queueing without bound (the
queue and the process's memory stay flat over time) and nothing is lost;
Publisher never waits and drops what a slow subscriber has no room for, as
the reference says, unless `no_drop` makes it wait too."""

from __future__ import annotations

import asyncio

import pytest
from conftest import bind
from reliability_harness import rss_bytes, until_subscribed

import zeromq

HWM = 100
PAYLOAD = b"p" * 32768  # copied into each queued message: unbounded queueing would show in RSS
# Kernel buffers a little over twice the loopback MSS: what tcp holds beyond
# the high water marks stays small (see test_cancellation_storm), yet the
# connection does not crawl when the receiver falls behind.
TCP_BUFFER = 131072
ATTEMPTS = 4000  # 128 MiB if nothing held the sender back


def in_flight_limit(transport: str, message_size: int) -> int:
    """What may be in flight at most: both queues, plus (tcp) the messages in
    the kernel buffers (which Linux makes twice the size asked) and in
    libzmq's encoder and decoder."""
    queues = 2 * HWM + 2
    return queues + 4 * TCP_BUFFER // message_size + 8 if transport == "tcp" else queues


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("sender_cls", "receiver_cls"),
    [(zeromq.Push, zeromq.Pull), (zeromq.Dealer, zeromq.Dealer)],
    ids=["push", "dealer"],
)
@pytest.mark.parametrize("transport", ["tcp", "inproc"])
async def test_send_waits_at_the_high_water_mark_and_memory_stays_flat(
    sender_cls: type[zeromq.Push | zeromq.Dealer],
    receiver_cls: type[zeromq.Pull | zeromq.Dealer],
    transport: str,
) -> None:
    async with (
        receiver_cls(
            linger=0, receive_high_water_mark=HWM, receive_buffer_size=TCP_BUFFER
        ) as receiver,
        sender_cls(linger=0, send_high_water_mark=HWM, send_buffer_size=TCP_BUFFER) as sender,
    ):
        sender.connect(await bind(receiver, transport))
        sent = 0
        stop = False

        async def produce() -> None:
            nonlocal sent
            while not stop and sent < ATTEMPTS:
                await sender.send([b"%d" % sent, PAYLOAD])
                sent += 1

        rss_before = rss_bytes()
        producer = asyncio.ensure_future(produce())
        received = 0
        in_flight: list[int] = []  # sent - received, sampled after each receive
        rss: list[int] = []
        async with asyncio.timeout(30):
            # The slow receiver: one message every millisecond, for 300 messages.
            for _ in range(300):
                seq, _payload = await receiver.receive()
                assert int(seq) == received
                received += 1
                in_flight.append(sent - received)
                rss.append(rss_bytes())
                await asyncio.sleep(0.001)
            assert not producer.done(), "the sender never had to wait"
            # Stop the sender; its pending send completes as the rest drains.
            stop = True
            while received < sent or not producer.done():
                seq, _payload = await receiver.receive()
                assert int(seq) == received
                received += 1
            await producer

    limit = in_flight_limit(transport, len(PAYLOAD))
    growth = max(rss) - rss_before
    print(f"\n[back-pressure {sender_cls.__name__} {transport}] messages sent={sent} "
          f"received={received} max in flight={max(in_flight)} (limit {limit}) "
          f"RSS growth={growth >> 20} MiB lost=0")
    assert received == sent  # nothing lost, nothing duplicated (checked in order above)
    assert sent < ATTEMPTS // 2, "the sender was not held back"
    assert max(in_flight) <= limit
    # Flat over time: the second half of the run queued no more than the first.
    half = len(in_flight) // 2
    assert max(in_flight[half:]) <= max(in_flight[:half]) + 8
    # Memory: what is in flight, not what the sender tried to send (128 MiB).
    assert growth < limit * len(PAYLOAD) * 2 + (24 << 20)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("transport", ["tcp", "inproc"])
async def test_publisher_never_waits_and_drops_for_a_subscriber_at_its_high_water_mark(
    transport: str,
) -> None:
    total = 20_000
    async with (
        zeromq.Subscriber(
            linger=0, receive_high_water_mark=HWM, receive_buffer_size=TCP_BUFFER
        ) as sub,
        zeromq.Publisher(
            linger=0, send_high_water_mark=HWM, send_buffer_size=TCP_BUFFER,
            send_timeout=0,  # a send that had to wait would fail at once with EAGAIN
        ) as pub,
    ):
        sub.subscribe()
        pub.connect(await bind(sub, transport))
        await until_subscribed(pub, sub)
        # The subscriber does not read: every send still completes at once.
        for seq in range(total):
            await pub.send([b"%d" % seq, PAYLOAD[:1024]])
        sub.receive_timeout = 200
        got: list[int] = []
        try:
            while True:
                got.append(int((await sub.receive())[0]))
        except TimeoutError:
            pass
        # The mute state has ended: new messages arrive again.
        await pub.send([b"after", b""])
        sub.receive_timeout = 5000
        assert await sub.receive() == [b"after", b""]

    print(f"\n[pub drop {transport}] messages sent={total} delivered={len(got)} "
          f"dropped as documented={total - len(got)}")
    assert got, "the subscriber got nothing"
    assert got == sorted(set(got)), "delivered messages were reordered or duplicated"
    assert got[0] == 0  # the first ones went through, the later ones were dropped
    assert len(got) <= in_flight_limit(transport, 1024)
    assert len(got) < total


@pytest.mark.timeout(60)
@pytest.mark.parametrize("transport", ["tcp", "inproc"])
async def test_publisher_with_no_drop_waits_instead_of_dropping(transport: str) -> None:
    async with (
        zeromq.Subscriber(linger=0, receive_high_water_mark=HWM) as sub,
        zeromq.Publisher(linger=0, send_high_water_mark=HWM, no_drop=True) as pub,
    ):
        sub.subscribe()
        pub.connect(await bind(sub, transport))
        await until_subscribed(pub, sub)
        # Fill until a send finds no room for 100 ms: EAGAIN, not a silent drop.
        pub.send_timeout = 100
        sent = 0
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(30):
                while True:
                    await pub.send([b"%d" % sent, PAYLOAD])
                    sent += 1
        # A send that may wait completes once the subscriber makes room.
        pub.send_timeout = -1
        pending = asyncio.ensure_future(pub.send([b"%d" % sent, PAYLOAD]))
        await asyncio.sleep(0.05)
        assert not pending.done(), "the send did not wait for room"
        got = [int((await sub.receive())[0]) for _ in range(sent + 1)]
        await pending
    assert got == list(range(sent + 1))  # every message, none dropped
    print(f"\n[pub no_drop {transport}] messages sent={sent + 1} delivered={len(got)} lost=0")
