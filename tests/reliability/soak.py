"""Soak: a bounded mixed-pattern run that injects faults and counts losses.

    python tests/reliability/soak.py [--seconds 60] [--seed N]     (or: make soak)

Runs at once, on one event loop, until the time is up:

- push/pull over tcp: 4 senders, 1 receiver; sends and receives cancelled at
  random (asyncio.timeout, wait_for, Task.cancel); order checked per sender.
- dealer/router over tcp: echo clients whose sends and receives are cancelled
  at random, each closed and replaced after a random number of requests,
  while hostile connections (garbage, truncated greetings, oversized frames)
  keep hitting the router.
- pub/sub over inproc with `no_drop`: a publisher faster than its
  subscribers, which fall behind at random; nothing may be dropped.
- req/rep over tcp against a Reply server in a child process that is killed
  (SIGKILL) at random and restarted; the Request client recovers with
  `correlate` + `relaxed` (retrying a request whose reply does not come).

Then it drains every pattern and prints the figures: messages sent, faults
injected and messages lost. Exits 1 if anything was lost, reordered or
duplicated, or if an error leaked into the event loop.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import functools
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from reliability_harness import (
    HOSTILE,
    REPLY_CHILD,
    Child,
    LoopErrors,
    free_tcp_port,
    hostile_peer,
    under_random_cancellation,
)

import zeromq


@dataclass
class Figures:
    """What one pattern did."""

    sent: int = 0
    received: int = 0
    violations: list[str] = field(default_factory=list)  # order, duplicates, wrong replies

    @property
    def lost(self) -> int:
        return self.sent - self.received


@dataclass
class Soak:
    seconds: float
    rng: random.Random
    figures: dict[str, Figures] = field(default_factory=lambda: collections.defaultdict(Figures))
    # Sends and receives cut short, by mechanism; and the other faults, by kind.
    cancellations: collections.Counter[str] = field(default_factory=collections.Counter)
    faults: collections.Counter[str] = field(default_factory=collections.Counter)
    retries: int = 0  # requests sent again after a server was killed

    def running(self) -> bool:
        return time.monotonic() < self.deadline

    def start(self) -> None:
        self.deadline = time.monotonic() + self.seconds

    def faults_injected(self) -> int:
        return sum(self.cancellations.values()) + sum(self.faults.values())


# -- patterns ---------------------------------------------------------------------------------


async def push_pull(soak: Soak) -> None:
    figures = soak.figures["push/pull tcp, cancellations"]
    cancelled = soak.cancellations
    async with zeromq.Pull(linger=0, receive_high_water_mark=20) as pull:
        await pull.bind("tcp://127.0.0.1:*")
        pushes = [zeromq.Push(linger=0, send_high_water_mark=20) for _ in range(4)]
        for push in pushes:
            push.connect(pull.last_endpoint)  # type: ignore[arg-type]

        async def produce(peer: int) -> None:
            rng = random.Random(soak.rng.random())
            seq = 0
            while soak.running():
                message = [b"%d" % peer, b"%d" % seq, b"x" * 1024]
                done, _ = await under_random_cancellation(
                    functools.partial(pushes[peer].send, message), rng, cancelled
                )
                seq += done
                figures.sent += done
                if rng.random() < 0.001:
                    await asyncio.sleep(0.005)  # the receiver catches up and waits

        producers = [asyncio.ensure_future(produce(peer)) for peer in range(len(pushes))]
        rng = random.Random(soak.rng.random())
        following = [0] * len(pushes)
        while not all(p.done() for p in producers) or figures.received < figures.sent:
            try:
                async with asyncio.timeout(1):  # lets the loop see the producers finish
                    done, message = await under_random_cancellation(pull.receive, rng, cancelled)
            except TimeoutError:
                continue
            if done:
                assert message is not None
                peer, seq = int(message[0]), int(message[1])
                if seq != following[peer]:
                    figures.violations.append(f"peer {peer}: {seq} after {following[peer] - 1}")
                following[peer] = seq + 1
                figures.received += 1
            if rng.random() < 0.001:
                await asyncio.sleep(0.005)  # fall behind: the senders wait
        for producer in producers:
            producer.result()
        for push in pushes:
            push.close()


async def dealer_router(soak: Soak) -> None:
    figures = soak.figures["dealer/router tcp, cancellations, churn, hostile peers"]
    cancelled = soak.cancellations
    async with zeromq.Router(linger=0, max_message_size=65536, handshake_interval=200) as router:
        await router.bind("tcp://127.0.0.1:*")
        endpoint = router.last_endpoint
        assert endpoint is not None
        host, port = endpoint.rsplit("/", 1)[1].rsplit(":", 1)

        async def echo() -> None:
            async for message in router:
                await router.send(message)

        async def client(n: int) -> None:
            rng = random.Random(soak.rng.random())
            while soak.running():
                async with zeromq.Dealer(linger=0) as dealer:
                    dealer.connect(endpoint)
                    for i in range(rng.randrange(50, 500)):
                        request = [b"%d" % n, b"%d" % i, b"y" * rng.randrange(0, 2000)]
                        send = functools.partial(dealer.send, request)
                        while not (await under_random_cancellation(send, rng, cancelled))[0]:
                            pass  # a cancelled send sent nothing: send it again
                        figures.sent += 1
                        while True:
                            done, reply = await under_random_cancellation(
                                dealer.receive, rng, cancelled
                            )
                            if done:
                                break  # a cancelled receive took nothing: receive again
                        if reply != request:
                            figures.violations.append(f"client {n}: wrong reply to {i}")
                        figures.received += 1
                        if not soak.running():
                            break
                soak.faults["clients closed and replaced"] += 1

        async def hostile() -> None:
            rng = random.Random(soak.rng.random())
            kinds = list(HOSTILE)
            while soak.running():
                outcomes = await asyncio.gather(
                    *(hostile_peer(host, int(port), rng.choice(kinds), rng) for _ in range(8)),
                    return_exceptions=True,
                )
                soak.faults["hostile connections"] += len(outcomes)
                for outcome in outcomes:
                    if isinstance(outcome, BaseException):  # e.g. not dropped within 10 s
                        figures.violations.append(f"hostile peer: {outcome!r}")
                await asyncio.sleep(0.01)

        echoing = asyncio.ensure_future(echo())
        await asyncio.gather(hostile(), *(client(n) for n in range(3)))
        router.close()
        await echoing


async def pub_sub(soak: Soak) -> None:
    figures = soak.figures["pub/sub inproc, no_drop, 2 slow subscribers (deliveries)"]
    async with zeromq.Publisher(linger=0, no_drop=True, send_high_water_mark=100) as pub:
        await pub.bind("inproc://soak-pub-sub")
        subs = [zeromq.Subscriber(linger=0, receive_high_water_mark=100) for _ in range(2)]
        for sub in subs:
            sub.subscribe()
            sub.connect("inproc://soak-pub-sub")
            # Subscriptions arrive in the background: ping until this one has.
            sub.receive_timeout = 10
            while True:
                await pub.send(b"ping")
                try:
                    await sub.receive()
                    break
                except TimeoutError:
                    continue
            sub.receive_timeout = -1

        async def subscriber(sub: zeromq.Subscriber) -> None:
            rng = random.Random(soak.rng.random())
            following = 0
            while True:
                [message] = await sub.receive()
                if message == b"ping":
                    continue  # left over from the set-up
                if message == b"end":
                    break
                if int(message) != following:
                    figures.violations.append(f"subscriber: {int(message)} after {following - 1}")
                following = int(message) + 1
                figures.received += 1
                if rng.random() < 0.002:
                    await asyncio.sleep(0.003)  # fall behind: the publisher waits

        # Every subscriber is subscribed: from now on each must get every message.
        readers = [asyncio.ensure_future(subscriber(sub)) for sub in subs]
        seq = 0
        while soak.running():
            await pub.send(b"%d" % seq)  # waits while a subscriber is behind: no_drop
            seq += 1
            figures.sent += len(subs)  # one delivery per subscriber
            if seq % 1000 == 0:
                await asyncio.sleep(0.001)  # leave the other patterns some of the CPU
        await pub.send(b"end")
        await asyncio.gather(*readers)
        for sub in subs:
            sub.close()


async def req_rep_restarts(soak: Soak) -> None:
    figures = soak.figures["req/rep tcp, server killed and restarted"]
    address = f"tcp://127.0.0.1:{free_tcp_port()}"
    rng = random.Random(soak.rng.random())
    server = Child(REPLY_CHILD, address, "0")
    try:
        await server.start()
        assert await server.line() == "ready"
        next_kill = time.monotonic() + rng.uniform(0.2, 1.0)
        async with zeromq.Request(
            linger=0, correlate=True, relaxed=True, reconnect_interval=20
        ) as req:
            req.connect(address)
            i = 0
            while soak.running():
                request = [b"%d" % i, b"z" * rng.randrange(0, 500)]
                figures.sent += 1
                while True:
                    await req.send(request)
                    if time.monotonic() > next_kill:
                        await server.kill()  # while it may hold this request
                        soak.faults["servers killed"] += 1
                        next_kill = time.monotonic() + rng.uniform(0.5, 2.0)
                    try:
                        async with asyncio.timeout(0.5):
                            reply = await req.receive()
                        break
                    except TimeoutError:
                        soak.retries += 1
                        if server.exited:
                            server = Child(REPLY_CHILD, address, "0")
                            await server.start()
                            assert await server.line() == "ready"
                if reply != request:
                    figures.violations.append(f"request {i}: wrong reply")
                figures.received += 1
                i += 1
    finally:
        await server.kill()


# -- the run ----------------------------------------------------------------------------------------


async def run(soak: Soak) -> int:
    errors = LoopErrors().install()
    soak.start()

    async def progress() -> None:
        begun = time.monotonic()
        while soak.running():
            await asyncio.sleep(min(10.0, max(soak.deadline - time.monotonic(), 0.01)))
            sent = sum(f.sent for f in soak.figures.values())
            print(f"  {time.monotonic() - begun:5.1f} s: {sent:,} messages, "
                  f"{soak.faults_injected():,} faults", flush=True)

    watcher = asyncio.ensure_future(progress())
    async with asyncio.timeout(soak.seconds + 60):  # the drain after the deadline is short
        await asyncio.gather(push_pull(soak), dealer_router(soak), pub_sub(soak),
                             req_rep_restarts(soak))
    await watcher

    width = max(len(name) for name in soak.figures)
    print(f"\n{'pattern':{width}}  {'sent':>10}  {'received':>10}  {'lost':>6}")
    for name, f in soak.figures.items():
        print(f"{name:{width}}  {f.sent:>10,}  {f.received:>10,}  {f.lost:>6,}")
    sent = sum(f.sent for f in soak.figures.values())
    lost = sum(f.lost for f in soak.figures.values())
    violations = [v for f in soak.figures.values() for v in f.violations]
    print(f"\nfaults injected: {soak.faults_injected():,}")
    mechanisms = ", ".join(f"{k} {v:,}" for k, v in sorted(soak.cancellations.items()))
    print(f"  sends and receives cancelled: {sum(soak.cancellations.values()):,} ({mechanisms})")
    for kind, count in sorted(soak.faults.items()):
        print(f"  {kind}: {count:,}")
    print(f"  (requests sent again after a server was killed: {soak.retries:,})")
    print(f"messages sent: {sent:,}")
    print(f"messages lost: {lost:,}")
    print(f"order violations: {len(violations)} {violations[:5] if violations else ''}".rstrip())
    print(f"errors leaked into the event loop: {len(errors.contexts)} {errors}".rstrip())
    return 1 if lost or violations or errors.contexts else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to run (60)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (random)")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    print(f"soak: {args.seconds:g} s, seed {seed}, zeromq on libzmq {zeromq.version}", flush=True)
    return asyncio.run(run(Soak(args.seconds, random.Random(seed))))


if __name__ == "__main__":
    sys.exit(main())
