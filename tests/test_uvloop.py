"""zeromq on other event loops: the engine, lifecycle, observer, proxy and
security tests pass with uvloop's event loop (many applications run on it)
and with an asyncio loop that cannot watch fds, as Windows' Proactor loop
cannot (the engine then waits through a selector thread)."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
SUITES = (
    "test_engine.py", "test_engine_readiness.py", "test_engine_queue.py",
    "test_lifecycle.py", "test_observer.py", "test_proxy.py",
    "security/test_authenticator.py", "security/test_failing_closed.py", "security/test_secrets.py",
)


async def test_async_tests_run_on_the_loop_asked_for() -> None:
    # conftest.py runs async tests on uvloop when ZEROMQ_TEST_LOOP=uvloop.
    loop = asyncio.get_running_loop()
    module = type(loop).__module__
    kind = os.environ.get("ZEROMQ_TEST_LOOP")
    if kind == "uvloop":
        assert module.startswith("uvloop")
    elif kind == "no-fd-watching":
        with pytest.raises(NotImplementedError):
            loop.add_reader(0, print)
    else:
        assert module.startswith("asyncio")


@pytest.mark.parametrize("kind", ["uvloop", "no-fd-watching"])
@pytest.mark.timeout(300)
def test_the_suites_pass_on(kind: str) -> None:
    if kind == "uvloop" and importlib.util.find_spec("uvloop") is None:
        pytest.skip("uvloop is not installed (the dev extra installs it where it has wheels)")
    env = dict(os.environ, ZEROMQ_TEST_LOOP=kind)
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
