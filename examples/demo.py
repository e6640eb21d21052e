"""A tour of zeromq: push/pull, request/reply and publish/subscribe over tcp.

Run with `make demo` (or `python examples/demo.py`).
"""

from __future__ import annotations

import asyncio

import zeromq


async def push_pull() -> None:
    print("== push/pull: a pipeline of work")
    async with zeromq.Pull(linger=0) as sink, zeromq.Push(linger=0) as source:
        endpoint = await sink.bind("tcp://127.0.0.1:*")
        print(f"pull bound to {endpoint}")
        source.connect(endpoint)
        for n in range(3):
            await source.send(["task", n])
            print(f"push sent task {n}")
        for _ in range(3):
            kind, number = await sink.receive()
            print(f"pull received {kind.decode()} {int(number)}")


async def request_reply() -> None:
    print("== request/reply: a tiny service")
    async with zeromq.Reply(linger=0) as server, zeromq.Request(linger=0) as client:
        client.connect(await server.bind("tcp://127.0.0.1:*"))

        async def serve() -> None:
            async for [question] in server:
                await server.send(question.upper())

        service = asyncio.create_task(serve())
        for word in ("ping", "zeromq"):
            await client.send(word)
            [answer] = await client.receive()
            print(f"request {word!r} -> reply {answer.decode()!r}")
        server.close()  # ends the `async for` in serve()
        await service


async def publish_subscribe() -> None:
    print("== publish/subscribe: topics")
    async with zeromq.Publisher(linger=0) as pub, zeromq.Subscriber(linger=0) as sub:
        sub.connect(await pub.bind("tcp://127.0.0.1:*"))
        sub.subscribe("weather")
        # A subscription reaches the publisher in the background; until it does,
        # the publisher drops messages. Publish until the first one lands.
        sub.receive_timeout = 50
        while True:
            await pub.send(["weather", "hello?"])
            try:
                await sub.receive()
                break
            except TimeoutError:
                continue
        print("subscriber is connected")
        await pub.send(["sports", "not delivered: no subscription"])
        await pub.send(["weather", "sunny, 21 C"])
        topic, body = await sub.receive()
        while body == b"hello?":  # a late copy of the probe
            topic, body = await sub.receive()
        print(f"subscriber got {topic.decode()}: {body.decode()}")


async def main() -> None:
    print(f"zeromq on libzmq {zeromq.version}")
    await push_pull()
    await request_reply()
    await publish_subscribe()
    print("done")


if __name__ == "__main__":
    asyncio.run(main())
