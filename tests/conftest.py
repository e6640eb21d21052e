"""Shared test set-up: async tests, transports and socket pairs."""

from __future__ import annotations

import asyncio
import inspect
import os
import sys
import tempfile
import threading
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import pytest

import zeromq

T = TypeVar("T")

TRANSPORTS = ("tcp", "ipc", "inproc")

# libzmq before 4.3.5 (Debian's 4.3.4, which `make draft` builds) counts whole
# messages in the proxy statistics where 4.3.5 counts parts, and copies the
# proxy's control commands (PAUSE, RESUME, TERMINATE, STATISTICS) to the
# capture socket too.
LIBZMQ_4_3_5 = tuple(int(n) for n in zeromq.version.split(".")) >= (4, 3, 5)


def proxy_counted(parts: int, messages: int) -> int:
    """What libzmq's proxy statistics count for `parts` parts in `messages` messages."""
    return parts if LIBZMQ_4_3_5 else messages
_IPC_DIR = tempfile.mkdtemp(prefix="zeromq-tests-")


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run `async def` tests, each on a fresh event loop."""
    func = pyfuncitem.obj
    if not inspect.iscoroutinefunction(func):
        return None
    names = pyfuncitem._fixtureinfo.argnames
    kwargs = {name: pyfuncitem.funcargs[name] for name in names}
    # A hang must end inside the loop, well before pytest-timeout's signal: that
    # interrupts the loop wherever it is, and the Runner's close() then waits
    # for tasks that may never end, so the whole run would hang.
    marker = pyfuncitem.get_closest_marker("timeout")
    limit = float(marker.args[0]) if marker is not None and marker.args else float(
        pyfuncitem.config.getini("timeout") or 120
    )
    bound = 0.75 * limit

    async def bounded() -> None:
        try:
            async with asyncio.timeout(bound) as scope:
                await func(**kwargs)
        except TimeoutError:
            if scope.expired():
                raise AssertionError(
                    f"hung: the whole test {pyfuncitem.name} took over {bound:.0f} s"
                ) from None
            raise

    with asyncio.Runner(loop_factory=_LOOP_FACTORY) as runner:
        runner.run(bounded())
    return True


# Seconds the process may take to exit once the suite has reported.
EXIT_BOUND = 60.0


def pytest_unconfigure(config: pytest.Config) -> None:
    """Bound the process exit after the suite.

    A test that fails half-way can leave a socket lingering forever with a
    message nobody will take; the process exit then waits for it (as libzmq's
    contexts do), and the run would hang until CI gives up, long after the
    results were printed. Instead, after EXIT_BOUND seconds, say so and exit
    with a failing status (3 if the tests themselves passed: something was
    left half-open).
    """

    def give_up() -> None:
        sys.stderr.write(
            f"tests: the process exit still waits after {EXIT_BOUND:.0f} s (a socket left"
            " lingering with queued messages by a test?); exiting without it\n"
        )
        sys.stderr.flush()
        os._exit(int(getattr(config, "_zeromq_exitstatus", 0)) or 3)

    timer = threading.Timer(EXIT_BOUND, give_up)
    timer.daemon = True
    timer.start()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    session.config._zeromq_exitstatus = int(exitstatus)  # type: ignore[attr-defined]


class NoFdWatchingLoop(asyncio.SelectorEventLoop):
    """An asyncio loop that cannot watch fds, as Windows' Proactor loop
    cannot: its `add_reader` and `remove_reader` raise NotImplementedError."""

    def add_reader(self, *args: object) -> None:
        raise NotImplementedError

    def remove_reader(self, *args: object) -> bool:
        raise NotImplementedError


def _eager_tasks_loop() -> asyncio.AbstractEventLoop:
    """asyncio's loop whose tasks start eagerly (Python 3.12+): a new task's
    first step runs inside `create_task`, in the step of the task creating it."""
    loop = asyncio.new_event_loop()
    loop.set_task_factory(asyncio.eager_task_factory)  # type: ignore[attr-defined,unused-ignore]
    return loop


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The event loop async tests run on: asyncio's, uvloop's when
    ZEROMQ_TEST_LOOP=uvloop (see test_uvloop.py), or one without fd watching
    when ZEROMQ_TEST_LOOP=no-fd-watching (test_uvloop.py runs both)."""
    kind = os.environ.get("ZEROMQ_TEST_LOOP")
    if kind == "no-fd-watching":
        return NoFdWatchingLoop
    if kind == "eager-tasks":
        return _eager_tasks_loop
    if kind != "uvloop":
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
    return await sock.bind(address(transport))


async def send_unless_refused(client: zeromq.Push, message: str = "hello") -> bool:
    """Queue `message` on a client whose handshake may be refused; whether it
    was queued.

    libzmq closes a connection refused in its handshake, never retries it and
    drops its pipe, so once the refusal has come a Push has nowhere to queue
    (and the message could not arrive anyway). On a loaded machine the refusal
    can come before the test's send, which would then wait forever.
    """
    timeout, client.send_timeout = client.send_timeout, 0
    try:
        await client.send(message)
    except TimeoutError:
        return False
    finally:
        client.send_timeout = timeout
    return True


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


async def within(seconds: float, what: str, awaitable: Awaitable[T]) -> T:
    """Await `awaitable`, failing the test after `seconds` with an error that
    says what hung (instead of pytest's timeout minutes later)."""
    try:
        async with asyncio.timeout(seconds) as deadline:
            return await awaitable
    except TimeoutError:
        if deadline.expired():
            raise AssertionError(f"hung: {what} (still pending after {seconds} s)") from None
        raise


def run_then_abandon(main: Coroutine[Any, Any, T]) -> T:
    """Run `main` on a new event loop, then close that loop the way
    `loop.close()` after `run_until_complete()` does: without ending the
    tasks `main` left, which stay pending for good (and their waits with
    them)."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(main)
    finally:
        for task in asyncio.all_tasks(loop):
            # Left pending on purpose: no "Task was destroyed but it is
            # pending!" on stderr when it goes, perhaps only at exit.
            task._log_destroy_pending = False  # type: ignore[attr-defined]
        loop.close()
