"""Request and reply: the client sends a request and waits for its reply."""

import asyncio

import zeromq


async def serve(rep: zeromq.Reply) -> None:
    async for [request] in rep:  # until the socket is closed
        await rep.send(request.upper())  # a Reply must answer before the next request


async def main() -> None:
    async with zeromq.Reply() as rep, zeromq.Request() as req:
        endpoint = await rep.bind("tcp://127.0.0.1:*")
        server = asyncio.create_task(serve(rep))

        req.connect(endpoint)
        for word in ("hello", "zeromq"):
            await req.send(word)
            [reply] = await req.receive()
            print(word, "->", reply.decode())  # hello -> HELLO
            assert reply == word.upper().encode()

    await server  # the `async for` ended when `rep` closed


asyncio.run(main())
