"""The first push/pull: one task sends work, another receives it."""

import asyncio

import zeromq


async def main() -> None:
    async with zeromq.Pull() as pull, zeromq.Push() as push:
        endpoint = await pull.bind("tcp://127.0.0.1:*")  # a free port, e.g. tcp://127.0.0.1:41234
        push.connect(endpoint)

        await push.send("hello")  # a message of one part
        await push.send(["job", 42, b"\x00\x01", None])  # or of several

        [greeting] = await pull.receive()  # always a list of bytes
        job = await pull.receive()
        print(greeting, job)  # b'hello' [b'job', b'42', b'\x00\x01', b'']
        assert job == [b"job", b"42", b"\x00\x01", b""]


asyncio.run(main())
