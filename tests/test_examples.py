"""The examples run and say what they show."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_demo_runs_every_pattern() -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "demo.py")], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "pull received task 2" in out
    assert "request 'zeromq' -> reply 'ZEROMQ'" in out
    assert "subscriber got weather: sunny, 21 C" in out
    assert "not delivered" not in out.split("subscriber is connected")[1]
    assert out.rstrip().endswith("done")
