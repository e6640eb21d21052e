"""Ctrl-C reaches the main thread: no thread that this package starts, or
that libzmq starts for it, can take a signal meant for the program.

A signal taken by another thread leaves its Python handler waiting for the
main thread to run Python code; while that thread sleeps in the event loop,
Ctrl-C then does nothing (asyncio's Runner cancels the main task from its
SIGINT handler). `zeromq pull` hung so about once in 150 Ctrl-Cs, the signal
taken by libzmq's I/O thread in the moment it started, before libzmq blocks
signals in it. So threads are started, and libzmq sockets made (a context's
first starts its threads), with signals blocked in the creating thread.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import threading
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
import zmq
from conftest import NoFdWatchingLoop, bind

import zeromq
from zeromq import _lifecycle
from zeromq._cli import _measure, messaging

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads thread masks in /proc")


def blocks_sigint(thread: threading.Thread) -> bool:
    """Whether `thread` (alive) blocks SIGINT, as the kernel says."""
    status = Path(f"/proc/self/task/{thread.native_id}/status").read_text()
    mask = next(line.split()[1] for line in status.splitlines() if line.startswith("SigBlk:"))
    return bool(int(mask, 16) & 1 << (signal.SIGINT - 1))


def started_during(action: Callable[[], object], name: str) -> list[threading.Thread]:
    """The threads named `name` that `action` started and that are still
    alive after it. (By name: a context collected meanwhile starts a thread
    of its own to terminate it.)"""
    before = set(threading.enumerate())
    action()
    return [t for t in threading.enumerate() if t not in before and t.name == name]


@pytest.fixture
def sockets_made(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[set[int]]]:
    """The signal mask of the thread at each libzmq socket made meanwhile."""
    masks: list[set[int]] = []
    real = zmq.Context.socket

    def recording(self: zmq.Context[Any], *args: Any, **kwargs: Any) -> Any:
        masks.append(signal.pthread_sigmask(signal.SIG_BLOCK, []))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(zmq.Context, "socket", recording)
    yield masks
    assert signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, []), "left blocked"


@pytest.fixture
def threads_started(monkeypatch: pytest.MonkeyPatch) -> list[set[int]]:
    """The signal mask of the thread at each thread started meanwhile (which
    the new thread inherits)."""
    masks: list[set[int]] = []
    real = threading.Thread.start

    def recording(self: threading.Thread) -> None:
        masks.append(signal.pthread_sigmask(signal.SIG_BLOCK, []))
        real(self)

    monkeypatch.setattr(threading.Thread, "start", recording)
    return masks


def run(main: Callable[[], Coroutine[Any, Any, None]], loop_factory: Any = None) -> None:
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(main())


async def a_socket_on_a_new_context() -> None:
    zeromq.Pull(context=zeromq.Context(), linger=0).close()  # starts libzmq's threads


async def an_authenticator() -> None:
    auth = zeromq.Authenticator(context=zeromq.Context())
    await auth.start()  # the ZAP socket and its thread
    await auth.stop()


async def a_running_proxy() -> None:
    proxy = zeromq.Proxy(zeromq.Pull(linger=0), zeromq.Push(linger=0))
    await bind(proxy.front_end, "inproc")
    await bind(proxy.back_end, "inproc")
    running = asyncio.ensure_future(proxy.run())
    await asyncio.sleep(0)  # run() starts its thread and its socket pair
    (thread,) = [t for t in threading.enumerate() if t.name == "zeromq.Proxy"]
    assert blocks_sigint(thread)
    proxy.terminate()
    await running


@pytest.mark.parametrize(
    "start",
    [a_socket_on_a_new_context, an_authenticator, a_running_proxy],
    ids=["socket", "authenticator", "proxy"],
)
def test_libzmq_sockets_are_made_with_signals_blocked(
    start: Callable[[], Coroutine[Any, Any, None]], sockets_made: list[set[int]]
) -> None:
    """A context's threads, which its first socket starts, inherit the mask."""
    run(start)
    assert sockets_made, "no libzmq socket made"
    assert all(signal.SIGINT in mask for mask in sockets_made)


def test_the_zap_thread_blocks_signals() -> None:
    async def main() -> None:
        auth = zeromq.Authenticator(context=zeromq.Context())
        (thread,) = await started(auth.start, "zeromq-zap")
        assert blocks_sigint(thread)
        await auth.stop()

    run(main)


def test_the_selector_thread_blocks_signals() -> None:
    """The thread that watches fds for a loop that cannot (Windows' Proactor)."""

    async def main() -> None:
        async with zeromq.Pull(linger=0, receive_timeout=10) as pull:
            await bind(pull, "inproc")

            async def wait_once() -> None:
                waiting = asyncio.ensure_future(pull.receive())
                await asyncio.sleep(0)  # now watched through the selector thread
                with pytest.raises(zeromq.ZMQError):
                    await waiting

            (thread,) = await started(wait_once, "zeromq selector")
            assert blocks_sigint(thread)

    run(main, NoFdWatchingLoop)


def test_the_command_lines_stdin_thread_blocks_signals(monkeypatch: pytest.MonkeyPatch) -> None:
    reading = threading.Event()  # stdin stays open until the test is done

    def stdin_lines() -> Iterator[bytes]:
        reading.wait()
        yield from ()

    monkeypatch.setattr(messaging, "_stdin_lines", stdin_lines)

    async def main() -> None:
        try:
            (thread,) = started_during(messaging.Lines, "zeromq-stdin")
            assert blocks_sigint(thread)
        finally:
            reading.set()
        thread.join()

    run(main)


def test_the_threads_that_terminate_contexts_block_signals() -> None:
    """At exit, a thread terminates each context while the main thread waits,
    and yields to Ctrl-C (on 3.12, a standby thread started with the first
    socket does it)."""
    native: zmq.Context[Any] = zmq.Context()
    held = native.socket(zmq.PUSH)  # open: terminating the context waits for it
    try:
        (thread,) = started_during(
            lambda: _lifecycle._spawn([native], "zeromq-exit-test"), "zeromq-exit-test"
        )
        assert blocks_sigint(thread)
        (standby,) = started_during(_lifecycle._Standby, "zeromq-exit")  # waits for jobs for good
        assert blocks_sigint(standby)
    finally:
        held.close(linger=0)
    thread.join()


async def started(
    action: Callable[[], Coroutine[Any, Any, None]], name: str
) -> list[threading.Thread]:
    """`started_during` for a coroutine function."""
    before = set(threading.enumerate())
    await action()
    return [t for t in threading.enumerate() if t not in before and t.name == name]


@pytest.mark.parametrize("lib", _measure.LIBRARIES)
def test_the_benchmarks_sockets_and_threads_block_signals(
    lib: str, sockets_made: list[set[int]], threads_started: list[set[int]]
) -> None:
    """`zeromq bench` measures in its own process too: over tcp the sending
    end (with a thread that waits for the worker's count) and the REQ; over
    inproc its workers run both ends (pyzmq's second end on a thread)."""
    limit = _measure.Limit(count=20)
    with _measure.Runner() as runner:
        for pattern in ("push-pull", "req-rep"):
            runner.measure(_measure.Case(pattern, "tcp", 16), lib, limit)
    for n, pattern in enumerate(("push-pull", "req-rep")):
        case = _measure.Case(pattern, "inproc", 16)
        _measure._local(lib, case, limit, f"inproc://test-signals-bench-{n}")
    assert sockets_made, "no libzmq socket made"
    assert threads_started, "no thread started"
    assert all(signal.SIGINT in mask for mask in sockets_made + threads_started)
