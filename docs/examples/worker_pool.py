"""A worker pool: a Router hands each task to a worker that said it is ready."""

import asyncio

import zeromq

TASKS = 20


async def worker(name: str, pool_at: str, seconds_per_task: float) -> None:
    async with zeromq.Request(routing_id=name) as sock:
        sock.connect(pool_at)
        await sock.send("ready")
        while True:
            [task] = await sock.receive()
            if task == b"stop":
                return
            await asyncio.sleep(seconds_per_task)  # the work
            await sock.send(["done", task])  # the next request says: ready again


async def main() -> None:
    async with zeromq.Router() as pool:
        pool_at = await pool.bind("tcp://127.0.0.1:*")
        workers = [
            asyncio.create_task(worker("fast", pool_at, 0.001)),
            asyncio.create_task(worker("slow", pool_at, 0.05)),
        ]
        done_by = {b"fast": 0, b"slow": 0}
        sent = finished = stopped = 0
        while stopped < len(workers):
            # [routing id, delimiter, body...]: a Request puts the empty delimiter.
            name, _, *body = await pool.receive()
            if body[0] == b"done":
                finished += 1
                done_by[name] += 1
            if sent < TASKS:
                await pool.send([name, "", f"task {sent}"])
                sent += 1
            else:
                await pool.send([name, "", "stop"])
                stopped += 1
        await asyncio.gather(*workers)

    print(f"{finished} tasks:", {k.decode(): v for k, v in done_by.items()})
    assert finished == TASKS
    assert done_by[b"fast"] > done_by[b"slow"]  # each got work as fast as it could take it


asyncio.run(main())
