"""The same program with zeromq."""

import asyncio

import zeromq


async def main() -> None:
    async with zeromq.Reply(linger=0) as server, zeromq.Request(
        linger=0, receive_timeout=1000
    ) as client:
        endpoint = await server.bind("tcp://127.0.0.1:*")  # bind is awaited; it returns the endpoint
        client.connect(endpoint)

        await client.send("hello")  # str, bytes, numbers, or a list of them
        [request] = await server.receive()  # always the whole message, as list[bytes]
        await server.send([b"reply", request])
        try:
            parts = await client.receive()
        except TimeoutError:  # a ZMQError with code "EAGAIN", and a TimeoutError
            parts = []
        print(parts)  # [b'reply', b'hello']
        assert parts == [b"reply", b"hello"]


asyncio.run(main())
