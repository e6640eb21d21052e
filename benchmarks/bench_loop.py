"""How zeromq shares its event loop: timer lateness and scaling rows.

    python benchmarks/bench_loop.py            # full run (about three minutes)
    python benchmarks/bench_loop.py --quick    # a few seconds, for smoke tests
    python benchmarks/bench_loop.py --json     # one JSON document, every round included
    python benchmarks/bench_loop.py --markdown # the tables for docs/benchmarks.md

Everything runs in this process, on one event loop per measurement, for
zeromq (on asyncio's own loop with its idle wait, on by default, see
`zeromq._idle`; there again with it turned off, ``zeromq-plain``; and on uvloop where
it is installed)
and zmq.asyncio alike. The libraries take turns row by row and round by round;
a figure is the median of its rounds.

Timer lateness (`LOADS`): a 1 ms periodic timer (`loop.call_at` at fixed
1 ms steps) runs for a while, and each firing's lateness is the time
(`time.monotonic`, the loop's clock) past the moment it was due; the rows
give its 50th and 99th percentiles. Once with the loop otherwise idle (what
the loop itself costs), once beside a task making 1 B REQ<->REP round trips
over tcp as fast as it can against a pyzmq sync REP in a worker process
(whatever the library does while it waits must not delay the timer).

Scaling (`SCALING`), 100 B messages over tcp on 127.0.0.1, both ends on
the one loop:

- N PUSH->PULL pairs (N = 1, 10, 100), each pair a sending task flooding and
  a receiving task counting;
- one PUB flooding N SUBs (N = 1, 10, 100); a PUB drops what a SUB at its
  high-water mark cannot take, so the SUBs' counts differ when the loop
  serves some less often than others; the sending task yields to the loop
  every 64 messages (a PUB's send never waits, so it would never yield);
- one busy PUSH->PULL pair beside 1,000 idle PULL sockets, each with a
  receive pending on it (the loop watches 1,000 more fds).

Each row reports messages received per second in all, and fairness: the
fewest and the most any one receiving socket got, as fractions of their
mean (1.00 and 1.00 is perfectly fair), and how many sockets got nothing at
all (the median over the rounds; zmq.asyncio starves some at 100 pairs).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

import zmq
from bench_targets import NoiseMeter, commit, machine, run_arguments

from zeromq._cli._measure import (
    UVLOOP,
    BenchError,
    Case,
    Limit,
    _AsyncEnd,
    _AsyncLibrary,
    _run,
    _Worker,
)

PLAIN = "zeromq-plain"
"""zeromq on asyncio's loop with the idle wait turned off (`zeromq._idle`)."""
LIBRARIES = ("zeromq", PLAIN, *((UVLOOP,) if importlib.util.find_spec("uvloop") else ()), "zmq.asyncio")

FULL_ROUNDS = 5
FULL_SECONDS = 1.0
QUICK_ROUNDS = 1
QUICK_SECONDS = 0.1

T = TypeVar("T")

PERIOD = 0.001  # the periodic timer's period, in seconds
SIZE = 100  # bytes per message in the scaling rows
IDLE = 1000  # idle sockets beside the busy pair
PUB_YIELD = 64  # messages a publishing task sends between two yields to the loop
READY_TIMEOUT = 10.0  # seconds for every receiver to get its first message


@dataclass(frozen=True)
class Scaling:
    """One scaling row."""

    key: str
    title: str
    kind: str  # "pairs", "pubsub" or "idle"
    count: int  # pairs, subscribers, or idle sockets


SCALING = (
    *(Scaling(f"pairs-{n}", f"{n} PUSH->PULL pair{'s' if n > 1 else ''}", "pairs", n) for n in (1, 10, 100)),
    *(Scaling(f"pubsub-{n}", f"1 PUB -> {n} SUB{'s' if n > 1 else ''}", "pubsub", n) for n in (1, 10, 100)),
    Scaling("idle-1000", f"1 busy pair beside {IDLE:,} idle sockets", "idle", IDLE),
)
QUICK_SCALING = (
    Scaling("pairs-1", "1 PUSH->PULL pair", "pairs", 1),
    Scaling("pairs-10", "10 PUSH->PULL pairs", "pairs", 10),
    Scaling("pubsub-10", "1 PUB -> 10 SUBs", "pubsub", 10),
    Scaling("idle-100", "1 busy pair beside 100 idle sockets", "idle", 100),
)

LOADS = ("idle", "round trips")


# -- timer lateness -------------------------------------------------------------------


def percentile(values: Sequence[float], fraction: float) -> float:
    """The value below which `fraction` of `values` lie (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


async def lateness(seconds: float, period: float = PERIOD) -> list[float]:
    """Run a periodic timer for `seconds`; how late (s) each firing was."""
    loop = asyncio.get_running_loop()
    late: list[float] = []
    finished = loop.create_future()
    clock = time.monotonic  # asyncio's loop.time(); uvloop's is this clock to the ms
    first = loop.time() + period
    stop = clock() + seconds

    def tick(when: float) -> None:
        now = clock()
        late.append(now - when)
        if now >= stop:
            finished.set_result(None)
            return
        following = when + period
        while following <= now:  # a missed step is not made up for
            following += period
        loop.call_at(following, tick, following)

    loop.call_at(first, tick, first)
    await finished
    return late


async def _round_trips(end: _AsyncEnd, stop: asyncio.Event) -> int:
    trips = 0
    while not stop.is_set():
        await end.send(b"x")
        await end.recv()
        trips += 1
    return trips


def measure_lateness(lib: str, load: str, seconds: float, echo: _Worker | None) -> dict[str, float]:
    """Timer lateness (us) on `lib`'s loop beside `load`, and the round trips
    per second made meanwhile; `echo` is the pyzmq worker to make them to."""

    async def run() -> dict[str, float]:
        if load == "idle":
            late = await lateness(seconds)
            return _lateness_figures(late, 0.0, seconds)
        assert echo is not None
        library = _AsyncLibrary("zeromq" if lib == PLAIN else lib)
        try:
            echo.send({"op": "echo", "lib": "pyzmq", "case": asdict(Case("req-rep", "tcp", 1)),
                       "limit": asdict(Limit(seconds=seconds))})
            end = library.socket("REQ", 1)
            end.sock.connect(echo.reply()["endpoint"])
            stop = asyncio.Event()
            load_task = asyncio.ensure_future(_round_trips(end, stop))
            late = await lateness(seconds)
            stop.set()
            trips = await load_task
            await end.send(b"")  # the stop request
            await end.recv()
            echo.reply()
            return _lateness_figures(late, trips, seconds)
        finally:
            library.close()

    return _run_as(lib, run)


def _run_as(lib: str, main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run `main()` on `lib`'s event loop: "zeromq" with its idle wait (the
    default, see `zeromq._idle`), `PLAIN` with it turned off
    (``ZEROMQ_IDLE_WAIT=0``)."""
    saved = os.environ.pop("ZEROMQ_IDLE_WAIT", None)
    if lib == PLAIN:
        os.environ["ZEROMQ_IDLE_WAIT"] = "0"
    try:
        return _run("zeromq" if lib == PLAIN else lib, main())
    finally:
        os.environ.pop("ZEROMQ_IDLE_WAIT", None)
        if saved is not None:
            os.environ["ZEROMQ_IDLE_WAIT"] = saved


def _lateness_figures(late: Sequence[float], trips: float, seconds: float) -> dict[str, float]:
    return {
        "p50_us": percentile(late, 0.50) * 1e6,
        "p99_us": percentile(late, 0.99) * 1e6,
        "max_us": max(late) * 1e6,
        "firings": len(late),
        "round_trips_per_s": trips / seconds,
    }


# -- scaling ----------------------------------------------------------------------------


async def _flood(send: Callable[[bytes], Awaitable[object]], payload: bytes, every: int | None) -> None:
    while True:
        if every is None:
            await send(payload)
            continue
        for _ in range(every):
            await send(payload)
        await asyncio.sleep(0)


async def _count(recv: Callable[[], Awaitable[object]], counts: list[int], index: int, ready: asyncio.Event,
                 pending: list[int]) -> None:
    await recv()
    pending[0] -= 1
    if pending[0] == 0:
        ready.set()
    while True:
        await recv()
        counts[index] += 1


def measure_scaling(lib: str, row: Scaling, seconds: float) -> dict[str, Any]:
    """Messages per second received in all and each receiving socket's share."""

    async def run() -> dict[str, Any]:
        library = _AsyncLibrary("zeromq" if lib == PLAIN else lib)
        tasks: list[asyncio.Future[None]] = []
        try:
            payload = b"x" * SIZE
            receivers: list[_AsyncEnd] = []
            if row.kind == "pubsub":
                pub = library.socket("PUB", SIZE)
                address = await library.bind(pub, "tcp://127.0.0.1:*")
                for _ in range(row.count):
                    sub = library.socket("SUB", SIZE)
                    if lib == "zmq.asyncio":
                        sub.sock.setsockopt(zmq.SUBSCRIBE, b"")
                    else:
                        sub.sock.subscribe()
                    sub.sock.connect(address)
                    receivers.append(sub)
                senders = [(pub, PUB_YIELD)]
            else:
                senders = []
                for _ in range(1 if row.kind == "idle" else row.count):
                    pull = library.socket("PULL", SIZE)
                    push = library.socket("PUSH", SIZE)
                    push.sock.connect(await library.bind(pull, "tcp://127.0.0.1:*"))
                    receivers.append(pull)
                    senders.append((push, None))
            if row.kind == "idle":
                for _ in range(row.count):
                    idle = library.socket("PULL", SIZE)
                    tasks.append(asyncio.ensure_future(idle.recv()))
            counts = [0] * len(receivers)
            ready, pending = asyncio.Event(), [len(receivers)]
            tasks += [asyncio.ensure_future(_count(r.recv, counts, i, ready, pending)) for i, r in enumerate(receivers)]
            tasks += [asyncio.ensure_future(_flood(s.send, payload, every)) for s, every in senders]
            try:
                await asyncio.wait_for(ready.wait(), READY_TIMEOUT)
            except TimeoutError:
                # zmq.asyncio starves some sockets outright (seen at 100
                # pairs): measure that rather than stop; those sockets count 0.
                if lib != "zmq.asyncio":
                    raise BenchError(f"{lib}: {row.title}: a receiver got nothing for {READY_TIMEOUT:.0f} s") from None
            start = [*counts]
            began = time.perf_counter()
            await asyncio.sleep(seconds)
            elapsed = time.perf_counter() - began
            got = [now - then for now, then in zip(counts, start, strict=True)]
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            library.close()
        mean = sum(got) / len(got)
        return {
            "messages_per_s": sum(got) / elapsed,
            "fewest": min(got) / mean if mean else 0.0,
            "most": max(got) / mean if mean else 0.0,
            "starved": sum(1 for n in got if n == 0),
        }

    return _run_as(lib, run)


# -- the run ------------------------------------------------------------------------------


def measure(
    libraries: Sequence[str], scaling: Sequence[Scaling], loads: Sequence[str], rounds: int, seconds: float
) -> dict[str, Any]:
    """Every row, `rounds` times, the libraries taking turns; every round's figures."""
    lateness_rounds: dict[str, dict[str, list[dict[str, float]]]] = {
        lib: {load: [] for load in loads} for lib in libraries
    }
    scaling_rounds: dict[str, dict[str, list[dict[str, Any]]]] = {
        lib: {row.key: [] for row in scaling} for lib in libraries
    }
    noise: list[float | None] = []
    meter = NoiseMeter()
    echo = _Worker("pyzmq") if "round trips" in loads else None
    try:
        for round_ in range(rounds):
            meter.reset()
            shift = round_ % len(libraries)
            order = [*libraries[shift:], *libraries[:shift]]
            for load in loads:
                for lib in order:
                    lateness_rounds[lib][load].append(measure_lateness(lib, load, seconds, echo))
            for row in scaling:
                for lib in order:
                    scaling_rounds[lib][row.key].append(measure_scaling(lib, row, seconds))
            noise.append(meter.load())
    finally:
        if echo is not None:
            echo.close()
    return {"lateness_rounds": lateness_rounds, "scaling_rounds": scaling_rounds, "round_others_load": noise}


def _medians(rounds: Sequence[dict[str, float]]) -> dict[str, float]:
    return {name: statistics.median(r[name] for r in rounds) for name in rounds[0]}


def summarize(measured: dict[str, Any], scaling: Sequence[Scaling]) -> dict[str, Any]:
    """The medians of each row's rounds."""
    lateness_rows = {
        lib: {load: _medians(rounds) for load, rounds in by_load.items()}
        for lib, by_load in measured["lateness_rounds"].items()
    }
    scaling_rows = {
        row.key: {"title": row.title, **{
            lib: _medians(measured["scaling_rounds"][lib][row.key]) for lib in measured["scaling_rounds"]
        }}
        for row in scaling
    }
    return {"lateness": lateness_rows, "scaling": scaling_rows}


def _scaling_cell(figures: dict[str, float]) -> str:
    cell = f"{figures['messages_per_s']:,.0f} ({figures['fewest']:.2f}-{figures['most']:.2f})"
    starved = figures.get("starved", 0)
    return cell + (f", {starved:g} got nothing" if starved else "")


def render(report: dict[str, Any], markdown: bool = False) -> str:
    """The two tables, as text or Markdown."""
    libraries = list(report["lateness"])
    late_header = ["loop and library", "load", "p50", "p99", "max", "round trips/s"]
    late_rows = [
        [lib, load, f"{f['p50_us']:.0f} us", f"{f['p99_us']:.0f} us", f"{f['max_us']:.0f} us",
         f"{f['round_trips_per_s']:,.0f}" if load != "idle" else ""]
        for lib, by_load in report["lateness"].items() for load, f in by_load.items()
    ]
    scale_header = ["row", *(f"{lib} msg/s (fewest-most)" for lib in libraries)]
    scale_rows = [[row["title"], *(_scaling_cell(row[lib]) for lib in libraries)] for row in report["scaling"].values()]
    m = report["machine"]
    about = [
        f"commit {report['commit']}, {m['cpus']} x {m['cpu_model']}, {m['python']}; median of "
        f"{report['rounds']} round(s) of {report['seconds']} s; other processes kept "
        + (f"{report['others_load']:.2f}" if report["others_load"] is not None else "an unknown number of")
        + " CPUs busy",
    ]
    lines = [*(f"_{a}_" if markdown else a for a in about), ""]
    lines += ["Lateness of a 1 ms periodic timer:", *_table(late_header, late_rows, markdown), ""]
    lines += ["Scaling (100 B over tcp, one loop; fewest-most: per receiving socket, over the mean):"]
    lines += _table(scale_header, scale_rows, markdown)
    return "\n".join(lines)


def _table(header: list[str], rows: list[list[str]], markdown: bool) -> list[str]:
    if markdown:
        return ["", "| " + " | ".join(header) + " |", "|:---|" + "---:|" * (len(header) - 1),
                *("| " + " | ".join(r) + " |" for r in rows)]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return ["  " + "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
            for r in [header, *rows]]


def main(argv: Sequence[str] | None = None) -> int:
    """Measure and print; exit status 2 when a measurement fails."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run (fewer sockets too)")
    parser.add_argument("--rounds", type=int, help=f"rounds (default {FULL_ROUNDS}, --quick {QUICK_ROUNDS})")
    parser.add_argument("--seconds", type=float, help=f"seconds per figure (default {FULL_SECONDS})")
    parser.add_argument("--only", metavar="KEYS", help="a comma-separated subset of the scaling rows")
    parser.add_argument("--no-lateness", action="store_true", help="skip the timer lateness rows")
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print one JSON document")
    output.add_argument("--markdown", action="store_true", help="print the tables in Markdown")
    args = parser.parse_args(argv)
    args.rounds = args.rounds or (QUICK_ROUNDS if args.quick else FULL_ROUNDS)
    args.seconds = args.seconds or (QUICK_SECONDS if args.quick else FULL_SECONDS)
    rounds, seconds, scaling = run_arguments(parser, args, QUICK_SCALING if args.quick else SCALING)
    loads = () if args.no_lateness else LOADS
    started, meter, clock = {**machine(), "commit": commit()}, NoiseMeter(), time.monotonic()
    try:
        measured = measure(LIBRARIES, scaling, loads, rounds, seconds)
    except BenchError as exc:
        print(f"bench_loop: error: {exc}", file=sys.stderr)
        return 2
    report = {
        "commit": started.pop("commit"), "machine": started, "rounds": rounds, "seconds": seconds,
        "others_load": meter.load(), "elapsed_seconds": time.monotonic() - clock,
        **summarize(measured, scaling), **measured,
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(render(report, markdown=args.markdown))
    return 0


if __name__ == "__main__":
    sys.exit(main())
