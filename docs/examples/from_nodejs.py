"""The Node.js bindings' push/pull example, in Python.

    const sock = new zmq.Push({sendHighWaterMark: 10})
    await sock.bind("tcp://127.0.0.1:3000")
    await sock.send("some work")
    ...
    for await (const [msg] of pull) { console.log(msg.toString()) }
"""

import asyncio

import zeromq


async def producer(sock: zeromq.Push) -> None:
    for n in range(3):
        await sock.send(f"some work {n}")


async def worker(sock: zeromq.Pull, received: list[str]) -> None:
    async for [msg] in sock:  # for await (const [msg] of sock)
        received.append(msg.decode())  # msg.toString()
        if len(received) == 3:
            return


async def main() -> None:
    async with zeromq.Push(send_high_water_mark=10) as push, zeromq.Pull() as pull:
        endpoint = await push.bind("tcp://127.0.0.1:*")
        pull.connect(endpoint)
        received: list[str] = []
        await asyncio.gather(producer(push), worker(pull, received))
        print(received)  # ['some work 0', 'some work 1', 'some work 2']
        assert received == [f"some work {n}" for n in range(3)]


asyncio.run(main())
