"""The soak script (`make soak`, about a minute) is kept working by a short
run of it here; the long run stays out of the default test run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SOAK = Path(__file__).resolve().parent / "soak.py"


@pytest.mark.timeout(120)
def test_a_short_soak_injects_faults_and_loses_nothing() -> None:
    result = subprocess.run(
        [sys.executable, str(SOAK), "--seconds", "3", "--seed", "7"],
        capture_output=True, text=True, timeout=100,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [line.strip() for line in result.stdout.splitlines()]

    def figure(name: str) -> int:
        [line] = [line for line in lines if line.startswith(f"{name}: ")]
        return int(line.split()[len(name.split())].replace(",", ""))

    assert figure("messages lost") == 0
    assert figure("order violations") == 0
    assert figure("errors leaked into the event loop") == 0
    assert figure("messages sent") > 10_000
    for kind in ("sends and receives cancelled", "clients closed and replaced",
                 "hostile connections", "servers killed"):
        assert figure(kind) > 0, kind
