"""Side-by-side benchmark: zeromq vs pyzmq sync vs zmq.asyncio, in one run.

    python benchmarks/bench_core.py            # full run (about a minute)
    python benchmarks/bench_core.py --quick    # a few seconds, for smoke tests
    python benchmarks/bench_core.py --json     # machine-readable

Measures, over tcp on 127.0.0.1 with sender and receiver in two processes:
- PUSH -> PULL throughput of 100-byte messages (each library on both ends);
- REQ <-> REP mean round trip of 1-byte messages (server in a child process).

The libraries take turns round after round, so that machine noise hits them
alike, and each figure is the median of its rounds. Every figure is also
printed as a ratio to pyzmq sync measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

LIBS = ("zeromq", "pyzmq", "zmq.asyncio")


# -- roles run in child processes ---------------------------------------------


def _pull(lib: str, count: int, size: int) -> None:
    """Bind, print the endpoint, receive `count` messages, print the seconds."""
    if lib == "pyzmq":
        import zmq

        ctx = zmq.Context()
        sock = ctx.socket(zmq.PULL)
        sock.bind("tcp://127.0.0.1:*")
        print(sock.last_endpoint.decode(), flush=True)
        sock.recv()
        start = time.perf_counter()
        for _ in range(count - 1):
            sock.recv()
        print(time.perf_counter() - start, flush=True)
        return

    async def run() -> float:
        if lib == "zeromq":
            import zeromq

            pull = zeromq.Pull()
            await pull.bind("tcp://127.0.0.1:*")
            print(pull.last_endpoint, flush=True)
            receive = pull.receive
        else:
            import zmq
            import zmq.asyncio

            ctx = zmq.asyncio.Context()
            pull = ctx.socket(zmq.PULL)
            pull.bind("tcp://127.0.0.1:*")
            print(pull.last_endpoint.decode(), flush=True)
            receive = pull.recv
        await receive()
        start = time.perf_counter()
        for _ in range(count - 1):
            await receive()
        return time.perf_counter() - start

    print(asyncio.run(run()), flush=True)


def _push(lib: str, endpoint: str, count: int, size: int) -> None:
    payload = b"x" * size
    if lib == "pyzmq":
        import zmq

        ctx = zmq.Context()
        sock = ctx.socket(zmq.PUSH)
        sock.connect(endpoint)
        for _ in range(count):
            sock.send(payload)
        sock.close(linger=-1)
        ctx.term()
        return

    async def run() -> None:
        if lib == "zeromq":
            import zeromq

            push = zeromq.Push()
            push.connect(endpoint)
            send = push.send
        else:
            import zmq
            import zmq.asyncio

            ctx = zmq.asyncio.Context()
            push = ctx.socket(zmq.PUSH)
            push.connect(endpoint)
            send = push.send
        for _ in range(count):
            await send(payload)

    asyncio.run(run())


def _rep(lib: str, count: int) -> None:
    if lib == "pyzmq":
        import zmq

        ctx = zmq.Context()
        sock = ctx.socket(zmq.REP)
        sock.bind("tcp://127.0.0.1:*")
        print(sock.last_endpoint.decode(), flush=True)
        for _ in range(count):
            sock.send(sock.recv())
        return

    async def run() -> None:
        if lib == "zeromq":
            import zeromq

            rep = zeromq.Reply()
            await rep.bind("tcp://127.0.0.1:*")
            print(rep.last_endpoint, flush=True)
            for _ in range(count):
                await rep.send(await rep.receive())
        else:
            import zmq
            import zmq.asyncio

            ctx = zmq.asyncio.Context()
            sock = ctx.socket(zmq.REP)
            sock.bind("tcp://127.0.0.1:*")
            print(sock.last_endpoint.decode(), flush=True)
            for _ in range(count):
                await sock.send(await sock.recv())

    asyncio.run(run())


def _req(lib: str, endpoint: str, count: int) -> float:
    """Mean round trip in microseconds (after a warm-up of 100)."""
    warm = 100
    if lib == "pyzmq":
        import zmq

        ctx = zmq.Context()
        sock = ctx.socket(zmq.REQ)
        sock.connect(endpoint)
        for i in range(count):
            if i == warm:
                start = time.perf_counter()
            sock.send(b"x")
            sock.recv()
        elapsed = time.perf_counter() - start
        sock.close(linger=0)
        ctx.term()
        return elapsed / (count - warm) * 1e6

    async def run() -> float:
        if lib == "zeromq":
            import zeromq

            req = zeromq.Request(linger=0)
            req.connect(endpoint)
            send, receive = req.send, req.receive
        else:
            import zmq
            import zmq.asyncio

            ctx = zmq.asyncio.Context()
            sock = ctx.socket(zmq.REQ)
            sock.connect(endpoint)
            send, receive = sock.send, sock.recv
        for i in range(count):
            if i == warm:
                start = time.perf_counter()
            await send(b"x")
            await receive()
        return (time.perf_counter() - start) / (count - warm) * 1e6

    return asyncio.run(run())


# -- the driver ---------------------------------------------------------------


def _child(*args: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, __file__, "--role", *map(str, args)],
        stdout=subprocess.PIPE,
        text=True,
    )


def throughput(lib: str, count: int, size: int) -> float:
    """Messages per second received by a PULL from a PUSH in another process."""
    receiver = _child("pull", lib, count, size)
    assert receiver.stdout is not None
    endpoint = receiver.stdout.readline().strip()
    sender = _child("push", lib, count, size, endpoint)
    seconds = float(receiver.stdout.readline())
    receiver.wait()
    sender.wait()
    return (count - 1) / seconds


def round_trip(lib: str, count: int) -> float:
    server = _child("rep", lib, count)
    assert server.stdout is not None
    endpoint = server.stdout.readline().strip()
    mean = _req(lib, endpoint, count)
    server.wait()
    return mean


def _median_rounds(rounds: int, measure: Callable[[str], float]) -> dict[str, float]:
    samples: dict[str, list[float]] = {lib: [] for lib in LIBS}
    for _ in range(rounds):
        for lib in LIBS:
            samples[lib].append(measure(lib))
    return {lib: statistics.median(values) for lib, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--role", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role:
        role, lib, *rest = args.role
        if role == "pull":
            _pull(lib, int(rest[0]), int(rest[1]))
        elif role == "push":
            _push(lib, rest[2], int(rest[0]), int(rest[1]))
        elif role == "rep":
            _rep(lib, int(rest[0]))
        return

    rounds = args.rounds or (1 if args.quick else 5)
    messages = 20_000 if args.quick else 500_000
    trips = 500 if args.quick else 20_000
    tput = _median_rounds(rounds, lambda lib: throughput(lib, messages, 100))
    rtt = _median_rounds(rounds, lambda lib: round_trip(lib, trips))
    result = {
        "rounds": rounds,
        "throughput_msgs_per_s": tput,
        "throughput_ratio": {lib: tput[lib] / tput["pyzmq"] for lib in LIBS},
        "round_trip_us": rtt,
        "round_trip_ratio": {lib: rtt[lib] / rtt["pyzmq"] for lib in LIBS},
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"PUSH->PULL 100 B over tcp, {messages} messages, median of {rounds} rounds")
    for lib in LIBS:
        print(f"  {lib:12} {tput[lib]:>12,.0f} msg/s   x{result['throughput_ratio'][lib]:.2f} pyzmq sync")
    print(f"REQ<->REP 1 B over tcp, {trips} round trips, median of {rounds} rounds")
    for lib in LIBS:
        print(f"  {lib:12} {rtt[lib]:>10.1f} us mean   x{result['round_trip_ratio'][lib]:.2f} pyzmq sync")


if __name__ == "__main__":
    main()
