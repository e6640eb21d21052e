"""A socket's events: read them as a stream, or have listeners called."""

import asyncio

import zeromq


async def main() -> None:
    server = zeromq.Router(linger=0)
    events = server.events  # observe before binding, to see the bind too
    endpoint = await server.bind("tcp://127.0.0.1:*")

    async with zeromq.Dealer(linger=0) as client:
        client.connect(endpoint)
        await client.send("hi")
        await server.receive()
    server.close()

    seen = []
    async for event in events:  # ends after the "end" event
        print(event.type, event.address)  # bind tcp://127.0.0.1:41234, accept ..., end None
        seen.append(event.type)
    assert seen[0] == "bind" and "accept" in seen and "handshake" in seen
    assert seen[-1] == "end"

    # Or listeners, called as events happen (receive() then raises).
    retrying = zeromq.Dealer(linger=0, reconnect_interval=20)
    retries: list[int | None] = []
    retried_twice, ended = asyncio.Event(), asyncio.Event()

    def on_retry(event: zeromq.Event) -> None:
        retries.append(event.interval)  # milliseconds until the next attempt
        if len(retries) == 2:
            retried_twice.set()

    retrying.events.on("connect:retry", on_retry)
    retrying.events.on("end", lambda event: ended.set())
    retrying.connect(endpoint)  # the server has gone: it retries
    await retried_twice.wait()
    retrying.close()
    await ended.wait()
    print("retried", len(retries), "times, waiting", retries[:2], "ms")


asyncio.run(main())
