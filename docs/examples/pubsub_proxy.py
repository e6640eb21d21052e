"""Publishers and subscribers meet at a proxy; the publisher sees subscriptions."""

import asyncio

import zeromq


async def main() -> None:
    # The proxy binds both ends: publishers connect to its XSubscriber,
    # subscribers to its XPublisher. Subscriptions flow upstream through it.
    proxy = zeromq.Proxy(zeromq.XSubscriber(), zeromq.XPublisher())
    publishers_at = await proxy.front_end.bind("tcp://127.0.0.1:*")
    subscribers_at = await proxy.back_end.bind("tcp://127.0.0.1:*")
    running = asyncio.create_task(proxy.run())

    async with zeromq.XPublisher() as pub, zeromq.Subscriber() as sub:
        pub.connect(publishers_at)
        sub.connect(subscribers_at)
        sub.subscribe("news")

        # An XPublisher receives each subscription as b"\x01" + prefix (and an
        # unsubscription as b"\x00" + prefix): no guessing when to start.
        [subscription] = await pub.receive()
        print("subscribed:", subscription)  # b'\x01news'
        assert subscription == b"\x01news"

        await pub.send(["news", "proxy up"])
        await pub.send(["weather", "not for this subscriber"])
        await pub.send(["news", "still up"])
        received = [await sub.receive(), await sub.receive()]
        print(received)  # [[b'news', b'proxy up'], [b'news', b'still up']]
        assert received == [[b"news", b"proxy up"], [b"news", b"still up"]]

    proxy.terminate()
    await running  # returns once terminated; both proxy sockets are closed


asyncio.run(main())
