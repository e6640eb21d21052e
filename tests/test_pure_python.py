"""The pure-Python engine calls (used where the C accelerator cannot be built)
pass the same engine, lifecycle and trio tests."""

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
            str(TESTS / "test_trio.py"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
    )
    # The first failure's own traceback (where it hung or failed), then the summary.
    failures = result.stdout.partition("= FAILURES =")[2][:3000]
    assert result.returncode == 0, failures + "\n[...]\n" + result.stdout[-1500:] + result.stderr[-1000:]
    assert " passed" in result.stdout


def _in_fresh_process(args: list[str], pure_python: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "ZEROMQ_PURE_PYTHON"}
    if pure_python is not None:
        env["ZEROMQ_PURE_PYTHON"] = pure_python
    result = subprocess.run(
        [sys.executable, *args], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.mark.parametrize(
    ("pure_python", "accelerated"),
    [(None, True), ("", True), ("0", True), ("1", False), ("yes", False)],
)
def test_zeromq_accelerated_says_whether_the_accelerator_is_used(
    pure_python: str | None, accelerated: bool
) -> None:
    """`ZEROMQ_PURE_PYTHON=0` means "not forced" (the suite builds the accelerator)."""
    out = _in_fresh_process(["-c", "import zeromq; print(zeromq.accelerated)"], pure_python)
    assert out == str(accelerated)


@pytest.mark.parametrize(("pure_python", "shown"), [("0", "C accelerator on"), ("1", "C accelerator off")])
def test_version_shows_whether_the_accelerator_is_used(pure_python: str, shown: str) -> None:
    out = _in_fresh_process(["-m", "zeromq", "--version"], pure_python)
    assert shown in out
