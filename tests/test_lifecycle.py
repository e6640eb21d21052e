"""Garbage collection, fd hygiene, errors of addresses, and process exit."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import weakref
from collections.abc import Coroutine
from typing import TypeVar

import pytest
from conftest import address, bind, run_then_abandon

import zeromq

T = TypeVar("T")

def open_fds() -> int:
    """Open fds, once dropped contexts have finished terminating."""
    from zeromq import _lifecycle

    for worker in list(_lifecycle._RETIRING):
        worker.join(10)
    return len(os.listdir("/proc/self/fd"))


async def test_unreachable_socket_is_closed_by_the_garbage_collector() -> None:
    sock = zeromq.Pull(linger=0)
    await sock.bind(address("tcp"))
    endpoint = sock.last_endpoint
    ref = weakref.ref(sock)
    del sock
    gc.collect()
    assert ref() is None
    # Its port is free again: a new socket can bind it.
    again = zeromq.Pull(linger=0)
    await again.bind(endpoint)
    again.close()


async def test_an_idle_socket_that_waited_once_is_not_kept_alive_by_the_loop() -> None:
    sock = zeromq.Pull(linger=0, receive_timeout=1)
    timed_out = False
    try:
        await sock.receive()  # the loop now watches its fd
    except TimeoutError:  # (not pytest.raises: its traceback would keep the socket)
        timed_out = True
    assert timed_out
    ref = weakref.ref(sock)
    del sock
    gc.collect()
    assert ref() is None


@pytest.mark.parametrize("transport", ["tcp", "ipc", "inproc"])
async def test_bind_returns_the_endpoint_it_bound(transport: str) -> None:
    async with zeromq.Pull(linger=0) as sock:
        asked = address(transport)
        endpoint = await sock.bind(asked)
        assert endpoint == sock.last_endpoint
        if transport == "tcp":  # the wildcard port comes back resolved
            assert asked.endswith(":*")
            assert endpoint.startswith("tcp://127.0.0.1:")
            assert int(endpoint.rsplit(":", 1)[1]) > 0
        else:
            assert endpoint == asked


async def test_a_long_inproc_name_binds_and_is_bound() -> None:
    # An inproc name has no length limit (ipc paths and tcp addresses do);
    # bind() reads back what it bound, and a long name needs a large buffer.
    name = f"inproc://{'n' * 20000}"
    async with zeromq.Pull(linger=0) as pull, zeromq.Push(linger=0) as push:
        assert await pull.bind(name) == name
        assert pull.last_endpoint == name
        push.connect(name)
        await push.send("through the long name")
        assert await pull.receive() == [b"through the long name"]
    async with zeromq.Pull(linger=0) as again:  # closing released the name
        assert await again.bind(name) == name


@pytest.mark.timeout(60)
async def test_no_fd_growth_over_create_bind_drop_cycles() -> None:
    def cycle_once() -> None:
        sock = zeromq.Pull(linger=0)
        sock._native.bind(address("tcp"))

    for _ in range(20):  # warm up libzmq's own fds (io threads, reaper)
        cycle_once()
    gc.collect()
    before = open_fds()
    for i in range(1_000):
        sock = zeromq.Pull(linger=0)
        await sock.bind(address("tcp" if i % 2 else "ipc"))
        if i % 10 == 0:
            with pytest.raises(TimeoutError):
                sock.receive_timeout = 0
                await sock.receive()
        del sock
    gc.collect()
    assert open_fds() <= before + 2


async def test_pending_receive_keeps_an_otherwise_unreachable_socket_alive() -> None:
    name = address("inproc")

    async def receive_once() -> list[bytes]:
        sock = zeromq.Pull(linger=0)
        await sock.bind(name)
        return await sock.receive()

    task = asyncio.ensure_future(receive_once())
    await asyncio.sleep(0)
    gc.collect()
    async with zeromq.Push(linger=0) as push:
        push.connect(name)
        await push.send("kept alive")
        async with asyncio.timeout(5):
            assert await task == [b"kept alive"]


@pytest.mark.parametrize(
    ("bad", "code"),
    [
        ("tcp://127.0.0.1", "EINVAL"),
        ("nope://127.0.0.1:5555", "EPROTONOSUPPORT"),
    ],
)
async def test_bad_bind_address_is_a_zmq_error_naming_it(bad: str, code: str) -> None:
    async with zeromq.Pull(linger=0) as sock:
        with pytest.raises(zeromq.ZMQError) as info:
            await sock.bind(bad)
        assert info.value.code == code
        assert info.value.address == bad
        assert bad in str(info.value)


# (operation, address, code, what the message must say): libzmq's own words
# ("Invalid argument", "No such device") do not tell what is wrong.
ADDRESS_MISTAKES = [
    ("connect", "127.0.0.1:5555", "EINVAL", "no transport; write tcp://127.0.0.1:5555"),
    ("bind", "127.0.0.1:5555", "EINVAL", "no transport; write tcp://127.0.0.1:5555"),
    ("bind", "tcp://999.0.0.1:5555", "ENODEV", "invalid address: '999.0.0.1' is no IP address"),
    ("bind", "tcp://eth99:5555", "ENODEV", "invalid address: 'eth99' is no IP address or network interface"),
    ("connect", "tcp://127.0.0.1", "EINVAL", "a tcp address needs a port"),
    ("bind", "tcp://[::1]", "ENODEV", "a tcp address needs a port"),
    ("connect", "inproc://", "EINVAL", "invalid address (addresses are tcp://host:port"),
    ("connect", "nope://x", "EPROTONOSUPPORT", "unknown transport 'nope'"),
]


@pytest.mark.parametrize(("operation", "bad", "code", "says"), ADDRESS_MISTAKES)
async def test_a_bad_address_says_what_is_wrong_with_it(
    operation: str, bad: str, code: str, says: str
) -> None:
    async with zeromq.Pull(linger=0) as sock:
        with pytest.raises(zeromq.ZMQError) as info:
            if operation == "bind":
                await sock.bind(bad)
            else:
                sock.connect(bad)
    assert info.value.code == code  # libzmq's code is kept for code that checks it
    assert info.value.address == bad
    assert says in str(info.value)
    assert str(info.value).startswith(f"Cannot {operation}: ")
    assert "Invalid argument" not in str(info.value) and "No such device" not in str(info.value)


@pytest.mark.parametrize("transport", ["tcp", "inproc"])  # ipc: libzmq takes the path over
async def test_address_in_use(transport: str) -> None:
    async with zeromq.Pull(linger=0) as first, zeromq.Pull(linger=0) as second:
        endpoint = await bind(first, transport)
        with pytest.raises(zeromq.ZMQError) as info:
            await second.bind(endpoint)
        assert info.value.code == "EADDRINUSE"
        assert info.value.address == endpoint


@pytest.mark.parametrize("release", ["close", "unbind"])
async def test_an_address_can_be_bound_again_right_after_it_is_released(
    transport: str, release: str
) -> None:
    # libzmq lets go of a tcp port in its I/O thread after unbind/close return,
    # and of a closed socket's inproc name when it reaps the socket: without
    # care, about 1 in 6 tcp and 1 in 3 inproc rebinds failed with EADDRINUSE.
    async with zeromq.Pull(linger=0) as first:
        endpoint = await bind(first, transport)
    for i in range(60):
        # The default linger: libzmq keeps a closed socket (and its inproc
        # name) longer then; a Pull has nothing to send, so none is waited for.
        async with zeromq.Pull() as pull, zeromq.Push(linger=0) as push:
            await pull.bind(endpoint)
            if i % 2:  # with a connection, and without
                push.connect(endpoint)
                await push.send(b"through")
                assert await pull.receive() == [b"through"]
            if release == "close":
                pull.close()
            else:
                await pull.unbind(endpoint)


async def test_closing_a_bound_socket_still_delivers_what_it_queued(transport: str) -> None:
    # close() must not end the connections accepted on its addresses before
    # `linger` has let them deliver (unbinding a tcp or ipc address would).
    count = 20_000
    async with zeromq.Pull(linger=0, receive_high_water_mark=0, receive_timeout=5000) as pull:
        push = zeromq.Push(send_high_water_mark=0)  # the default linger: deliver all
        pull.connect(await bind(push, transport))
        for _ in range(count):
            await push.send(b"x" * 1000)
        push.close()
        for _ in range(count):
            await pull.receive()


def test_a_released_address_is_retried_unless_its_port_was_a_wildcard() -> None:
    from zeromq import _socket

    _socket._released(["tcp://*:45678", "tcp://0.0.0.0:45678", "tcp://127.0.0.1:*", "ipc://*"])
    assert "tcp://*:45678" in _socket._RELEASED  # any interface, a fixed port
    assert "tcp://0.0.0.0:45678" in _socket._RELEASED
    assert "tcp://127.0.0.1:*" not in _socket._RELEASED  # a wildcard picks a free port
    assert "ipc://*" not in _socket._RELEASED


async def test_a_released_address_taken_by_another_socket_is_still_in_use() -> None:
    async with zeromq.Pull(linger=0) as first, zeromq.Pull(linger=0) as second:
        endpoint = await bind(first, "tcp")
        await first.unbind(endpoint)
        async with zeromq.Pull(linger=0) as taker:
            await taker.bind(endpoint)
            with pytest.raises(zeromq.ZMQError) as info:
                await second.bind(endpoint)  # retried for a second, then refused
            assert info.value.code == "EADDRINUSE"


async def test_unbind_and_disconnect(transport: str) -> None:
    async with zeromq.Pull(linger=0) as pull, zeromq.Push(linger=0) as push:
        endpoint = await bind(pull, transport)
        push.connect(endpoint)
        push.disconnect(endpoint)
        await pull.unbind(endpoint)
        with pytest.raises(zeromq.ZMQError) as info:
            await pull.unbind(endpoint)
        assert info.value.code == "ENOENT"
        with pytest.raises(zeromq.ZMQError):
            push.disconnect(endpoint)


async def test_address_must_be_a_str() -> None:
    async with zeromq.Pull(linger=0) as sock:
        with pytest.raises(TypeError, match="address"):
            await sock.bind(b"tcp://127.0.0.1:*")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="address"):
            sock.connect(5555)  # type: ignore[arg-type]


def test_zmq_error_codes_name_zeromq_errnos() -> None:
    import zmq

    for name in ("EFSM", "ENOCOMPATPROTO", "ETERM", "EMTHREAD"):
        err = zeromq.ZMQError(getattr(zmq, name), "x")
        assert err.code == name
        assert isinstance(err, OSError)


def test_module_surface() -> None:
    assert zeromq.version.count(".") == 2
    assert set(zeromq.capability) == {"ipc", "pgm", "tipc", "norm", "curve", "gssapi", "draft"}
    assert all(isinstance(v, bool) for v in zeromq.capability.values())
    assert isinstance(zeromq.context, zeromq.Context)
    assert isinstance(zeromq.accelerated, bool)
    pair = zeromq.curve_keypair()
    assert len(pair.public_key) == len(pair.secret_key) == 40
    assert zeromq.curve_public(pair.secret_key) == pair.public_key
    with pytest.raises(ValueError):
        zeromq.curve_public("short")


SCRIPT_IDLE = """
import asyncio, zeromq
async def main():
    pull = zeromq.Pull()
    await pull.bind("tcp://127.0.0.1:*")
    push = zeromq.Push()
    push.connect(pull.last_endpoint)
    await push.send("delivered")
    print((await pull.receive())[0].decode(), flush=True)
asyncio.run(main())
"""

SCRIPT_QUEUED = """
import asyncio, zeromq
async def main():
    push = zeromq.Push(send_timeout=0, immediate=False)
    push.connect("tcp://127.0.0.1:9")  # nobody listens: the message stays queued
    await push.send("stuck")
    print("sent", flush=True)
asyncio.run(main())
"""


# Python 3.12 refuses to start a thread at exit (3.11 and 3.13 allow it): the
# exit then relies on a thread started beforehand. This prelude makes a 3.11 or
# 3.13 process follow 3.12's rule, so that the suite checks that path on every
# version. (Its atexit hook is registered after zeromq's, so it runs first.)
NO_THREAD_AT_EXIT = """
import atexit, threading, zeromq._lifecycle as lifecycle
lifecycle._STANDBY_NEEDED = True  # before the first socket, which starts the standby thread
def _no_new_thread() -> None:
    def refuse(self):
        raise RuntimeError("can't create new thread at interpreter shutdown")
    threading.Thread.start = refuse
atexit.register(_no_new_thread)
"""


@pytest.fixture(params=["threads at exit", "no thread at exit (3.12)"])
def exit_rule(request: pytest.FixtureRequest) -> str:
    """What a test's script starts with: nothing, or Python 3.12's rule."""
    return "" if request.param == "threads at exit" else NO_THREAD_AT_EXIT


def test_process_exits_promptly_when_nothing_is_queued(exit_rule: str) -> None:
    start = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", exit_rule + SCRIPT_IDLE], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "delivered"
    assert result.stderr == ""  # no hint, and no error from the exit hook
    assert time.monotonic() - start < 10


SCRIPT_THREADS = """
import threading, zeromq
print(sorted(t.name for t in threading.enumerate()), flush=True)
sock = zeromq.Pull(linger=0)
print(sorted(t.name for t in threading.enumerate()), flush=True)
sock.close()
"""


def test_importing_zeromq_starts_no_thread(exit_rule: str) -> None:
    """A process that imports zeromq and forks before making sockets (the
    usual pre-fork server) must still be single-threaded: Python warns on
    fork() in a threaded process. Under 3.12's rule the standby thread starts
    with the first socket (whose libzmq I/O threads come then anyway)."""
    result = subprocess.run(
        [sys.executable, "-c", exit_rule + SCRIPT_THREADS], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    imported, with_a_socket = result.stdout.splitlines()
    assert imported == "['MainThread']"
    from zeromq import _lifecycle

    # (3.12 follows its rule without the prelude.)
    expected = ["MainThread", "zeromq-exit"] if exit_rule or _lifecycle._STANDBY_NEEDED else ["MainThread"]
    assert with_a_socket == repr(expected)


def test_a_socket_made_when_no_thread_can_start_goes_without_the_standby(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On 3.12, from an atexit hook (a socket made at exit): no standby
    thread, no error; the exit then terminates contexts itself."""
    from zeromq import _lifecycle

    def refuse(self: threading.Thread) -> None:
        raise RuntimeError("can't create new thread at interpreter shutdown")

    monkeypatch.setattr(_lifecycle, "_STANDBY_NEEDED", True)
    monkeypatch.setattr(_lifecycle, "_STANDBY", None)
    monkeypatch.setattr(threading.Thread, "start", refuse)
    sock = zeromq.Pull(linger=0)
    sock.close()
    assert _lifecycle._STANDBY is None


SCRIPT_LATE_PEER = """
import asyncio, sys, zeromq
async def main():
    push = zeromq.Push(immediate=False)
    push.connect(sys.argv[1])  # bound only once this process waits at exit
    await push.send("queued")
    print("sent", flush=True)
asyncio.run(main())
"""


def _free_endpoint(transport: str) -> str:
    """An address nobody has bound yet, known before binding it."""
    if transport == "ipc":
        return address("ipc")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{probe.getsockname()[1]}"


@pytest.mark.parametrize("transport", ["tcp", "ipc"])
async def test_the_exit_waits_to_deliver_what_was_queued_to_a_peer_that_comes_late(
    exit_rule: str, transport: str
) -> None:
    endpoint = _free_endpoint(transport)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", exit_rule + SCRIPT_LATE_PEER, endpoint,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    try:
        async with asyncio.timeout(30):
            assert (await proc.stdout.readline()).strip() == b"sent"
            assert b"waiting for queued messages" in await proc.stderr.readline()
            async with zeromq.Pull(linger=0) as pull:
                await pull.bind(endpoint)
                assert await pull.receive() == [b"queued"]
            assert await proc.wait() == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


class Waiting:
    """A process that printed "sent" and now waits at exit for a message
    nobody will take; killed after the test if still there."""

    def __init__(self, script: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None and self.proc.stderr is not None
        assert self.proc.stdout.readline().strip() == "sent"

    def hint(self) -> str:
        assert self.proc.stderr is not None
        return self.proc.stderr.readline()  # comes after half a second of waiting

    def close(self) -> None:
        self.proc.kill()
        self.proc.communicate()  # also closes the pipes


# (how the socket is made, what the hint must say, what it must not say)
EXIT_HINTS = [
    ("zeromq.Push(", ["`linger`", "`blocky=False`", "Ctrl-C exits"], ["for up to"]),
    # blocky=False gives new sockets linger 0, not one whose -1 was set explicitly.
    ("zeromq.Push(context=zeromq.Context(blocky=False), linger=-1, ", ["`linger`"], ["blocky"]),
    # A finite linger ends the wait by itself; blocky=False would not shorten it.
    ("zeromq.Push(linger=60_000, ", ["for up to 60000 ms", "`linger`"], ["blocky"]),
]


@pytest.mark.parametrize(("make", "says", "not_says"), EXIT_HINTS)
def test_process_with_queued_messages_waits_and_says_what_would_help(
    make: str, says: list[str], not_says: list[str], exit_rule: str
) -> None:
    waiting = Waiting(exit_rule + SCRIPT_QUEUED.replace("zeromq.Push(", make))
    try:
        hint = waiting.hint()
        for text in says:
            assert text in hint
        for text in not_says:
            assert text not in hint
        assert waiting.proc.poll() is None  # still waiting, as the linger says
    finally:
        waiting.close()


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT")
def test_ctrl_c_during_the_exit_wait_exits_at_once_without_a_traceback(exit_rule: str) -> None:
    waiting = Waiting(exit_rule + SCRIPT_QUEUED)
    try:
        assert "Ctrl-C exits" in waiting.hint()
        waiting.proc.send_signal(signal.SIGINT)
        _, stderr = waiting.proc.communicate(timeout=10)
        assert waiting.proc.returncode == 130
        assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
    finally:
        waiting.close()


def test_process_with_linger_zero_exits_at_once() -> None:
    script = SCRIPT_QUEUED.replace("zeromq.Push(", "zeromq.Push(linger=0, ")
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    assert "linger" not in result.stderr


SCRIPT_EXIT_WITH_A_LOOP_RUNNING = """
import sys, threading
import asyncio, zmq, zeromq

native_close = zmq.Socket.close

def recording(self, *args, **kwargs):
    if not self.closed:
        print("closed in:", threading.current_thread().name, flush=True)
    native_close(self, *args, **kwargs)

zmq.Socket.close = recording  # the libzmq socket's close, under the library
pull = zeromq.SOCKET_CLASS(linger=0)
pull.connect("tcp://127.0.0.1:9")  # nothing comes: the receive waits until the exit
waiting = threading.Event()

async def receive():
    await pull.receive()  # (a pending operation is not woken at exit: no traceback)

async def on_asyncio():
    asyncio.ensure_future(receive())
    await asyncio.sleep(0)  # the receive waits now
    waiting.set()
    await asyncio.sleep(3600)  # the loop runs on until the process is gone

async def idle_on_asyncio():
    # The receive is all the loop has to do: it sleeps in the loop's place,
    # inside one call that holds the libzmq socket (_idle).
    asyncio.get_running_loop().call_soon(waiting.set)
    await receive()

async def on_trio():
    async with trio.open_nursery() as nursery:
        nursery.start_soon(receive)
        await trio.testing.wait_all_tasks_blocked()  # the receive waits now
        waiting.set()
        await trio.sleep(3600)

if sys.argv[1] == "trio":
    import trio, trio.testing
    run = lambda: trio.run(on_trio)
else:
    run = lambda: asyncio.run(on_asyncio() if sys.argv[1] == "asyncio" else idle_on_asyncio())
threading.Thread(target=run, name="loop", daemon=True).start()
waiting.wait(10)
"""


def exit_with_a_loop_running(socket_class: str) -> str:
    """A script whose process exits while a loop in a daemon thread (its
    argument: asyncio, trio) waits to receive on a `socket_class` socket; it
    prints the thread that closed the socket (nothing if it was closed
    quietly from the exit's thread)."""
    return SCRIPT_EXIT_WITH_A_LOOP_RUNNING.replace("SOCKET_CLASS", socket_class)


@pytest.mark.parametrize("library", ["asyncio", "asyncio, sleeping in the loop's place", "trio"])
def test_at_exit_a_loop_still_running_in_a_daemon_thread_closes_its_socket_in_its_own_thread(
    library: str, exit_rule: str
) -> None:
    """The process exits while a loop in a daemon thread waits on a socket:
    that loop, still running, closes the libzmq socket in its own thread.
    Closed from the exit's thread, the socket could be freed under a libzmq
    call of the loop's thread (the idle sleep holds the socket). It does so
    quietly: the pending receive is not woken to raise into a thread that
    dies with the process (no traceback at exit)."""
    result = subprocess.run(
        [sys.executable, "-c", exit_rule + exit_with_a_loop_running("Pull"), library.split(",")[0]],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "closed in: loop\n", (result.stdout, result.stderr)
    assert result.stderr == ""


SCRIPT_EXIT_WITH_A_PROXY_RUNNING = """
import sys, threading, time
import asyncio, zeromq, zeromq._lifecycle as lifecycle

async def start():
    front, back = zeromq.Router(linger=0), zeromq.Dealer(linger=0)
    capture = zeromq.Publisher(linger=0)
    for sock in (front, back, capture):
        await sock.bind("tcp://127.0.0.1:*")
    proxy = zeromq.Proxy(front, back, capture=capture)
    running = asyncio.ensure_future(proxy.run())
    await asyncio.sleep(0)  # run()'s first step takes the ends and starts the proxy
    assert front._proxy is proxy, "run() did not take the ends"
    if sys.argv[2] == "paused":
        proxy.pause()
        await proxy.statistics()  # answered once paused
    return running

if sys.argv[1] == "stopped":
    # run()'s loop stops (not closed) with the proxy running: it never runs again.
    loop = asyncio.new_event_loop()
    running = loop.run_until_complete(start())
else:
    started, ended = threading.Event(), threading.Event()

    async def serve():
        running = await start()
        started.set()
        if sys.argv[1] == "blocked":
            time.sleep(3600)  # the loop is blocked: it never takes another turn
        try:
            await running
            print("run() returned", flush=True)
        except Exception as exc:
            print("run() raised", repr(exc), flush=True)
        finally:
            ended.set()

    threading.Thread(target=asyncio.run, args=(serve(),), daemon=True).start()
    started.wait(10)
    if sys.argv[1] == "running":
        exit_wait = lifecycle._exit_wait

        def exit_wait_then_see_how_run_ended():
            exit_wait()
            ended.wait(10)

        lifecycle._exit_wait = exit_wait_then_see_how_run_ended
print("exiting", flush=True)
"""


@pytest.mark.parametrize("state", ["proxying", "paused"])
@pytest.mark.parametrize("loop", ["stopped", "blocked in a daemon thread", "running in a daemon thread"])
def test_the_exit_ends_a_running_proxy_without_hanging_or_a_traceback(
    loop: str, state: str, exit_rule: str
) -> None:
    """The exit stops a proxy still running. When run()'s loop runs (in a
    daemon thread), it stops the proxy and run() returns, rather than raise
    ETERM into that thread when the exit terminates the context. When it no
    longer runs (stopped, blocked), the context's termination ends the
    proxy's thread, paused or not, and the ends are closed all the same, or
    it would wait for them forever (every linger is 0)."""
    result = subprocess.run(
        [sys.executable, "-c", exit_rule + SCRIPT_EXIT_WITH_A_PROXY_RUNNING, loop.split()[0], state],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    running = loop.startswith("running")
    assert result.stdout == "exiting\n" + ("run() returned\n" if running else "")
    assert "waiting for queued messages" not in result.stderr, result.stderr


SCRIPT_FORK = """
import asyncio, os, zeromq
async def main():
    pull = zeromq.Pull(linger=0)
    await pull.bind("tcp://127.0.0.1:*")
    pid = os.fork()
    if pid == 0:
        try:
            await pull.receive()
        except zeromq.ZMQError as err:
            print("child-error", err.code, "parent" in str(err), flush=True)
        pull.close()  # harmless: the parent's socket is not touched
        async with zeromq.Pair(linger=0) as a, zeromq.Pair(linger=0) as b:
            await a.bind("inproc://child")
            b.connect("inproc://child")
            await a.send("works")
            print("child-new", (await b.receive())[0].decode(), flush=True)
        return
    assert os.waitpid(pid, 0)[1] == 0
    async with zeromq.Push(linger=0) as push:
        push.connect(pull.last_endpoint)
        await push.send("still mine")
        print("parent", (await pull.receive())[0].decode(), flush=True)
asyncio.run(main())
"""


def test_forked_child_gets_a_clear_error_and_the_parent_keeps_working() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT_FORK], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "child-error ENOTSOCK True" in lines
    assert "child-new works" in lines  # the child's own sockets use a new default context
    assert "parent still mine" in lines


def test_a_socket_can_be_used_from_successive_event_loops() -> None:
    pull = zeromq.Pull(linger=0)
    push = zeromq.Push(linger=0)

    async def round_trip(text: str) -> list[bytes]:
        if pull.last_endpoint is None:
            await pull.bind(address("tcp"))
            push.connect(pull.last_endpoint)
        waiting = asyncio.ensure_future(pull.receive())  # waits on this loop's fd watch
        await asyncio.sleep(0)
        await push.send(text)
        return await waiting

    try:
        assert asyncio.run(round_trip("first loop")) == [b"first loop"]
        assert asyncio.run(round_trip("second loop")) == [b"second loop"]
    finally:
        pull.close()
        push.close()


@pytest.mark.parametrize("transport", ["tcp", "inproc"])
def test_a_socket_waiting_in_a_loop_closed_without_ending_it_closes_and_frees_its_address(
    transport: str,
) -> None:
    # loop.close() after run_until_complete() leaves a waiting receive's task
    # pending for good. (ipc: libzmq rebinds a path in use anyway.)
    pull = zeromq.Pull(linger=0)
    left: list[asyncio.Future[list[bytes]]] = []

    async def wait_in_it() -> str:
        endpoint = await pull.bind(address(transport))
        left.append(asyncio.ensure_future(pull.receive()))
        await asyncio.sleep(0)  # the receive now waits, on this loop's fd watch
        return endpoint

    endpoint = run_then_abandon(wait_in_it())
    pull.close()  # must close the libzmq socket, or the process exit waits for it forever
    assert pull.closed

    async def rebind() -> str:
        again = zeromq.Pull(linger=0)
        try:
            return await again.bind(endpoint)
        finally:
            again.close()

    assert asyncio.run(rebind()) == endpoint


def test_the_exit_does_not_wait_for_an_observed_socket_of_a_closed_loop() -> None:
    script = textwrap.dedent(
        """
        import asyncio, zeromq
        sock = zeromq.Pair(linger=0)
        async def main():
            events = sock.events
            await sock.bind("tcp://127.0.0.1:*")
            await events.receive()
        loop = asyncio.new_event_loop()
        loop.run_until_complete(main())
        loop.close()
        print("done", flush=True)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "done\n"
    assert "waiting" not in result.stderr


def test_a_socket_waiting_in_one_running_loop_refuses_another() -> None:
    import threading

    # No peer: its receive and send both wait (bounded, should the test fail).
    pull = zeromq.Dealer(linger=0, send_timeout=5000)
    started = threading.Event()
    stop: list[asyncio.AbstractEventLoop] = []

    async def hold() -> None:
        stop.append(asyncio.get_running_loop())
        pending = asyncio.ensure_future(pull.receive())
        await asyncio.sleep(0)  # the receive now waits, watched by this loop
        started.set()
        with contextlib.suppress(zeromq.ZMQError):  # ends when closed
            await pending

    thread = threading.Thread(target=asyncio.run, args=(hold(),))
    thread.start()
    try:
        assert started.wait(10)

        async def intrude() -> None:
            with pytest.raises(zeromq.ZMQError, match="another event loop") as info:
                await pull.send("from another loop")
            assert info.value.code == "EBUSY"

        asyncio.run(intrude())
    finally:
        stop[0].call_soon_threadsafe(pull.close)
        thread.join(10)


def test_an_idle_socket_is_not_read_from_the_thread_of_a_loop_it_waited_in(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # libzmq sockets must not be used from two threads at once. A socket that
    # waited once in a loop that keeps running (in its own thread) and is then
    # handed to another thread must not be read from the first loop's thread.
    import threading

    from zeromq import _engine

    readers: list[int] = []  # the threads that read ZMQ_EVENTS
    real_events = _engine._events

    def events(target: object) -> int:
        readers.append(threading.get_ident())
        return real_events(target)

    monkeypatch.setattr(_engine, "_events", events)
    pull = zeromq.Pull(linger=0)
    push = zeromq.Push(linger=0)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever)
    thread.start()

    def in_thread(coro: Coroutine[object, object, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(10)

    async def first_message() -> list[bytes]:
        await pull.bind(address("tcp"))
        push.connect(pull.last_endpoint)
        waiting = asyncio.ensure_future(pull.receive())  # waits on this loop's fd watch
        await asyncio.sleep(0)
        await push.send("first")
        message = await waiting
        # Nothing more is queued: libzmq now signals the fd when a message comes.
        assert not pull.readable
        return message

    async def until_signal_handled() -> None:
        # Until the loop has handled the fd's signal, one way or the other.
        me = threading.get_ident()
        deadline = time.monotonic() + 10
        while pull._loop is not None and me not in readers and time.monotonic() < deadline:
            await asyncio.sleep(0)  # one turn of the loop

    try:
        assert in_thread(first_message()) == [b"first"]
        readers.clear()
        asyncio.run(push.send("second"))  # signals the idle socket's fd
        in_thread(until_signal_handled())
        assert pull._loop is None  # the running loop stopped watching the idle socket...
        assert thread.ident not in readers  # ...without reading libzmq from its thread
        # Nothing is lost, and another thread's loop can wait on it now.
        assert asyncio.run(pull.receive()) == [b"second"]
    finally:
        pull.close()
        push.close()
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


async def test_plain_server_enforcing_a_zap_domain_without_one_is_refused_not_a_crash() -> None:
    async with zeromq.Reply(linger=0, plain_server=True, zap_enforce_domain=True) as server:
        with pytest.raises(zeromq.ZMQError, match="zap_domain") as info:
            await server.bind("tcp://127.0.0.1:*")
        assert info.value.code == "EINVAL"
        server.zap_domain = "global"
        await server.bind("tcp://127.0.0.1:*")


def test_unsetting_an_unset_string_option_does_nothing() -> None:
    sock = zeromq.Router(linger=0, zap_domain=None, socks_proxy=None)
    assert sock.zap_domain is None
    sock.close()
