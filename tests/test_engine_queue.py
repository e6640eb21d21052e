"""Many tasks, one socket: concurrent sends and receives queue up, per
direction in call order, one whole message each, with exact cancellation,
per-call timeouts, back-pressure and close."""

from __future__ import annotations

import asyncio
import collections
import random
import sys
import threading
import tracemalloc

import pytest
from conftest import bind, run_then_abandon, within

import zeromq


async def test_100_tasks_sending_on_one_push_keep_their_order(transport: str) -> None:
    tasks, each = 100, 1_000
    # A small high-water mark, so that the senders really do wait in line.
    pull = zeromq.Pull(linger=0, receive_high_water_mark=10)
    push = zeromq.Push(linger=0, send_high_water_mark=10)
    push.connect(await bind(pull, transport))

    async def sender(task: int) -> None:
        for i in range(each):
            await push.send([str(task), str(i)])

    senders = asyncio.gather(*(sender(task) for task in range(tasks)))
    next_of: collections.Counter[int] = collections.Counter()

    async def receive_all() -> None:
        for _ in range(tasks * each):
            task, i = await pull.receive()
            assert int(i) == next_of[int(task)], f"task {int(task)}'s messages out of order"
            next_of[int(task)] += 1

    try:
        await within(60, "100 tasks x 1,000 sends", asyncio.gather(senders, receive_all()))
    finally:
        push.close()
        pull.close()
    assert next_of == {task: each for task in range(tasks)}


async def test_50_tasks_receiving_on_one_pull_get_each_message_once(make_pair, transport: str) -> None:
    pull, push = await make_pair(zeromq.Pull, zeromq.Push, transport)
    total = 5_000
    got: list[int] = []

    async def receiver() -> None:
        while True:
            number, check, tail = await pull.receive()
            assert (check, tail) == (number, b"end"), "a message arrived in pieces"
            if number == b"stop":
                return
            got.append(int(number))

    receivers = [asyncio.ensure_future(receiver()) for _ in range(50)]
    await asyncio.sleep(0)  # all 50 wait in line
    for i in range(total):
        await push.send([str(i), str(i), "end"])
    for _ in receivers:
        await push.send(["stop", "stop", "end"])
    await within(30, "50 receivers draining 5,000 messages", asyncio.gather(*receivers))
    assert sorted(got) == list(range(total)), "a message was lost or received twice"


async def test_waiting_operations_complete_in_call_order_and_a_new_one_does_not_overtake() -> None:
    async with zeromq.Pull(linger=0) as pull, zeromq.Push(linger=0) as push:
        push.connect(await bind(pull, "inproc"))
        first = asyncio.ensure_future(pull.receive())
        second = asyncio.ensure_future(pull.receive())
        await asyncio.sleep(0)  # both wait
        for word in ("one", "two", "three"):
            await push.send(word)
        # Three messages are there now, but two receives came first.
        assert await within(2, "a third receive", pull.receive()) == [b"three"]
        assert await first == [b"one"]
        assert await second == [b"two"]


@pytest.mark.parametrize("position", ["head", "behind"])
async def test_a_cancelled_waiting_receive_takes_nothing_and_the_next_moves_up(position: str) -> None:
    async with zeromq.Pull(linger=0) as pull, zeromq.Push(linger=0) as push:
        push.connect(await bind(pull, "inproc"))
        line = [asyncio.ensure_future(pull.receive()) for _ in range(3)]
        await asyncio.sleep(0)
        cancelled = line.pop(0 if position == "head" else 1)
        cancelled.cancel()
        await push.send("a")
        await push.send("b")
        results = await within(2, "the receives behind a cancelled one", asyncio.gather(*line))
        assert results == [[b"a"], [b"b"]]
        assert cancelled.cancelled()


async def test_a_cancelled_waiting_send_sends_nothing() -> None:
    async with zeromq.Dealer(linger=0) as dealer, zeromq.Router(linger=0) as router:
        line = [asyncio.ensure_future(dealer.send(str(i))) for i in range(4)]
        await asyncio.sleep(0)  # no peer: all wait
        line[0].cancel()
        line[2].cancel()
        dealer.connect(await bind(router, "inproc"))
        await within(2, "the sends behind cancelled ones", asyncio.gather(line[1], line[3]))
        router.receive_timeout = 100
        got = [(await router.receive())[1] for _ in range(2)]
        assert got == [b"1", b"3"]
        with pytest.raises(TimeoutError):
            await router.receive()  # the cancelled ones sent nothing


async def test_each_waiting_operation_times_out_from_its_own_call() -> None:
    async with zeromq.Pull(linger=0) as pull:
        await bind(pull, "inproc")
        head = asyncio.ensure_future(pull.receive())  # no timeout: waits forever
        await asyncio.sleep(0)
        pull.receive_timeout = 100
        loop = asyncio.get_running_loop()
        start = loop.time()
        with pytest.raises(TimeoutError):
            await within(2, "a receive with a 100 ms timeout behind another", pull.receive())
        # It timed out though it never reached the head of the line.
        assert 0.09 <= loop.time() - start < 2
        assert not head.done()
        head.cancel()


async def test_a_storm_of_queued_operations_loses_and_duplicates_nothing(transport: str) -> None:
    """Dealer tasks send and receive at once through a Router echo; many are
    cancelled or time out while they wait in line. Every send that completed
    comes back exactly once; no other message does."""
    rng = random.Random(7)
    # mandatory: the echo waits at the high-water mark instead of dropping.
    router = zeromq.Router(
        linger=0, send_high_water_mark=4, receive_high_water_mark=4, mandatory=True
    )
    dealer = zeromq.Dealer(linger=0, send_high_water_mark=4, receive_high_water_mark=4)
    dealer.connect(await bind(router, transport))
    sent: set[bytes] = set()
    received: list[bytes] = []
    endings: collections.Counter[str] = collections.Counter()

    async def echo() -> None:
        async for identity, body in router:
            await router.send([identity, body])

    async def send(body: bytes, timeout: int) -> None:
        dealer.send_timeout = timeout
        try:
            await dealer.send(body)
        except TimeoutError:
            endings["send timed out"] += 1
            return
        sent.add(body)  # in the step the send completed in

    async def receive(timeout: int) -> None:
        dealer.receive_timeout = timeout
        try:
            [body] = await dealer.receive()
        except TimeoutError:
            endings["receive timed out"] += 1
            return
        received.append(body)

    async def sweep() -> None:
        # One more receiver, always back in line: it keeps the echo from
        # waiting for room forever when the wave's receives are fewer than
        # its sends, and is itself cancelled at the end (taking nothing).
        while True:
            await receive(-1)

    echoing = asyncio.ensure_future(echo())
    sweeping = asyncio.ensure_future(sweep())
    try:
        for wave in range(40):
            ops = [asyncio.ensure_future(send(b"%d-%d" % (wave, i), rng.choice((-1, 0, 1, 5))))
                   for i in range(50)]
            # The wave's receives all end (more may wait than messages come).
            ops += [asyncio.ensure_future(receive(rng.choice((1, 5, 50)))) for _ in range(50)]
            rng.shuffle(ops)
            for _ in range(rng.randrange(3)):
                await asyncio.sleep(0)
            for op in ops:
                if rng.random() < 0.3:
                    op.cancel()
            await within(10, "a wave of queued operations", asyncio.wait(ops))
            endings["cancelled"] += sum(op.cancelled() for op in ops)
        sweeping.cancel()
        await asyncio.wait([sweeping])
        dealer.receive_timeout = 300
        while True:  # drain what came back but nobody received
            try:
                [body] = await dealer.receive()
            except TimeoutError:
                break
            received.append(body)
    finally:
        dealer.close()
        router.close()
        await within(2, "the echo ending at close()", echoing)
    assert len(received) == len(set(received)), "a message was received twice"
    assert set(received) == sent, "lost, or sent by a cancelled or timed-out send"
    # The storm exercised every ending (a timeout of 0 behind a waiting send
    # times out at once, so send timeouts do not hang on the machine's speed).
    assert len(sent) > 500 and min(endings.values()) > 20, (len(sent), endings)


@pytest.mark.parametrize("closer", ["loop", "thread"])
async def test_close_fails_1000_queued_operations_at_once(closer: str) -> None:
    dealer = zeromq.Dealer(linger=0)  # no peer: every operation waits
    ops = [asyncio.ensure_future(dealer.send(str(i))) for i in range(500)]
    ops += [asyncio.ensure_future(dealer.receive()) for _ in range(500)]
    await asyncio.sleep(0)
    assert not any(op.done() for op in ops)
    if closer == "loop":
        dealer.close()
        # Every one was woken at once: its task ran in the very next turn.
        await asyncio.sleep(0)
        assert all(op.done() for op in ops), "close() did not wake every queued operation at once"
    else:
        thread = threading.Thread(target=dealer.close)
        thread.start()
        thread.join()
    results = await within(
        2, "queued operations after close()", asyncio.gather(*ops, return_exceptions=True)
    )
    codes = collections.Counter(getattr(r, "code", repr(r)) for r in results)
    assert codes == {"ENOTSOCK": 1000}


async def test_10000_waiting_senders_hold_nothing_but_their_own_tasks() -> None:
    """A peer that reads nothing: libzmq queues up to its high-water mark and
    the rest wait, each message held by its own task. The engine holds one
    small waiter per waiting send, and nothing once they are gone."""
    pull = zeromq.Pull(linger=0, receive_high_water_mark=10)
    push = zeromq.Push(linger=0, send_high_water_mark=10)
    push.connect(await bind(pull, "inproc"))
    payload = bytes(65536)  # one buffer: a copy per send would show
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        senders = [asyncio.ensure_future(push.send(payload)) for _ in range(10_000)]
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        waiting = sum(not s.done() for s in senders)
        assert waiting >= 10_000 - 40  # at most about the high-water marks went through
        assert len(push._senders) == waiting
        during = tracemalloc.take_snapshot()
        engine_bytes = sum(
            stat.size_diff for stat in during.compare_to(before, "filename")
            if stat.traceback[0].filename.endswith("_engine.py")
        )
        total_bytes = sum(stat.size_diff for stat in during.compare_to(before, "filename"))
        # Each waiting send's coroutines and its waiter: about 1 KB, far from
        # the 64 KiB a copy of its message would take.
        per_send = engine_bytes / waiting
        assert per_send < 1500, f"the engine holds {per_send:.0f} B per waiting send"
        assert total_bytes < 4096 * waiting, f"{total_bytes / waiting:.0f} B per waiting send"
        for s in senders:
            s.cancel()
        await within(5, "cancelling 10,000 waiting sends", asyncio.wait(senders))
        assert not push._senders
        del senders
        after = tracemalloc.take_snapshot()
        left = sum(stat.size_diff for stat in after.compare_to(before, "filename")
                   if stat.traceback[0].filename.endswith("_engine.py"))
        assert left < 64 * 1024, f"{left} B left in the engine after every send was cancelled"
    finally:
        tracemalloc.stop()
        push.close()
        pull.close()


async def test_close_from_another_thread_races_a_receive_starting_on_a_new_socket() -> None:
    """A receive just starting in this loop on a never-used socket, and a
    close() from another thread at about the same moment, 3,000 times (with
    thread switches forced often): every receive fails with ENOTSOCK, never
    hangs or raises a raw OSError (EBADF)."""
    trials = 3_000
    handed: list[zeromq.Pull] = []
    ready = threading.Semaphore(0)
    start = threading.Barrier(2, timeout=10)
    rng = random.Random(3)
    delays = [rng.random() * 40e-6 for _ in range(trials)]

    def closer() -> None:
        for delay in delays:
            ready.acquire()
            sock = handed[-1]
            try:
                start.wait()
            except threading.BrokenBarrierError:
                return
            end = _now() + delay
            while _now() < end:
                pass
            sock.close()

    thread = threading.Thread(target=closer, daemon=True)
    old_interval = sys.getswitchinterval()
    sys.setswitchinterval(5e-6)
    thread.start()
    outcomes: collections.Counter[str] = collections.Counter()
    try:
        for _ in range(trials):
            sock = zeromq.Pull(linger=0)
            handed.append(sock)
            ready.release()
            start.wait()
            try:
                async with asyncio.timeout(1):
                    await sock.receive()
            except zeromq.ZMQError as error:
                outcomes[error.code] += 1
            except TimeoutError:
                raise AssertionError(f"a receive hung after close() ({dict(outcomes)} so far)") from None
            except OSError as error:
                raise AssertionError(f"raw {error!r} from a receive racing close()") from None
            sock.close()
    finally:
        sys.setswitchinterval(old_interval)
        start.abort()  # a closer still waiting for a trial gives up
        thread.join(10)
    assert outcomes == {"ENOTSOCK": trials}


def _now() -> float:
    import time

    return time.perf_counter()


async def test_a_receive_right_after_a_cancel_does_not_queue_behind_it() -> None:
    # A cancelled receive leaves the line only when its task next runs; a new
    # receive in the same step must not wait behind it (nor, with timeout 0,
    # time out because of it): the cancelled one will take nothing. (inproc:
    # the message is there as soon as send() returns, before the waiting
    # receive's task can run.)
    async with zeromq.Dealer(linger=0) as a, zeromq.Dealer(linger=0) as b:
        b.connect(await a.bind("inproc://receive-after-cancel"))
        waiting = asyncio.ensure_future(b.receive())
        await asyncio.sleep(0)  # now it waits in line
        await a.send("hello")
        assert not waiting.done()  # (not b.readable: reading readiness would wake it)
        b.receive_timeout = 0  # it may not wait, so not behind the cancelled one either
        waiting.cancel()
        assert await within(1, "a receive behind a cancelled one", b.receive()) == [b"hello"]
        await asyncio.gather(waiting, return_exceptions=True)
        assert waiting.cancelled()


async def test_a_send_right_after_a_cancel_does_not_queue_behind_it() -> None:
    async with zeromq.Push(linger=0) as push, zeromq.Pull(linger=0) as pull:
        waiting = asyncio.ensure_future(push.send(b"waits"))  # no peer yet: it waits
        await asyncio.sleep(0)
        waiting.cancel()
        push.connect(await pull.bind("inproc://send-after-cancel"))  # room, at once
        push.send_timeout = 0
        await within(1, "a send behind a cancelled one", push.send(b"after"))
        await asyncio.gather(waiting, return_exceptions=True)
        assert waiting.cancelled()
        assert await within(1, "the message sent", pull.receive()) == [b"after"]
        assert not pull.readable  # the cancelled send sent nothing


@pytest.mark.parametrize("direction", ["receive", "send"])
def test_an_operation_left_waiting_by_a_closed_loop_takes_nothing_from_the_next(
    direction: str,
) -> None:
    """A loop closed without its tasks cancelled leaves their operations
    waiting, first in line. They can never complete: the next loop's
    operations must not wait behind them, nor a message go to or come from
    one of them (in a task nobody can await any more)."""
    pull = zeromq.Pull(linger=0, receive_high_water_mark=1)
    push = zeromq.Push(linger=0, send_high_water_mark=1)
    left: list[asyncio.Future[object]] = []

    async def leave_waiting() -> None:
        push.connect(await bind(pull, "inproc"))
        if direction == "send":
            await push.send(b"fill")  # inproc: the two high-water marks, 1 + 1
            await push.send(b"fill")
        waiting_on = pull if direction == "receive" else push
        operation = pull.receive() if direction == "receive" else push.send(b"left")
        left.append(asyncio.ensure_future(operation))
        await asyncio.sleep(0)  # its first step: it finds nothing to do, and waits
        assert waiting_on._receivers or waiting_on._senders, f"the {direction} did not wait"

    run_then_abandon(leave_waiting())  # its task still waits, never cancelled

    async def next_loop() -> list[bytes]:
        async with asyncio.timeout(5):
            if direction == "receive":
                await push.send(b"hello")
                return await pull.receive()
            sending = asyncio.ensure_future(push.send(b"next"))  # waits for room
            got = [part for _ in range(3) for part in await pull.receive()]
            await sending
            return got

    try:
        got = asyncio.run(next_loop())
    finally:
        push.close()
        pull.close()
    assert got == ([b"hello"] if direction == "receive" else [b"fill", b"fill", b"next"])
