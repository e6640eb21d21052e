"""`zeromq bench`: throughput and latency of this library, and with ``--compare``
of pyzmq's sync sockets and `zmq.asyncio` beside it, in the same run.

The measuring itself is in `_measure` (shared with `benchmarks/bench_core.py`);
this module chooses the cases, shows progress and prints the report, as tables
or as one JSON document (`make_report`).
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import sys
from collections.abc import Callable, Sequence
from importlib import metadata
from typing import Any

import zmq

from ._common import CLIError, positive_int
from ._measure import (
    BASELINE,
    LIBRARIES,
    PATTERNS,
    TRANSPORTS,
    Case,
    Limit,
    Runner,
    format_size,
    median_of_rounds,
    usable_patterns,
)

DEFAULT_SIZES = (1, 1_000, 64_000, 1_000_000)
QUICK_SIZES = (1, 64_000)
DEFAULT_SECONDS = 0.2
QUICK_SECONDS = 0.05
MAX_SIZE = 16_000_000


def parse_size(text: str) -> int:
    """``1``, ``100B``, ``64k`` (64000), ``1M`` (10**6), ``4Ki`` (4096), ``1MiB``..."""
    match = re.fullmatch(r"\s*(\d+)\s*(k|kb|m|mb|ki|kib|mi|mib|b)?\s*", text, flags=re.I)
    if match is None:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (say 1, 100, 64k, 1M)")
    unit = {None: 1, "b": 1, "k": 1000, "kb": 1000, "m": 10**6, "mb": 10**6,
            "ki": 1 << 10, "kib": 1 << 10, "mi": 1 << 20, "mib": 1 << 20}[
        match.group(2).lower() if match.group(2) else None
    ]
    size = int(match.group(1)) * unit
    if not 1 <= size <= MAX_SIZE:
        raise argparse.ArgumentTypeError(f"sizes go from 1 B to {format_size(MAX_SIZE)}, not {text!r}")
    return size


def _sizes(text: str) -> list[int]:
    return [parse_size(part) for part in text.split(",") if part.strip()]


def _choices(allowed: Sequence[str]) -> Callable[[str], list[str]]:
    def parse(text: str) -> list[str]:
        chosen = [part.strip() for part in text.split(",") if part.strip()]
        for name in chosen:
            if name not in allowed:
                raise argparse.ArgumentTypeError(f"{name!r} is not one of {', '.join(allowed)}")
        return chosen

    return parse


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError(f"must be above 0 and at most 3600, not {value}")
    return value


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``bench`` subcommand."""
    parser = subparsers.add_parser(
        "bench",
        help="measure throughput and latency, optionally beside pyzmq",
        description="Measure this library's throughput (PUSH->PULL and DEALER->ROUTER) and "
        "latency (REQ<->REP round trips) over tcp, ipc and inproc for a range of message "
        "sizes. Over tcp and ipc the two ends are in two processes; over inproc they are two "
        "tasks of one process (pyzmq sync: two threads). With --compare, pyzmq's sync sockets "
        "and zmq.asyncio are measured in the same run, taking turns, and each figure is also "
        "given as a ratio to pyzmq sync.",
        epilog=f"The default run takes about {len(DEFAULT_SIZES) * 9 * DEFAULT_SECONDS + 2:.0f} s "
        "(three times that with --compare); --quick about a fifth of it.",
    )
    parser.add_argument("--compare", action="store_true", help="also measure pyzmq sync and zmq.asyncio")
    parser.add_argument(
        "--quick", action="store_true",
        help=f"a short run (sizes {' and '.join(format_size(s) for s in QUICK_SIZES)}, "
        f"{QUICK_SECONDS} s per measurement)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of tables")
    parser.add_argument(
        "--seconds", type=_seconds, metavar="S",
        help=f"time per measurement (default {DEFAULT_SECONDS}, --quick {QUICK_SECONDS})",
    )
    parser.add_argument(
        "--rounds", type=positive_int, default=1, metavar="N",
        help="measure each case N times and report the median (default %(default)s)",
    )
    parser.add_argument(
        "--sizes", type=_sizes, metavar="LIST",
        help="message sizes, e.g. 1,100,64k,1M (default "
        f"{','.join(format_size(s).replace(' ', '') for s in DEFAULT_SIZES)})",
    )
    parser.add_argument(
        "--transports", type=_choices(TRANSPORTS), default=list(TRANSPORTS), metavar="LIST",
        help=f"among {','.join(TRANSPORTS)} (default: all)",
    )
    parser.add_argument(
        "--patterns", type=_choices(tuple(PATTERNS)), default=list(usable_patterns()), metavar="LIST",
        help=f"among {','.join(PATTERNS)} (default: all the libzmq in use has; server-client needs DRAFT sockets)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Run the benchmark and print its report."""
    libraries = LIBRARIES if args.compare else ("zeromq",)
    sizes: list[int] = args.sizes or list(QUICK_SIZES if args.quick else DEFAULT_SIZES)
    seconds: float = args.seconds or (QUICK_SECONDS if args.quick else DEFAULT_SECONDS)
    transports: list[str] = list(dict.fromkeys(args.transports))
    skipped: list[str] = []
    if "ipc" in transports and not zmq.has("ipc"):
        transports.remove("ipc")
        skipped.append("ipc: this libzmq has no ipc transport")
    cases = [
        Case(pattern, transport, size)
        for pattern in dict.fromkeys(args.patterns)
        for transport in transports
        for size in dict.fromkeys(sizes)
    ]
    if not cases:
        raise CLIError("nothing to measure")
    limit = Limit(seconds=seconds)
    progress = _Progress(len(cases) * args.rounds * len(libraries))
    results: list[tuple[Case, dict[str, float]]] = []
    try:
        with Runner() as runner:
            for case in cases:

                def measure(lib: str, case: Case = case) -> float:
                    progress.step(f"{case.label}  {lib}")
                    return runner.measure(case, lib, limit)

                results.append((case, median_of_rounds(args.rounds, libraries, measure)))
    finally:
        progress.clear()
    report = make_report(results, libraries, seconds=seconds, rounds=args.rounds, skipped=skipped)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(render(report))
    return 0


class _Progress:
    """One line on stderr saying what is being measured, when stderr is a terminal."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.done = 0
        self.enabled = sys.stderr.isatty()

    def step(self, text: str) -> None:
        self.done += 1
        if self.enabled:
            sys.stderr.write(f"\r\x1b[K[{self.done}/{self.total}] {text}")
            sys.stderr.flush()

    def clear(self) -> None:
        if self.enabled:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


def versions() -> dict[str, str]:
    """The versions a report is about."""
    try:
        own = metadata.version("zeromq")
    except metadata.PackageNotFoundError:
        own = "unknown"
    return {
        "zeromq": own,
        "libzmq": zmq.zmq_version(),
        "pyzmq": zmq.__version__,
        "python": platform.python_version(),
    }


def make_report(
    results: Sequence[tuple[Case, dict[str, float]]],
    libraries: Sequence[str],
    *,
    seconds: float,
    rounds: int,
    skipped: Sequence[str] = (),
) -> dict[str, Any]:
    """The JSON document of a run (`render` makes the tables from it)."""
    compare = BASELINE in libraries
    rows: list[dict[str, Any]] = []
    for case, values in results:
        row: dict[str, Any] = {
            "kind": "latency" if case.latency else "throughput",
            "pattern": case.pattern,
            "transport": case.transport,
            "size": case.size,
        }
        if case.latency:
            row["round_trip_us"] = values
        else:
            row["messages_per_s"] = values
            row["megabytes_per_s"] = {lib: v * case.size / 1e6 for lib, v in values.items()}
        if compare:
            row["ratio"] = {lib: v / values[BASELINE] for lib, v in values.items()}
        rows.append(row)
    return {
        "versions": versions(),
        "libraries": list(libraries),
        "baseline": BASELINE if compare else None,
        "seconds_per_measurement": seconds,
        "rounds": rounds,
        "skipped": list(skipped),
        "results": rows,
    }


_LIB_NAMES = {"zeromq": "zeromq", "pyzmq": "pyzmq sync", "zmq.asyncio": "zmq.asyncio"}


def _table(header: list[str], rows: list[list[str]], left: int) -> list[str]:
    """Aligned columns: the first `left` ones to the left, the rest to the right."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = []
    for row in [header, *rows]:
        cells = [
            cell.ljust(width) if i < left else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  " + "  ".join(cells).rstrip())
    return lines


def render(report: dict[str, Any]) -> str:
    """The human-readable tables of a report."""
    v = report["versions"]
    libraries: list[str] = report["libraries"]
    compare = report["baseline"] is not None
    rounds = report["rounds"]
    lines = [
        f"zeromq {v['zeromq']}, libzmq {v['libzmq']}, pyzmq {v['pyzmq']}, Python {v['python']}",
        f"{report['seconds_per_measurement']} s per measurement, "
        + (f"median of {rounds} rounds" if rounds > 1 else "1 round"),
    ]
    lines += [f"skipped {reason}" for reason in report["skipped"]]
    throughput = [r for r in report["results"] if r["kind"] == "throughput"]
    latency = [r for r in report["results"] if r["kind"] == "latency"]

    def case_cells(row: dict[str, Any]) -> list[str]:
        return [PATTERNS[row["pattern"]][0], row["transport"], format_size(row["size"])]

    if throughput:
        lines.append("")
        if compare:
            lines.append(f"Throughput, messages/s (x ratio to {_LIB_NAMES[BASELINE]}: higher is better)")
            header = ["", "", "size", *(_LIB_NAMES[lib] for lib in libraries)]
            rows = [
                case_cells(r)
                + [f"{r['messages_per_s'][lib]:,.0f} x{r['ratio'][lib]:.2f}" for lib in libraries]
                for r in throughput
            ]
        else:
            lines.append("Throughput")
            header = ["", "", "size", "messages/s", "MB/s"]
            rows = [
                [
                    *case_cells(r),
                    f"{r['messages_per_s']['zeromq']:,.0f}",
                    f"{r['megabytes_per_s']['zeromq']:,.1f}",
                ]
                for r in throughput
            ]
        lines += _table(header, rows, left=2)
    if latency:
        lines.append("")
        if compare:
            lines.append(
                f"Latency, mean round trip in us (x ratio to {_LIB_NAMES[BASELINE]}: lower is better)"
            )
            header = ["", "", "size", *(_LIB_NAMES[lib] for lib in libraries)]
            rows = [
                case_cells(r)
                + [f"{r['round_trip_us'][lib]:,.1f} x{r['ratio'][lib]:.2f}" for lib in libraries]
                for r in latency
            ]
        else:
            lines.append("Latency")
            header = ["", "", "size", "round trip (us)"]
            rows = [[*case_cells(r), f"{r['round_trip_us']['zeromq']:,.1f}"] for r in latency]
        lines += _table(header, rows, left=2)
    return "\n".join(lines)
