"""The edge-triggered fd: after any operation while the other direction
waits, the engine re-reads readiness (ZMQ_EVENTS).

libzmq signals its fd once per batch of commands, and *any* send, receive or
ZMQ_EVENTS read that processes the commands consumes that signal. So when a
`receive()` processes the command that made a waiting `send()` possible (or
the reverse), nothing will ever signal the fd for the waiting one again: the
engine must look at ZMQ_EVENTS itself. These tests arrange, step by step, for
the signal to be consumed by the other direction's operation *before* the
event loop could see it (inproc only: over tcp and ipc the commands come from
libzmq's I/O thread, whenever it gets to them), then check that the waiting
operation still completes.

The arrangement: a Dealer whose send waits at a tiny high-water mark, and
whose inbound pipe is asleep (a receive found it empty), so that the Router's
reply reaches it as a command, processed by the Dealer's next receive
together with the command that says there is room to send again.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import pytest

import zeromq
from zeromq import _engine

# A waiting operation that was woken completes within a loop turn or two; a
# second is far beyond that, and short enough to fail fast.
SOON = 1.0


@dataclass
class Blocked:
    """A Dealer whose `send()` waits (the queues are full), its Router peer,
    and how many messages the Router has to drain."""

    router: zeromq.Router
    dealer: zeromq.Dealer
    queued: int
    sending: asyncio.Future[None]

    async def drain(self) -> bytes:
        """Take every queued message off the Router, without suspending (so
        no loop turn, and no fd callback, happens meanwhile); return the
        Dealer's routing id."""
        identity = b""
        for _ in range(self.queued):
            identity, _body = await self.router.receive()
        return identity

    async def sent_soon(self, what: str) -> None:
        try:
            async with asyncio.timeout(SOON):
                await self.sending
        except TimeoutError:
            raise AssertionError(
                f"the waiting send() never completed after {what}: the engine did not "
                "re-read ZMQ_EVENTS after an operation that consumed the fd's signal"
            ) from None


@asynccontextmanager
async def blocked_dealer() -> AsyncIterator[Blocked]:
    async with zeromq.Router(
        linger=0, receive_high_water_mark=1, send_high_water_mark=1
    ) as router, zeromq.Dealer(
        linger=0, receive_high_water_mark=1, send_high_water_mark=1, receive_timeout=0, send_timeout=0
    ) as dealer:
        dealer.connect(await router.bind("inproc://readiness-" + str(id(router))))
        # A receive that finds nothing puts the Dealer's inbound pipe to
        # sleep: the Router's reply will then arrive as a command.
        with pytest.raises(TimeoutError):
            await dealer.receive()
        queued = 0
        while True:  # fill the queues: send_timeout=0 fails at once when full
            try:
                await dealer.send(str(queued))
            except TimeoutError:
                break
            queued += 1
        assert queued > 0
        dealer.send_timeout = dealer.receive_timeout = -1
        sending = asyncio.ensure_future(dealer.send("waits"))
        await asyncio.sleep(0)  # its first step: tried, EAGAIN, now waits
        assert not sending.done()
        try:
            yield Blocked(router, dealer, queued, sending)
        finally:
            sending.cancel()


@pytest.mark.parametrize("method", ["receive", "receive_buffers"])
async def test_a_fast_path_receive_rereads_readiness_for_a_waiting_send(method: str) -> None:
    async with blocked_dealer() as blocked:
        # One step: the Router drains (room to send) and replies; the Dealer's
        # receive completes at once, processing both commands.
        identity = await blocked.drain()
        await blocked.router.send([identity, "reply"])
        assert [bytes(part) for part in await getattr(blocked.dealer, method)()] == [b"reply"]
        # Nothing else happens on the Dealer.
        await blocked.sent_soon("a receive() that completed at once")


async def test_a_receive_that_must_wait_rereads_readiness_for_a_waiting_send() -> None:
    async with blocked_dealer() as blocked:

        async def drain_then_receive() -> list[bytes]:
            # One step: room to send, then a receive that finds nothing,
            # processing that command, and waits.
            await blocked.drain()
            return await blocked.dealer.receive()

        receiving = asyncio.ensure_future(drain_then_receive())
        await blocked.sent_soon("a receive() that found nothing and waits")
        assert not receiving.done()
        receiving.cancel()


async def test_a_receive_that_completes_after_waiting_rereads_readiness_for_a_waiting_send() -> None:
    async with blocked_dealer() as blocked:
        dealer, router = blocked.dealer, blocked.router
        # The Dealer's receive is made to yield to the loop once before its
        # attempt (the fairness budget is spent), so the attempt is made by
        # the slow path. In the loop turn of that attempt, just before it
        # and after the loop last looked at the fds, the Router drains and
        # replies: the attempt processes both commands.

        tasks: list[asyncio.Future[None]] = []

        async def drain_and_reply() -> None:
            await router.send([await blocked.drain(), "reply"])

        async def schedule_drain() -> None:
            # Runs one turn before the receive's attempt; what it schedules
            # runs in the attempt's turn, just ahead of it.
            tasks.append(asyncio.ensure_future(drain_and_reply()))

        tasks.append(asyncio.ensure_future(schedule_drain()))
        dealer._budget = 1  # the next operation yields before its attempt
        receiving = asyncio.ensure_future(dealer.receive())
        async with asyncio.timeout(SOON):
            assert await receiving == [b"reply"]
            await asyncio.gather(*tasks)
        await blocked.sent_soon("a receive() that completed after yielding")


async def test_a_send_that_completes_at_once_rereads_readiness_for_a_waiting_receive(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The mirror case. libzmq's send processes commands only now and then
    (by elapsed CPU time), so no arrangement forces it: check that readiness
    is re-read."""
    reads: list[int] = []
    real = _engine._events
    monkeypatch.setattr(_engine, "_events", lambda target: reads.append(1) or real(target))
    async with zeromq.Router(linger=0) as router, zeromq.Dealer(linger=0) as dealer:
        dealer.connect(await router.bind("inproc://readiness-send-" + str(id(router))))
        receiving = asyncio.ensure_future(dealer.receive())
        await asyncio.sleep(0)  # now waits
        reads.clear()
        await dealer.send("completes at once")  # no loop turn until the assert
        assert reads, "a send() that completed at once did not re-read ZMQ_EVENTS for the waiting receive()"
        receiving.cancel()
