"""The idle wait (`zeromq._idle`): a waiting send or receive that sleeps in the
event loop's place while the loop has nothing else to do.

Every behaviour runs twice (the `path` fixture): on the idle path, which the
test checks was really taken, and on the plain path through the loop, forced
by ``ZEROMQ_IDLE_WAIT=0`` (the idle wait is on by default). The peer that must make the waiting socket
ready is driven from another thread (its own event loop), as a remote peer
would be: a peer on the same loop would keep the loop busy, and the idle
path would not be taken.

Each test that waits for the loop to do something else meanwhile (a timer, a
callback from another thread, another socket) has a watchdog: after a few
seconds the peer sends "watchdog" instead of what the test asks for, so a
loop that stayed blocked fails the test instead of hanging it.
"""

from __future__ import annotations

import asyncio
import selectors
import threading
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from conftest import bind

import zeromq
from zeromq import _idle

WATCHDOG = 5.0  # seconds after which a peer sends "watchdog" unasked


class Path:
    """Which path a test takes, and whether it took it.

    "idle": a socket's first wait (the engine's slow path, `_idle.idle_wait`);
    "idle-rewait": a receive on a socket that has waited before, whose fast
    path sleeps (`_idle.recv_idle`); "plain": through the loop.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.rewait = name == "idle-rewait"
        self.entered = threading.Event()  # the idle path was entered at least once
        self.calls = 0  # idle waits (_idle.idle_wait's sleeps)
        self.receives = 0  # receives that could sleep in their fast path (_idle.recv_idle)
        if name == "plain":
            self.entered.set()  # nothing to wait for on the plain path

    def check_loop(self) -> None:
        """Skip on a loop the idle wait is not for (the suite on uvloop)."""
        supported = _idle.supported(asyncio.get_running_loop())
        if self.name != "plain" and not supported:
            pytest.skip("the running loop is not one the idle wait is for")
        assert supported == (self.name != "plain")

    async def pull_push(
        self, make_pair: Callable[..., Any], transport: str
    ) -> tuple[zeromq.Pull, zeromq.Push]:
        """The usual start of a test: check the loop (`check_loop`), then a
        connected Pull and Push, the Pull `prepare`d."""
        self.check_loop()
        pull, push = await make_pair(zeromq.Pull, zeromq.Push, transport)
        await self.prepare(pull, push)
        return pull, push

    def check_taken(self) -> None:
        taken = self.calls + self.receives
        assert (taken > 0) == (self.name != "plain"), f"{self.name} path, {taken} idle waits"

    async def prepare(self, pull: zeromq.Pull, push: zeromq.Push) -> None:
        """On "idle-rewait", make `pull` wait for a message once, so that the
        test's receive is one whose fast path may sleep."""
        if not self.rewait:
            return
        go = threading.Event()
        go.set()
        thread = send_when_asked(push, go, after=self.entered)
        assert await pull.receive() == [b"asked"]
        thread.join()
        self.receives = 0
        self.entered.clear()  # for what the test waits for: the next sleep

    def check_rewait(self) -> None:
        if self.rewait:
            assert self.receives > 0, "the receive did not take the fast path's idle wait"


@pytest.fixture(params=["idle", "idle-rewait", "plain"])
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Runs a test on the idle path and on the forced plain path."""
    real = _idle._wait_ready
    if real is None:
        pytest.skip("no idle wait here (no C accelerator, or not Linux)")
    taken = Path(str(request.param))
    if taken.name == "plain":
        monkeypatch.setenv("ZEROMQ_IDLE_WAIT", "0")
    else:
        monkeypatch.delenv("ZEROMQ_IDLE_WAIT", raising=False)

    def counting(handle: Any, fd: int, loop_fd: int, deadline: float, want: int) -> bool:
        taken.calls += 1
        taken.entered.set()
        return real(handle, fd, loop_fd, deadline, want)

    real_receive = _idle.recv_idle

    def counting_receive(handle: Any, fd: int, loop: Any, loop_fd: int, timeout_ms: int) -> list[bytes] | float | None:
        taken.receives += 1
        taken.entered.set()
        return real_receive(handle, fd, loop, loop_fd, timeout_ms)

    monkeypatch.setattr(_idle, "_wait_ready", counting)
    monkeypatch.setattr(_idle, "recv_idle", counting_receive)
    return taken


def in_thread(make: Callable[[], Coroutine[Any, Any, None]]) -> threading.Thread:
    """Run a coroutine on its own event loop in another thread."""
    thread = threading.Thread(target=lambda: asyncio.run(make()), daemon=True)
    thread.start()
    return thread


def send_when_asked(sock: zeromq.Push, asked: threading.Event, after: threading.Event | None = None) -> threading.Thread:
    """From another thread: once `after` is set (the idle path slept), send
    "asked" when `asked` is set, or "watchdog" after WATCHDOG seconds."""

    async def run() -> None:
        loop = asyncio.get_running_loop()
        if after is not None:
            await loop.run_in_executor(None, after.wait, WATCHDOG)
        told = await loop.run_in_executor(None, asked.wait, WATCHDOG)
        await sock.send("asked" if told else "watchdog")

    return in_thread(run)


async def test_round_trips_with_a_peer_in_another_thread(make_pair, transport: str, path: Path) -> None:
    path.check_loop()
    rep, req = await make_pair(zeromq.Reply, zeromq.Request, transport)
    trips = 50

    async def echo() -> None:
        for _ in range(trips):
            await rep.send(await rep.receive())

    thread = in_thread(echo)
    async with asyncio.timeout(10):  # a round trip that hangs
        for i in range(trips):
            await req.send(str(i))
            assert await req.receive() == [str(i).encode()]
    thread.join()
    path.check_taken()


async def test_a_send_waiting_for_room_does_not_spin(transport: str, path: Path) -> None:
    """libzmq signals the fd for every command it queues, and a failed send
    need not process them: the idle wait must wake for room to send, not at
    every signal (which made a flooding sender retry about every 10 messages)."""
    path.check_loop()
    pull = zeromq.Pull(linger=0, receive_high_water_mark=100)
    push = zeromq.Push(linger=0, send_high_water_mark=100)
    push.connect(await bind(pull, transport))
    count = 5000

    async def drain() -> None:
        for _ in range(count):
            await pull.receive()

    thread = in_thread(drain)
    async with asyncio.timeout(20):  # a send that hangs
        for _ in range(count):
            await push.send(b"x" * 100)
    thread.join()
    pull.close()
    push.close()
    assert path.calls < count / 20, f"{path.calls} idle waits for {count} messages"
    path.check_taken()


async def test_a_timer_fires_while_a_receive_waits(make_pair, transport: str, path: Path) -> None:
    pull, push = await path.pull_push(make_pair, transport)
    asked = threading.Event()
    thread = send_when_asked(push, asked)
    asyncio.get_running_loop().call_later(0.01, asked.set)  # due while the receive waits
    assert await pull.receive() == [b"asked"], "the timer only fired after the watchdog's message"
    thread.join()
    path.check_rewait()
    path.check_taken()


async def test_a_ready_callback_runs_before_a_receive_waits(make_pair, transport: str, path: Path) -> None:
    pull, push = await path.pull_push(make_pair, transport)
    asked = threading.Event()
    thread = send_when_asked(push, asked)
    asyncio.get_running_loop().call_soon(asked.set)  # ready when the receive would wait
    assert await pull.receive() == [b"asked"], "the callback only ran after the watchdog's message"
    thread.join()
    path.check_rewait()

async def test_a_callback_from_another_thread_runs_while_a_receive_waits(
    make_pair, transport: str, path: Path
) -> None:
    pull, push = await path.pull_push(make_pair, transport)
    loop = asyncio.get_running_loop()
    asked = threading.Event()
    thread = send_when_asked(push, asked)

    async def call_soon() -> None:
        await asyncio.get_running_loop().run_in_executor(None, path.entered.wait, WATCHDOG)
        loop.call_soon_threadsafe(asked.set)

    caller = in_thread(call_soon)
    assert await pull.receive() == [b"asked"], "the callback only ran after the watchdog's message"
    thread.join()
    caller.join()
    path.check_rewait()
    path.check_taken()


async def test_another_socket_is_served_while_a_receive_waits(make_pair, transport: str, path: Path) -> None:
    idle_pull, idle_push = await path.pull_push(make_pair, transport)
    busy_pull, busy_push = await make_pair(zeromq.Pull, zeromq.Push, transport)
    asked, go = threading.Event(), threading.Event()
    go.set()
    waiting = send_when_asked(idle_push, asked)
    busy_sender = send_when_asked(busy_push, go, after=path.entered)
    busy = asyncio.ensure_future(busy_pull.receive())
    busy.add_done_callback(lambda _: asked.set())
    await asyncio.sleep(0)  # the other receive starts waiting, through the loop
    assert await idle_pull.receive() == [b"asked"], "the other socket was only served after the watchdog's message"
    assert busy.result() == [b"asked"]
    waiting.join()
    busy_sender.join()
    path.check_rewait()
    path.check_taken()


async def test_a_cancelled_waiting_receive_loses_no_message(make_pair, transport: str, path: Path) -> None:
    pull, push = await path.pull_push(make_pair, transport)
    receiving = asyncio.ensure_future(pull.receive())
    await asyncio.sleep(0.01)  # the receive waits meanwhile
    receiving.cancel()
    with pytest.raises(asyncio.CancelledError):
        await receiving
    asked = threading.Event()
    asked.set()
    thread = send_when_asked(push, asked)
    async with asyncio.timeout(WATCHDOG):  # the message was lost
        assert await pull.receive() == [b"asked"]
    thread.join()
    path.check_rewait()
    path.check_taken()


async def test_a_waiting_receive_times_out(make_pair, transport: str, path: Path) -> None:
    pull, push = await path.pull_push(make_pair, transport)
    pull.receive_timeout = 20
    asked = threading.Event()
    thread = send_when_asked(push, asked)
    with pytest.raises(zeromq.ZMQError) as caught:
        await pull.receive()
    assert isinstance(caught.value, TimeoutError), "the receive did not time out (the watchdog's message came)"
    asked.set()
    pull.receive_timeout = -1
    assert await pull.receive() == [b"asked"]
    thread.join()
    path.check_rewait()
    path.check_taken()


async def test_a_receive_woken_from_its_sleep_keeps_its_timeout(make_pair, transport: str, path: Path) -> None:
    """A receive whose sleep a timer ends (the loop has work) waits on
    through the loop for what is left of its timeout, not for all of it again."""
    pull, _push = await path.pull_push(make_pair, transport)
    pull.receive_timeout = 300
    loop = asyncio.get_running_loop()
    loop.call_later(0.25, lambda: None)  # ends the sleep 250 ms in
    start = loop.time()
    with pytest.raises(zeromq.ZMQError) as caught:
        await pull.receive()
    elapsed = loop.time() - start
    assert isinstance(caught.value, TimeoutError)
    # Counted again after the sleep, it would end 550 ms in.
    assert 0.29 <= elapsed < 0.5, f"a 300 ms receive_timeout ended after {elapsed * 1000:.0f} ms"
    path.check_rewait()
    path.check_taken()


async def test_closing_a_socket_ends_its_waiting_receive(make_pair, transport: str, path: Path) -> None:
    pull, _push = await path.pull_push(make_pair, transport)
    receiving = asyncio.ensure_future(pull.receive())
    await asyncio.sleep(0.01)  # the receive waits meanwhile
    pull.close()
    async with asyncio.timeout(WATCHDOG):  # the receive was not woken
        with pytest.raises(zeromq.ZMQError) as caught:
            await receiving
    assert caught.value.code == "ENOTSOCK"
    path.check_rewait()
    path.check_taken()


# -- where the idle wait is not used ------------------------------------------------


def _loops() -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    class Subclass(asyncio.SelectorEventLoop):  # may change how a turn runs
        pass

    loops: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
        "a subclass of the stock loop": Subclass,
        "the stock loop with a poll selector": lambda: asyncio.SelectorEventLoop(selectors.PollSelector()),
    }
    try:
        import uvloop
    except ImportError:
        pass
    else:
        loops["uvloop"] = uvloop.new_event_loop
    return loops


@pytest.mark.parametrize("name", sorted(_loops()))
def test_other_loops_take_the_plain_path(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ZEROMQ_IDLE_WAIT", raising=False)
    loop = _loops()[name]()
    try:
        assert not _idle.supported(loop)
        assert _idle.idle_wait(loop, 0, None, 0, 1) is False
    finally:
        loop.close()


def test_the_stock_loop_takes_the_idle_path_unless_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    if _idle._wait_ready is None:
        pytest.skip("no idle wait here (no C accelerator, or not Linux)")
    monkeypatch.delenv("ZEROMQ_IDLE_WAIT", raising=False)
    loop = asyncio.new_event_loop()
    try:
        assert _idle.supported(loop)
        assert _idle.receive_fd(loop) is not None
    finally:
        loop.close()
    monkeypatch.setenv("ZEROMQ_IDLE_WAIT", "0")
    loop = asyncio.new_event_loop()
    try:
        assert not _idle.supported(loop)
    finally:
        loop.close()


async def test_a_loop_in_debug_mode_takes_the_plain_path(make_pair, path: Path) -> None:
    """Debug mode times each step: a step that slept would be reported slow."""
    path.check_loop()
    asyncio.get_running_loop().set_debug(True)
    pull, push = await make_pair(zeromq.Pull, zeromq.Push, "tcp")
    asked = threading.Event()
    asked.set()
    thread = send_when_asked(push, asked)
    async with asyncio.timeout(WATCHDOG):
        assert await pull.receive() == [b"asked"]
    thread.join()
    assert path.calls == path.receives == 0


# -- eager tasks --------------------------------------------------------------------
# A task started eagerly (Python 3.12+: `asyncio.eager_task_factory`, or
# `Task(..., eager_start=True)`) runs its first step inside the step of the
# task creating it, a task in no ready queue: the loop is not idle then,
# though `_ready` is empty, and a wait there must not sleep in its place.


async def test_no_sleep_in_the_loops_place_while_a_task_runs_an_eager_first_step(
    make_pair, transport: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The mechanism, on every Python version: while asyncio's set of eager
    tasks is not empty, `recv_idle` and `idle_wait` return at once where they
    would sleep."""
    monkeypatch.delenv("ZEROMQ_IDLE_WAIT", raising=False)
    pull, _push = await make_pair(zeromq.Pull, zeromq.Push, transport)
    loop = asyncio.get_running_loop()
    loop_fd = _idle.receive_fd(loop)
    if loop_fd is None:
        pytest.skip("the running loop is not one the idle wait is for")
    args = (pull._target, pull._fd, loop, loop_fd)
    # Idle, nothing to receive: the receive sleeps out its 100 ms timeout.
    assert isinstance(_idle.recv_idle(*args, 100), float)
    _idle._EAGER_TASKS.add("a task in its eager first step")
    try:
        # Each would sleep 2 s; at once they return "go through the loop".
        start = loop.time()
        assert _idle.recv_idle(*args, 2_000) is None
        assert _idle.idle_wait(loop, pull._fd, loop.time() + 2, pull._target, 1) is False
        assert loop.time() - start < 1, "slept in the loop's place"
    finally:
        _idle._EAGER_TASKS.clear()


@pytest.mark.skipif(
    not hasattr(asyncio, "eager_task_factory"), reason="eager tasks are new in Python 3.12"
)
async def test_a_receive_in_an_eager_first_step_lets_its_creator_run_on(
    make_pair, transport: str, path: Path
) -> None:
    pull, push = await path.pull_push(make_pair, transport)
    loop = asyncio.get_running_loop()
    # The receive runs (and must not sleep) inside this very step.
    receiving = asyncio.Task(pull.receive(), loop=loop, eager_start=True)  # type: ignore[call-arg,unused-ignore]
    assert not receiving.done()
    await push.send("from the creator")  # never reached while the receive sleeps
    async with asyncio.timeout(WATCHDOG):
        assert await receiving == [b"from the creator"]
