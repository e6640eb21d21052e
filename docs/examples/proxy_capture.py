"""A request broker as a Proxy, with a capture socket, statistics and a pause."""

import asyncio

import zeromq


async def main() -> None:
    async with zeromq.Subscriber(linger=0) as tap:
        capture = zeromq.Publisher(linger=0)  # never makes the proxy wait
        tap_at = await capture.bind("inproc://tap")
        tap.connect(tap_at)
        tap.subscribe()

        proxy = zeromq.Proxy(zeromq.Router(linger=0), zeromq.Dealer(linger=0), capture=capture)
        clients_at = await proxy.front_end.bind("inproc://clients")
        workers_at = await proxy.back_end.bind("inproc://workers")
        running = asyncio.create_task(proxy.run())

        async with zeromq.Request(linger=0) as client, zeromq.Reply(linger=0) as worker:
            client.connect(clients_at)
            worker.connect(workers_at)

            await client.send("ping")
            [request] = await worker.receive()
            await worker.send(request + b" pong")
            [reply] = await client.receive()
            print(reply)  # b'ping pong'

            # The capture socket got every message the proxy forwarded, each way,
            # with its envelope: [routing id, b"", body].
            request_seen, reply_seen = await tap.receive(), await tap.receive()
            print(request_seen[1:], reply_seen[1:])  # [b'', b'ping'] [b'', b'ping pong']
            assert request_seen[2:] == [b"ping"] and reply_seen[2:] == [b"ping pong"]

            stats = await proxy.statistics()  # message parts and bytes, per end and way
            print(stats.front_end.received_parts, stats.back_end.sent_parts)  # 3 3
            # What came in at the front went out at the back: the routing id, the
            # delimiter and b"ping" (libzmq 4.3.4, as `make draft` builds it,
            # counts whole messages instead: 1 1).
            assert stats.front_end.received_parts == stats.back_end.sent_parts > 0

            proxy.pause()  # messages wait in the sockets' queues
            await proxy.statistics()  # returns once the pause has taken effect
            await client.send("later")
            try:
                async with asyncio.timeout(0.1):
                    await worker.receive()
                raise AssertionError("a paused proxy forwarded a message")
            except TimeoutError:
                print("held back while paused")  # and the cancelled receive lost nothing
            proxy.resume()
            [request] = await worker.receive()
            print("after resume:", request)  # b'later'
            await worker.send("ok")
            await client.receive()

        proxy.terminate()
        await running
        print(proxy.front_end.closed, proxy.back_end.closed, capture.closed)  # True True False
        capture.close()


asyncio.run(main())
