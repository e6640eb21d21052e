"""zeromq and pyzmq sync against the Node.js bindings (the npm package `zeromq`).

    python benchmarks/bench_node.py           # the full comparison (about two minutes)
    python benchmarks/bench_node.py --quick   # one short round, a few seconds
    python benchmarks/bench_node.py --json    # one JSON document, every round included

Needs `node` and, the first time, `npm`: the run installs the version pinned
in `benchmarks/node/package-lock.json` into `benchmarks/node/node_modules`
(``npm ci --ignore-scripts``: the package ships prebuilt binaries, nothing is
compiled or downloaded besides the package itself) and does not install again
while the lock file is unchanged. Where node or npm is missing, the install
fails or the installed package does not load, it prints one line saying why
("skipped") and exits 0.

What it measures, for each library, both ends of the same library in two
processes over tcp on 127.0.0.1, as `zeromq bench` does
(`zeromq._cli._measure`):

- 100 B PUSH->PULL and DEALER->ROUTER throughput, and 1 MB PUSH->PULL
  throughput: the receiving end binds and counts messages for the time of a
  measurement, from the first one; the other end sends as fast as it can.
- 1 B REQ<->REP: the mean round trip after a warm-up, the REP echoing.

zeromq and pyzmq sync are measured by `zeromq._cli._measure` (a worker
process binds, this process connects); the Node.js side by two processes of
`benchmarks/node/bench.mjs`, the same measurement in JavaScript, with the same
high-water marks, linger and timing. The three libraries take turns row by row
and round by round (which goes first rotates). A figure is the median of its
rounds; a ratio is the median of the rounds' ratios, each a library's figure
over the pyzmq sync figure measured beside it (for the round trip, a ratio
above 1 is slower than pyzmq sync).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench_targets import (
    FULL_ROUNDS,
    FULL_SECONDS,
    QUICK_ROUNDS,
    QUICK_SECONDS,
    NoiseMeter,
    commit,
    format_figure,
    machine,
    paired_ratio,
    run_arguments,
)

from zeromq._cli._measure import BenchError, Case, Limit, Runner
from zeromq._cli._measure import _Worker as Worker
from zeromq._cli.bench import _Progress, versions

NODE_DIR = Path(__file__).resolve().parent / "node"
SCRIPT = "bench.mjs"
STAMP = ".bench-node-installed"  # in node_modules: the hash of the lock file installed

ZEROMQ = "zeromq"
PYZMQ = "pyzmq"  # pyzmq's sync sockets, the baseline
NODE = "node"  # the npm package zeromq, on Node.js
LIBRARIES = (ZEROMQ, PYZMQ, NODE)
TITLES = {ZEROMQ: "zeromq", PYZMQ: "pyzmq sync", NODE: "Node.js zeromq"}



@dataclass(frozen=True)
class Row:
    """One measurement, made for each library."""

    key: str
    title: str
    case: Case


ROWS: tuple[Row, ...] = (
    Row("push-pull-100", "100 B PUSH->PULL tcp", Case("push-pull", "tcp", 100)),
    Row("dealer-router-100", "100 B DEALER->ROUTER tcp", Case("dealer-router", "tcp", 100)),
    Row("req-rep-1", "1 B REQ<->REP tcp, round trip", Case("req-rep", "tcp", 1)),
    # pyzmq sends 1 MB without a copy, as zeromq's send() and bench_targets' row 4 do.
    Row(
        "push-pull-1mb",
        "1 MB PUSH->PULL tcp",
        Case("push-pull", "tcp", 1_000_000, zero_copy_send=True),
    ),
)


class Skip(Exception):
    """The Node.js side cannot run here; the message says why."""


# -- installing the npm package -------------------------------------------------------


def _tail(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def _npm_reason(text: str) -> str:
    """What npm's error output says went wrong, in one line."""
    lines = [
        line.strip().removeprefix("npm error").removeprefix("npm ERR!").strip()
        for line in text.splitlines()
    ]
    for line in lines:
        if len(line.split()) > 3 and not line.startswith(("at ", "A complete log")):
            return line
    return _tail(text)


def _lock_hash(directory: Path) -> str:
    digest = hashlib.sha256()
    for name in ("package.json", "package-lock.json"):
        path = directory / name
        if path.exists():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def ensure_installed(directory: Path, timeout: float) -> None:
    """Install the pinned npm package into `directory`/node_modules unless the
    same lock file was installed there before.

    Raises:
        Skip: npm is missing, or the install failed or took longer than `timeout`.
    """
    stamp = directory / "node_modules" / STAMP
    wanted = _lock_hash(directory)
    # One install at a time (say, a test and a run by hand): lock package.json.
    with open(directory / "package.json") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        if stamp.exists() and stamp.read_text().strip() == wanted:
            return
        npm = shutil.which("npm")
        if npm is None:
            raise Skip("npm is not installed, and the npm package zeromq is not installed yet")
        command = "ci" if (directory / "package-lock.json").exists() else "install"
        try:
            result = subprocess.run(
                [
                    npm,
                    command,
                    "--ignore-scripts",
                    "--no-audit",
                    "--no-fund",
                    "--prefer-offline",
                    "--fetch-retries=0",
                    f"--fetch-timeout={int(timeout * 800)}",
                ],
                cwd=directory,
                capture_output=True,
                text=True,
                timeout=timeout,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            raise Skip(
                f"npm {command} took more than {timeout:.0f} s (is the npm registry reachable?)"
            ) from None
        except OSError as exc:
            raise Skip(f"npm {command} could not run: {exc}") from None
        if result.returncode != 0:
            raise Skip(f"npm {command} failed: {_npm_reason(result.stderr or result.stdout)}")
        stamp.write_text(wanted + "\n")


# -- the Node.js side -----------------------------------------------------------------


def _node_process(node: str, directory: Path) -> Worker:
    """A process of bench.mjs: it speaks the JSON lines of the Python workers."""
    return Worker("node", command=[node, SCRIPT], cwd=directory)


class NodeRunner:
    """Measures the Node.js bindings with two bench.mjs processes: one binds
    the receiving end (or the echoing REP), the other connects the sender (or
    the REQ)."""

    def __init__(self, node: str, directory: Path) -> None:
        self._node, self._directory = node, directory
        self._bound: Worker | None = None
        self._connected: Worker | None = None
        self.last_reply: dict[str, Any] = {}

    def _processes(self) -> tuple[Worker, Worker]:
        if self._bound is None or self._connected is None:
            self.close(kill=True)
            self._bound = _node_process(self._node, self._directory)
            self._connected = _node_process(self._node, self._directory)
        return self._bound, self._connected

    def version(self) -> dict[str, str]:
        """Node.js's, the npm package's and its libzmq's versions."""
        bound, _ = self._processes()
        bound.send({"op": "version"})
        return bound.reply()

    def measure(self, case: Case, limit: Limit) -> float:
        """Messages per second, or the mean round trip in us."""
        bound, connected = self._processes()
        command = {"case": asdict(case), "limit": asdict(limit)}
        self.last_reply = {}
        try:
            if case.latency:
                bound.send({"op": "echo", **command})
                connected.send({"op": "trips", "endpoint": bound.reply()["endpoint"], **command})
                mean = float(connected.reply()["value"])
                bound.reply()
                return mean
            bound.send({"op": "receive", **command})
            connected.send({"op": "send", "endpoint": bound.reply()["endpoint"], **command})
            connected.reply()  # sending
            result = bound.reply()
            connected.send({"op": "stop"})
            connected.reply()
            self.last_reply = result
            return float(result["messages"]) / float(result["seconds"])
        except BenchError:
            self.close(kill=True)
            raise

    def close(self, *, kill: bool = False) -> None:
        for process in (self._bound, self._connected):
            if process is not None:
                process.close(kill=kill)
        self._bound = self._connected = None


def node_side(directory: Path, install_timeout: float) -> tuple[NodeRunner, dict[str, str]]:
    """Install if needed and start the Node.js side: the runner and its versions.

    Raises:
        Skip: node or npm is missing, or the package does not install or load.
    """
    node = shutil.which("node")
    if node is None:
        raise Skip("node is not installed")
    ensure_installed(directory, install_timeout)
    runner = NodeRunner(node, directory)
    try:
        about = runner.version()
    except BenchError as exc:
        runner.close(kill=True)
        raise Skip(f"the npm package zeromq does not load: {exc}") from None
    npm = shutil.which("npm")
    if npm is not None:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            about["npm"] = subprocess.run(
                [npm, "--version"],
                capture_output=True,
                text=True,
                timeout=30,
                stdin=subprocess.DEVNULL,
            ).stdout.strip()
    return runner, about


# -- measuring --------------------------------------------------------------------------


@dataclass
class Measured:
    samples: dict[str, dict[str, list[float]]]  # row key -> library -> one figure per round
    received: dict[str, dict[str, set[str]]]  # row key -> library -> type of the parts received
    round_noise: list[float | None]  # CPUs other processes kept busy, per round


def measure(rows: Sequence[Row], rounds: int, seconds: float, node: NodeRunner) -> Measured:
    """Each row for each library, `rounds` times, the libraries taking turns."""
    limit = Limit(seconds=seconds)
    samples: dict[str, dict[str, list[float]]] = {
        row.key: {lib: [] for lib in LIBRARIES} for row in rows
    }
    received: dict[str, dict[str, set[str]]] = {
        row.key: {lib: set() for lib in LIBRARIES} for row in rows
    }
    round_noise: list[float | None] = []
    meter = NoiseMeter()
    progress = _Progress(rounds * len(rows) * len(LIBRARIES))
    try:
        with Runner() as runner:
            for round_ in range(rounds):
                meter.reset()
                for index, row in enumerate(rows):
                    shift = (round_ + index) % len(LIBRARIES)
                    for lib in LIBRARIES[shift:] + LIBRARIES[:shift]:
                        progress.step(f"round {round_ + 1}/{rounds}  {row.title}  {TITLES[lib]}")
                        if lib == NODE:
                            value = node.measure(row.case, limit)
                            reply = node.last_reply
                        else:
                            value = runner.measure(row.case, lib, limit)
                            reply = runner.last_reply
                        samples[row.key][lib].append(value)
                        if "received" in reply:
                            received[row.key][lib].add(str(reply["received"]))
                round_noise.append(meter.load())
    finally:
        progress.clear()
    return Measured(samples, received, round_noise)


def make_report(rows: Sequence[Row], measured: Measured, **about: Any) -> dict[str, Any]:
    """The JSON document of a run."""
    report_rows = []
    for row in rows:
        samples = measured.samples[row.key]
        base = samples[PYZMQ]
        report_rows.append(
            {
                "key": row.key,
                "title": row.title,
                "unit": "us" if row.case.latency else "msg/s",
                "figures": {lib: statistics.median(values) for lib, values in samples.items()},
                "ratios": {lib: paired_ratio(values, base) for lib, values in samples.items()},
                "received": {
                    lib: sorted(types) for lib, types in measured.received[row.key].items() if types
                },
                "samples": samples,
            }
        )
    return {**about, "rows": report_rows, "round_others_load": measured.round_noise}


# -- output -------------------------------------------------------------------------------


def render(report: dict[str, Any], *, markdown: bool = False) -> str:
    """The table: each library's figure, and its ratio to pyzmq sync."""
    v, n, m = report["versions"], report["node"], report["machine"]
    about = [
        f"zeromq {v['zeromq']}, pyzmq {v['pyzmq']} (libzmq {v['libzmq']}), {m['python']}"
        + (f", commit {report['commit']}" if report.get("commit") else ""),
        f"Node.js {n['node']}, npm package zeromq {n['zeromq']} (libzmq {n['libzmq']})"
        + (f", npm {n['npm']}" if n.get("npm") else ""),
        f"{m['cpus']} x {m['cpu_model']}, {m['os']}",
        f"median of {report['rounds']} round{'s' if report['rounds'] > 1 else ''} of "
        f"{report['seconds_per_measurement']} s per figure, the libraries taking turns; "
        f"ratio: the median of the rounds' ratios to pyzmq sync; {report['elapsed_seconds']:.0f} s in all",
    ]
    if report.get("others_load") is not None:
        about.append(f"other processes kept {report['others_load']:.2f} CPUs busy on average")
    header = ["row", *(TITLES[lib] for lib in LIBRARIES), "zeromq ratio", "Node.js ratio"]
    cells = [
        [
            row["title"],
            *(format_figure(row["figures"][lib], row["unit"]) for lib in LIBRARIES),
            f"{row['ratios'][ZEROMQ]:.2f}",
            f"{row['ratios'][NODE]:.2f}",
        ]
        for row in report["rows"]
    ]
    note = "(round trip: a ratio above 1 is slower than pyzmq sync)"
    if markdown:
        lines = [f"_{line}_  " for line in about]
        lines += ["", "| " + " | ".join(header) + " |", "|:---|" + "---:|" * (len(header) - 1)]
        lines += ["| " + " | ".join(row) + " |" for row in cells]
        return "\n".join([*lines, "", note])
    widths = [max(len(r[i]) for r in [header, *cells]) for i in range(len(header))]
    lines = [*about, ""]
    for row in [header, *cells]:
        lines.append(
            "  "
            + "  ".join(
                cell.ljust(w) if i == 0 else cell.rjust(w)
                for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            )
        )
    return "\n".join([*lines, "", note])


def main(argv: Sequence[str] | None = None) -> int:
    """Run the comparison and print it; 0 also when skipped, 2 when a measurement fails."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"a short smoke run ({QUICK_ROUNDS} round of {QUICK_SECONDS} s per figure)",
    )
    parser.add_argument(
        "--rounds", type=int, help=f"rounds (default {FULL_ROUNDS}, --quick {QUICK_ROUNDS})"
    )
    parser.add_argument(
        "--seconds",
        type=float,
        help=f"seconds per figure (default {FULL_SECONDS}, --quick {QUICK_SECONDS})",
    )
    parser.add_argument(
        "--only",
        metavar="KEYS",
        help="a comma-separated subset of rows: " + ", ".join(row.key for row in ROWS),
    )
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print one JSON document")
    output.add_argument("--markdown", action="store_true", help="print the table in Markdown")
    parser.add_argument(
        "--node-dir",
        type=Path,
        default=NODE_DIR,
        help="the folder of package.json and bench.mjs (default: benchmarks/node)",
    )
    parser.add_argument(
        "--install-timeout",
        type=float,
        help="seconds npm may take to install (default 60, --quick 15)",
    )
    args = parser.parse_args(argv)

    rounds, seconds, rows = run_arguments(parser, args, ROWS)

    try:
        node, node_versions = node_side(
            args.node_dir, args.install_timeout or (15.0 if args.quick else 60.0)
        )
    except Skip as exc:
        print(json.dumps({"skipped": str(exc)}) if args.json else f"bench_node: skipped: {exc}")
        return 0
    started = {**machine(), "commit": commit()}
    clock, meter = time.monotonic(), NoiseMeter()
    try:
        measured = measure(rows, rounds, seconds, node)
    except BenchError as exc:
        print(f"bench_node: error: {exc}", file=sys.stderr)
        return 2
    finally:
        node.close()
    report = make_report(
        rows,
        measured,
        versions=versions(),
        node=node_versions,
        machine=started,
        commit=started["commit"],
        rounds=rounds,
        seconds_per_measurement=seconds,
        elapsed_seconds=time.monotonic() - clock,
        others_load=meter.load(),
    )
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(render(report, markdown=args.markdown))
    return 0


if __name__ == "__main__":
    sys.exit(main())
