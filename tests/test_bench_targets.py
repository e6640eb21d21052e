"""`benchmarks/bench_targets.py` runs and reports every target row, and
`benchmarks/bench_round_trip.py` the round trip in fresh processes.

A smoke test only: it checks the shape of the report and that every figure
was measured, never a ratio or a speed (timed assertions are not tests).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "bench_targets.py"
ROWS = {
    "push-pull-100",
    "dealer-router-100",
    "req-rep-1",
    "push-pull-1mb",
    "push-pull-1mb-zero-copy",
    "inproc-100",
    "send-100",
}


def test_quick_json_has_every_target_row() -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--json"],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    rows = {row["key"]: row for row in report["rows"]}
    assert set(rows) == ROWS
    for row in rows.values():
        assert row["zeromq"] > 0 and row["pyzmq"] > 0, row
        assert row["ratio"] > 0
        assert row["comparison"] in ("<=", ">=")
        assert isinstance(row["met"], bool)
    # Each receiving end took the path its row names.
    assert rows["push-pull-1mb"]["received"] == {"zeromq": ["bytes"], "pyzmq": ["bytes"]}
    assert rows["push-pull-1mb-zero-copy"]["received"] == {"zeromq": ["memoryview"], "pyzmq": ["Frame"]}
    # The round trip row tells the CPU time per round trip of each end, per library.
    cpu = rows["req-rep-1"]["cpu"]
    assert {"zeromq", "pyzmq"} <= set(cpu)
    for side in cpu.values():
        assert side["client"] > 0 and side["server"] > 0 and side["per_end"] > 0, cpu
    for row in rows.values():
        low, high = row["ratio_range"]
        assert low <= row["ratio"] <= high
    # Not timed either: whether a large bytes payload kept its memory on the way.
    assert report["checks"]["bytearray_copied"] is True
    if report["accelerated"]:
        assert report["checks"]["bytes_sent_without_copy"] is True


def test_shared_dealer_comparison_is_reported() -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--json", "--only", "req-rep-1", "--shared-dealer"],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    shared = json.loads(result.stdout)["shared_dealer"]
    assert shared["tasks"] == 16
    assert shared["zeromq"] > 0 and shared["zmq_asyncio"] > 0 and shared["ratio"] > 0


def test_the_round_trip_in_fresh_processes_measures_every_library_against_pyzmq() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_round_trip.py"), "--quick", "--json"],
        capture_output=True, text=True, timeout=120, cwd=ROOT / "benchmarks",
    )
    assert result.returncode == 0, result.stderr
    libraries = json.loads(result.stdout)["libraries"]
    assert {"pyzmq", "zeromq"} <= set(libraries)
    for lib, row in libraries.items():
        keys = ["round_trip_us", "cpu_per_end_us"]
        if lib != "pyzmq":
            keys += ["round_trip_ratio", "cpu_per_end_ratio"]
        for key in keys:
            figures = row[key]
            assert 0 < figures["min"] <= figures["median"] <= figures["max"], (lib, key, figures)
