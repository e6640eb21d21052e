"""The pure-Python engine calls (used where the C accelerator cannot be built)
pass the same engine and lifecycle tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent


@pytest.mark.timeout(300)
def test_engine_tests_pass_without_the_accelerator() -> None:
    env = dict(os.environ, ZEROMQ_PURE_PYTHON="1")
    result = subprocess.run(
        [
            sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
            "-k", "not accelerator",
            str(TESTS / "test_engine.py"), str(TESTS / "test_lifecycle.py"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert " passed" in result.stdout
