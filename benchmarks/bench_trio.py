"""zeromq under trio and through the selector thread, side by side with zeromq
under asyncio and pyzmq sync.

    python benchmarks/bench_trio.py            # 5 rounds (about half a minute)
    python benchmarks/bench_trio.py --quick    # 1 short round, for smoke tests

Two rows, over tcp between two processes, both ends of the library measured:
100 B PUSH->PULL throughput (messages/s, counted by the receiver from its
first message) and 1 B REQ<->REP mean round trip (us). The libraries take
turns within each round; each ratio is the median over rounds of zeromq's
figure over the pyzmq sync figure of the same round.

zeromq's columns run the very same coroutines (`_pull`, `_push`, `_rep`,
`_req`): under `asyncio.run`, under `trio.run`, and on an asyncio loop that
cannot watch fds (as Windows' Proactor loop cannot), where the sockets wait
through a selector thread. The socket API does not depend on the library.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine
from typing import Any

import zmq

import zeromq

LIBRARIES = ("pyzmq", "zeromq/asyncio", "zeromq/trio", "zeromq/selector")
PAYLOAD = {"throughput": b"x" * 100, "latency": b"x"}
WARM_UP = 1000


# -- zeromq: one body for both async libraries ------------------------------------------


async def _pull(count: int) -> float:
    async with zeromq.Pull(linger=0, receive_high_water_mark=100_000) as pull:
        print(await pull.bind("tcp://127.0.0.1:*"), flush=True)
        await pull.receive()
        start = time.perf_counter()
        for _ in range(count - 1):
            await pull.receive()
        return (count - 1) / (time.perf_counter() - start)


async def _push(endpoint: str, count: int) -> float:
    async with zeromq.Push(linger=-1, send_high_water_mark=100_000) as push:
        push.connect(endpoint)
        payload = PAYLOAD["throughput"]
        for _ in range(count):
            await push.send(payload)
    return 0.0


async def _rep(count: int) -> float:
    async with zeromq.Reply(linger=-1) as rep:
        print(await rep.bind("tcp://127.0.0.1:*"), flush=True)
        for _ in range(count + WARM_UP):
            await rep.send(await rep.receive())
    return 0.0


async def _req(endpoint: str, count: int) -> float:
    async with zeromq.Request(linger=0) as req:
        req.connect(endpoint)
        payload = PAYLOAD["latency"]
        for _ in range(WARM_UP):
            await req.send(payload)
            await req.receive()
        start = time.perf_counter()
        for _ in range(count):
            await req.send(payload)
            await req.receive()
        return (time.perf_counter() - start) / count * 1e6


class _NoFdWatchingLoop(asyncio.SelectorEventLoop):
    """A loop without `add_reader`, as Windows' Proactor loop."""

    def add_reader(self, *args: object) -> None:
        raise NotImplementedError

    def remove_reader(self, *args: object) -> bool:
        raise NotImplementedError


def _run_async(library: str, body: Callable[..., Coroutine[Any, Any, float]], *args: Any) -> float:
    if library == "zeromq/trio":
        import trio

        return float(trio.run(body, *args))
    if library == "zeromq/selector":
        with asyncio.Runner(loop_factory=_NoFdWatchingLoop) as runner:
            return runner.run(body(*args))
    return asyncio.run(body(*args))


# -- pyzmq sync: the baseline --------------------------------------------------------------


def _sync_end(role: str, endpoint: str, count: int) -> float:
    ctx: zmq.Context[Any] = zmq.Context()
    try:
        if role == "pull":
            sock = ctx.socket(zmq.PULL)
            sock.rcvhwm = 100_000
            sock.bind("tcp://127.0.0.1:*")
            print(sock.last_endpoint.decode(), flush=True)
            sock.recv()
            start = time.perf_counter()
            for _ in range(count - 1):
                sock.recv()
            return (count - 1) / (time.perf_counter() - start)
        if role == "push":
            sock = ctx.socket(zmq.PUSH)
            sock.sndhwm = 100_000
            sock.connect(endpoint)
            for _ in range(count):
                sock.send(PAYLOAD["throughput"])
            sock.close(linger=-1)
            return 0.0
        if role == "rep":
            sock = ctx.socket(zmq.REP)
            sock.bind("tcp://127.0.0.1:*")
            print(sock.last_endpoint.decode(), flush=True)
            for _ in range(count + WARM_UP):
                sock.send(sock.recv())
            sock.close(linger=-1)
            return 0.0
        sock = ctx.socket(zmq.REQ)
        sock.connect(endpoint)
        for _ in range(WARM_UP):
            sock.send(PAYLOAD["latency"])
            sock.recv()
        start = time.perf_counter()
        for _ in range(count):
            sock.send(PAYLOAD["latency"])
            sock.recv()
        return (time.perf_counter() - start) / count * 1e6
    finally:
        ctx.destroy(linger=0)


_BODIES = {"pull": _pull, "push": _push, "rep": _rep, "req": _req}


def run_end(library: str, role: str, endpoint: str, count: int) -> float:
    """Run one end (`role`: pull, push, rep or req) of one library in this process."""
    if library == "pyzmq":
        return _sync_end(role, endpoint, count)
    body = _BODIES[role]
    args = (count,) if role in ("pull", "rep") else (endpoint, count)
    return _run_async(library, body, *args)


def measure(library: str, row: str, count: int) -> float:
    """Messages/s (throughput) or mean round trip in us (latency): the binding
    end in a child process, the connecting end here."""
    bound, connecting = ("pull", "push") if row == "throughput" else ("rep", "req")
    child = subprocess.Popen(
        [sys.executable, __file__, "--end", library, bound, "-", str(count)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        endpoint = child.stdout.readline().strip()
        mine = run_end(library, connecting, endpoint, count)
        theirs = float(child.stdout.readline())
        if child.wait(60) != 0:
            raise RuntimeError(f"{library} {bound} end failed")
    finally:
        if child.poll() is None:
            child.kill()
    return theirs if row == "throughput" else mine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one short round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--end", nargs=4, metavar=("LIB", "ROLE", "ENDPOINT", "COUNT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.end:
        library, role, endpoint, count = args.end
        print(run_end(library, role, endpoint, int(count)), flush=True)
        return
    rounds = 1 if args.quick else args.rounds
    counts = {"throughput": 20_000 if args.quick else 200_000, "latency": 1_000 if args.quick else 10_000}
    figures: dict[tuple[str, str], list[float]] = {}
    for number in range(rounds):
        order = LIBRARIES if number % 2 == 0 else LIBRARIES[::-1]
        for row in ("throughput", "latency"):
            for library in order:
                figures.setdefault((row, library), []).append(measure(library, row, counts[row]))
    widths = (30, 14, 20, 20, 20)
    header = ("", "pyzmq sync", *LIBRARIES[1:])
    print("".join(f"{cell:>{width}}" if i else f"{cell:{width}}" for i, (cell, width) in enumerate(zip(header, widths, strict=True))))
    for row, label in (("throughput", "100 B PUSH->PULL tcp, msg/s"), ("latency", "1 B REQ<->REP tcp, us")):
        cells = [f"{statistics.median(figures[(row, lib)]):,.0f}" for lib in LIBRARIES]
        for i, lib in enumerate(LIBRARIES[1:], 1):
            pairs = zip(figures[(row, lib)], figures[(row, "pyzmq")], strict=True)
            cells[i] += f" ({statistics.median(a / b for a, b in pairs):.2f}x)"
        print(f"{label:{widths[0]}}" + "".join(f"{cell:>{width}}" for cell, width in zip(cells, widths[1:], strict=True)))
    print(f"median of {rounds} round(s); ratios are to pyzmq sync, paired per round")


if __name__ == "__main__":
    main()
