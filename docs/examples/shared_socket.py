"""Many tasks, one socket: sends and receives from any number of tasks queue up."""

import asyncio

import zeromq

PRODUCERS, CONSUMERS, EACH = 5, 3, 200


async def produce(push: zeromq.Push, name: str) -> None:
    for n in range(EACH):
        # Sends of one socket complete in call order, each message whole; when
        # the peer falls behind (high water mark), they wait in line.
        await push.send([name, n])


async def consume(pull: zeromq.Pull, seen: list[tuple[bytes, int]]) -> None:
    while True:
        name, n = await pull.receive()  # receives wait in line too: each gets one message
        if name == b"stop":
            return
        seen.append((name, int(n)))


async def main() -> None:
    async with zeromq.Pull(receive_high_water_mark=10, linger=0) as pull, zeromq.Push(
        send_high_water_mark=10, linger=0
    ) as push:
        push.connect(await pull.bind("tcp://127.0.0.1:*"))
        seen: list[tuple[bytes, int]] = []
        consumers = [asyncio.create_task(consume(pull, seen)) for _ in range(CONSUMERS)]
        await asyncio.gather(*(produce(push, f"producer-{p}") for p in range(PRODUCERS)))
        for _ in range(CONSUMERS):
            await push.send(["stop", 0])
        await asyncio.gather(*consumers)

    print(len(seen), "messages, each received once")  # 1000 messages, each received once
    assert sorted(seen) == sorted(
        (f"producer-{p}".encode(), n) for p in range(PRODUCERS) for n in range(EACH)
    )
    for p in range(PRODUCERS):  # and each producer's messages in the order it sent them
        mine = [n for name, n in seen if name == f"producer-{p}".encode()]
        assert mine == sorted(mine)


asyncio.run(main())
