"""Processes: each makes its own sockets after it starts, and they talk over ipc or tcp."""

import asyncio
import multiprocessing
import os

import zeromq


def worker(endpoint: str, count: int) -> None:
    """Runs in a child process: its own event loop, its own sockets."""

    async def send_results() -> None:
        async with zeromq.Push() as push:
            push.connect(endpoint)
            for n in range(count):
                await push.send([str(os.getpid()), n])
        # Leaving `async with` closes the socket; the default linger (-1) then
        # makes the process wait at exit until the messages are delivered.

    asyncio.run(send_results())


async def main() -> None:
    async with zeromq.Pull(linger=0) as pull:
        endpoint = await pull.bind("tcp://127.0.0.1:*")
        # "spawn" starts a fresh interpreter: nothing of this process's sockets
        # is inherited (see the notes on fork).
        spawn = multiprocessing.get_context("spawn")
        children = [spawn.Process(target=worker, args=(endpoint, 5)) for _ in range(2)]
        for child in children:
            child.start()

        by_pid: dict[bytes, int] = {}
        for _ in range(10):
            pid, _n = await pull.receive()
            by_pid[pid] = by_pid.get(pid, 0) + 1
        for child in children:
            await asyncio.to_thread(child.join)
            assert child.exitcode == 0

    print(len(by_pid), "processes sent", sorted(by_pid.values()), "messages")  # 2 processes sent [5, 5] messages
    assert sorted(by_pid.values()) == [5, 5]


if __name__ == "__main__":  # the children import this file: start nothing there
    asyncio.run(main())
