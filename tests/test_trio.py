"""zeromq inside trio.run: the same socket classes, Observer and Proxy, waiting
with trio's own fd readiness, cancelled by cancel scopes without losing a message."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import errno
import functools
import logging
import random
import socket
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, TypeVar

import pytest
from conftest import address, bind, run_then_abandon, send_unless_refused
from security.helpers import RefusalsFromAnyThread

import zeromq

trio = pytest.importorskip("trio")
trio_testing = pytest.importorskip("trio.testing")

T = TypeVar("T")

WAIT = 5.0  # seconds any one step may take before the test says what hung

RUN_BOUND = 90.0  # seconds a whole trio test may take: below pytest-timeout's 120


def in_trio(test: Callable[..., Awaitable[None]]) -> Callable[..., None]:
    """Run an async test body in a fresh trio.run (not asyncio, as conftest would),
    failing it after RUN_BOUND seconds from inside the run.

    A hang must end inside trio: pytest-timeout's signal would interrupt
    trio.run itself and leave trio believing a run is still going, so that
    every later trio test fails with "Attempted to call run() from inside a run()".
    """

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        bounded_run(functools.partial(test, *args, **kwargs), what=f"the whole test {test.__name__}")

    return run


def bounded_run(fn: Callable[..., Awaitable[T]], *args: Any, what: str | None = None) -> T:
    """`trio.run(fn, *args)`, failed from inside the run (saying `what` hung)
    after RUN_BOUND seconds: see `in_trio` for why a hang must end inside trio."""

    async def bounded() -> T:
        with within(what or f"the trio run of {fn.__name__}", RUN_BOUND):
            result = await fn(*args)
        return result

    return trio.run(bounded)


@contextlib.contextmanager
def within(what: str, seconds: float = WAIT) -> Iterator[None]:
    """Fail saying `what` hung if the block takes longer than `seconds`."""
    try:
        with trio.fail_after(seconds):
            yield
    except trio.TooSlowError:
        raise AssertionError(f"hung: {what}") from None


@contextlib.asynccontextmanager
async def pair(
    bound_cls: type[zeromq.Socket],
    connected_cls: type[zeromq.Socket],
    transport: str,
    bound_options: dict[str, Any] | None = None,
    connected_options: dict[str, Any] | None = None,
) -> AsyncIterator[tuple[Any, Any]]:
    """Bind one socket, connect the other; close both after."""
    bound = bound_cls(linger=0, **(bound_options or {}))
    connected = connected_cls(linger=0, **(connected_options or {}))
    try:
        connected.connect(await bind(bound, transport))
        yield bound, connected
    finally:
        bound.close()
        connected.close()


# -- sockets -------------------------------------------------------------------------


@in_trio
async def test_a_receive_waits_for_the_message_sent_later(transport: str) -> None:
    async with pair(zeromq.Pull, zeromq.Push, transport) as (pull, push):
        received: list[list[bytes]] = []
        with within("a receive waiting for messages sent after it"):
            async with trio.open_nursery() as nursery:

                async def receive_three() -> None:
                    for _ in range(3):
                        received.append(await pull.receive())

                nursery.start_soon(receive_three)
                await trio.sleep(0.01)  # let the receive find nothing and wait
                for part in ("one", b"two", ["three", 3]):
                    await push.send(part)
        assert received == [[b"one"], [b"two"], [b"three", b"3"]]


@in_trio
async def test_receive_buffers_gives_views_of_the_message(transport: str) -> None:
    async with pair(zeromq.Pull, zeromq.Push, transport) as (pull, push):
        big = bytes(range(256)) * 1024
        await push.send([b"head", big])
        with within("receive_buffers"):
            parts = await pull.receive_buffers()
        assert all(isinstance(part, memoryview) for part in parts)
        assert [bytes(part) for part in parts] == [b"head", big]


@in_trio
async def test_a_send_waits_for_room_at_the_high_water_mark(transport: str) -> None:
    async with pair(
        zeromq.Pull,
        zeromq.Push,
        transport,
        {"receive_high_water_mark": 1},
        {"send_high_water_mark": 1},
    ) as (pull, push):
        sent = 0

        async def send_many() -> None:
            nonlocal sent
            for i in range(200):
                await push.send(str(i))
                sent += 1

        with within("sends waiting for the receiver to make room"):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(send_many)
                received = [await pull.receive() for _ in range(200)]
        assert sent == 200
        assert received == [[str(i).encode()] for i in range(200)]


@in_trio
async def test_a_send_and_a_receive_pending_at_once_share_the_fd(transport: str) -> None:
    # trio refuses two tasks waiting on one fd; both directions share one watch.
    options = {"send_high_water_mark": 1}
    async with pair(zeromq.Dealer, zeromq.Dealer, transport, options, options) as (a, b):
        got: list[list[bytes]] = []
        with within("a Dealer with a send and a receive pending"):
            async with trio.open_nursery() as nursery:

                async def receive() -> None:
                    got.append(await a.receive())

                async def send_until_blocked() -> None:
                    for i in range(1000):
                        await a.send(str(i))

                nursery.start_soon(receive)
                nursery.start_soon(send_until_blocked)
                await trio.sleep(0.01)
                await b.send("to a")
                for _ in range(1000):
                    await b.receive()
        assert got == [[b"to a"]]


@in_trio
async def test_async_for_receives_until_close_and_async_with_closes(transport: str) -> None:
    async with pair(zeromq.Pull, zeromq.Push, transport) as (pull, push):
        for i in range(3):
            await push.send(str(i))
        seen: list[list[bytes]] = []
        with within("async for ending at close()"):
            async for message in pull:
                seen.append(message)
                if len(seen) == 3:
                    pull.close()
        assert seen == [[b"0"], [b"1"], [b"2"]]
    async with zeromq.Pair() as sock:
        pass
    assert sock.closed


@in_trio
async def test_bind_unbind_and_bind_again_at_once(transport: str) -> None:
    async with zeromq.Pull(linger=0) as first, zeromq.Push(linger=0) as push:
        endpoint = await first.bind(address(transport))
        await first.unbind(endpoint)
        # libzmq frees a tcp port in the background: bind() retries, sleeping with trio.
        with within("bind() retrying a just-released address"):
            await first.bind(endpoint)
        push.connect(endpoint)
        await push.send("after rebinding")
        with within("receive after rebinding"):
            assert await first.receive() == [b"after rebinding"]


@in_trio
async def test_timeouts_raise_the_same_errors_as_under_asyncio(transport: str) -> None:
    async with pair(zeromq.Pull, zeromq.Push, transport, {"receive_timeout": 30}) as (pull, _):
        with within("receive_timeout"), pytest.raises(zeromq.ZMQError) as caught:
            await pull.receive()
        assert caught.value.code == "EAGAIN" and isinstance(caught.value, TimeoutError)
    async with zeromq.Push(send_timeout=30, linger=0) as push:  # no peer: send cannot queue
        with within("send_timeout"), pytest.raises(TimeoutError):
            await push.send("nowhere")


@in_trio
async def test_close_ends_a_pending_receive_and_send() -> None:
    pull = zeromq.Pull(linger=0)
    push = zeromq.Push(linger=0)
    errors: list[str | None] = []

    async def expect_closed(call: Callable[[], Awaitable[object]]) -> None:
        try:
            await call()
        except zeromq.ZMQError as exc:
            errors.append(exc.code)

    with within("close() ending pending operations"):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(expect_closed, pull.receive)
            nursery.start_soon(expect_closed, functools.partial(push.send, "x"))
            await trio.sleep(0.01)
            pull.close()
            push.close()
    assert errors == ["ENOTSOCK", "ENOTSOCK"]


@in_trio
async def test_close_from_another_thread_ends_a_pending_receive() -> None:
    pull = zeromq.Pull(linger=0)
    await pull.bind(address("inproc"))
    failure: list[BaseException] = []

    async def receive() -> None:
        try:
            await pull.receive()
        except zeromq.ZMQError as exc:
            failure.append(exc)

    with within("close() from a thread ending a receive in trio"):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(receive)
            await trio.sleep(0.01)
            await trio.to_thread.run_sync(pull.close)
    assert [getattr(exc, "code", None) for exc in failure] == ["ENOTSOCK"]


@in_trio
async def test_a_failing_fd_wait_is_logged_and_the_receive_still_completes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Another task waiting on the socket's fd makes trio refuse our watch
    # (BusyResourceError): that must not crash the trio run.
    async with pair(zeromq.Pull, zeromq.Push, "inproc") as (pull, push):
        received: list[list[bytes]] = []
        with caplog.at_level(logging.ERROR, logger="zeromq"), within("a receive whose fd watch failed"):
            async with trio.open_nursery() as nursery:
                await trio.sleep(0.01)
                assert not pull.readable  # reads ZMQ_EVENTS: the fd is not readable now
                nursery.start_soon(trio.lowlevel.wait_readable, pull._fd)
                await trio.sleep(0)

                async def receive() -> None:
                    received.append(await pull.receive())

                nursery.start_soon(receive)
                await trio.sleep(0.01)
                await push.send("through")
                while not received:
                    await trio.sleep(0.001)
                nursery.cancel_scope.cancel()
        assert received == [[b"through"]]
        assert any("watching socket fd" in record.getMessage() for record in caplog.records)


@in_trio
async def test_an_fd_watch_stopped_before_it_ran_never_waits_on_its_fd(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A socket closed (its fd closed by libzmq) right after its first wait
    # started the watch, before the watch's task ever ran: trio would
    # register the closed fd with epoll (EBADF) before noticing the stop.
    from zeromq._backends._trio import FdWatch

    failed: list[bool] = []
    theirs, ours = socket.socketpair()
    with caplog.at_level(logging.ERROR, logger="zeromq"):
        watch = FdWatch(ours.fileno(), lambda: True, lambda: failed.append(True))
        watch.stop()
        ours.close()
        with trio.fail_after(WAIT):
            await trio_testing.wait_all_tasks_blocked()  # the watch's task has run
    theirs.close()
    assert watch.done
    assert failed == []
    assert not [r for r in caplog.records if "watching socket fd" in r.getMessage()]


# -- cancellation --------------------------------------------------------------------


@in_trio
async def test_a_receive_storm_under_tiny_cancel_scopes_and_timeouts_loses_nothing(
    transport: str,
) -> None:
    total = 20_000
    async with pair(zeromq.Pull, zeromq.Push, transport) as (pull, push):
        received: list[int] = []
        endings: collections.Counter[str] = collections.Counter()
        rng = random.Random(13)

        async def send_in_bursts() -> None:
            i = 0
            while i < total:
                for _ in range(rng.randint(1, 50)):
                    if i < total:
                        await push.send(str(i))
                        i += 1
                await trio.sleep(rng.choice((0, 0, 0, 0.002)))  # pauses the timeouts end in

        with within(f"{total} receives under move_on_after and receive_timeout", 60):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(send_in_bursts)
                while len(received) < total:
                    # Each receive ends by a tiny cancel scope, a 1 ms timeout or a message.
                    pull.receive_timeout = rng.choice((-1, 1))
                    with trio.move_on_after(rng.choice((0, 1e-6, 1e-5, 1e-4, 1.0))) as scope:
                        try:
                            message = await pull.receive()
                        except TimeoutError:
                            endings["timed out"] += 1
                        else:
                            received.append(int(message[0]))
                    endings["cancelled"] += scope.cancelled_caught
        assert received == list(range(total))  # none lost, none twice, in order
        assert endings["cancelled"] > 0 and endings["timed out"] > 0, endings


@in_trio
async def test_a_cancelled_nursery_loses_no_message_and_a_cancelled_send_sent_nothing() -> None:
    async with pair(zeromq.Pull, zeromq.Push, "inproc") as (pull, push):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(pull.receive)
            await trio.sleep(0.01)
            nursery.cancel_scope.cancel()
        await push.send("kept")
        with within("the receive after a cancelled one"):
            assert await pull.receive() == [b"kept"]
    async with zeromq.Push(linger=0) as lonely, zeromq.Pull(linger=0) as late:
        endpoint = await lonely.bind(address("inproc"))
        with trio.move_on_after(0.01):
            await lonely.send("cancelled before any peer")  # waits: no peer yet
        late.connect(endpoint)
        await lonely.send("sent")
        with within("the message after a cancelled send"):
            assert await late.receive() == [b"sent"]


# -- many tasks, one socket ----------------------------------------------------------


@in_trio
async def test_tasks_receiving_at_once_get_each_message_once_in_call_order(transport: str) -> None:
    async with pair(zeromq.Pull, zeromq.Push, transport) as (pull, push):
        got: list[tuple[int, int]] = []

        async def receiver(task: int) -> None:
            while True:
                [body] = await pull.receive()
                if body == b"stop":
                    return
                got.append((task, int(body)))

        with within("20 receivers draining 2,000 messages"):
            async with trio.open_nursery() as nursery:
                for task in range(20):
                    nursery.start_soon(receiver, task)
                await trio.sleep(0.01)  # all 20 wait in line
                for i in range(2_000):
                    await push.send(str(i))
                for _ in range(20):
                    await push.send("stop")
        assert sorted(i for _, i in got) == list(range(2_000)), "lost or received twice"
        # The first 20 messages went to the 20 waiting receives, one each.
        assert sorted(task for task, i in got if i < 20) == list(range(20))


@in_trio
async def test_a_new_receive_does_not_overtake_waiting_ones_and_times_out_on_its_own() -> None:
    async with pair(zeromq.Pull, zeromq.Push, "inproc") as (pull, push):
        results: dict[str, list[bytes]] = {}

        async def receive(name: str) -> None:
            results[name] = await pull.receive()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(receive, "first")
            await trio.sleep(0.005)
            nursery.start_soon(receive, "second")
            await trio.sleep(0.005)
            pull.receive_timeout = 50
            start = trio.current_time()
            with pytest.raises(TimeoutError):
                await pull.receive()  # behind two others, it times out from its own call
            assert 0.045 <= trio.current_time() - start < WAIT
            pull.receive_timeout = -1
            for word in ("one", "two", "three"):
                await push.send(word)
            with within("a third receive"):
                assert await pull.receive() == [b"three"]
        assert results == {"first": [b"one"], "second": [b"two"]}


# Little room between the two ends, so that sends wait for it and time out
# (over tcp the kernel's buffers would otherwise take all of a wave at once).
TIGHT = dict(
    send_high_water_mark=4, receive_high_water_mark=4, send_buffer_size=4096, receive_buffer_size=4096
)
PAD = b"." * 1000


@in_trio
async def test_a_storm_of_queued_operations_under_cancel_scopes_loses_nothing(transport: str) -> None:
    """Dealer tasks send and receive at once through a Router echo, each
    under a tiny move_on_after or timeout; every send that completed comes
    back exactly once, and nothing else does."""
    rng = random.Random(11)
    router = zeromq.Router(
        linger=0, mandatory=True, **TIGHT
    )
    dealer = zeromq.Dealer(linger=0, **TIGHT)
    dealer.connect(await bind(router, transport))
    sent: set[bytes] = set()
    received: list[bytes] = []
    endings: collections.Counter[str] = collections.Counter()

    async def echo() -> None:
        with contextlib.suppress(zeromq.ZMQError):
            async for identity, body in router:
                await router.send([identity, body])

    async def send(body: bytes) -> None:
        dealer.send_timeout = rng.choice((-1, 1, 5))
        with trio.move_on_after(rng.choice((1e-4, 1e-3, 1.0))) as scope:
            try:
                await dealer.send(body)
            except TimeoutError:
                endings["send timed out"] += 1
                return
            sent.add(body)  # in the step the send completed in
        endings["cancelled"] += scope.cancelled_caught

    async def receive(forever: bool = False) -> None:
        dealer.receive_timeout = -1 if forever else rng.choice((1, 5, 50))
        with trio.move_on_after(60 if forever else rng.choice((1e-4, 1e-3, 1.0))) as scope:
            try:
                [body] = await dealer.receive()
            except TimeoutError:
                endings["receive timed out"] += 1
                return
            received.append(body)
        endings["cancelled"] += scope.cancelled_caught

    sweeping = trio.CancelScope()
    swept = trio.Event()

    async def sweep() -> None:
        try:
            with sweeping:
                while True:  # keeps the echo from waiting for room forever
                    await receive(forever=True)
        finally:
            swept.set()

    try:
        async with trio.open_nursery() as outer:
            outer.start_soon(echo)
            outer.start_soon(sweep)
            for wave in range(30):
                with within("a wave of queued operations", 10):
                    async with trio.open_nursery() as nursery:
                        ops = [functools.partial(send, b"%d-%d-" % (wave, i) + PAD) for i in range(40)]
                        ops += [receive] * 40
                        rng.shuffle(ops)
                        for op in ops:
                            nursery.start_soon(op)
            sweeping.cancel()
            # Not before the sweep has ended: a sweep woken just before the
            # cancel goes round once more and sets receive_timeout = -1, which
            # would make the drain below wait forever.
            await swept.wait()
            dealer.receive_timeout = 300
            while True:  # what the echo sends back but nobody received
                try:
                    [body] = await dealer.receive()
                except TimeoutError:
                    break
                received.append(body)
            outer.cancel_scope.cancel()
    finally:
        dealer.close()
        router.close()
    assert len(received) == len(set(received)), "a message was received twice"
    assert set(received) == sent, "lost, or sent by a cancelled or timed-out send"
    # Every kind of ending happened (how often of each depends on the machine's speed).
    assert len(sent) > 200 and len(endings) == 3 and min(endings.values()) >= 3, (
        len(sent), endings,
    )


@pytest.mark.parametrize("closer", ["run", "thread"])
@in_trio
async def test_close_fails_queued_operations_at_once(closer: str) -> None:
    dealer = zeromq.Dealer(linger=0)  # no peer: every operation waits
    codes: collections.Counter[str | None] = collections.Counter()

    async def expect_closed(call: Callable[[], Awaitable[object]]) -> None:
        try:
            await call()
        except zeromq.ZMQError as exc:
            codes[exc.code] += 1

    with within("queued operations after close()"):
        async with trio.open_nursery() as nursery:
            for i in range(200):
                nursery.start_soon(expect_closed, functools.partial(dealer.send, str(i)))
                nursery.start_soon(expect_closed, dealer.receive)
            await trio.sleep(0.01)
            if closer == "run":
                dealer.close()
            else:
                await trio.to_thread.run_sync(dealer.close)
    assert codes == {"ENOTSOCK": 400}


# -- loops ---------------------------------------------------------------------------


def test_a_socket_moves_between_trio_and_asyncio_runs() -> None:
    pull = zeromq.Pull(linger=0, receive_timeout=20)
    push = zeromq.Push(linger=0)

    async def wait_then_receive() -> list[bytes]:
        with contextlib.suppress(TimeoutError):
            await pull.receive()  # waits (and watches the fd) in this run
        await push.send("hello")
        return await pull.receive()

    async def set_up() -> None:
        push.connect(await pull.bind(address("inproc")))

    try:
        bounded_run(set_up)
        assert bounded_run(wait_then_receive) == [b"hello"]
        assert asyncio.run(wait_then_receive()) == [b"hello"]
        assert bounded_run(wait_then_receive) == [b"hello"]
    finally:
        pull.close()
        push.close()


@pytest.mark.parametrize("transport", ["tcp", "ipc", "inproc"])
def test_a_receive_left_waiting_in_a_closed_asyncio_loop_does_not_hold_up_trio(
    transport: str,
) -> None:
    # loop.close() after run_until_complete() leaves the receive's task
    # pending for good: it must not stay first in line under trio.
    pull = zeromq.Pull(linger=0)
    push = zeromq.Push(linger=0)
    left: list[asyncio.Future[list[bytes]]] = []

    async def wait_in_asyncio() -> None:
        push.connect(await bind(pull, transport))
        left.append(asyncio.ensure_future(pull.receive()))
        await asyncio.sleep(0)  # the receive now waits, on this loop's fd watch

    async def send_and_receive() -> list[bytes]:
        await push.send("after the loop closed")
        with within("a receive under trio after the asyncio loop was closed"):
            return await pull.receive()

    run_then_abandon(wait_in_asyncio())
    try:
        assert bounded_run(send_and_receive) == [b"after the loop closed"]
    finally:
        pull.close()
        push.close()


@pytest.mark.parametrize("holder", ["trio", "asyncio"])
def test_a_socket_waiting_in_one_library_refuses_the_other(holder: str) -> None:
    # A receive pends in `holder`'s run (in a thread); a send from the other
    # library's run, which could complete at once, must fail with EBUSY
    # rather than touch the socket from a second thread.
    dealer = zeromq.Dealer(linger=0)
    peer = zeromq.Dealer(linger=0)
    waiting = threading.Event()
    done = threading.Event()

    async def receive_until_closed() -> None:
        with contextlib.suppress(zeromq.ZMQError):
            await dealer.receive()

    async def hold() -> None:
        sleep = trio.sleep if holder == "trio" else asyncio.sleep
        peer.connect(await dealer.bind(address("inproc")))
        if holder == "trio":
            trio.lowlevel.spawn_system_task(receive_until_closed)
        else:
            task = asyncio.ensure_future(receive_until_closed())
        await sleep(0.01)
        waiting.set()
        while not done.is_set():
            await sleep(0.005)
        dealer.close()  # ends the pending receive
        peer.close()
        if holder == "asyncio":
            await task

    async def send() -> None:
        await dealer.send("from the other library")

    failures: list[BaseException] = []

    def run_holder() -> None:
        try:
            bounded_run(hold) if holder == "trio" else asyncio.run(hold())
        except BaseException as exc:
            failures.append(exc)

    thread = threading.Thread(target=run_holder)
    thread.start()
    try:
        assert waiting.wait(WAIT), f"hung: the {holder} run starting its receive"
        with pytest.raises(zeromq.ZMQError) as caught:
            if holder == "trio":
                asyncio.run(send())
            else:
                bounded_run(send)
        assert caught.value.errno == errno.EBUSY
    finally:
        done.set()
        thread.join(WAIT)
    assert not thread.is_alive() and failures == []


@in_trio
async def test_a_failing_callback_from_another_thread_is_logged_not_fatal(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from zeromq._backends import current_runner

    runner = current_runner()
    called = trio.Event()

    def fail() -> None:
        called.set()
        raise ValueError("callback failed")

    with caplog.at_level(logging.ERROR, logger="zeromq"), within("the callback"):
        await trio.to_thread.run_sync(runner.call_soon, fail)
        await called.wait()
        await trio.sleep(0)
    assert any(
        isinstance(record.exc_info and record.exc_info[1], ValueError) for record in caplog.records
    )


def test_asyncio_code_never_imports_trio() -> None:
    code = (
        "import asyncio, sys, zeromq\n"
        "async def main():\n"
        "    async with zeromq.Pull(linger=0, receive_timeout=10) as pull:\n"
        "        pull.events\n"
        "        await pull.bind('inproc://x')\n"
        "        try:\n"
        "            await pull.receive()\n"
        "        except TimeoutError:\n"
        "            pass\n"
        "asyncio.run(main())\n"
        "assert 'trio' not in sys.modules, 'trio was imported'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


# -- Observer ------------------------------------------------------------------------


@in_trio
async def test_observer_iteration_gives_the_events_until_end(transport: str) -> None:
    server = zeromq.Reply(linger=0)
    events = server.events
    endpoint = await bind(server, transport)
    seen: list[str] = []
    async with zeromq.Request(linger=0) as client:
        client.connect(endpoint)
        await client.send("hi")
        with within("a request through the observed socket"):
            assert await server.receive() == [b"hi"]
            if transport != "inproc":
                first = [(await events.receive()).type for _ in range(3)]
                assert first[:2] == ["bind", "accept"]  # then handshake
                seen.extend(first)
    server.close()
    with within("the observer's events up to end"):
        async for event in events:
            seen.append(event.type)
    assert seen[-1] == "end" and seen.count("end") == 1
    assert events.closed


@in_trio
async def test_observer_listeners_are_called_and_their_errors_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sock = zeromq.Pull(linger=0)
    called = trio.Event()

    def fail(event: zeromq.Event) -> None:
        raise ValueError("listener failed")

    sock.events.on("bind", fail).on("bind", lambda event: called.set())
    with caplog.at_level(logging.ERROR, logger="zeromq"):
        await sock.bind(address("tcp"))
        with within("the bind listener"):
            await called.wait()
    sock.close()
    assert any(
        "zeromq.Observer listener" in record.getMessage()
        and isinstance(record.exc_info and record.exc_info[1], ValueError)
        for record in caplog.records
    )


# -- Proxy ---------------------------------------------------------------------------


@in_trio
async def test_observer_receives_pending_at_once_get_the_events_in_call_order() -> None:
    """Eight receives wait; the socket binds three times, then four events
    and the end come at once (delivered in one step, as the observer's pump
    does with what libzmq queued meanwhile): the seven go to the first seven
    in the order they called, and the eighth fails. trio runs the tasks it
    wakes at once in call order or in reverse, by chance: several rounds."""
    for _ in range(8):
        await observer_burst_round()


async def observer_burst_round() -> None:
    sock = zeromq.Dealer(linger=0)
    events = sock.events
    got: list[Any] = [None] * 8

    async def receive(i: int) -> None:
        try:
            got[i] = await events.receive()
        except zeromq.ZMQError as exc:
            got[i] = exc.code

    burst = [zeromq.Event("close", f"tcp://127.0.0.1:{port}") for port in range(1, 4)] + [zeromq.Event("end")]
    with within("the observer's receives"):
        async with trio.open_nursery() as nursery:
            for i in range(len(got)):
                nursery.start_soon(receive, i)
                await trio_testing.wait_all_tasks_blocked()  # it waits now, in this order
            endpoints = [await bind(sock, "tcp") for _ in range(3)]
            await trio_testing.wait_all_tasks_blocked()  # the pump delivered them
            for event in burst:
                events._deliver(event)
            # What the pump does on "end", but for closing its Pair: libzmq's
            # monitor, still running, would then block the I/O thread.
            events._ended = True
            events._wake()  # no event after "end": every receive is woken
    sock.close()
    assert got == [zeromq.Event("bind", endpoint) for endpoint in endpoints] + burst + ["ENOTSOCK"]
    with within("the pump reading the monitor to its real end"):
        assert events._pump is not None
        await events._pump.wait()
    assert events._pair is None


@in_trio
async def test_proxy_runs_in_a_thread_and_terminates(transport: str) -> None:
    front, back = zeromq.Pull(linger=0), zeromq.Push(linger=0)
    producer, consumer = zeromq.Push(linger=0), zeromq.Pull(linger=0)
    producer.connect(await bind(front, transport))
    consumer.connect(await bind(back, transport))
    proxy = zeromq.Proxy(front, back)
    try:
        with within("messages through the proxy, and terminate()"):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(proxy.run)
                for i in range(10):
                    await producer.send(str(i))
                assert [await consumer.receive() for _ in range(10)] == [
                    [str(i).encode()] for i in range(10)
                ]
                stats = await proxy.statistics()
                assert stats.front_end.received_parts == 10
                proxy.terminate()
        assert front.closed and back.closed
    finally:
        for sock in (front, back, producer, consumer):
            sock.close()


@in_trio
async def test_cancelling_proxy_run_terminates_it_and_closes_the_ends() -> None:
    front, back = zeromq.Pull(linger=0), zeromq.Push(linger=0)
    await bind(front, "inproc")
    await bind(back, "inproc")
    proxy = zeromq.Proxy(front, back)
    with (
        within("run() to end after its cancel scope is cancelled"),
        trio.move_on_after(0.05) as scope,
    ):
        await proxy.run()
    assert scope.cancelled_caught
    assert front.closed and back.closed
    with pytest.raises(zeromq.ZMQError):
        proxy.terminate()


# -- Authenticator -------------------------------------------------------------------


async def _auth_event(observer: zeromq.Observer) -> zeromq.Event:
    """The server's next handshake outcome: "handshake" or "handshake:error:auth"."""
    async for event in observer:
        if event.type in ("handshake", "handshake:error:auth"):
            return event
    raise AssertionError("the server's observer ended without a handshake event")


def _curve_server(ctx: zeromq.Context, server_keys: zeromq.CurveKeyPair) -> zeromq.Pull:
    return zeromq.Pull(
        context=ctx, linger=0, curve_server=True, curve_secret_key=server_keys.secret_key
    )


def _curve_client(
    ctx: zeromq.Context, server_keys: zeromq.CurveKeyPair, keys: zeromq.CurveKeyPair
) -> zeromq.Push:
    return zeromq.Push(
        context=ctx,
        linger=0,
        curve_server_key=server_keys.public_key,
        curve_public_key=keys.public_key,
        curve_secret_key=keys.secret_key,
    )


async def _refused(
    server: zeromq.Pull, client: zeromq.Push, observer: zeromq.Observer, status: int
) -> None:
    """The server reports the client refused with `status`, and the message
    the client sent never arrives."""
    await send_unless_refused(client)
    with within("the client's refusal"):
        event = await _auth_event(observer)
    assert event.type == "handshake:error:auth", "the client was let in"
    assert getattr(event.error, "status", None) == status
    server.receive_timeout = 250
    with within("the server's receive to time out after 250 ms"), pytest.raises(TimeoutError):
        await server.receive()


async def _attack(
    ctx: zeromq.Context,
    server_keys: zeromq.CurveKeyPair,
    keys: zeromq.CurveKeyPair,
    secure: str,
) -> None:
    """A client with `keys` tries a fresh CURVE server on `ctx`: nobody
    vouches for it, so it is refused with 500."""
    async with _curve_server(ctx, server_keys) as server, _curve_client(
        ctx, server_keys, keys
    ) as client:
        observer = server.events  # observe before connecting, to see the handshake
        client.connect(await bind(server, secure))
        await _refused(server, client, observer, 500)


async def _serving(ctx: zeromq.Context, allowed: zeromq.CurveKeyPair) -> zeromq.Authenticator:
    """A started authenticator on `ctx` that lets `allowed` in."""
    auth = zeromq.Authenticator(context=ctx)
    auth.configure_curve(keys={allowed.public_key})
    await auth.start()
    return auth


@pytest.mark.parametrize("secure", ["tcp", "ipc"])
@in_trio
async def test_authenticator_asks_an_async_check_and_refuses_unknown_keys(secure: str) -> None:
    ctx = zeromq.Context()
    server_keys, client_keys = zeromq.curve_keypair(), zeromq.curve_keypair()
    asked: list[str] = []

    async def check(public_key: str) -> bool:
        asked.append(public_key)
        await trio.sleep(0)  # a check that waits, under trio
        return public_key == client_keys.public_key

    async with zeromq.Authenticator(context=ctx) as auth:
        auth.configure_curve(callback=check)
        server = _curve_server(ctx, server_keys)
        observer = server.events  # observe before connecting, to see the handshakes
        endpoint = await bind(server, secure)
        async with (
            _curve_client(ctx, server_keys, client_keys) as friend,
            _curve_client(ctx, server_keys, zeromq.curve_keypair()) as stranger,
        ):
            friend.connect(endpoint)
            with within("the known client's handshake and message"):
                assert (await _auth_event(observer)).type == "handshake"
                await friend.send("let in")
                assert await server.receive() == [b"let in"]
            stranger.connect(endpoint)
            with within("the unknown client's refusal"):
                refusal = await _auth_event(observer)
            assert refusal.type == "handshake:error:auth"
            assert getattr(refusal.error, "status", None) == 400
        server.close()
    assert asked[0] == client_keys.public_key and len(asked) == 2


def _hanging_check(
    asked: trio.Event | threading.Event, outcome: list[str]
) -> Callable[[str], Awaitable[bool]]:
    """A CURVE check that never answers (a lookup that hangs): it sets `asked`
    when called and notes "cancelled" in `outcome` when it is cancelled."""

    async def hangs(public_key: str) -> bool:
        asked.set()
        try:
            await trio.sleep_forever()
        except trio.Cancelled:
            outcome.append("cancelled")
            raise
        return True

    return hangs


@in_trio
async def test_authenticator_stop_cancels_the_checks_in_progress() -> None:
    ctx = zeromq.Context()
    server_keys, client_keys = zeromq.curve_keypair(), zeromq.curve_keypair()
    asked = trio.Event()
    outcome: list[str] = []

    never_answers = _hanging_check(asked, outcome)

    auth = zeromq.Authenticator(context=ctx)
    await auth.start()
    auth.configure_curve(callback=never_answers)
    async with (
        _curve_server(ctx, server_keys) as server,
        _curve_client(ctx, server_keys, client_keys) as client,
    ):
        client.connect(await bind(server, "tcp"))
        with within("a check to start, then stop()"):
            await asked.wait()
            await auth.stop()
    assert outcome == ["cancelled"]
    assert not auth.running


# The endings of an Authenticator under trio: each leaves its context refusing
# (status 500) the clients no running authenticator vouches for, the once
# allowed one included. (libzmq lets every CURVE client in where nothing answers.)


@pytest.mark.parametrize("secure", ["tcp", "ipc"])
@pytest.mark.filterwarnings("ignore::zeromq.AuthenticatorWarning")  # no server while it runs
def test_authenticator_whose_trio_run_ended_without_stop_leaves_its_context_refusing(
    secure: str,
) -> None:
    ctx = zeromq.Context()
    server_keys, allowed = zeromq.curve_keypair(), zeromq.curve_keypair()
    auth = bounded_run(_serving, ctx, allowed)  # never stopped
    assert not auth.running
    bounded_run(_attack, ctx, server_keys, zeromq.curve_keypair(), secure)
    bounded_run(_attack, ctx, server_keys, allowed, secure)


@pytest.mark.parametrize("secure", ["tcp", "ipc"])
def test_authenticator_refuses_at_once_the_client_whose_check_its_ending_run_cancels(
    secure: str,
) -> None:
    # The trio run returns while a check waits: trio cancels that check, and
    # its client is refused then, not when the 30 s handshake interval ends.
    ctx = zeromq.Context()
    server_keys, client_keys = zeromq.curve_keypair(), zeromq.curve_keypair()
    server = _curve_server(ctx, server_keys)
    client = _curve_client(ctx, server_keys, client_keys)
    outcome: list[str] = []

    async def run_until_asked() -> None:
        asked = trio.Event()

        hangs = _hanging_check(asked, outcome)

        auth = zeromq.Authenticator(context=ctx)
        auth.configure_curve(callback=hangs)
        await auth.start()
        client.connect(await bind(server, secure))
        await client.send("hello")
        with within("the check to be asked"):
            await asked.wait()
        # returns with the check pending

    async def never_delivered() -> None:
        server.receive_timeout = 250
        with pytest.raises(TimeoutError):
            await server.receive()

    refusals = RefusalsFromAnyThread()
    log = logging.getLogger("zeromq.auth")
    level = log.level
    log.setLevel(logging.INFO)
    log.addHandler(refusals)
    try:
        bounded_run(run_until_asked)
        assert outcome == ["cancelled"]
        assert refusals.seen.wait(WAIT), "the pending check's client was not refused"
        bounded_run(never_delivered)
    finally:
        log.removeHandler(refusals)
        log.setLevel(level)
        server.close()
        client.close()


@pytest.mark.parametrize("secure", ["tcp", "ipc"])
@pytest.mark.filterwarnings("ignore::zeromq.AuthenticatorWarning")  # no server while it runs
def test_authenticator_stopped_from_a_later_run_asyncio_or_sync_code_keeps_refusing(
    secure: str,
) -> None:
    ctx = zeromq.Context()
    server_keys, allowed = zeromq.curve_keypair(), zeromq.curve_keypair()
    bounded_run(bounded_run(_serving, ctx, allowed).stop)  # its run is over: no error
    asyncio.run(bounded_run(_serving, ctx, allowed).stop())  # started in trio, stopped in asyncio
    bounded_run(asyncio.run(_serving(ctx, allowed)).stop)  # and the other way round
    bounded_run(_serving, ctx, allowed).close()  # plain synchronous code
    bounded_run(_attack, ctx, server_keys, allowed, secure)


@pytest.mark.filterwarnings("ignore::zeromq.AuthenticatorWarning")  # its server is elsewhere
def test_authenticator_stopped_from_asyncio_while_its_trio_run_goes_on() -> None:
    # Stopped from another thread's asyncio loop, it refuses the client it
    # was checking at once, and its check is cancelled in its own trio run.
    ctx = zeromq.Context()
    server_keys, client_keys = zeromq.curve_keypair(), zeromq.curve_keypair()
    asked = threading.Event()
    outcome: list[str] = []
    failures: list[BaseException] = []
    authenticators: list[zeromq.Authenticator] = []

    async def trio_side() -> None:
        hangs = _hanging_check(asked, outcome)

        auth = zeromq.Authenticator(context=ctx)
        auth.configure_curve(callback=hangs)
        authenticators.append(auth)
        await auth.start()
        async with (
            _curve_server(ctx, server_keys) as server,
            _curve_client(ctx, server_keys, client_keys) as client,
        ):
            observer = server.events
            client.connect(await bind(server, "tcp"))
            await _refused(server, client, observer, 500)  # once stopped from asyncio
        with within("the cancelled check to end"):
            while not outcome:
                await trio.sleep(0.01)

    def in_a_thread() -> None:
        try:
            bounded_run(trio_side)
        except BaseException as exc:
            failures.append(exc)
            asked.set()

    thread = threading.Thread(target=in_a_thread)
    thread.start()
    try:
        assert asked.wait(WAIT), "hung: the check to be asked"
        assert not failures, failures
        asyncio.run(authenticators[0].stop())
    finally:
        thread.join(2 * WAIT)  # the trio side says itself what hung
    assert not thread.is_alive(), "hung: the trio run"
    if failures:
        raise failures[0]
    assert outcome == ["cancelled"]


@pytest.mark.parametrize("fails", ["the callback", "the authenticator"])
@in_trio
async def test_authenticator_refuses_with_500_when_a_check_raises_and_logs_it(
    fails: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    ctx = zeromq.Context()
    server_keys, client_keys = zeromq.curve_keypair(), zeromq.curve_keypair()

    def raises(*args: object) -> bool:
        raise RuntimeError("a bug")

    async def broken(self: zeromq.Authenticator, request: object) -> list[bytes]:
        raise RuntimeError("a bug")

    if fails == "the authenticator":
        monkeypatch.setattr(zeromq.Authenticator, "_answer", broken)
    async with (
        zeromq.Authenticator(context=ctx) as auth,
        _curve_server(ctx, server_keys) as server,
        _curve_client(ctx, server_keys, client_keys) as client,
    ):
        auth.configure_curve(callback=raises)
        observer = server.events
        client.connect(await bind(server, "tcp"))
        await _refused(server, client, observer, 500)
        assert auth.running  # one failed check does not stop it
    [record] = [r for r in caplog.records if r.name == "zeromq" and r.exc_info]
    assert record.exc_info is not None and isinstance(record.exc_info[1], RuntimeError)
