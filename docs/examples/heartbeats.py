"""Heartbeats and reconnects: a client notices its server went away and comes back."""

import asyncio

import zeromq


async def wait_for(events: zeromq.Observer, *types: str) -> None:
    while (await events.receive()).type not in types:
        pass


async def echo(server: zeromq.Router) -> None:
    async for [peer, message] in server:
        await server.send([peer, b"echo " + message])


async def main() -> None:
    # The client pings every 100 ms and drops a connection that has been silent
    # for 300 ms (a crashed host sends no FIN: heartbeats are how one notices).
    # It reconnects after 50 ms, backing off to at most 500 ms.
    async with zeromq.Dealer(
        heartbeat_interval=100, heartbeat_timeout=300, reconnect_interval=50,
        reconnect_max_interval=500, linger=0,
    ) as client:
        events = client.events  # observe from the start

        server = zeromq.Router(linger=0)
        endpoint = await server.bind("tcp://127.0.0.1:*")
        serving = asyncio.create_task(echo(server))
        client.connect(endpoint)
        await client.send("one")
        reply = await client.receive()
        print(reply)  # [b'echo one']
        assert reply == [b"echo one"]

        server.close()  # the server goes away...
        await serving
        await wait_for(events, "disconnect")
        print("disconnected; reconnecting in the background")

        server = zeromq.Router(linger=0)  # ...and comes back at the same address
        await server.bind(endpoint)
        serving = asyncio.create_task(echo(server))
        await wait_for(events, "handshake")
        print("reconnected")
        await client.send("two")
        reply = await client.receive()
        print(reply)  # [b'echo two']
        assert reply == [b"echo two"]

        server.close()
        await serving


asyncio.run(main())
