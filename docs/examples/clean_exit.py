"""Exiting without waiting: linger decides what happens to messages still queued."""

import asyncio
import time

import zeromq


async def main() -> None:
    started = time.monotonic()

    # A message for a peer that never comes stays queued. With the default
    # linger (-1) the process would wait for it at exit, forever; with
    # linger=0 closing drops it, and with linger=500 it waits at most 500 ms.
    async with zeromq.Push(linger=0) as push:
        push.connect("tcp://127.0.0.1:9")  # nothing listens there
        await push.send("never delivered")

    # Or for every socket of a context: blocky=False gives them linger 0.
    quick = zeromq.Context(blocky=False)
    async with zeromq.Push(context=quick) as push:
        assert push.linger == 0
        push.connect("tcp://127.0.0.1:9")
        await push.send("never delivered either")

    print(f"done in {time.monotonic() - started:.2f} s; the process exits at once")


asyncio.run(main())
