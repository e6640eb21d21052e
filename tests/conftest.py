"""Shared test set-up: async tests, transports and socket pairs."""

from __future__ import annotations

import asyncio
import inspect
import os
import tempfile
import uuid
from collections.abc import Callable

import pytest

import zeromq

TRANSPORTS = ("tcp", "ipc", "inproc")
_IPC_DIR = tempfile.mkdtemp(prefix="zeromq-tests-")


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run `async def` tests, each on a fresh event loop."""
    func = pyfuncitem.obj
    if not inspect.iscoroutinefunction(func):
        return None
    names = pyfuncitem._fixtureinfo.argnames
    kwargs = {name: pyfuncitem.funcargs[name] for name in names}
    with asyncio.Runner(loop_factory=_LOOP_FACTORY) as runner:
        runner.run(func(**kwargs))
    return True


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The event loop async tests run on: asyncio's, or uvloop's when
    ZEROMQ_TEST_LOOP=uvloop (see test_uvloop.py)."""
    if os.environ.get("ZEROMQ_TEST_LOOP") != "uvloop":
        return None
    import uvloop

    return uvloop.new_event_loop


_LOOP_FACTORY = _loop_factory()


def address(transport: str) -> str:
    """A fresh address to bind for a transport (tcp binds a random port)."""
    if transport == "tcp":
        return "tcp://127.0.0.1:*"
    if transport == "ipc":
        return f"ipc://{os.path.join(_IPC_DIR, uuid.uuid4().hex[:12])}"
    return f"inproc://{uuid.uuid4().hex}"


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> str:
    """Parametrises a test over tcp, ipc and inproc."""
    return str(request.param)


async def bind(sock: zeromq.Socket, transport: str) -> str:
    """Bind `sock` on a fresh address of `transport`; return what to connect to."""
    await sock.bind(address(transport))
    endpoint = sock.last_endpoint
    assert endpoint is not None
    return endpoint


@pytest.fixture
def make_pair() -> Callable[..., object]:
    """Returns an async factory: `await make_pair(Bound, Connected, transport, **opts)`
    binds one socket, connects the other and closes both after the test."""
    made: list[zeromq.Socket] = []

    async def factory(
        bound_cls: type[zeromq.Socket],
        connected_cls: type[zeromq.Socket],
        transport: str,
        **options: object,
    ) -> tuple[zeromq.Socket, zeromq.Socket]:
        bound = bound_cls(linger=0, **options)
        connected = connected_cls(linger=0, **options)
        made.extend((bound, connected))
        connected.connect(await bind(bound, transport))
        return bound, connected

    yield factory
    for sock in made:
        sock.close()
