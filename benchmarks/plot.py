"""Throughput and round trip against message size: docs/benchmarks.png.

    python benchmarks/plot.py                          # sweep (about 2 minutes), then plot
    python benchmarks/plot.py --quick                  # a rough sweep in seconds
    python benchmarks/plot.py --save-json sweep.json   # keep the sweep's figures too
    python benchmarks/plot.py --from-json sweep.json   # plot figures measured before

Measures, for zeromq, pyzmq's sync sockets and zmq.asyncio, each with its
defaults on both ends, over tcp with the two ends in two processes
(`zeromq._cli._measure`, the machinery of `zeromq bench --compare`):

- PUSH->PULL throughput for messages of 1 B to 1 MB;
- REQ<->REP mean round trip for the same sizes.

The libraries take turns case by case and round by round; each point is the
median of its rounds. Needs matplotlib (``pip install -e '.[bench]'``, or
``make plot``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from bench_targets import commit, machine, wait_for_quiet

from zeromq._cli._measure import LIBRARIES, Case, Limit, Runner, format_size
from zeromq._cli.bench import versions

KEYS = {"push-pull": "messages_per_s", "req-rep": "round_trip_us"}  # pattern -> JSON key
ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "docs" / "benchmarks.png"
SIZES = (1, 10, 100, 1_000, 10_000, 100_000, 1_000_000)
QUICK_SIZES = (1, 1_000, 1_000_000)
NAMES = {"zeromq": "zeromq", "pyzmq": "pyzmq sync", "zmq.asyncio": "zmq.asyncio"}
STYLES = {
    "zeromq": {"color": "#d62728", "marker": "o"},
    "pyzmq": {"color": "#1f77b4", "marker": "s"},
    "zmq.asyncio": {"color": "#7f7f7f", "marker": "^"},
}


def sweep(sizes: tuple[int, ...], rounds: int, seconds: float, quiet: bool = False) -> dict[str, Any]:
    """Measure every size and library; the figures as a JSON-able document.

    Each round measures every case, the libraries taking turns (who goes
    first rotates), so that each round is a whole sweep taken in one stretch
    of time: a round that meets a noisy or slow spell of the machine shifts
    every point alike, and the medians of the rounds stay comparable across
    sizes. With `quiet`, each round first waits (up to 30 s) for other
    processes to calm down.
    """
    limit = Limit(seconds=seconds)
    cases = [Case(pattern, "tcp", size) for pattern in ("push-pull", "req-rep") for size in sizes]
    samples: dict[str, dict[str, dict[str, list[float]]]] = {
        key: {str(size): {lib: [] for lib in LIBRARIES} for size in sizes} for key in KEYS.values()
    }
    started, revision, clock = machine(), commit(), time.monotonic()
    with Runner() as runner:
        for round_ in range(rounds):
            if quiet:
                wait_for_quiet()
            for index, case in enumerate(cases):
                print(f"[round {round_ + 1}/{rounds}] {case.label}", file=sys.stderr, flush=True)
                shift = (round_ + index) % len(LIBRARIES)
                for lib in LIBRARIES[shift:] + LIBRARIES[:shift]:
                    value = runner.measure(case, lib, limit)
                    samples[KEYS[case.pattern]][str(case.size)][lib].append(value)
    medians = {
        key: {size: {lib: statistics.median(v) for lib, v in libs.items()} for size, libs in by_size.items()}
        for key, by_size in samples.items()
    }
    return {
        "versions": versions(),
        "commit": revision,
        "machine": started,
        "rounds": rounds,
        "seconds_per_measurement": seconds,
        "elapsed_seconds": time.monotonic() - clock,
        "sizes": list(sizes),
        "libraries": list(LIBRARIES),
        **medians,
        "samples": samples,
    }


def _human(value: float) -> str:
    """``2M``, ``500k``, ``20``, ``0.5``: an axis label."""
    for unit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= unit:
            return f"{value / unit:g}{suffix}"
    return f"{value:g}"


def plot(data: dict[str, Any], out: Path) -> None:
    """Draw the three panels of a sweep into `out` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import (
        FixedLocator,
        FuncFormatter,
        LogLocator,
        NullFormatter,
        NullLocator,
    )

    sizes: list[int] = data["sizes"]
    libraries: list[str] = data["libraries"]
    fig, axes = plt.subplots(1, 3, figsize=(16, 5.6), constrained_layout=True)
    panels = (
        ("Throughput, PUSH->PULL", "messages per second", "messages_per_s", 1.0),
        ("Throughput, PUSH->PULL", "MB per second (payload)", "messages_per_s", None),
        ("Latency, REQ<->REP", "mean round trip (µs), lower is better", "round_trip_us", 1.0),
    )
    for ax, (title, ylabel, key, scale) in zip(axes, panels, strict=True):
        for lib in libraries:
            factors = [1.0 if scale else size / 1e6 for size in sizes]  # msg/s -> MB/s
            values = [data[key][str(size)][lib] * f for size, f in zip(sizes, factors, strict=True)]
            ax.plot(sizes, values, label=NAMES.get(lib, lib), linewidth=2, markersize=6, **STYLES[lib])
            if "samples" in data and data["rounds"] > 1:  # the rounds' spread, lowest to highest
                spread = [data["samples"][key][str(size)][lib] for size in sizes]
                ax.fill_between(
                    sizes, [min(r) * f for r, f in zip(spread, factors, strict=True)],
                    [max(r) * f for r, f in zip(spread, factors, strict=True)],
                    color=STYLES[lib]["color"], alpha=0.12, linewidth=0,
                )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.xaxis.set_major_locator(FixedLocator(sizes))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: format_size(round(x))))
        ax.set_xlabel("message size")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: _human(y)))
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.grid(True, which="major", alpha=0.35)
        ax.grid(True, which="minor", axis="y", alpha=0.12)
        ax.legend()
    v, m = data["versions"], data["machine"]
    rounds = data["rounds"]
    fig.suptitle(
        "zeromq, pyzmq sync and zmq.asyncio over tcp (two processes, each library's defaults)\n"
        f"zeromq {v['zeromq']}{' (' + data['commit'] + ')' if data.get('commit') else ''}, "
        f"libzmq {v['libzmq']}, pyzmq {v['pyzmq']}, {m['python']}; "
        f"median of {rounds} round{'s' if rounds != 1 else ''} of {data['seconds_per_measurement']} s "
        f"per point{' (bands: lowest to highest round)' if rounds > 1 else ''}\n{m['cpus']} x {m['cpu_model']}, {m['memory']}, {m['os']}",
        fontsize=10.5,
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)


def main() -> None:
    """Sweep (or read a sweep) and plot it."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 sizes, 1 round of 0.1 s")
    parser.add_argument("--rounds", type=int, help="rounds per point (default 3)")
    parser.add_argument("--seconds", type=float, help="seconds per measurement (default 0.5)")
    parser.add_argument("--from-json", type=Path, metavar="PATH", help="plot this sweep instead of measuring")
    parser.add_argument("--save-json", type=Path, metavar="PATH", help="also write the sweep's figures here")
    parser.add_argument("--quiet", action="store_true",
                        help="before each round, wait (up to 30 s) for other processes to calm down")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the PNG (default %(default)s)")
    args = parser.parse_args()
    if args.from_json:
        data = json.loads(args.from_json.read_text())
    else:
        data = sweep(
            QUICK_SIZES if args.quick else SIZES,
            args.rounds or (1 if args.quick else 3),
            args.seconds or (0.1 if args.quick else 0.5),
            quiet=args.quiet,
        )
    if args.save_json:
        args.save_json.parent.mkdir(parents=True, exist_ok=True)
        args.save_json.write_text(json.dumps(data, indent=2) + "\n")
    plot(data, args.out)
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
