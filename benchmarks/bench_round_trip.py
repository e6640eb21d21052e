"""The 1 B round trip and its CPU time per end, each round in fresh processes.

    python benchmarks/bench_round_trip.py            # 5 rounds of 20,000 round trips (~1 minute)
    python benchmarks/bench_round_trip.py --quick    # a smoke run
    python benchmarks/bench_round_trip.py --json

REQ<->REP over tcp on 127.0.0.1, both ends of one library: pyzmq sync,
zeromq on asyncio's loop, zeromq on uvloop (when installed). Each round
starts a new REP process for each library in turn and drives it from this
process; the CPU time is each end's main thread's (`time.thread_time()`),
per round trip, after a warm-up.

Each end has a fresh libzmq context, in both libraries: on our virtual
machine a context that has lived through an idle second costs a round trip
2-2.5x the CPU time of a fresh one, pyzmq's as much as ours (see
docs/benchmarks.md). Figures are ratios to pyzmq sync, the median of the
rounds' ratios with their range.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import multiprocessing
import statistics
import sys
from typing import Any

import zmq

# The round-trip and echo loops `zeromq bench` and bench_targets.py measure
# with (warm-up, CPU time from `time.thread_time()`, the stop request).
from zeromq._cli._measure import (
    _STOP,
    UVLOOP,
    Limit,
    _echo_async,
    _echo_sync,
    _run,
    _trips_async,
    _trips_sync,
)

LIBRARIES = ["pyzmq", "zeromq"] + ([UVLOOP] if importlib.util.find_spec("uvloop") else [])


# -- the REP end, in a process of its own ----------------------------------------


def _serve(lib: str, ports: Any, results: Any) -> None:
    """Echo until the stop request; put the CPU time per round trip (us)."""
    if lib == "pyzmq":
        ctx: zmq.Context[Any] = zmq.Context()
        sock = ctx.socket(zmq.REP)
        ports.put(sock.bind_to_random_port("tcp://127.0.0.1"))
        results.put(_echo_sync(sock.send, sock.recv))
        sock.close()
        ctx.term()
        return

    async def serve() -> float:
        import zeromq

        async with zeromq.Reply(linger=0, context=zeromq.Context()) as rep:
            endpoint = await rep.bind("tcp://127.0.0.1:*")
            ports.put(int(endpoint.rsplit(":", 1)[1]))
            return await _echo_async(rep.send, rep.receive)

    results.put(_run(lib, serve()))


# -- the REQ end, in this process -------------------------------------------------


def _drive(lib: str, port: int, trips: int) -> tuple[float, float]:
    """The mean round trip and this thread's CPU time per round trip (us),
    after a warm-up."""
    address = f"tcp://127.0.0.1:{port}"
    limit = Limit(count=trips)
    if lib == "pyzmq":
        ctx: zmq.Context[Any] = zmq.Context()
        sock = ctx.socket(zmq.REQ)
        sock.connect(address)
        figures = _trips_sync(sock.send, sock.recv, b"x", limit)
        sock.send(_STOP)
        sock.recv()
        sock.close()
        ctx.term()
        return figures

    async def drive() -> tuple[float, float]:
        import zeromq

        async with zeromq.Request(linger=0, context=zeromq.Context()) as req:
            req.connect(address)
            figures = await _trips_async(req.send, req.receive, b"x", limit)
            await req.send(_STOP)
            await req.receive()
            return figures

    return _run(lib, drive())


def measure(lib: str, trips: int) -> dict[str, float]:
    """One round of `lib`: round trip and CPU per end, in microseconds."""
    spawn = multiprocessing.get_context("spawn")
    ports, results = spawn.Queue(), spawn.Queue()
    server = spawn.Process(target=_serve, args=(lib, ports, results))
    server.start()
    try:
        round_trip, client_cpu = _drive(lib, ports.get(timeout=30), trips)
        server_cpu = results.get(timeout=30)
    finally:
        server.join(timeout=30)
    return {"round_trip_us": round_trip, "cpu_per_end_us": (client_cpu + server_cpu) / 2}


def _spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--trips", type=int, default=20_000, help="round trips per figure")
    parser.add_argument("--quick", action="store_true", help="1 round of 1,000 round trips")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.trips = 1, 1_000
    rounds: dict[str, list[dict[str, float]]] = {lib: [] for lib in LIBRARIES}
    for _ in range(args.rounds):
        for lib in LIBRARIES:  # taking turns, so that noise hits them alike
            rounds[lib].append(measure(lib, args.trips))
    report: dict[str, Any] = {"rounds": args.rounds, "trips": args.trips, "libraries": {}}
    for lib in LIBRARIES:
        row: dict[str, Any] = {
            key: _spread([r[key] for r in rounds[lib]])
            for key in ("round_trip_us", "cpu_per_end_us")
        }
        if lib != "pyzmq":
            for key in ("round_trip_us", "cpu_per_end_us"):
                ratios = [
                    r[key] / p[key] for r, p in zip(rounds[lib], rounds["pyzmq"], strict=True)
                ]
                row[key.replace("_us", "_ratio")] = _spread(ratios)
        report["libraries"][lib] = row
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(
        f"1 B REQ<->REP tcp, {args.rounds} rounds of {args.trips:,} round trips, fresh REP processes"
    )

    def show(s: dict[str, float]) -> str:
        return f"{s['median']:.2f} ({s['min']:.2f}-{s['max']:.2f})"

    for lib, row in report["libraries"].items():
        line = f"  {lib:14} round trip {row['round_trip_us']['median']:6.1f} us"
        line += f"   CPU per end {row['cpu_per_end_us']['median']:5.1f} us"
        if lib != "pyzmq":
            line += f"   ratios: round trip {show(row['round_trip_ratio'])}, CPU {show(row['cpu_per_end_ratio'])}"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
