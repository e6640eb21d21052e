"""Threads: each thread has its own sockets and event loop; inproc connects them."""

import asyncio
import threading
import time

import zeromq


def server_thread(ready: threading.Event) -> None:
    async def serve() -> None:
        # This thread's sockets live and wait in this thread's event loop.
        async with zeromq.Reply(linger=0) as rep:
            await rep.bind("inproc://threads")  # inproc: the default context spans threads
            ready.set()
            [request] = await rep.receive()
            await rep.send(request + b" from " + threading.current_thread().name.encode())

    asyncio.run(serve())


def blocking_work(n: int) -> int:
    time.sleep(0.01)  # a blocking call: keep it off the event loop
    return n * 2


async def main() -> None:
    ready = threading.Event()
    thread = threading.Thread(target=server_thread, args=(ready,), name="server")
    thread.start()
    await asyncio.to_thread(ready.wait)  # wait for the bind without blocking the loop

    async with zeromq.Request(linger=0) as req:
        req.connect("inproc://threads")
        doubled = await asyncio.to_thread(blocking_work, 21)
        await req.send(doubled)
        [reply] = await req.receive()
        print(reply.decode())  # 42 from server
        assert reply == b"42 from server"
    await asyncio.to_thread(thread.join)


asyncio.run(main())
