"""send/receive semantics: at once when possible, waits, timeouts, queuing,
cancellation safety, edge-triggered readiness, fairness, close."""

from __future__ import annotations

import asyncio
import contextlib
import errno

import pytest
from conftest import address, bind, within

import zeromq
from zeromq._engine import YIELD_EVERY, Waiter, new_waiter


async def test_single_and_multipart_messages_round_trip(make_pair, transport: str) -> None:
    pull, push = await make_pair(zeromq.Pull, zeromq.Push, transport)
    await push.send(b"bytes")
    await push.send("text \u00e9")
    await push.send(["a", b"b", bytearray(b"c"), memoryview(b"d"), 5, 2.5, None])
    await push.send(("tuple", "parts"))
    assert await pull.receive() == [b"bytes"]
    assert await pull.receive() == ["text \u00e9".encode()]
    assert await pull.receive() == [b"a", b"b", b"c", b"d", b"5", b"2.5", b""]
    assert await pull.receive() == [b"tuple", b"parts"]


async def test_any_sequence_is_the_parts_but_a_buffer_is_one_part(make_pair) -> None:
    import array
    import collections

    class Parts(list[bytes]):
        pass

    pull, push = await make_pair(zeromq.Pull, zeromq.Push, "inproc")
    await push.send(collections.deque([b"from", "a deque"]))
    await push.send(Parts([b"a list", b"subclass"]))
    await push.send(array.array("b", [104, 105]))  # a sequence, but a buffer: one part
    assert await pull.receive() == [b"from", b"a deque"]
    assert await pull.receive() == [b"a list", b"subclass"]
    assert await pull.receive() == [b"hi"]
    with pytest.raises(ValueError, match="no parts"):
        await push.send(collections.deque())


async def test_large_buffer_parts_arrive_intact(make_pair, transport: str) -> None:
    pull, push = await make_pair(zeromq.Pull, zeromq.Push, transport)
    big = bytes(range(256)) * 4096  # 1 MiB, sent without a copy
    await push.send([memoryview(big), big])
    assert await pull.receive() == [big, big]


@pytest.mark.parametrize("kind", [list, tuple])
async def test_a_list_changed_while_its_send_waits_is_sent_as_it_was(transport: str, kind: type) -> None:
    """send() takes its parts when called: a caller changing its list (here
    reused for the next message) while the send waits for a peer changes
    nothing that is sent."""
    async with zeromq.Push(linger=0) as push, zeromq.Pull(linger=0) as pull:
        parts = [b"first", b"message"]
        sending = asyncio.ensure_future(push.send(kind(parts) if kind is tuple else parts))
        await asyncio.sleep(0)  # no peer yet: the send waits
        assert not sending.done()
        parts[0] = b"changed"
        parts.append(b"added")
        push.connect(await pull.bind(address(transport)))
        async with asyncio.timeout(5):  # the send never completed
            await sending
            assert await pull.receive() == [b"first", b"message"]


@pytest.mark.parametrize("bad", [object(), True, [b"ok", object()], {"a": 1}])
async def test_bad_message_part_is_a_type_error_and_sends_nothing(make_pair, bad: object) -> None:
    pull, push = await make_pair(zeromq.Pull, zeromq.Push, "inproc")
    with pytest.raises(TypeError, match="message part"):
        await push.send(bad)  # type: ignore[arg-type]
    await push.send("next")
    assert await pull.receive() == [b"next"]


async def test_empty_message_list_is_a_value_error(make_pair) -> None:
    _, push = await make_pair(zeromq.Pull, zeromq.Push, "inproc")
    with pytest.raises(ValueError, match="no parts"):
        await push.send([])


async def test_async_for_receives_until_close(make_pair, transport: str) -> None:
    pull, push = await make_pair(zeromq.Pull, zeromq.Push, transport)
    for i in range(3):
        await push.send(str(i))
    got = []

    async def consume() -> None:
        async for [msg] in pull:
            got.append(msg)
            if len(got) == 3:
                asyncio.get_running_loop().call_soon(pull.close)

    await within(5, "async for did not end at close()", consume())
    assert got == [b"0", b"1", b"2"]


async def test_close_ends_pending_receive_and_send_with_zmq_error() -> None:
    pull = zeromq.Pull(linger=0)
    push = zeromq.Push(linger=0)  # no peer: send waits
    receiving = asyncio.ensure_future(pull.receive())
    sending = asyncio.ensure_future(push.send("x"))
    await asyncio.sleep(0)
    assert not receiving.done() and not sending.done()
    pull.close()
    push.close()
    for pending in (receiving, sending):
        with pytest.raises(zeromq.ZMQError) as info:
            await within(2, "close() did not wake a pending operation", pending)
        assert info.value.code == "ENOTSOCK"


async def test_close_ends_a_waiting_async_for_cleanly() -> None:
    pull = zeromq.Pull(linger=0)

    async def consume() -> list[list[bytes]]:
        return [msg async for msg in pull]

    task = asyncio.ensure_future(consume())
    await asyncio.sleep(0)
    pull.close()
    assert await within(2, "close() did not end a waiting async for", task) == []


async def test_use_after_close_raises_and_close_is_idempotent() -> None:
    sock = zeromq.Dealer(linger=0)
    sock.close()
    sock.close()
    assert sock.closed
    assert not sock.readable and not sock.writable
    for attempt in (sock.send("x"), sock.receive(), sock.bind("inproc://closed")):
        with pytest.raises(zeromq.ZMQError) as info:
            await attempt
        assert info.value.code == "ENOTSOCK"
    with pytest.raises(zeromq.ZMQError):
        sock.connect("inproc://closed")


async def test_async_with_closes_the_socket() -> None:
    async with zeromq.Pair(linger=0) as sock:
        assert not sock.closed
    assert sock.closed


@pytest.mark.parametrize("direction", ["receive", "send"])
async def test_timeout_zero_fails_at_once_as_timeout_error(direction: str) -> None:
    async with zeromq.Dealer(linger=0, receive_timeout=0, send_timeout=0) as dealer:
        loop = asyncio.get_running_loop()
        start = loop.time()
        operation = dealer.receive() if direction == "receive" else dealer.send("no peer")
        with pytest.raises(TimeoutError) as info:
            await within(2, f"{direction}() with a timeout of 0 waited", operation)
        assert loop.time() - start < 0.5, f"{direction}() with a timeout of 0 waited"
        assert isinstance(info.value, zeromq.ZMQError)
        assert info.value.code == "EAGAIN"
        assert info.value.errno == errno.EAGAIN


@pytest.mark.parametrize("direction", ["receive", "send"])
async def test_a_timeout_of_50_is_milliseconds(direction: str) -> None:
    async with zeromq.Dealer(linger=0, receive_timeout=50, send_timeout=50) as dealer:
        loop = asyncio.get_running_loop()
        start = loop.time()
        operation = dealer.receive() if direction == "receive" else dealer.send("no peer")
        with pytest.raises(TimeoutError) as info:
            await within(2, f"{direction}() with a timeout of 50 ms", operation)
        elapsed = loop.time() - start
        assert isinstance(info.value, zeromq.ZMQError)
        assert 0.045 <= elapsed < 2, f"{direction}() with a 50 ms timeout failed after {elapsed:.3f} s"


async def test_receive_timeout_waits_then_fails(transport: str) -> None:
    async with zeromq.Pull(linger=0, receive_timeout=30) as pull:
        await bind(pull, transport)
        loop = asyncio.get_running_loop()
        start = loop.time()
        with pytest.raises(TimeoutError):
            await within(2, "receive() with a 30 ms timeout", pull.receive())
        assert loop.time() - start >= 0.025
        # The socket is still usable after a timeout.
        pull.receive_timeout = 0
        with pytest.raises(TimeoutError):
            await within(2, "receive() with a timeout of 0", pull.receive())


async def test_send_timeout_without_peers_fails_as_timeout_error() -> None:
    async with zeromq.Dealer(linger=0, send_timeout=20) as dealer:
        with pytest.raises(TimeoutError) as info:
            await dealer.send("nobody")
        assert info.value.code == "EAGAIN"  # type: ignore[attr-defined]


async def test_message_that_arrives_within_the_timeout_is_received(make_pair, transport: str) -> None:
    pull, push = await make_pair(zeromq.Pull, zeromq.Push, transport)
    pull.receive_timeout = 5000
    pending = asyncio.ensure_future(pull.receive())
    await asyncio.sleep(0)
    await push.send("in time")
    assert await pending == [b"in time"]


async def test_concurrent_receives_and_sends_queue_up_in_call_order(transport: str) -> None:
    async with zeromq.Router(linger=0) as router, zeromq.Dealer(linger=0) as dealer:
        # No peer yet: the sends wait, and so do the receives.
        sending = [asyncio.ensure_future(dealer.send(["request", str(i)])) for i in range(5)]
        receiving = [asyncio.ensure_future(dealer.receive()) for _ in range(5)]
        await asyncio.sleep(0)
        assert not any(op.done() for op in sending + receiving)
        dealer.connect(await bind(router, transport))
        await within(5, "queued sends after a peer connected", asyncio.gather(*sending))
        for i in range(5):
            identity, *request = await within(5, "the router's receive", router.receive())
            assert request == [b"request", str(i).encode()]
            await router.send([identity, "reply", str(i)])
        replies = await within(5, "queued receives", asyncio.gather(*receiving))
        assert replies == [[b"reply", str(i).encode()] for i in range(5)]


async def test_cancelled_receive_does_not_block_the_next_one(make_pair) -> None:
    pull, push = await make_pair(zeromq.Pull, zeromq.Push, "inproc")
    pending = asyncio.ensure_future(pull.receive())
    await asyncio.sleep(0)
    pending.cancel()  # the task has not unwound yet
    await push.send("after cancel")
    assert await pull.receive() == [b"after cancel"]
    with pytest.raises(asyncio.CancelledError):
        await pending


@pytest.mark.timeout(60)
async def test_receive_under_tiny_timeouts_loses_no_message(make_pair, transport: str) -> None:
    """20,000 messages, each received under an `asyncio.timeout` of a few
    microseconds: every one arrives, once, in order."""
    pull, push = await make_pair(zeromq.Pull, zeromq.Push, transport)
    total = 20_000
    received: list[int] = []
    timeouts = 0

    async def produce() -> None:
        for i in range(total):
            await push.send(str(i))
            if i % 3 == 0:
                await asyncio.sleep(0)  # interleave with the receiver

    producer = asyncio.ensure_future(produce())
    while len(received) < total:
        try:
            async with asyncio.timeout(0.000_005):
                [msg] = await pull.receive()
        except TimeoutError:
            timeouts += 1
            continue
        received.append(int(msg))
    await producer
    assert received == list(range(total))
    assert timeouts > 1000  # the timeouts really did cut many receives short


async def test_cancellation_by_wait_for_and_task_cancel_loses_nothing(make_pair, transport: str) -> None:
    pull, push = await make_pair(zeromq.Pull, zeromq.Push, transport)
    total = 2_000
    received: list[bytes] = []

    async def produce() -> None:
        for i in range(total):
            await push.send(str(i))
            await asyncio.sleep(0)

    producer = asyncio.ensure_future(produce())
    turn = 0
    while len(received) < total:
        turn += 1
        if turn % 2:
            try:
                [msg] = await asyncio.wait_for(pull.receive(), 0.000_01)
            except TimeoutError:
                continue
        else:
            task = asyncio.ensure_future(pull.receive())
            await asyncio.sleep(0)
            if task.cancel():
                try:
                    [msg] = await task
                except asyncio.CancelledError:
                    continue
            else:
                [msg] = task.result()
        received.append(msg)
    await producer
    assert received == [str(i).encode() for i in range(total)]


async def test_a_cancelled_wait_raises_the_cancel_message(make_pair, transport: str) -> None:
    """`task.cancel(msg)` reaches the task's CancelledError, as with any
    asyncio await: for a receive at the head of its line, one queued behind
    it, and a send that waits for room (a PUSH with no peer)."""
    pull, push = await make_pair(zeromq.Pull, zeromq.Push, transport)
    lonely = zeromq.Push(linger=0)
    try:
        waits = [pull.receive(), pull.receive(), lonely.send(b"nobody takes it")]
        tasks = [asyncio.ensure_future(wait) for wait in waits]
        await asyncio.sleep(0)  # each task now waits
        for number, task in enumerate(tasks):
            task.cancel(f"stop {number}")
        for number, task in enumerate(tasks):
            with pytest.raises(asyncio.CancelledError) as cancelled:
                await task
            assert cancelled.value.args == (f"stop {number}",)
        await push.send(b"after")  # nothing was taken: the next receive has it
        assert await within(5, "a receive after the cancelled ones", pull.receive()) == [b"after"]
    finally:
        lonely.close()


@pytest.mark.timeout(60)
async def test_req_rep_round_trips_never_stall(make_pair, transport: str) -> None:
    """Each round trip waits on the edge-triggered fd; a missed edge would
    stall until some unrelated event (here: the timeout would fire)."""
    rep, req = await make_pair(zeromq.Reply, zeromq.Request, transport)

    async def serve() -> None:
        async for [msg] in rep:
            await rep.send(msg)

    server = asyncio.ensure_future(serve())
    async with asyncio.timeout(45):
        for i in range(10_000):
            await req.send(str(i))
            assert await req.receive() == [str(i).encode()]
    rep.close()
    await within(2, "close() did not end the server's async for", server)


async def test_dealer_with_a_send_and_a_receive_pending_at_once(make_pair, transport: str) -> None:
    router, dealer = await make_pair(
        zeromq.Router, zeromq.Dealer, transport, send_high_water_mark=1, receive_high_water_mark=1,
        send_buffer_size=4096, receive_buffer_size=4096,
    )
    # Fill the queues (and kernel buffers) until a send must wait.
    payload = b"x" * 65536
    sent = 0
    while True:
        try:
            async with asyncio.timeout(0.05):
                await dealer.send([str(sent), payload])
        except TimeoutError:
            break
        sent += 1
    sending = asyncio.ensure_future(dealer.send("last"))
    receiving = asyncio.ensure_future(dealer.receive())
    await asyncio.sleep(0)
    assert not sending.done() and not receiving.done()
    # The router drains everything, then replies: both pending ops complete.
    async with asyncio.timeout(10):
        got = []
        while True:
            identity, msg, *_ = await router.receive()
            got.append(msg)
            if msg == b"last":
                break
        await router.send([identity, "reply"])
        await sending
        assert await receiving == [b"reply"]
    assert got == [str(i).encode() for i in range(sent)] + [b"last"]


class Ticker:
    """Counts the loop turns another task gets while the body runs."""

    def __init__(self) -> None:
        self.ticks = 0

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(0)
            self.ticks += 1

    async def __aenter__(self) -> Ticker:
        self._task = asyncio.ensure_future(self._tick())
        await asyncio.sleep(0)  # started
        self.ticks = 0
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._task.cancel()


async def _unbounded_pair() -> tuple[zeromq.Pull, zeromq.Push]:
    """An inproc Pull and Push with no high-water marks (set before bind and connect)."""
    pull = zeromq.Pull(linger=0, receive_high_water_mark=0)
    push = zeromq.Push(linger=0, send_high_water_mark=0)
    endpoint = await bind(pull, "inproc")
    push.connect(endpoint)
    return pull, push


async def test_a_receive_loop_over_a_backlog_lets_other_tasks_run() -> None:
    pull, push = await _unbounded_pair()
    total = 20 * YIELD_EVERY
    for i in range(total):
        await push.send(str(i))
    async with Ticker() as ticker:
        for _ in range(total):
            await pull.receive()  # every message is already queued
    assert ticker.ticks >= total // YIELD_EVERY - 1
    pull.close()
    push.close()


async def test_a_busy_receive_and_send_loop_lets_other_tasks_run() -> None:
    """A loop whose every operation completes at once never suspends by
    itself: without the budget, the other task would never run (and the
    loop would spin forever, so it counts its own turns)."""
    pull, push = await _unbounded_pair()
    other_ran = asyncio.Event()

    async def other() -> None:
        other_ran.set()

    task = asyncio.ensure_future(other())
    await push.send("seed")
    for _ in range(10 * YIELD_EVERY):
        if other_ran.is_set():
            break
        await push.send(await pull.receive())
    else:
        raise AssertionError(
            f"another task never ran during {10 * YIELD_EVERY} receive/send pairs that "
            "completed at once: send()/receive() did not yield to the loop"
        )
    await task
    pull.close()
    push.close()


async def test_a_send_loop_lets_other_tasks_run() -> None:
    pull, push = await _unbounded_pair()
    async with Ticker() as ticker:
        for i in range(10 * YIELD_EVERY):
            await push.send(str(i))  # every send completes at once
    assert ticker.ticks >= 9
    pull.close()
    push.close()


async def test_readable_and_writable(make_pair, transport: str) -> None:
    pull, push = await make_pair(zeromq.Pull, zeromq.Push, transport)
    assert not pull.readable
    assert not pull.writable  # Pull cannot send
    assert not push.readable  # Push cannot receive
    await push.send("x")
    async with asyncio.timeout(5):
        while not pull.readable:  # tcp/ipc deliver in the background
            await asyncio.sleep(0.001)
    assert push.writable
    assert await pull.receive() == [b"x"]


async def until_subscribed(pub: zeromq.Publisher, sub: zeromq.Subscriber, topic: str) -> None:
    """Subscriptions reach a publisher in the background: publish until one lands."""
    sub.receive_timeout = 20
    async with asyncio.timeout(10):
        while True:
            await pub.send([topic, "ping"])
            try:
                if await sub.receive() == [topic.encode(), b"ping"]:
                    break
            except TimeoutError:
                continue
    sub.receive_timeout = -1


async def test_pub_sub_with_subscriptions(make_pair, transport: str) -> None:
    sub, pub = await make_pair(zeromq.Subscriber, zeromq.Publisher, transport)
    sub.subscribe("news", b"weather")
    await until_subscribed(pub, sub, "news")
    await pub.send(["sports", "skipped"])
    await pub.send(["weather", "sunny"])
    assert await sub.receive() == [b"weather", b"sunny"]
    sub.unsubscribe("weather")
    with pytest.raises(TypeError, match="prefix"):
        sub.subscribe(5)  # type: ignore[arg-type]


async def test_subscribe_without_prefix_receives_everything(make_pair) -> None:
    sub, pub = await make_pair(zeromq.Subscriber, zeromq.Publisher, "inproc")
    sub.subscribe()
    await until_subscribed(pub, sub, "first")
    await pub.send("anything")
    assert await sub.receive() == [b"anything"]


# (what was done to a new Subscriber, whether it then has a subscription)
SUBSCRIPTION_HISTORIES: list[tuple[list[tuple[str, tuple[str, ...]]], bool]] = [
    ([], False),
    ([("subscribe", ())], True),
    ([("subscribe", ("a",)), ("unsubscribe", ("a",))], False),
    ([("subscribe", ("a",)), ("subscribe", ("a",)), ("unsubscribe", ("a",))], True),
    ([("unsubscribe", ("a",)), ("subscribe", ("a",))], True),  # a stray unsubscribe counts nothing
    ([("subscribe", ("a", "b")), ("unsubscribe", ("b",))], True),
]


@pytest.mark.parametrize(("history", "subscribed"), SUBSCRIPTION_HISTORIES)
@pytest.mark.parametrize("receive_timeout", [0, 30])
async def test_a_receive_timeout_says_when_a_subscriber_has_no_subscriptions(
    make_pair, history: list[tuple[str, tuple[str, ...]]], subscribed: bool, receive_timeout: int
) -> None:
    """The commonest pub/sub mistake, a Subscriber nobody subscribed, is named
    in the timeout's message (and only then)."""
    sub, _pub = await make_pair(zeromq.Subscriber, zeromq.Publisher, "inproc")
    for method, prefixes in history:
        getattr(sub, method)(*prefixes)
    sub.receive_timeout = receive_timeout
    async with asyncio.timeout(5):  # a timeout that never fires would hang here
        with pytest.raises(zeromq.ZMQError) as info:
            await sub.receive()
    assert isinstance(info.value, TimeoutError) and info.value.code == "EAGAIN"
    assert ("no subscriptions" in str(info.value)) is not subscribed, str(info.value)


async def test_router_connect_with_routing_id(transport: str) -> None:
    async with zeromq.Router(linger=0) as server, zeromq.Router(linger=0) as client:
        address = await bind(server, transport)
        client.connect(address, routing_id="server")
        async with asyncio.timeout(10):
            while True:
                try:
                    await client.send(["server", "hello"])
                    break
                except zeromq.ZMQError:
                    await asyncio.sleep(0.001)  # the connection is still being made
        with pytest.raises(ValueError, match="routing_id"):
            client.connect(address, routing_id="")


async def test_dealer_router_routing_ids(make_pair, transport: str) -> None:
    router, dealer = await make_pair(zeromq.Router, zeromq.Dealer, transport)
    dealer.close()
    dealer = zeromq.Dealer(linger=0, routing_id="worker-7")
    dealer.connect(router.last_endpoint)
    await dealer.send("ready")
    assert await router.receive() == [b"worker-7", b"ready"]
    await router.send([b"worker-7", "job"])
    assert await dealer.receive() == [b"job"]
    dealer.close()


async def test_request_receive_before_send_is_efsm() -> None:
    async with zeromq.Request(linger=0) as req:
        with pytest.raises(zeromq.ZMQError) as info:
            await req.receive()
        assert info.value.code == "EFSM"
        assert "a Request receives only the reply to a request it sent" in str(info.value)


async def test_out_of_turn_request_reply_says_what_comes_first(make_pair, transport: str) -> None:
    """EFSM's "Operation cannot be accomplished in current state" names
    neither the pattern nor the cure: the message does."""
    rep, req = await make_pair(zeromq.Reply, zeromq.Request, transport)
    with pytest.raises(zeromq.ZMQError, match="a Reply sends only the reply to a request it received"):
        await rep.send("unasked")
    await req.send("first")
    with pytest.raises(zeromq.ZMQError, match="must receive the reply to its last request before") as info:
        await req.send("second")
    assert info.value.code == "EFSM"
    async with asyncio.timeout(5):
        assert await rep.receive() == [b"first"]
    with pytest.raises(zeromq.ZMQError, match="must send the reply to the last request before"):
        await rep.receive()


async def test_stream_socket_talks_raw_tcp() -> None:
    async with zeromq.Stream(linger=0) as server:
        await server.bind("tcp://127.0.0.1:*")
        host, port = server.last_endpoint.rsplit("/", 1)[1].rsplit(":", 1)
        reader, writer = await asyncio.open_connection(host, int(port))
        identity, empty = await server.receive()  # connection notice
        assert empty == b""
        writer.write(b"raw bytes")
        await writer.drain()
        assert await server.receive() == [identity, b"raw bytes"]
        await server.send([identity, b"reply"])
        assert await reader.readexactly(5) == b"reply"
        writer.close()


async def test_receive_buffers_gives_views_of_the_message(make_pair, transport: str) -> None:
    pull, push = await make_pair(zeromq.Pull, zeromq.Push, transport)
    big = bytes(range(256)) * 4096
    await push.send([big, "small", None])
    parts = await pull.receive_buffers()
    assert [type(p) for p in parts] == [memoryview] * 3
    assert all(p.readonly for p in parts)
    assert [bytes(p) for p in parts] == [big, b"small", b""]


async def test_writable_buffers_are_copied_so_later_changes_do_not_alter_the_message(make_pair) -> None:
    pull, push = await make_pair(zeromq.Pull, zeromq.Push, "tcp")
    data = bytearray(b"a" * 200_000)
    await push.send([data, memoryview(data)])
    data[:] = b"b" * len(data)
    assert await pull.receive() == [b"a" * 200_000] * 2


async def test_large_read_only_buffers_arrive_intact_many_times(make_pair, transport: str) -> None:
    """Large bytes go without a copy; their memory is given back as libzmq lets go."""
    pull, push = await make_pair(zeromq.Pull, zeromq.Push, transport)
    for i in range(200):
        payload = bytes([i % 256]) * 100_000
        await push.send([payload, memoryview(payload)])
        assert await pull.receive() == [payload, payload]


@pytest.mark.parametrize("transport", ["tcp", "ipc", "inproc"])
async def test_the_loop_stops_watching_a_socket_nobody_waits_on(
    make_pair, transport: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A message that arrives while no receive waits signals the fd once: the
    loop's callback then stops watching it, instead of running at every loop
    turn (a spin) or reading the socket from the loop's thread (it may be in
    use from another). The message is not lost: the next receive has it."""
    calls = 0
    callback_of = zeromq._engine.Engine._readable_callback

    def counting(engine: zeromq._engine.Engine) -> object:
        callback = callback_of(engine)

        def count(ref: object) -> object:
            nonlocal calls
            calls += 1
            return callback(ref)

        return count

    monkeypatch.setattr(zeromq._engine.Engine, "_readable_callback", counting)
    pull, push = await make_pair(zeromq.Pull, zeromq.Push, transport)
    waiting = asyncio.ensure_future(pull.receive())  # watches the fd
    await push.send(b"first")
    assert await within(5, "the first message", waiting) == [b"first"]
    # A receive that finds nothing, waits and is cancelled: libzmq signals
    # the fd at the next message's arrival (it does so only after a miss).
    waiting = asyncio.ensure_future(pull.receive())
    await asyncio.sleep(0)  # one loop turn: the task's first step, up to its wait
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    calls = 0
    await push.send(b"second")  # nobody waits on `pull` now

    async def first_call() -> None:
        while calls == 0:
            await asyncio.sleep(0)

    await within(5, "the callback for the second message's signal", first_call())
    for _ in range(100):  # loop turns in which a watched, signalled fd would call again
        await asyncio.sleep(0)
    assert calls == 1
    assert await within(5, "the second message", pull.receive()) == [b"second"]


def test_the_c_accelerator_is_in_use() -> None:
    """`make test` builds it (a C compiler is part of the set-up); a silent
    fallback to the slower pure-Python calls would hide a broken build."""
    from zeromq import _native

    assert _native.ACCELERATED


async def test_a_woken_task_keeps_its_context_variables(make_pair, transport: str) -> None:
    """A waiting receive is resumed straight from the fd callback (one loop
    turn sooner than a Future would): it must still run in its own context."""
    import contextvars

    request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id")
    pull, push = await make_pair(zeromq.Pull, zeromq.Push, transport)

    async def handle(name: str) -> tuple[str, list[bytes]]:
        request_id.set(name)
        message = await pull.receive()  # waits: nothing is queued yet
        return request_id.get(), message

    task = asyncio.ensure_future(handle("task-1"))
    await asyncio.sleep(0)
    request_id.set("caller")
    await push.send("hello")
    assert await task == ("task-1", [b"hello"])
    assert request_id.get() == "caller"


async def test_a_task_with_no_context_variables_keeps_what_it_sets_after_a_wait(
    make_pair, transport: str
) -> None:
    """A task whose context is still empty when it waits (an empty Context is
    falsy) is resumed in that context, not in a copy that forgets what the
    task sets next."""
    import contextvars

    step: contextvars.ContextVar[str] = contextvars.ContextVar("step")
    pull, push = await make_pair(zeromq.Pull, zeromq.Push, transport)

    waiting = asyncio.Event()

    async def handle() -> tuple[str, str]:
        waiting.set()
        await pull.receive()  # waits with an empty context
        step.set("after the first receive")
        first = step.get("lost")
        waiting.set()
        await pull.receive()  # waits again
        return first, step.get("lost")

    task = asyncio.get_running_loop().create_task(handle(), context=contextvars.Context())
    async with asyncio.timeout(5):  # a receive that hangs
        for _ in range(2):
            # The task runs on from set() into its receive, which waits: by
            # the time this resumes, it is waiting.
            await waiting.wait()
            waiting.clear()
            await push.send("hello")
        assert await task == ("after the first receive", "after the first receive")


# -- the Waiter -----------------------------------------------------------------------
# Each test runs on the Python Waiter and on the one the engine uses (its C
# twin when the accelerator is built).

WAITERS = pytest.mark.parametrize(
    "make_waiter", sorted({Waiter, new_waiter}, key=lambda cls: cls.__module__), ids=lambda cls: cls.__module__
)


@WAITERS
@pytest.mark.parametrize(("expired", "now"), [(False, False), (True, False), (False, True)])
async def test_a_waiter_resumes_its_task_with_whether_it_expired(
    make_waiter: type[Waiter], expired: bool, now: bool
) -> None:
    loop = asyncio.get_running_loop()
    waiter = make_waiter(loop)
    assert asyncio.futures._get_loop(waiter) is loop  # what a Task checks
    assert not waiter.done() and not waiter.cancelled()
    with pytest.raises(asyncio.InvalidStateError):
        waiter.result()

    async def wait() -> bool:
        return bool(await waiter)

    task = asyncio.ensure_future(wait())
    await asyncio.sleep(0)  # the task now waits on the waiter
    assert not task.done()
    if now:
        # From a plain loop callback, the task runs before wake() returns.
        loop.call_soon(lambda: (waiter.wake(now=True), done_at_once.append(task.done())))
        done_at_once: list[bool] = []
        assert await task is False
        assert done_at_once == [True]
    else:
        waiter.wake(expired=expired)
        waiter.wake(expired=not expired)  # a no-op once done
        assert await task is expired
    assert waiter.done() and waiter.result() is expired and waiter.exception() is None


@WAITERS
async def test_cancelling_a_task_that_awaits_a_waiter(make_waiter: type[Waiter]) -> None:
    waiter = make_waiter(asyncio.get_running_loop())
    task = asyncio.ensure_future(_await(waiter))
    await asyncio.sleep(0)
    task.cancel("why")  # the task hands its message on to the waiter
    with pytest.raises(asyncio.CancelledError) as cancelled:
        await task
    assert cancelled.value.args == ("why",)
    assert waiter.cancelled() and waiter.done()
    assert waiter.cancel("again") is False  # already done
    with pytest.raises(asyncio.CancelledError, match=r"^why$"):
        waiter.result()
    with pytest.raises(asyncio.CancelledError, match=r"^why$"):
        waiter.exception()
    waiter.wake()  # too late: nothing happens
    assert waiter.cancelled()


async def _await(waiter: object) -> object:
    return await waiter  # type: ignore[misc]


@WAITERS
async def test_a_waiters_callbacks(make_waiter: type[Waiter]) -> None:
    loop = asyncio.get_running_loop()
    waiter = make_waiter(loop)
    called: list[object] = []
    waiter.add_done_callback(called.append)
    assert waiter.remove_done_callback(print) == 0
    assert waiter.remove_done_callback(called.append) == 1
    waiter.add_done_callback(called.append)
    waiter.wake()  # not `now`: the callback runs on the loop's next turn
    assert called == []
    await asyncio.sleep(0)
    assert called == [waiter]
    waiter.add_done_callback(called.append)  # once done: scheduled at once
    await asyncio.sleep(0)
    assert called == [waiter, waiter]


@WAITERS
async def test_each_await_of_a_waiter_starts_afresh(make_waiter: type[Waiter]) -> None:
    """An `await` left by an exception at its wait (a cancellation, a throw)
    leaves nothing behind: awaiting the waiter again waits while it is
    pending and raises CancelledError once it is cancelled, as a new `await`
    of a Future does. It never returns as if woken."""
    loop = asyncio.get_running_loop()
    waiter = make_waiter(loop)

    async def await_again_after(error: type[BaseException]) -> object:
        with contextlib.suppress(error):
            await waiter  # type: ignore[misc]
        return await waiter  # type: ignore[misc]

    coro = await_again_after(ValueError)
    assert coro.send(None) is waiter
    try:
        again = coro.throw(ValueError())
    except (StopIteration, RuntimeError):  # (returned: PEP 479 makes it a RuntimeError)
        again = "returned while pending"
    assert again is waiter  # still pending: it waits again
    waiter.wake(expired=True)
    with pytest.raises(StopIteration) as returned:
        coro.send(None)
    assert returned.value.value is True

    waiter = make_waiter(loop)
    task = asyncio.ensure_future(await_again_after(asyncio.CancelledError))
    await asyncio.sleep(0)  # the task waits on the waiter
    task.cancel()
    with pytest.raises(asyncio.CancelledError) as cancelled:
        await task  # the second await finds the waiter cancelled
    assert waiter.cancelled()
    assert cancelled.value.args == ()  # no message: as asyncio makes it
