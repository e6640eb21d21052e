"""`benchmarks/bench_round_trip.py`: the round trip in fresh processes.

A smoke test only: the shape of the report and that every figure was
measured, never a speed (timed assertions are not tests).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "bench_round_trip.py"


def test_quick_json_measures_every_library_against_pyzmq() -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT / "benchmarks",
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    libraries = report["libraries"]
    assert {"pyzmq", "zeromq"} <= set(libraries)
    for lib, row in libraries.items():
        for key in ("round_trip_us", "cpu_per_end_us") + (
            () if lib == "pyzmq" else ("round_trip_ratio", "cpu_per_end_ratio")
        ):
            figures = row[key]
            assert 0 < figures["min"] <= figures["median"] <= figures["max"], (lib, key, figures)
