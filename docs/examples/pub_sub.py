"""The first pub/sub: a subscriber gets only what starts with its prefixes."""

import asyncio

import zeromq


async def publish(pub: zeromq.Publisher) -> None:
    # A publisher sends to whoever is subscribed *now*: a subscriber that is
    # still connecting misses what goes out before. So it publishes on and on.
    n = 0
    while True:
        await pub.send(["weather", f"{20 + n % 5} C"])
        await pub.send(["sports", "0-0"])
        n += 1
        await asyncio.sleep(0.01)


async def main() -> None:
    async with zeromq.Publisher() as pub, zeromq.Subscriber() as sub:
        endpoint = await pub.bind("tcp://127.0.0.1:*")
        sub.connect(endpoint)
        sub.subscribe("weather")  # a prefix of the first part; no argument: everything

        publisher = asyncio.create_task(publish(pub))
        for _ in range(3):
            topic, reading = await sub.receive()
            print(topic.decode(), reading.decode())  # weather 21 C, weather 22 C, ...
            assert topic == b"weather"  # "sports" never arrives
        publisher.cancel()


asyncio.run(main())
