"""API fuzzing with hypothesis: random option names, values and types, random
message parts, random addresses and random sequences of operations always
end in success or a clear TypeError, ValueError, AttributeError or ZMQError:
never another exception, a crash, a hang or a leaked fd.

The async parts run on one event loop per test (`asyncio.run` per example
would cost more than the example), each example bounded by a timeout."""

from __future__ import annotations

import array
import asyncio
import collections
import contextlib
import gc
import os
import string
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reliability_harness import open_fds

import zeromq
from zeromq._options import DRAFT, OPTIONS, OptionProperty
from zeromq._sockets import SOCKET_CLASSES

T = TypeVar("T")
CLEAR_ERRORS = (TypeError, ValueError, AttributeError, zeromq.ZMQError)
FD_SLACK = 2  # libzmq's own fds come and go a moment after close (its reaper thread)


def options_of(cls: type) -> dict[str, OptionProperty]:
    return {
        name: value
        for klass in reversed(cls.__mro__)
        for name, value in vars(klass).items()
        if isinstance(value, OptionProperty)
    }


OPTION_NAMES = sorted({option.name for option in OPTIONS})

# -- a run on one event loop, with an fd check around it ----------------------------


class Runner:
    """An event loop for the examples of one test; `run` bounds each one."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()

    def run(self, make: Callable[[], Awaitable[T]], timeout: float = 10.0) -> T:
        async def bounded() -> T:
            async with asyncio.timeout(timeout):  # a hang fails the example
                return await make()

        return self.loop.run_until_complete(bounded())


def fds_settled(limit: int) -> int:
    """The open fds once libzmq has reaped what was closed (bounded wait)."""
    deadline = time.monotonic() + 10
    while True:
        gc.collect()
        count = open_fds()
        if count <= limit or time.monotonic() > deadline:
            return count
        time.sleep(0.01)


async def start_what_starts_once() -> None:
    """What a process starts once and keeps: the default context's threads
    and, without the C accelerator, pyzmq's thread for zero-copy sends."""
    async with zeromq.Pair(linger=0) as a, zeromq.Pair(linger=0) as b:
        await a.bind("inproc://start-what-starts-once")
        b.connect("inproc://start-what-starts-once")
        await a.send(memoryview(bytes(100_000)))  # read-only and large: without a copy
        await b.receive()


@pytest.fixture
def runner() -> Iterator[Runner]:
    """An event loop for the test's examples, and a check that they leaked no fd."""
    asyncio.run(start_what_starts_once())
    gc.collect()
    before = open_fds()
    runner = Runner()
    yield runner
    runner.loop.close()
    after = fds_settled(before + FD_SLACK)
    assert after <= before + FD_SLACK, f"fds leaked: {before} before, {after} after"


# -- options ------------------------------------------------------------------------------

VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([0, 1, -1, 255, 256, 2**31 - 1, 2**31, -(2**31) - 1, 2**63 - 1, 2**63, 2**64]),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    st.text(max_size=300),
    st.text(min_size=40, max_size=40),  # the length of a Z85 curve key
    st.text(alphabet="0123456789.:/*-", max_size=40),  # address-like
    st.binary(max_size=300),
    st.binary(min_size=32, max_size=32),  # the length of a raw curve key
    st.builds(bytearray, st.binary(max_size=40)),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.complex_numbers(),
    st.builds(object),
)
NAMES = st.one_of(st.sampled_from(OPTION_NAMES), st.from_regex(r"[a-z][a-z_]{0,29}", fullmatch=True))


@pytest.mark.timeout(120)
def test_random_options_fail_only_with_clear_errors(runner: Runner) -> None:
    @settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        cls=st.sampled_from(SOCKET_CLASSES),
        name=NAMES,
        value=VALUES,
        how=st.sampled_from(["constructor", "set", "get", "delete"]),
    )
    def check(cls: type[zeromq.Socket], name: str, value: object, how: str) -> None:
        options = options_of(cls)
        option = options[name].option if name in options else None
        # Without a DRAFT libzmq, a DRAFT option is refused whatever is done with it.
        refused = option is not None and option.draft and not DRAFT
        sock: zeromq.Socket | None = None
        try:
            if how == "constructor":
                try:
                    sock = cls(**{name: value})
                except CLEAR_ERRORS as err:
                    assert not isinstance(err, AttributeError)
                    if option is None or not option.writable:
                        assert isinstance(err, TypeError) or name == "context", err
                    # Whatever is wrong, the error names the keyword.
                    assert name in str(err), f"the error does not name {name!r}: {err}"
                    return
                assert name == "context" or (option is not None and option.writable)
                return
            sock = cls(linger=0)
            if how == "set":
                try:
                    setattr(sock, name, value)
                except CLEAR_ERRORS as err:
                    if option is None or not option.writable:
                        assert isinstance(err, AttributeError), err
                    else:
                        assert not isinstance(err, AttributeError), err
                        assert name in str(err), f"the error does not name {name!r}: {err}"
                    return
                assert option is not None and option.writable
                getattr(sock, name)  # what was set reads back
            elif how == "get":
                try:
                    getattr(sock, name)
                except CLEAR_ERRORS as err:
                    if refused:
                        assert isinstance(err, zeromq.ZMQError) and name in str(err), err
                        return
                    assert isinstance(err, AttributeError), err
                    assert option is None or not option.readable
            else:
                try:
                    delattr(sock, name)
                except AttributeError:
                    pass
                else:
                    raise AssertionError(f"deleting {name!r} worked")
        finally:
            if sock is not None:
                sock.linger = 0  # whatever the example set, the socket still works
                assert sock.linger == 0
                sock.close()

    check()


STRING_OPTIONS = sorted(
    {
        o.name
        for o in OPTIONS
        if o.kind.set_annotation == "str | bytes | None" and o.writable and (DRAFT or not o.draft)
    }
    - {"curve_public_key", "curve_secret_key", "curve_server_key"}  # these take Z85 text
)


def test_a_string_option_that_cannot_be_encoded_is_a_value_error_naming_it() -> None:
    """(Text with a lone surrogate: hypothesis's text() never makes one.)"""
    for name in STRING_OPTIONS:
        sock = next(c for c in SOCKET_CLASSES if name in options_of(c))(linger=0)
        try:
            with pytest.raises(ValueError, match=name):
                setattr(sock, name, "bad \ud800")
        finally:
            sock.close()


CONTEXT_OPTIONS = ["blocky", "io_threads", "max_message_size", "max_sockets", "ipv6",
                   "thread_priority", "thread_scheduling_policy", "max_sockets_limit"]


@pytest.mark.timeout(60)
def test_random_context_options_fail_only_with_clear_errors(runner: Runner) -> None:
    @settings(max_examples=300, deadline=None)
    @given(name=st.one_of(st.sampled_from(CONTEXT_OPTIONS), NAMES), value=VALUES)
    def check(name: str, value: object) -> None:
        try:
            zeromq.Context(**{name: value})  # dropped at once; no socket is made in it
        except (TypeError, ValueError, zeromq.ZMQError) as err:
            assert name in str(err), f"the error does not name {name!r}: {err}"

    check()


# -- messages -------------------------------------------------------------------------------


def big(size: int, byte: int) -> bytes:
    return bytes([byte]) * size


VALID_PARTS = st.one_of(
    st.binary(max_size=100),
    st.builds(big, st.integers(65536, 150_000), st.integers(0, 255)),  # sent without a copy
    st.builds(bytearray, st.binary(max_size=100)),
    st.builds(lambda b, step: memoryview(b)[::step], st.binary(max_size=200), st.integers(1, 3)),
    st.builds(lambda b: memoryview(bytearray(b)).toreadonly(), st.binary(max_size=100)),
    st.builds(lambda n, step: memoryview(big(n, 7))[::step], st.integers(65536, 150_000), st.integers(1, 3)),
    st.builds(lambda xs: array.array("i", xs), st.lists(st.integers(-(2**31), 2**31 - 1), max_size=20)),
    st.builds(lambda xs: array.array("d", xs), st.lists(st.floats(), max_size=20)),
    st.text(max_size=50),
    st.integers(),
    st.floats(),
    st.none(),
)
INVALID_PARTS = st.one_of(
    st.booleans(),  # TypeError: True is not b"True"
    st.builds(object),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.complex_numbers(),
    st.lists(st.binary(max_size=3), max_size=2),  # nested in a list
    st.frozensets(st.integers(), max_size=2),
    st.just(10**5000),  # its str() exceeds Python's digit limit: ValueError
    st.text(max_size=5).map(lambda t: t + "\ud800"),  # not encodable: UnicodeEncodeError (ValueError)
)
PARTS = st.one_of(VALID_PARTS, VALID_PARTS, VALID_PARTS, INVALID_PARTS)
MESSAGES = st.one_of(PARTS, st.lists(PARTS, max_size=6), st.lists(PARTS, max_size=4).map(tuple))


def encoded(part: object) -> bytes:
    """What a part becomes on the wire, as the contract says (raises as it says)."""
    if isinstance(part, bool):
        raise TypeError("bool")
    if part is None:
        return b""
    if isinstance(part, str):
        return part.encode()
    if isinstance(part, (int, float)):
        return str(part).encode()
    return memoryview(part).tobytes()  # type: ignore[arg-type]  # TypeError if not a buffer


def expected_parts(message: object) -> list[bytes]:
    if isinstance(message, (list, tuple)):
        if not message:
            raise ValueError("no parts")
        return [encoded(part) for part in message]
    return [encoded(message)]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("transport", ["inproc", "tcp"])
def test_random_messages_arrive_intact_or_fail_clearly_sending_nothing(
    runner: Runner, transport: str
) -> None:
    async def pair() -> tuple[zeromq.Pair, zeromq.Pair]:
        a, b = zeromq.Pair(linger=0), zeromq.Pair(linger=0)
        await a.bind("tcp://127.0.0.1:*" if transport == "tcp" else "inproc://fuzz-messages")
        b.connect(a.last_endpoint)  # type: ignore[arg-type]
        return a, b

    a, b = runner.run(pair)
    sent = 0

    async def round_trip(message: object) -> None:
        nonlocal sent
        try:
            expected = expected_parts(message)
        except (TypeError, ValueError) as err:
            with pytest.raises(type(err)):
                await a.send(message)  # type: ignore[arg-type]
            await a.send(b"sentinel")  # nothing of the bad message went out
            assert await b.receive() == [b"sentinel"]
            return
        await a.send(message)  # type: ignore[arg-type]
        assert await b.receive() == expected
        if sent % 2:
            await a.send(message)  # type: ignore[arg-type]
            assert [bytes(v) for v in await b.receive_buffers()] == expected
        sent += 1

    @settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(message=MESSAGES)
    def check(message: object) -> None:
        runner.run(lambda: round_trip(message))

    try:
        check()
    finally:
        a.close()
        b.close()


@pytest.mark.parametrize("size", [1000, 100_000], ids=["small", "large"])
async def test_a_queued_message_is_what_was_sent_even_if_its_buffer_changes(size: int) -> None:
    async with zeromq.Push(linger=0) as push, zeromq.Pull(linger=0) as pull:
        push.connect("inproc://reused-buffer")  # not bound yet: the message stays queued
        buffer = bytearray(b"A" * size)
        await push.send([buffer, memoryview(buffer).toreadonly()])
        buffer[:] = b"B" * size  # the caller reuses its buffer for the next message
        await pull.bind("inproc://reused-buffer")
        assert await pull.receive() == [b"A" * size, b"A" * size]


PURE_PYTHON_STRIDED_SEND = """
import asyncio, zeromq
async def main():
    async with zeromq.Pair(linger=0) as a, zeromq.Pair(linger=0) as b:
        await a.bind("inproc://strided")
        b.connect("inproc://strided")
        view = memoryview(bytes(range(256)) * 1024)[::2]  # read-only, 128 KiB, not contiguous
        await a.send(view)
        assert await b.receive() == [view.tobytes()]
        print("arrived", flush=True)
asyncio.run(main())
"""


def test_without_the_accelerator_a_large_strided_view_is_sent_too() -> None:
    """The message fuzzer runs with the C accelerator; run without it, it found
    this: the pure-Python path gave such a view to zmq.Frame(copy=False),
    which raised BufferError."""
    result = subprocess.run(
        [sys.executable, "-c", PURE_PYTHON_STRIDED_SEND],
        env={**os.environ, "ZEROMQ_PURE_PYTHON": "1"}, capture_output=True, text=True, timeout=60,
    )
    assert result.stdout.strip() == "arrived", result.stderr[-2000:]


# -- addresses --------------------------------------------------------------------------------

HOSTS = st.one_of(
    st.sampled_from(["127.0.0.1", "*", "localhost", "lo", "[::1]", "::1", "0.0.0.0", "",
                     "999.1.1.1", "eth99", "[", "]", "127.0.0.1;127.0.0.1", "-", ":"]),
    st.ip_addresses(network="127.0.0.0/8").map(str),
    st.ip_addresses(network="192.0.2.0/24").map(str),  # TEST-NET-1: nothing answers
)
PORTS = st.one_of(
    st.sampled_from(["*", "0", "-1", "65535", "65536", "", "abc", "99999999999", "!*"]),
    st.integers(-10, 70_000).map(str),
)
NAME_CHARS = string.ascii_letters + string.digits + "-_."


def addresses(folder: Path) -> st.SearchStrategy[object]:
    return st.one_of(
        st.builds("tcp://{}:{}".format, HOSTS, PORTS),
        st.builds("tcp://{}".format, HOSTS),
        st.builds(f"ipc://{folder}/{{}}".format, st.text(NAME_CHARS, max_size=150)),
        st.builds("ipc://@{}".format, st.text(NAME_CHARS, max_size=120)),  # abstract namespace
        st.builds("inproc://{}".format, st.text(max_size=400)),
        st.builds(
            "{}://{}".format,
            st.sampled_from(["udp", "pgm", "epgm", "norm", "ws", "wss", "tipc", "vmci", "http", ""]),
            st.text(max_size=30),
        ),
        st.text(max_size=50),
        st.one_of(st.none(), st.integers(), st.binary(max_size=20), st.lists(st.text(), max_size=2)),
    )


@pytest.mark.timeout(120)
def test_random_addresses_fail_only_with_clear_errors(runner: Runner, tmp_path: Path) -> None:
    counts: collections.Counter[str] = collections.Counter()

    async def use(address: Any, bind: bool) -> None:
        async with zeromq.Dealer(linger=0) as sock:
            try:
                if bind:
                    endpoint = await sock.bind(address)
                    # (libzmq leaves last_endpoint unset for some, e.g. "tipc://@")
                    assert sock.last_endpoint in (endpoint, None)
                    await sock.unbind(endpoint)
                else:
                    sock.connect(address)
                    sock.disconnect(address)
                    if address.startswith("inproc://"):
                        # libzmq keeps a socket whose inproc connect is still
                        # pending alive until the name is bound (see
                        # test_resource_hygiene): bind it once to release it.
                        sock.close()
                        async with zeromq.Dealer(linger=0) as releaser:
                            await releaser.bind(address)
            except (TypeError, ValueError) as err:
                assert not isinstance(address, str) or isinstance(err, UnicodeError), err
                counts[type(err).__name__] += 1
                return
            except zeromq.ZMQError as err:
                assert isinstance(address, str)
                assert err.address == address or (err.address is None and bind), err
                counts[err.code] += 1
                return
            counts["ok"] += 1

    @settings(
        max_examples=800, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(address=addresses(tmp_path), bind=st.booleans())
    def check(address: object, bind: bool) -> None:
        runner.run(lambda: use(address, bind))

    files_before = set(Path.cwd().iterdir())
    check()
    assert counts["ok"] > 0 and sum(counts.values()) > counts["ok"], counts
    assert set(Path.cwd().iterdir()) == files_before, "an ipc address escaped its folder"


# -- random sequences of operations --------------------------------------------------------------

OPERATIONS = st.lists(
    st.sampled_from([
        "send", "send", "send", "send bad", "receive", "receive", "receive buffers",
        "start receive", "start receive", "cancel receive", "settle receive",
        "receive timeout", "readable", "async for", "close receiver", "close sender",
    ]),
    max_size=40,
)


@pytest.mark.timeout(120)
def test_random_operation_sequences_keep_every_promise(runner: Runner) -> None:
    """A model of what the receiver must get next, checked against whatever
    random sequence of sends, receives, cancellations, timeouts and closes
    happens: no loss, no duplicate, no overtaking, no hang, clear errors."""
    seq = 0

    async def play(operations: list[str], seed: int) -> None:
        nonlocal seq
        a, b = zeromq.Dealer(linger=0), zeromq.Dealer(linger=0)
        name = f"inproc://fuzz-sequence-{seq}"
        seq += 1
        await a.bind(name)
        b.connect(name)
        expected: collections.deque[list[bytes]] = collections.deque()
        pending: asyncio.Task[list[bytes]] | None = None
        cancelled = False  # cancel() was called on the pending receive
        pending_timeout = -1  # the receive_timeout the pending receive started with

        def got(message: list[bytes]) -> None:
            assert expected, f"received {message} that was never sent"
            assert message == expected.popleft(), "lost, duplicated or reordered"

        async def settle(timeout: float) -> None:
            nonlocal pending, cancelled
            if pending is None:
                return
            await asyncio.wait([pending], timeout=timeout)
            if not pending.done():
                assert not b.closed and not cancelled, "a closed or cancelled receive hangs"
                return
            if pending.cancelled():
                assert cancelled
            elif isinstance(error := pending.exception(), TimeoutError):
                assert pending_timeout != -1, "a receive without a timeout timed out"
            elif error is not None:
                assert isinstance(error, zeromq.ZMQError) and b.closed, error
                assert error.code == "ENOTSOCK"
            else:
                got(pending.result())
            pending, cancelled = None, False

        try:
            for i, operation in enumerate(operations):
                if pending is not None and pending.done():
                    await settle(0)  # it took its message: the model learns which
                if operation == "send":
                    message = [b"%d" % i, b"x" * (i * 1000 % 70_000)]
                    if a.closed:
                        with pytest.raises(zeromq.ZMQError, match="closed"):
                            await a.send(message)
                    elif b.closed:
                        # No peer left: a Dealer's send may wait, as the reference says.
                        with contextlib.suppress(TimeoutError):
                            async with asyncio.timeout(0.01):
                                await a.send(message)
                    else:
                        async with asyncio.timeout(5):
                            await a.send(message)
                        expected.append(message)
                elif operation == "send bad":
                    with pytest.raises(TypeError):
                        await a.send(["ok", True])  # type: ignore[list-item]
                elif operation in ("receive", "receive buffers", "async for"):
                    if b.closed:
                        with pytest.raises(zeromq.ZMQError, match="closed"):
                            await b.receive()
                    elif pending is not None and not pending.done() and not cancelled:
                        # It queues behind the pending receive, which gets
                        # the next message first (FIFO).
                        try:
                            async with asyncio.timeout(0.05):
                                message = await b.receive()
                        except TimeoutError:
                            pass  # nothing for it (yet): it took nothing
                        else:
                            assert pending.done(), "a queued receive overtook the pending one"
                            await settle(0)
                            got(message)
                    elif expected or b.receive_timeout == -1:
                        # A message is there (inproc: at once), or none and it would wait.
                        try:
                            async with asyncio.timeout(1 if expected else 0.01):
                                if operation == "receive":
                                    message = await b.receive()
                                elif operation == "async for":
                                    message = await anext(aiter(b))
                                else:
                                    message = [bytes(v) for v in await b.receive_buffers()]
                        except TimeoutError:
                            assert not expected, "a queued message was not received"
                            await settle(0)
                        else:
                            got(message)
                            await settle(0)
                    else:
                        with pytest.raises(TimeoutError):
                            await b.receive()
                elif operation == "start receive":
                    if pending is None and not b.closed:
                        pending_timeout = b.receive_timeout
                        pending = asyncio.ensure_future(b.receive())
                        await asyncio.sleep(0)
                elif operation == "cancel receive":
                    if pending is not None and pending.cancel():
                        cancelled = True
                elif operation == "settle receive":
                    await settle(0.01)
                elif operation == "receive timeout":
                    if not b.closed:
                        b.receive_timeout = (-1, 0, 5)[i % 3]
                elif operation == "readable":
                    if pending is None:
                        assert b.readable == (bool(expected) and not b.closed)
                elif operation == "close receiver":
                    b.close()
                    expected.clear()
                    await settle(1)
                    assert pending is None, "close did not end the pending receive"
                elif operation == "close sender":
                    a.close()
        finally:
            a.close()
            b.close()
            await settle(1)
            assert pending is None, "close did not end the pending receive"

    @settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(operations=OPERATIONS, seed=st.integers(0, 2**16))
    def check(operations: list[str], seed: int) -> None:
        runner.run(lambda: play(operations, seed))

    check()
