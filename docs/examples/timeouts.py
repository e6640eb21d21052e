"""Timeouts and cancellation: a receive gives up, and a cancelled one loses nothing."""

import asyncio

import zeromq


async def main() -> None:
    async with zeromq.Pair(linger=0) as a, zeromq.Pair(linger=0, receive_timeout=100) as b:
        b.connect(await a.bind("inproc://timeouts"))

        # 1. The socket's own timeout, in milliseconds (-1, the default: forever).
        try:
            await b.receive()
        except zeromq.ZMQError as err:  # code "EAGAIN"; also a TimeoutError
            print("receive_timeout:", err.code, isinstance(err, TimeoutError))  # EAGAIN True

        # 2. asyncio's own: asyncio.timeout(), wait_for(), or cancelling the task.
        b.receive_timeout = -1
        try:
            async with asyncio.timeout(0.1):
                await b.receive()
        except TimeoutError:
            print("asyncio.timeout expired")

        # 3. A cancelled receive never loses a message: either it returned it, or
        # the message is still in the socket for the next receive.
        pending = asyncio.create_task(b.receive())
        await asyncio.sleep(0)  # let it start waiting
        await a.send("one")
        pending.cancel()
        try:
            got = await pending
            print("the cancelled receive had already completed:", got)
        except asyncio.CancelledError:
            got = await b.receive()
            print("the message waited for the next receive:", got)
        assert got == [b"one"]

        assert not b.readable  # and it was not delivered twice


asyncio.run(main())
