"""Shared tools of the reliability suite: fault injection, resource probes and
child processes. Each test module imports what it needs from here."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import gc
import os
import random
import socket
import struct
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import zeromq

T = TypeVar("T")

# -- resource probes -------------------------------------------------------------


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def threads() -> int:
    return len(os.listdir("/proc/self/task"))


def rss_bytes() -> int:
    """The resident set size of this process (VmRSS)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


async def settled(probe: Callable[[], int], limit: int, timeout: float = 10.0) -> int:
    """Wait until `probe()` is at most `limit`, and return its last value.

    libzmq closes sockets in the background (its reaper thread), so the fds
    and threads of a closed socket or context go a moment after `close()`;
    nothing signals it, hence the bounded polling."""
    deadline = time.monotonic() + timeout
    while True:
        gc.collect()
        value = probe()
        if value <= limit or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.01)


def free_tcp_port() -> int:
    """A port nothing listens on now, for a child process to bind."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- cancellation faults -----------------------------------------------------------

CANCELLERS = ("none", "asyncio.timeout", "wait_for", "Task.cancel")


def _delay(rng: random.Random) -> float:
    """A timeout that expires at the operation's first wait or a little later."""
    return rng.choice((1e-6, 10e-6, 100e-6))


async def under_random_cancellation(
    start: Callable[[], Awaitable[T]],
    rng: random.Random,
    faults: collections.Counter[str],
    *,
    always: bool = False,
) -> tuple[bool, T | None]:
    """Run one `send`/`receive` under a cancellation chosen at random: none,
    `asyncio.timeout` or `asyncio.wait_for` of 1 to 100 microseconds, or
    `Task.cancel()` after 1 to 3 loop turns.

    Returns ``(True, result)`` when the operation completed and
    ``(False, None)`` when it was cancelled. Each cancellation is counted in
    `faults` under the name of its mechanism; every one of them struck an
    operation that had started and was suspended (an operation that completes
    at once is never cancelled). With `always`, "none" is not among the choices."""
    how = rng.choice(CANCELLERS[1:] if always else CANCELLERS)
    if how == "none":
        return True, await start()
    if how == "asyncio.timeout":
        try:
            async with asyncio.timeout(_delay(rng)):
                return True, await start()
        except TimeoutError:
            faults[how] += 1
            return False, None
    if how == "wait_for":
        try:
            return True, await asyncio.wait_for(start(), _delay(rng))
        except TimeoutError:
            faults[how] += 1
            return False, None
    task = asyncio.ensure_future(start())
    for _ in range(rng.randint(1, 3)):
        await asyncio.sleep(0)
    if not task.cancel():  # it had completed already
        return True, task.result()
    try:
        return True, await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise  # not ours: the caller itself is being cancelled
        faults[how] += 1
        return False, None


# -- errors that escape into the event loop -----------------------------------------


class LoopErrors:
    """Records what reaches the event loop's exception handler: exceptions of
    callbacks and of tasks nobody awaited ("Task exception was never
    retrieved"). A library error must reach the caller, not leak here."""

    def __init__(self) -> None:
        self.contexts: list[dict[str, Any]] = []

    def install(self) -> LoopErrors:
        asyncio.get_running_loop().set_exception_handler(
            lambda loop, context: self.contexts.append(context)
        )
        return self

    def __str__(self) -> str:
        return "; ".join(str(c.get("exception") or c.get("message")) for c in self.contexts)


# -- subscriptions -------------------------------------------------------------------


async def until_subscribed(pub: zeromq.Publisher, sub: zeromq.Subscriber) -> None:
    """Subscriptions reach a publisher in the background: publish pings until
    one lands, then drop any late ping still on its way (they are b"ping"
    messages; the subscriber must subscribe to them)."""
    sub.receive_timeout = 20
    async with asyncio.timeout(10):
        while True:
            await pub.send(b"ping")
            try:
                if await sub.receive() == [b"ping"]:
                    break
            except TimeoutError:
                continue
        sub.receive_timeout = 50
        with contextlib.suppress(TimeoutError):
            while True:
                await sub.receive()
    sub.receive_timeout = -1


# -- hostile peers ---------------------------------------------------------------------

# A ZMTP 3.0 greeting: signature, version 3.0, mechanism NULL, as-server 0, filler.
GREETING = b"\xff" + b"\x00" * 8 + b"\x7f" + b"\x03\x00" + b"NULL".ljust(20, b"\x00") + b"\x00" * 32
assert len(GREETING) == 64


def ready(socket_type: bytes) -> bytes:
    """A NULL-mechanism READY command naming the peer's socket type."""
    name = b"Socket-Type"
    body = b"\x05READY" + bytes([len(name)]) + name + struct.pack(">I", len(socket_type)) + socket_type
    return b"\x04" + bytes([len(body)]) + body


def long_frame_header(size: int) -> bytes:
    """The header of a (last) message frame of `size` bytes; no body follows."""
    return b"\x02" + struct.pack(">Q", size)


# What each kind of hostile peer sends, and whether the server must hang up on
# it. Random bytes may pass for a ZMTP 1.0 greeting, which libzmq then waits
# on: that peer hangs up itself.
HOSTILE: dict[str, tuple[bool, Callable[[random.Random], bytes]]] = {
    "random bytes": (False, lambda rng: rng.randbytes(rng.randrange(1, 512))),
    "truncated greeting": (True, lambda rng: GREETING[: rng.randrange(1, 64)]),
    "bad version": (True, lambda rng: GREETING[:10] + bytes([rng.randrange(4, 256)]) + GREETING[11:]),
    "unknown mechanism": (True, lambda rng: GREETING[:12] + rng.randbytes(20) + GREETING[32:]),
    "garbage after greeting": (True, lambda rng: GREETING + rng.randbytes(rng.randrange(1, 256))),
    "wrong socket type": (True, lambda rng: GREETING + ready(b"PUB")),
    "oversized frame": (
        True,
        lambda rng: GREETING + ready(b"DEALER") + long_frame_header(rng.choice([2**17, 2**40, 2**63 - 1])),
    ),
}


async def hostile_peer(host: str, port: int, kind: str, rng: random.Random) -> str:
    """Connect, send what `kind` sends, and say how the connection ended."""
    must_be_dropped, make = HOSTILE[kind]
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(make(rng))
        await writer.drain()
        if not must_be_dropped:
            return "hung up"
        async with asyncio.timeout(10):
            while await reader.read(65536):  # the server's greeting, then its hang-up
                pass
        return "dropped by the server"
    except ConnectionResetError:
        return "dropped by the server"
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


# -- child processes -------------------------------------------------------------------

# A Reply server: echoes each request; with a second argument n > 0, kills
# itself (SIGKILL) on receiving its n-th request, before replying.
REPLY_CHILD = """
import asyncio, os, signal, sys, zeromq
async def main():
    die_at = int(sys.argv[2])  # the request it dies holding (0: never)
    async with zeromq.Reply(linger=0) as rep:
        await rep.bind(sys.argv[1])
        print("ready", flush=True)
        served = 0
        async for request in rep:
            served += 1
            if served == die_at:
                os.kill(os.getpid(), signal.SIGKILL)
            await rep.send(request)
asyncio.run(main())
"""


class Child:
    """A Python child process running `script` with `args`, that reports on
    stdout one line at a time. Used as ``async with`` (or `start()` in a
    ``try`` whose ``finally`` calls `kill()`): the child is killed whatever
    happened."""

    def __init__(self, script: str, *args: str) -> None:
        self.script = script
        self.args = args
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> Child:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", self.script, *self.args,
            stdout=asyncio.subprocess.PIPE,
        )
        return self

    async def __aenter__(self) -> Child:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.kill()

    async def line(self, timeout: float = 10.0) -> str:
        """The next line the child printed ("" once it has exited)."""
        assert self.proc is not None and self.proc.stdout is not None
        async with asyncio.timeout(timeout):
            return (await self.proc.stdout.readline()).decode().strip()

    async def rest(self, timeout: float = 10.0) -> list[str]:
        """Every line still to be read, up to the child's exit."""
        assert self.proc is not None and self.proc.stdout is not None
        async with asyncio.timeout(timeout):
            data = await self.proc.stdout.read()
        return data.decode().split()

    @property
    def exited(self) -> bool:
        return self.proc is None or self.proc.returncode is not None

    async def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
        if self.proc is not None:
            await self.proc.wait()
