"""A Router/Dealer broker between Request clients and Reply workers, showing the envelope."""

import asyncio

import zeromq

Socket = zeromq.Router | zeromq.Dealer


async def forward(source: Socket, target: Socket, name: str) -> None:
    async for message in source:
        print(f"{name}: {message}")
        await target.send(message)  # the envelope travels along unchanged


async def reply(worker_at: str) -> None:
    async with zeromq.Reply() as worker:
        worker.connect(worker_at)
        async for [request] in worker:  # a Reply sees the body only
            await worker.send(b"done: " + request)


async def main() -> None:
    async with zeromq.Router() as frontend, zeromq.Dealer() as backend:
        clients_at = await frontend.bind("tcp://127.0.0.1:*")
        workers_at = await backend.bind("tcp://127.0.0.1:*")
        tasks = [
            asyncio.create_task(forward(frontend, backend, "client->worker")),
            asyncio.create_task(forward(backend, frontend, "worker->client")),
            asyncio.create_task(reply(workers_at)),
        ]

        async with zeromq.Request(routing_id="client-1") as client:
            client.connect(clients_at)
            await client.send("job 1")
            # The broker prints: client->worker: [b'client-1', b'', b'job 1']
            #   routing id (added by the Router), empty delimiter (added by the
            #   Request), then the body.
            # And on the way back: worker->client: [b'client-1', b'', b'done: job 1']
            #   the Router strips the routing id and sends to that peer.
            [answer] = await client.receive()
            print("client got", answer)
            assert answer == b"done: job 1"

    for task in tasks:  # they end (or fail) as their sockets close
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


asyncio.run(main())
