"""zeromq on uvloop: the engine, lifecycle, observer, proxy and security tests
pass with uvloop's event loop too (many applications run on it)."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
SUITES = ("test_engine.py", "test_lifecycle.py", "test_observer.py", "test_proxy.py", "test_security.py")


async def test_async_tests_run_on_the_loop_asked_for() -> None:
    # conftest.py runs async tests on uvloop when ZEROMQ_TEST_LOOP=uvloop.
    module = type(asyncio.get_running_loop()).__module__
    if os.environ.get("ZEROMQ_TEST_LOOP") == "uvloop":
        assert module.startswith("uvloop")
    else:
        assert module.startswith("asyncio")


@pytest.mark.skipif(
    importlib.util.find_spec("uvloop") is None,
    reason="uvloop is not installed (the dev extra installs it where it has wheels)",
)
@pytest.mark.timeout(300)
def test_the_suites_pass_on_uvloop() -> None:
    env = dict(os.environ, ZEROMQ_TEST_LOOP="uvloop")
    result = subprocess.run(
        [
            sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
            f"{TESTS / 'test_uvloop.py'}::test_async_tests_run_on_the_loop_asked_for",
            *(str(TESTS / name) for name in SUITES),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and " failed" not in result.stdout
