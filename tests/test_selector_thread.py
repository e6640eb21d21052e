"""The selector thread that waits for readiness on loops that cannot watch
fds (Windows' Proactor loop): one per loop, shared by its sockets, gone with
the loop. (The engine suites run on such a loop too: see test_uvloop.py.)"""

from __future__ import annotations

import asyncio
import threading
import time

from conftest import NoFdWatchingLoop, bind, within

import zeromq


def _selector_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "zeromq selector"]


def _run(main: object) -> object:
    with asyncio.Runner(loop_factory=NoFdWatchingLoop) as runner:
        return runner.run(main)  # type: ignore[arg-type]


def test_sockets_of_one_loop_share_one_selector_thread_that_ends_with_the_loop() -> None:
    before = len(_selector_threads())

    async def main() -> int:
        async with zeromq.Pull(linger=0) as a, zeromq.Pull(linger=0) as b, zeromq.Push(linger=0) as push:
            push.connect(await bind(a, "inproc"))
            push.connect(await bind(b, "inproc"))
            waiting = [asyncio.ensure_future(a.receive()), asyncio.ensure_future(b.receive())]
            await asyncio.sleep(0)
            threads = len(_selector_threads()) - before
            await push.send("one")
            await push.send("two")  # round-robin: one each
            got = await within(5, "receives woken by the selector thread", asyncio.gather(*waiting))
            assert sorted(got) == [[b"one"], [b"two"]]
            return threads

    assert _run(main()) == 1
    deadline = time.monotonic() + 5
    while len(_selector_threads()) > before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(_selector_threads()) == before, "the selector thread outlived its loop"


def test_sockets_come_and_go_on_one_selector_thread() -> None:
    """Each new socket's fd is watched, though closed ones' fds may be reused."""
    async def main() -> None:
        for round_ in range(20):
            async with zeromq.Pull(linger=0) as pull, zeromq.Push(linger=0) as push:
                push.connect(await bind(pull, "inproc"))
                waiting = asyncio.ensure_future(pull.receive())
                await asyncio.sleep(0)  # watched through the selector thread
                await push.send(str(round_))
                assert await within(5, f"a receive in round {round_}", waiting) == [str(round_).encode()]

    _run(main())


def test_a_closed_sockets_fd_reused_by_a_new_socket_is_watched_afresh() -> None:
    """The selector forgets an fd once it is closed; a new socket given the same
    fd number before the selector thread looked again must be registered anew,
    not taken for the closed socket's registration."""
    from zeromq._backends import _selector

    async def main() -> None:
        loop = asyncio.get_running_loop()
        async with zeromq.Push(linger=0) as push:
            old, feeder = zeromq.Pull(linger=0), zeromq.Push(linger=0)
            feeder.connect(await bind(old, "inproc"))
            waiting = asyncio.ensure_future(old.receive())
            await asyncio.sleep(0)  # waits: watched through the selector thread
            await feeder.send("to the old one")
            assert await within(5, "the old socket's receive", waiting) == [b"to the old one"]
            fd = old._fd
            selector = _selector._THREADS[loop]
            wake = selector._wake
            selector._wake = lambda: None  # type: ignore[method-assign]  # sees nothing until told
            spares: list[zeromq.Pull] = []
            try:
                waiting = asyncio.ensure_future(old.receive())
                await asyncio.sleep(0)  # asks the thread to watch the fd
                wake()
                # Nothing of the thread's can be awaited here: give it time to register
                # the fd (were it slower, the new socket would merely be registered fresh).
                await asyncio.sleep(0.05)
                feeder.close()
                old.close()  # libzmq's reaper closes the fd soon after
                new = None
                # A new socket takes the lowest free fd. The others are kept
                # open until the end: they fill any lower fds other sockets
                # freed meanwhile, until one takes the old socket's (closed
                # at once, a miss would take the same lower fd again).
                for _ in range(200):
                    candidate = zeromq.Pull(linger=0)
                    if candidate._fd == fd:
                        new = candidate
                        break
                    spares.append(candidate)
                    await asyncio.sleep(0.01)
                assert new is not None, f"fd {fd} was never reused"
                async with new:
                    push.connect(await bind(new, "inproc"))
                    receiving = asyncio.ensure_future(new.receive())
                    await asyncio.sleep(0)  # asks to watch the same fd number
                    wake()  # the thread now sees both changes at once
                    await push.send("to the new one")
                    got = await within(5, "the new socket's receive", receiving)
                    assert got == [b"to the new one"]
            finally:
                selector._wake = wake  # type: ignore[method-assign]
                waiting.cancel()
                for spare in spares:
                    spare.close()

    _run(main())
