"""A pipeline: a ventilator fans tasks out to workers, a sink collects the results."""

import asyncio

import zeromq

WORKERS = 3
TASKS = 12


async def worker(name: str, tasks_at: str, results_at: str) -> None:
    async with zeromq.Pull() as tasks, zeromq.Push() as results:
        tasks.connect(tasks_at)
        results.connect(results_at)
        async for [task] in tasks:
            if task == b"stop":
                return
            await results.send([name, int(task) ** 2])


async def main() -> None:
    async with zeromq.Push() as ventilator, zeromq.Pull() as sink:
        tasks_at = await ventilator.bind("tcp://127.0.0.1:*")
        results_at = await sink.bind("tcp://127.0.0.1:*")
        workers = [
            asyncio.create_task(worker(f"worker-{n}", tasks_at, results_at))
            for n in range(WORKERS)
        ]

        # Push hands messages to the workers connected *now*: had it started at
        # once, the first worker to connect would get them all. So it waits
        # until every worker's connection has completed its handshake.
        events = ventilator.events
        connected = 0
        while connected < WORKERS:
            if (await events.receive()).type == "handshake":
                connected += 1

        for n in range(TASKS):
            await ventilator.send(n)  # round-robin over the connected workers

        total = 0
        done_by: dict[bytes, int] = {}
        for _ in range(TASKS):
            name, square = await sink.receive()  # fair-queued from every worker
            total += int(square)
            done_by[name] = done_by.get(name, 0) + 1

        for _ in range(WORKERS):
            await ventilator.send("stop")
        await asyncio.gather(*workers)

    print("sum of squares:", total, "by", sorted(done_by.items()))
    assert total == sum(n * n for n in range(TASKS))
    assert list(done_by.values()) == [TASKS // WORKERS] * WORKERS


asyncio.run(main())
