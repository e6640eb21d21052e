"""Thread-safe DRAFT sockets used from several threads' event loops (and a
trio run) at once: nothing lost or duplicated, each loop's operations in its
call order, cancellation and timeouts exact per loop, and close() from a
third thread ending every loop's pending operations.

They need a libzmq with the DRAFT API: `make draft` runs them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import itertools
import threading
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
import trio
from conftest import TRANSPORTS, address, within
from test_draft import free_udp_port, joined, needs_draft, only_part
from test_lifecycle import exit_with_a_loop_running

import zeromq
from zeromq import ZMQError

T = TypeVar("T")
WAIT = 20.0  # seconds a whole exchange across threads may take on a loaded machine

# The libraries of the loops sharing a socket: two asyncio loops and a trio run.
LIBRARIES = ("asyncio", "trio", "asyncio")


def in_thread(main: Callable[[], Coroutine[Any, Any, T]], library: str) -> concurrent.futures.Future[T]:
    """Run `main()` in a new thread, in an asyncio loop or a trio run of its own."""
    future: concurrent.futures.Future[T] = concurrent.futures.Future()

    def run() -> None:
        try:
            value = asyncio.run(main()) if library == "asyncio" else trio.run(main)
        except BaseException as exc:
            future.set_exception(exc)
        else:
            future.set_result(value)

    threading.Thread(target=run, name=f"{library} loop", daemon=True).start()
    return future


def results(futures: list[concurrent.futures.Future[T]], what: str) -> list[T]:
    """Each thread's result, failing the test (saying what hung) if one takes too long."""
    _, pending = concurrent.futures.wait(futures, timeout=WAIT)
    if pending:
        raise AssertionError(f"hung: {what} ({len(pending)} of {len(futures)} threads still running)")
    return [future.result() for future in futures]


def running_loop() -> bool:
    return asyncio._get_running_loop() is not None


async def together(*jobs: Callable[[], Awaitable[None]]) -> None:
    """Run `jobs` as concurrent tasks of the running loop or trio run."""
    if running_loop():
        await asyncio.gather(*(job() for job in jobs))
    else:
        async with trio.open_nursery() as nursery:
            for job in jobs:
                nursery.start_soon(job)


async def checkpoint() -> None:
    await (asyncio.sleep(0) if running_loop() else trio.lowlevel.checkpoint())


class Tally:
    """Counts what the threads received; `wait(n)` returns once n arrived."""

    def __init__(self) -> None:
        self._count = 0
        self._changed = threading.Condition()

    def add(self) -> None:
        with self._changed:
            self._count += 1
            self._changed.notify_all()

    def wait(self, total: int) -> None:
        with self._changed:
            if not self._changed.wait_for(lambda: self._count >= total, timeout=WAIT):
                raise AssertionError(f"lost: {total - self._count} of {total} messages never arrived")


# -- one socket receiving (and one sending) in several loops at once ------------------


@dataclass(frozen=True)
class Shared:
    """A receiving type and the sending type it pairs with."""

    name: str
    receiving: type[zeromq.Socket]
    sending: type[zeromq.Socket]
    send: Callable[[Any, bytes], Awaitable[None]]


async def plain(sock: Any, data: bytes) -> None:
    await sock.send(data)


async def to_group(sock: Any, data: bytes) -> None:
    await sock.send(data, group="g")


SHARED = (
    Shared("server-client", zeromq.Server, zeromq.Client, plain),
    Shared("gather-scatter", zeromq.Gather, zeromq.Scatter, plain),
    Shared("dish-radio", zeromq.Dish, zeromq.Radio, to_group),
)
CASES = [(s, t) for s in SHARED for t in TRANSPORTS]


async def connected(shared: Shared, transport: str) -> tuple[Any, Any]:
    receiving: Any = shared.receiving(linger=0)
    sending: Any = shared.sending(linger=0)
    sending.connect(await receiving.bind(address(transport)))
    if shared.receiving is zeromq.Dish:
        receiving.join("g")
        await joined(sending, receiving)  # a Radio drops what no Dish joined yet
    return receiving, sending


def taker(
    sock: Any, tally: Tally, cap: int | None = None
) -> Callable[[], Coroutine[Any, Any, list[tuple[int, bytes]]]]:
    """A loop's receiving: two tasks calling receive() in turn until the
    socket closes (or, with `cap`, until the loop has that many messages: one
    more may come, the other task's call); each message with the number of
    its call in this loop."""

    async def main() -> list[tuple[int, bytes]]:
        calls = itertools.count()
        log: list[tuple[int, bytes]] = []

        async def receiving() -> None:
            while cap is None or len(log) < cap:
                number = next(calls)  # numbered in the same step as the call
                try:
                    message = await sock.receive()
                except ZMQError as exc:
                    assert exc.code == "ENOTSOCK", exc
                    return
                log.append((number, only_part(message)))
                tally.add()

        await together(receiving, receiving)
        return log

    return main


def giver(sock: Any, shared: Shared, loop: int, count: int) -> Callable[[], Coroutine[Any, Any, None]]:
    """A loop's sending: two tasks sending `count` messages in all, each
    tagged with the loop and the number of its call in this loop."""

    async def main() -> None:
        calls = itertools.count()

        async def sending() -> None:
            for _ in range(count // 2):
                await shared.send(sock, f"{loop}:{next(calls)}".encode())

        await together(sending, sending)

    return main


def in_call_order(log: list[tuple[int, bytes]]) -> dict[str, list[int]]:
    """What one receiving loop got, in the order of its calls: per sending
    loop, the numbers of the sending calls."""
    by_sender: dict[str, list[int]] = {}
    for _, data in sorted(log):
        sender, number = data.decode().split(":")
        by_sender.setdefault(sender, []).append(int(number))
    return by_sender


@needs_draft
@pytest.mark.timeout(60)
@pytest.mark.parametrize(("shared", "transport"), CASES, ids=[f"{s.name}-{t}" for s, t in CASES])
def test_loops_in_several_threads_share_both_sockets_losing_and_duplicating_nothing(
    shared: Shared, transport: str
) -> None:
    """Three loops (one a trio run) send on one socket while three others
    receive on its peer, each with two tasks: every message arrives once,
    and each receiving loop gets each sending loop's messages in order."""
    per_loop = 200  # in all under a Radio's high-water marks: it drops beyond
    receiving, sending = asyncio.run(connected(shared, transport))
    try:
        tally = Tally()
        # Which loop takes a message is up to the threads' scheduling: under
        # load one loop took all 600 in about 1 run of 5. Capped at two thirds
        # (or one more), each loop leaves the rest to the others, so that
        # several loops always share the socket.
        cap = 2 * per_loop * len(LIBRARIES) // 3
        takers = [in_thread(taker(receiving, tally, cap), library) for library in LIBRARIES]
        givers = [
            in_thread(giver(sending, shared, n, per_loop), library) for n, library in enumerate(LIBRARIES)
        ]
        results(givers, "a loop sending")
        tally.wait(per_loop * len(givers))
        receiving.close()  # from this, a third thread: ends every receiving loop
        logs = results(takers, "a receive pending when close() came from another thread")
    finally:
        receiving.close()
        sending.close()
    everything = Counter(data for log in logs for _, data in log)
    expected = Counter(f"{n}:{i}".encode() for n in range(len(LIBRARIES)) for i in range(per_loop))
    assert everything == expected  # nothing lost, nothing twice
    for log in logs:
        for sender, numbers in in_call_order(log).items():
            assert numbers == sorted(numbers), f"loop received loop {sender}'s messages out of order"


async def echo(server: Any) -> None:
    """A loop answering each request on a shared Server, until it closes."""
    while True:
        try:
            [request], routing_id = await server.receive()
            await server.send(request, routing_id=routing_id)
        except ZMQError as exc:
            assert exc.code == "ENOTSOCK", exc
            return


@needs_draft
@pytest.mark.timeout(60)
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_server_answers_from_several_loops_to_a_client_shared_by_several(transport: str) -> None:
    """Both directions of both sockets at once: three loops answer on one
    Server, three ask and read answers on one Client."""
    count = 100
    server, client = asyncio.run(connected(SHARED[0], transport))
    try:
        tally = Tally()
        answering = [in_thread(lambda: echo(server), library) for library in LIBRARIES]
        reading = [in_thread(taker(client, tally), library) for library in LIBRARIES]
        asking = [in_thread(giver(client, SHARED[0], n, count), lib) for n, lib in enumerate(LIBRARIES)]
        results(asking, "a loop sending on the Client")
        tally.wait(count * len(asking))
        server.close()
        client.close()
        results(answering, "a Server loop after close()")
        logs = results(reading, "a Client loop after close()")
    finally:
        server.close()
        client.close()
    answers = Counter(data for log in logs for _, data in log)
    # Each answer once (their order is the answering loops' race, not a guarantee).
    assert answers == Counter(f"{n}:{i}".encode() for n in range(len(LIBRARIES)) for i in range(count))


# -- cancellation, timeouts and close across loops -------------------------------------


async def storm(sock: Any, tally: Tally) -> tuple[list[bytes], int]:
    """Receive until the socket closes, cutting most receives short in every
    way the loop's library has (at once, a turn later, a tiny timeout);
    return what was received and how many receives were cut short."""
    received: list[bytes] = []
    cut = 0
    for i in itertools.count():
        try:
            if running_loop():
                if i % 3 == 2:
                    try:
                        async with asyncio.timeout(0.000_05):
                            message = await sock.receive()
                    except TimeoutError:
                        cut += 1
                        continue
                else:
                    task = asyncio.ensure_future(sock.receive())
                    for _ in range(i % 3 + 1):
                        await asyncio.sleep(0)  # the wake-up may be under way
                    task.cancel()
                    try:
                        message = await task
                    except asyncio.CancelledError:
                        cut += 1
                        continue
            else:
                with trio.move_on_after(0 if i % 2 else 0.000_05) as scope:
                    message = await sock.receive()
                if scope.cancelled_caught:
                    cut += 1
                    await trio.lowlevel.checkpoint()
                    continue
        except ZMQError as exc:
            assert exc.code == "ENOTSOCK", exc
            return received, cut
        tally.add()
        received.append(only_part(message))
    raise AssertionError("unreachable")


@needs_draft
@pytest.mark.timeout(60)
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_cancellation_storms_in_several_loops_lose_no_message(transport: str) -> None:
    total = 600
    server, client = asyncio.run(connected(SHARED[0], transport))
    try:
        tally = Tally()
        storms = [in_thread(lambda: storm(server, tally), library) for library in LIBRARIES]

        async def send_all() -> None:
            for i in range(total):
                await client.send(str(i))
                if i % 50 == 0:
                    await asyncio.sleep(0.001)  # spread over the storms' cuts

        asyncio.run(send_all())
        tally.wait(total)
        server.close()
        ends = results(storms, "a storm after close()")
    finally:
        server.close()
        client.close()
    received = Counter(data for messages, _ in ends for data in messages)
    assert received == Counter(str(i).encode() for i in range(total))  # each once
    assert all(cut > 0 for _, cut in ends)  # every loop really did cut receives short


async def send_storm(sock: Any, loop: int, count: int) -> list[bytes]:
    """Send `count` messages, cutting many sends short (at once, a turn
    later, a tiny timeout); return those whose send completed."""
    completed: list[bytes] = []
    for i in range(count):
        body = f"{loop}:{i}".encode()
        if running_loop():
            task = asyncio.ensure_future(sock.send(body))
            for _ in range(i % 3):
                await asyncio.sleep(0)
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                continue
        else:
            with trio.move_on_after(0 if i % 2 else 0.000_05):
                await sock.send(body)
                completed.append(body)  # in the step the send completed in
            await trio.lowlevel.checkpoint()
            continue
        completed.append(body)
    return completed


@needs_draft
@pytest.mark.timeout(60)
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_cancellation_storms_in_several_sending_loops_send_exactly_what_completed(transport: str) -> None:
    """Three loops send on one Client with small high-water marks, cutting
    sends short: the Server receives each completed send once, and no
    cancelled one (a last message, sent after them all, marks the end)."""

    async def setup() -> tuple[Any, Any]:
        server: Any = zeromq.Server(linger=0, receive_high_water_mark=4)
        client: Any = zeromq.Client(linger=0, send_high_water_mark=4)
        client.connect(await server.bind(address(transport)))
        return server, client

    server, client = asyncio.run(setup())
    try:
        tally = Tally()
        receiving = in_thread(taker(server, tally), "asyncio")
        storms = [in_thread(lambda n=n: send_storm(client, n, 300), lib) for n, lib in enumerate(LIBRARIES)]
        completed = results(storms, "a loop sending with cancellations")
        asyncio.run(within(WAIT, "the last send, from a new loop's lane", client.send("last")))
        tally.wait(sum(map(len, completed)) + 1)
        server.close()
        [log] = results([receiving], "the receiving loop after close()")
    finally:
        server.close()
        client.close()
    received = [data for _, data in sorted(log)]
    assert received[-1] == b"last"
    assert Counter(received[:-1]) == Counter(body for bodies in completed for body in bodies)
    assert all(len(bodies) < 300 for bodies in completed)  # sends really were cut short


@needs_draft
def test_close_from_a_third_thread_fails_every_loops_pending_operations_at_once() -> None:
    """Receives and sends wait in three loops (a Client without a peer): a
    close() from another thread ends all of them with ENOTSOCK, releases
    every loop's poller and closes the libzmq socket."""
    client: Any = zeromq.Client(linger=0)
    ready = [threading.Event() for _ in LIBRARIES]

    def pending(ready: threading.Event) -> Callable[[], Coroutine[Any, Any, list[str]]]:
        async def main() -> list[str]:
            codes: list[str] = []

            async def one(operation: Callable[[], Awaitable[object]]) -> None:
                try:
                    await operation()
                except ZMQError as exc:
                    codes.append(exc.code)

            async def signal() -> None:
                for _ in range(3):
                    await checkpoint()  # the operations wait now
                ready.set()

            jobs = [lambda: one(client.receive)] * 3 + [lambda: one(lambda: client.send("x"))] * 3
            await together(*jobs, signal)
            return codes

        return main

    futures = [in_thread(pending(event), library) for event, library in zip(ready, LIBRARIES, strict=True)]
    try:
        for event in ready:
            assert event.wait(WAIT), "hung: a loop's operations never started waiting"
        lanes = list(client._lanes.values())
        assert len(lanes) == len(LIBRARIES)
        client.close()
        assert results(futures, "an operation pending when close() came from another thread") == [
            ["ENOTSOCK"] * 6
        ] * len(LIBRARIES)
    finally:
        client.close()
    assert client._native.closed  # by the last loop to let go of it
    assert all(lane._poller is None for lane in lanes)

    async def after() -> None:
        with pytest.raises(ZMQError) as caught:
            await client.receive()
        assert caught.value.code == "ENOTSOCK"

    asyncio.run(after())


@needs_draft
def test_each_loops_timeouts_are_its_own() -> None:
    """A receive waiting in one loop is untouched by timeouts in another,
    whether asyncio's or the socket's receive_timeout, set after it started."""

    async def setup() -> tuple[Any, Any]:
        server: Any = zeromq.Server(linger=0)
        client: Any = zeromq.Client(linger=0)
        client.connect(await server.bind(address("inproc")))
        return server, client

    server, client = asyncio.run(setup())
    try:
        started = threading.Event()

        async def waits() -> bytes:
            task = asyncio.ensure_future(server.receive())
            await asyncio.sleep(0)
            started.set()
            return only_part(await task)

        waiting = in_thread(waits, "asyncio")
        assert started.wait(WAIT)

        async def times_out() -> None:
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.05):
                    await server.receive()
            server.receive_timeout = 50
            with pytest.raises(ZMQError) as caught:
                async with asyncio.timeout(WAIT):  # bounds the test should the option be ignored
                    await server.receive()
            assert caught.value.code == "EAGAIN"

        asyncio.run(times_out())
        assert not waiting.done()  # its operation started before receive_timeout was set
        asyncio.run(client.send("for the first loop"))
        assert results([waiting], "the first loop's receive") == [b"for the first loop"]
    finally:
        server.close()
        client.close()


@needs_draft
@pytest.mark.parametrize("cls", [zeromq.Datagram, zeromq.Client], ids=lambda c: c.__name__)
def test_only_a_thread_safe_socket_waits_in_a_second_loop_the_others_refuse(cls: type[zeromq.Socket]) -> None:
    """A Datagram is not thread-safe: a second thread's loop gets EBUSY while
    the first waits, as for every other non-thread-safe class."""
    sock: Any = cls(linger=0)
    if cls is zeromq.Datagram:
        asyncio.run(sock.bind(f"udp://127.0.0.1:{free_udp_port()}"))
    started = threading.Event()

    async def waits() -> None:
        task = asyncio.ensure_future(sock.receive())
        await asyncio.sleep(0)
        started.set()
        with pytest.raises(ZMQError):
            await task  # ends with close()

    first = in_thread(waits, "asyncio")
    try:
        assert started.wait(WAIT)

        async def second() -> None:
            if cls is zeromq.Datagram:
                with pytest.raises(ZMQError, match="another event loop") as caught:
                    await sock.receive()
                assert caught.value.code == "EBUSY"
            else:
                with pytest.raises(TimeoutError):  # it waited, as the first does
                    async with asyncio.timeout(0.05):
                        await sock.receive()

        asyncio.run(second())
    finally:
        sock.close()
    results([first], "the first loop's receive after close()")


@needs_draft
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_connect_from_another_thread_lets_every_loops_waiting_send_go_on(transport: str) -> None:
    """Sends wait in three loops on a Client without a peer; a connect from
    this thread (over inproc libzmq signals nobody) lets every one of them
    go on."""
    client: Any = zeromq.Client(linger=0)
    server: Any = zeromq.Server(linger=0)
    ready = [threading.Event() for _ in LIBRARIES]

    def sends(loop: int, ready: threading.Event) -> Callable[[], Coroutine[Any, Any, None]]:
        async def main() -> None:
            async def signal() -> None:
                for _ in range(3):
                    await checkpoint()  # the send waits now
                ready.set()

            await together(lambda: client.send(f"from loop {loop}"), signal)

        return main

    futures = [in_thread(sends(n, event), lib) for n, (event, lib) in enumerate(zip(ready, LIBRARIES, strict=True))]
    try:
        for event in ready:
            assert event.wait(WAIT), "hung: a loop's send never started waiting"

        async def connect_and_receive() -> list[bytes]:
            client.connect(await server.bind(address(transport)))
            async with asyncio.timeout(WAIT):
                return sorted([only_part(await server.receive()) for _ in LIBRARIES])

        assert asyncio.run(connect_and_receive()) == [f"from loop {n}".encode() for n in range(len(LIBRARIES))]
        results(futures, "a send waiting for a peer")
    finally:
        client.close()
        server.close()


SCRIPT_CLOSE_NEVER_FINISHED = """
import asyncio, threading, zeromq
server = zeromq.Server(linger=0)
waiting, closed = threading.Event(), threading.Event()

def run():
    loop = asyncio.new_event_loop()

    async def main():
        asyncio.ensure_future(server.receive())
        await asyncio.sleep(0)
        waiting.set()
        closed.wait(10)  # the loop runs, blocked here, while another thread closes the socket
        loop.stop()

    loop.create_task(main())
    loop.run_forever()  # stops before it runs the close handed to it
    threading.Event().wait()  # and never runs again

threading.Thread(target=run, daemon=True).start()
waiting.wait(10)
server.close()
closed.set()
print("libzmq socket closed by close():", server._native.closed, flush=True)
"""


@needs_draft
def test_a_close_that_a_stopped_loop_never_finishes_does_not_keep_the_process_from_exiting() -> None:
    """close() hands a running loop the closing of its lane; the loop stops
    before it runs it and never runs again. At exit the socket is closed
    anyway: the context's end does not wait for it forever."""
    import subprocess
    import sys

    try:
        result = subprocess.run(
            [sys.executable, "-c", SCRIPT_CLOSE_NEVER_FINISHED], capture_output=True, text=True, timeout=30
        )
    except subprocess.TimeoutExpired:
        raise AssertionError("hung: the process never exited") from None
    assert result.returncode == 0, result.stderr
    assert "closed by close(): False" in result.stdout  # the case this is about
    assert "waiting for queued messages" not in result.stderr


# -- the observer of a socket whose last loop closes it in another thread ---------------


async def bounded(what: str, awaitable: Awaitable[T]) -> T:
    """Await `awaitable` in the running asyncio loop or trio run, failing
    the test after WAIT seconds with an error that says what hung."""
    if running_loop():
        return await within(WAIT, what, awaitable)
    with trio.move_on_after(WAIT):
        return await awaitable
    raise AssertionError(f"hung: {what} (still pending after {WAIT} s)")


async def all_types(events: zeromq.Observer) -> list[str]:
    return [event.type async for event in events]


async def exchange_then_close(server: Any, client: Any) -> None:
    """Give this loop a lane on both sockets, then close them here: the
    last (the only) loop to let go of the server is this thread's. The
    client first: over inproc a socket ends (and its observer gets "end")
    only once its peer has let go of the connection."""
    await client.send("x")
    await bounded("a message through the shared sockets", server.receive())
    client.close()
    server.close()


def other(library: str) -> str:
    return "trio" if library == "asyncio" else "asyncio"


@needs_draft
@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("library", ["asyncio", "trio"])
def test_an_observer_is_drained_in_its_own_loop_when_another_threads_loop_closes_its_socket(
    library: str, transport: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The observer is taken in loop A; a loop in thread B (the other
    library) uses the socket and closes it. A's observer gives its events
    up to "end" and its iteration finishes, close() raises nothing, and
    every step of the observer's draining ran in A's thread: asyncio's and
    trio's objects must not be touched from another thread."""
    ran_in: list[tuple[str, int]] = []
    for name in ("_keep_draining", "_drain_now", "_deliver", "_finish", "_wake"):
        method = getattr(zeromq.Observer, name)

        def recording(self: zeromq.Observer, *args: Any, _method: Any = method, _name: str = name) -> Any:
            ran_in.append((_name, threading.get_ident()))
            return _method(self, *args)

        monkeypatch.setattr(zeromq.Observer, name, recording)
    server, client = asyncio.run(connected(SHARED[0], transport))
    observing, closed = threading.Event(), threading.Event()

    async def observe() -> tuple[int, list[str]]:
        events = server.events
        observing.set()
        # A's loop is held here, not awaiting, until B has closed the socket:
        # B's close() meanwhile finds the observer's loop busy, as any
        # running loop may be.
        assert closed.wait(WAIT), "hung: the other thread's loop never closed the socket"
        return threading.get_ident(), await bounded("the observer's end", all_types(events))

    try:
        a = in_thread(observe, library)
        assert observing.wait(WAIT), "hung: loop A never took the observer"
        b = in_thread(lambda: exchange_then_close(server, client), other(library))
        try:
            results([b], "the loop closing the socket")
        finally:
            closed.set()
        [(a_thread, types)] = results([a], "the observer's loop")
    finally:
        server.close()
        client.close()
    assert types[-1:] == ["end"]
    assert server.events.closed
    assert ran_in, "the observer never drained"
    wrong = sorted({name for name, thread in ran_in if thread != a_thread})
    assert not wrong, f"the observer's {wrong} ran outside its loop's thread"


@needs_draft
@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("library", ["asyncio", "trio"])
def test_an_observer_whose_loop_has_ended_still_ends_when_another_threads_loop_closes_its_socket(
    library: str, transport: str
) -> None:
    """The observer's loop A has ended (its pump with it) when a loop in
    thread B closes the socket: close() raises nothing (no loop to hand the
    draining to), and the observer still gives its events up to "end" to a
    later reader, leaving its reading socket closed."""
    server, client = asyncio.run(connected(SHARED[0], transport))

    async def observe() -> zeromq.Observer:
        events = server.events
        await checkpoint()  # its pump has started in this loop
        return events

    try:
        [events] = results([in_thread(observe, library)], "the observer's loop")
        results([in_thread(lambda: exchange_then_close(server, client), other(library))], "close() in B")
        types = asyncio.run(bounded("the observer's end, read after its loop ended", all_types(events)))
    finally:
        server.close()
        client.close()
    assert types[-1:] == ["end"]
    assert events.closed and events._pair is None  # its reading socket is not left open


# -- a thread-safe socket lent to a running Proxy ------------------------------------------


async def proxy_ends(shared: Shared, transport: str) -> tuple[Any, Any, Any, Any]:
    """A proxy's ends (the receiving type at the front, the sending type at
    the back, both bound) and a peer of each: a producer connected to the
    front, a sink connected to the back."""
    front: Any = shared.receiving(linger=0)
    back: Any = shared.sending(linger=0)
    producer: Any = shared.sending(linger=0)
    sink: Any = shared.receiving(linger=0)
    producer.connect(await front.bind(address(transport)))
    sink.connect(await back.bind(address(transport)))
    if shared.receiving is zeromq.Dish:
        front.join("g")
        sink.join("g")
        await joined(producer, front)
        await joined(back, sink)
    return front, back, producer, sink


async def cut_short(operation: Awaitable[object]) -> None:
    """Start `operation` and cancel it while it waits (it takes nothing)."""
    if running_loop():
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(0):
                await operation
    else:
        with trio.move_on_after(0):
            await operation


async def until(event: threading.Event, what: str) -> None:
    """Wait for another thread's `event` without blocking this loop."""
    if running_loop():
        done = await asyncio.get_running_loop().run_in_executor(None, event.wait, WAIT)
    else:
        done = await trio.to_thread.run_sync(event.wait, WAIT)
    assert done, f"hung: {what}"


def watching_lanes(*socks: Any) -> list[Any]:
    """This loop's lanes of `socks` whose poller's fd the loop watches."""
    return [
        lane
        for sock in socks
        for lane in list(sock._lanes.values())
        if lane._runner.is_current()
        and (lane._loop is not None or (lane._trio_watch is not None and not lane._trio_watch.done))
    ]


async def codes_and_messages(*operations: Callable[[], Awaitable[object]]) -> list[tuple[str, str]]:
    """What each operation raised (each must raise a ZMQError)."""
    raised = []
    for operation in operations:
        with pytest.raises(ZMQError) as caught:
            await bounded("an operation on a socket lent to a proxy", operation())
        raised.append((caught.value.code, str(caught.value)))
    return raised


LENT_CASES = [(s, t, lib) for s in SHARED for t in TRANSPORTS for lib in ("asyncio", "trio")]


@needs_draft
@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("shared", "transport", "library"), LENT_CASES, ids=[f"{s.name}-{t}-{lib}" for s, t, lib in LENT_CASES]
)
def test_while_a_proxy_runs_every_loops_send_and_receive_on_its_ends_fail_naming_it(
    shared: Shared, transport: str, library: str
) -> None:
    """A loop in another thread uses a thread-safe proxy's ends before the
    run (its lane on the front end waited on the socket) and during it: its
    send and receive fail with ENOTSOCK naming the Proxy, as on an ordinary
    socket lent to a proxy, taking nothing from the proxy's traffic, and
    the loop no longer watches the socket; once run() has returned, they
    fail as on a closed socket."""
    count = 20
    front, back, producer, sink = asyncio.run(proxy_ends(shared, transport))
    proxy = zeromq.Proxy(front, back)
    waited, running, tried, ended = (threading.Event() for _ in range(4))

    async def other_loop() -> tuple[list[tuple[str, str]], list[Any], list[tuple[str, str]]]:
        await cut_short(front.receive())  # this loop's lane, watching the socket
        waited.set()
        await until(running, "the proxy never ran")
        try:
            # Both: the lane from before the run, and a lane made during it.
            during = await codes_and_messages(front.receive, lambda: shared.send(back, b"lent"))
            watching = watching_lanes(front, back)
        finally:
            tried.set()
        await until(ended, "run() never returned")
        after = await codes_and_messages(front.receive, lambda: shared.send(back, b"closed"))
        return during, watching, after

    async def run_proxy() -> list[bytes]:
        task = asyncio.create_task(proxy.run())
        await asyncio.sleep(0)  # run() lends the ends and starts the proxy's thread in its first step
        assert not task.done(), task
        running.set()
        try:
            for i in range(count):
                await shared.send(producer, str(i).encode())
            through = [only_part(await within(WAIT, "a message through the proxy", sink.receive())) for _ in range(count)]
            await asyncio.get_running_loop().run_in_executor(None, tried.wait, WAIT)
        finally:
            proxy.terminate()
            await within(WAIT, "run() after terminate()", task)
            ended.set()
        return through

    user = in_thread(other_loop, library)
    try:
        assert waited.wait(WAIT), "hung: the other loop's receive never waited"
        through = asyncio.run(run_proxy())
        [(during, watching, after)] = results([user], "the other loop")
    finally:
        for sock in (front, back, producer, sink):
            sock.close()
    assert through == [str(i).encode() for i in range(count)]  # all of it, none taken by the other loop
    assert during == [
        ("ENOTSOCK", "Cannot receive: the socket is in use by a running Proxy"),
        ("ENOTSOCK", "Cannot send: the socket is in use by a running Proxy"),
    ]
    assert watching == []  # the proxy's traffic wakes no other loop
    assert after == [("ENOTSOCK", "Socket is closed")] * 2



WAITING_CASES = [(s, lib) for s in SHARED for lib in ("asyncio", "trio")]


@needs_draft
@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(("shared", "library"), WAITING_CASES, ids=[f"{s.name}-{lib}" for s, lib in WAITING_CASES])
def test_a_receive_waiting_in_another_loop_when_the_socket_is_lent_fails_and_the_loop_can_use_it_once_given_back(
    shared: Shared, library: str, transport: str
) -> None:
    """run() refuses an end with an operation pending, but another thread's
    loop may start one between that check and the lending: such a receive
    fails as lent (it must not wait on, or take from, the proxy's socket),
    and once the socket is given back the loop receives on it again."""
    front, back, producer, sink = asyncio.run(proxy_ends(shared, transport))
    waiting, failed, returned = threading.Event(), threading.Event(), threading.Event()

    async def other_loop() -> tuple[list[str], bytes]:
        errors: list[str] = []

        async def receives() -> None:
            try:
                with pytest.raises(ZMQError) as caught:
                    await bounded("a receive waiting when its socket was lent", front.receive())
                errors.append(str(caught.value))
            finally:
                failed.set()

        async def signal() -> None:
            for _ in range(3):
                await checkpoint()  # the receive waits now
            waiting.set()

        await together(receives, signal)
        await until(returned, "the socket was never given back")
        return errors, only_part(await bounded("a receive once given back", front.receive()))

    user = in_thread(other_loop, library)
    try:
        assert waiting.wait(WAIT), "hung: the other loop's receive never waited"
        # The race's other side: what run() does once its check has passed
        # (no proxy thread here: nothing forwards, the test stays exact).
        front._lend(zeromq.Proxy(front, back))
        try:
            assert failed.wait(WAIT), "hung: the waiting receive never ended"
        finally:
            front._give_back()
            returned.set()
        asyncio.run(shared.send(producer, b"after"))
        [(errors, after)] = results([user], "the other loop")
    finally:
        for sock in (front, back, producer, sink):
            sock.close()
    assert errors == ["Cannot receive: the socket is in use by a running Proxy"]
    assert after == b"after"


@needs_draft
@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("library", ["asyncio", "trio"])
def test_closing_a_lent_socket_in_another_threads_loop_ends_the_proxy_from_run_loops_thread(
    library: str, transport: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A loop in another thread closes a thread-safe end while the proxy
    runs: run() returns with both ends closed, and the proxy was steered
    (its control socket used) in run()'s loop's thread only."""
    terminated_in: list[int] = []
    terminate = zeromq.Proxy.terminate

    def recording(self: Any) -> None:
        terminated_in.append(threading.get_ident())
        terminate(self)

    monkeypatch.setattr(zeromq.Proxy, "terminate", recording)
    front, back, producer, sink = asyncio.run(proxy_ends(SHARED[0], transport))
    proxy = zeromq.Proxy(front, back)
    running = threading.Event()

    async def closes() -> None:
        await until(running, "the proxy never ran")
        front.close()  # this loop is the last (the only living) one to let go of it

    async def run_proxy() -> int:
        task = asyncio.create_task(proxy.run())
        await asyncio.sleep(0)  # run() lends the ends and starts the proxy's thread in its first step
        running.set()
        await within(WAIT, "run() after its front end was closed in another thread", task)
        return threading.get_ident()

    user = in_thread(closes, library)
    try:
        run_thread = asyncio.run(run_proxy())
        results([user], "the loop closing the front end")
    finally:
        running.set()
        for sock in (front, back, producer, sink):
            sock.close()
    assert front._native.closed and back._native.closed
    assert terminated_in == [run_thread]



@needs_draft
@pytest.mark.parametrize("library", ["asyncio", "trio"])
def test_at_exit_a_loop_still_running_in_a_daemon_thread_closes_its_socket_in_its_own_thread(library: str) -> None:
    """The process exits while a loop in a daemon thread waits on a
    thread-safe socket: that loop, still running, lets go of the socket in
    its own thread (its poller destroyed and the libzmq socket closed
    there, never under a libzmq call of that thread: closed from the exit's
    thread, libzmq could free it under one), and the process exits."""
    import subprocess
    import sys

    try:
        result = subprocess.run(
            [sys.executable, "-c", exit_with_a_loop_running("Server"), library],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except subprocess.TimeoutExpired:
        raise AssertionError("hung: the process never exited") from None
    assert result.returncode == 0, result.stderr
    assert result.stdout == "closed in: loop\n", (result.stdout, result.stderr)
    # Quietly: the pending receive is not woken to raise into a thread that
    # dies with the process (no "Task exception was never retrieved").
    assert result.stderr == ""


@needs_draft
@pytest.mark.parametrize("library", ["asyncio", "trio"])
def test_run_refuses_a_thread_safe_end_with_a_receive_pending_in_another_threads_loop(library: str) -> None:
    """As for an ordinary socket with a receive pending: run() refuses the
    end (EBUSY, naming its role), takes nothing, and the receive goes on."""
    front, back, producer, sink = asyncio.run(proxy_ends(SHARED[0], "inproc"))
    waiting = threading.Event()

    async def other_loop() -> bytes:
        async def signal() -> None:
            for _ in range(3):
                await checkpoint()  # the receive waits now
            waiting.set()

        received: list[bytes] = []

        async def receives() -> None:
            received.append(only_part(await bounded("the receive run() left alone", front.receive())))

        await together(receives, signal)
        return received[0]

    user = in_thread(other_loop, library)
    try:
        assert waiting.wait(WAIT), "hung: the other loop's receive never waited"

        async def refused() -> None:
            with pytest.raises(ZMQError) as caught:
                await within(WAIT, "a proxy run() should have refused", zeromq.Proxy(front, back).run())
            assert caught.value.code == "EBUSY"
            assert "front-end socket has a pending receive" in str(caught.value)
            await producer.send("still yours")

        asyncio.run(refused())
        assert results([user], "the other loop's receive") == [b"still yours"]
    finally:
        for sock in (front, back, producer, sink):
            sock.close()


@needs_draft
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_lent_end_closed_before_another_loop_let_go_keeps_that_loops_poller_first(
    transport: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A thread-safe end is closed while the proxy runs and while another
    thread's loop, busy for a moment, has not let go of its lane yet; then
    the proxy ends. The libzmq socket must be closed only after that loop
    destroyed its poller (the last to let go closes it): closed first, the
    poller can no longer be destroyed and leaks with its fd."""
    from zeromq import _draft

    destroyed_while_open: list[bool] = []
    real_close = _draft.Poller.close

    def recording_close(self: _draft.Poller) -> None:
        if self._handle:
            destroyed_while_open.append(not self._native.closed)
        real_close(self)

    monkeypatch.setattr(_draft.Poller, "close", recording_close)

    async def make_ends() -> tuple[zeromq.Server, zeromq.Client]:
        front, back = zeromq.Server(linger=0), zeromq.Client(linger=0)
        await front.bind(address(transport))
        await back.bind(address(transport))
        return front, back

    front, back = asyncio.run(make_ends())
    proxy = zeromq.Proxy(front, back)
    has_lane, release = threading.Event(), threading.Event()

    async def other_loop() -> None:
        front.receive_timeout = 0
        with contextlib.suppress(TimeoutError):
            await front.receive()  # this loop's lane, and its poller
        has_lane.set()
        release.wait(WAIT)  # busy (a blocking call): its queued callbacks wait
        await asyncio.sleep(0)  # now it runs them, letting go of its lane

    other = in_thread(other_loop, "asyncio")
    assert has_lane.wait(WAIT), "hung: the other loop's first receive"

    async def run_then_close() -> None:
        running = asyncio.create_task(proxy.run())
        await asyncio.sleep(0)  # run() has taken the ends
        front.close()  # the other loop has yet to let go
        with contextlib.suppress(ZMQError):  # ended already
            proxy.terminate()
        async with asyncio.timeout(WAIT):
            await running

    try:
        asyncio.run(run_then_close())
    finally:
        release.set()
        other.result(WAIT)
        back.close()
    assert front._native.closed, "the last loop to let go did not close the socket"
    assert destroyed_while_open == [True], "a poller outlived its socket"
