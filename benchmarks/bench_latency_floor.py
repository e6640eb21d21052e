"""What asyncio itself costs a round trip, beside what ZeroMQ costs.

    python benchmarks/bench_latency_floor.py           # about a minute
    python benchmarks/bench_latency_floor.py --quick   # a few seconds
    python benchmarks/bench_latency_floor.py --json

Mean round trip of a 1-byte ping-pong over tcp on 127.0.0.1, client and
server in two processes, for:

- plain TCP sockets (no ZeroMQ): blocking on both ends; an asyncio client
  (streams) against a blocking server; asyncio (streams) on both ends;
- ZeroMQ REQ<->REP (`zeromq._cli._measure`): pyzmq sync on both ends; a zeromq
  client against a pyzmq sync REP; zeromq on both ends; zmq.asyncio on both.

The variants take turns round by round; each figure is the median of its
rounds. Their ratios tell how much of zeromq's round trip over pyzmq sync's
is the event loop's own wake-up cost, which no asyncio library can avoid:
the "asyncio both ends / blocking both ends" ratio of plain TCP is the floor
for "zeromq / pyzmq sync".
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

from bench_targets import wait_for_quiet

from zeromq._cli._measure import Case, Limit, Runner

WARM_UP = 200  # round trips before the clock starts


# -- plain TCP: the server, in a process of its own ------------------------------


def _serve_blocking(listener: socket.socket) -> None:
    conn, _ = listener.accept()
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    with conn:
        while data := conn.recv(1):
            conn.sendall(data)


def _serve_asyncio(listener: socket.socket) -> None:
    async def serve() -> None:
        done = asyncio.get_running_loop().create_future()

        async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            while data := await reader.read(1):
                writer.write(data)
            writer.close()
            done.set_result(None)

        server = await asyncio.start_server(echo, sock=listener)
        async with server:
            await done

    asyncio.run(serve())


def serve(kind: str) -> None:
    """Listen on a free port, print it, echo one connection until it closes."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    print(listener.getsockname()[1], flush=True)
    (_serve_blocking if kind == "blocking" else _serve_asyncio)(listener)


# -- plain TCP: the client, in this process ------------------------------------------


def _client_blocking(port: int, seconds: float) -> float:
    with socket.create_connection(("127.0.0.1", port)) as conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for _ in range(WARM_UP):
            conn.sendall(b"x")
            conn.recv(1)
        clock = time.perf_counter
        start = clock()
        end, done = start + seconds, 0
        while True:
            conn.sendall(b"x")
            conn.recv(1)
            done += 1
            if done % 16 == 0 and clock() >= end:
                return (clock() - start) / done * 1e6


def _client_asyncio(port: int, seconds: float) -> float:
    async def run() -> float:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for _ in range(WARM_UP):
            writer.write(b"x")
            await reader.readexactly(1)
        clock = time.perf_counter
        start = clock()
        end, done = start + seconds, 0
        while True:
            writer.write(b"x")
            await reader.readexactly(1)
            done += 1
            if done % 16 == 0 and clock() >= end:
                mean = (clock() - start) / done * 1e6
                writer.close()
                await writer.wait_closed()
                return mean

    return asyncio.run(run())


def plain_tcp(client: str, server: str, seconds: float) -> float:
    """The mean round trip (us) of a `client` against a `server` in another process."""
    process = subprocess.Popen(
        [sys.executable, __file__, "--serve", server], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        mean = (_client_blocking if client == "blocking" else _client_asyncio)(port, seconds)
        process.wait(timeout=10)
        return mean
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


# -- all the variants --------------------------------------------------------------


def variants(runner: Runner, seconds: float) -> dict[str, Callable[[], float]]:
    """Each variant's name and how to measure it once."""
    case, limit = Case("req-rep", "tcp", 1), Limit(seconds=seconds)
    return {
        "tcp: blocking <-> blocking": lambda: plain_tcp("blocking", "blocking", seconds),
        "tcp: asyncio client <-> blocking server": lambda: plain_tcp("asyncio", "blocking", seconds),
        "tcp: asyncio <-> asyncio": lambda: plain_tcp("asyncio", "asyncio", seconds),
        "zmq: pyzmq sync <-> pyzmq sync": lambda: runner.measure(case, "pyzmq", limit),
        "zmq: zeromq client <-> pyzmq sync REP": lambda: runner.measure(case, "zeromq", limit, receiver="pyzmq"),
        "zmq: zeromq <-> zeromq": lambda: runner.measure(case, "zeromq", limit),
        "zmq: zmq.asyncio <-> zmq.asyncio": lambda: runner.measure(case, "zmq.asyncio", limit),
    }


def main() -> None:
    """Measure every variant, taking turns; print a table or JSON."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 round of 0.1 s per figure")
    parser.add_argument("--rounds", type=int, help="rounds (default 7)")
    parser.add_argument("--seconds", type=float, help="seconds per figure (default 1)")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--quiet", action="store_true",
                        help="before each round, wait (up to 30 s) for other processes to calm down")
    parser.add_argument("--serve", choices=("blocking", "asyncio"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    rounds: int = args.rounds or (1 if args.quick else 7)
    seconds: float = args.seconds or (0.1 if args.quick else 1.0)
    with Runner() as runner:
        measures = variants(runner, seconds)
        samples: dict[str, list[float]] = {name: [] for name in measures}
        for _ in range(rounds):
            if args.quiet:
                wait_for_quiet()
            for name, measure in measures.items():
                samples[name].append(measure())
    medians = {name: statistics.median(values) for name, values in samples.items()}
    if args.json:
        print(json.dumps({"rounds": rounds, "seconds": seconds, "round_trip_us": medians,
                          "samples": samples}, indent=2))
        return
    print(f"1-byte ping-pong over tcp, mean round trip, median of {rounds} rounds of {seconds} s")
    width = max(map(len, medians))
    tcp_base = medians["tcp: blocking <-> blocking"]
    zmq_base = medians["zmq: pyzmq sync <-> pyzmq sync"]
    for name, value in medians.items():
        base = tcp_base if name.startswith("tcp") else zmq_base
        ratio = value / base if base and not math.isnan(base) else float("nan")
        print(f"  {name:{width}}  {value:8.1f} us  x{ratio:.2f}")


if __name__ == "__main__":
    main()
