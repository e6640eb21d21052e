"""Side-by-side benchmark: zeromq vs pyzmq sync vs zmq.asyncio, in one run.

    python benchmarks/bench_core.py            # full run (about a minute)
    python benchmarks/bench_core.py --quick    # a few seconds, for smoke tests
    python benchmarks/bench_core.py --json     # machine-readable

Measures, over tcp on 127.0.0.1 with sender and receiver in two processes:
- PUSH -> PULL throughput of 100-byte messages (each library on both ends);
- REQ <-> REP mean round trip of 1-byte messages (server in a child process);
- with a libzmq that has DRAFT sockets (`make draft`), SERVER <-> CLIENT round
  trips the same way: the thread-safe sockets' readiness path.

The libraries take turns round after round, so that machine noise hits them
alike, and each figure is the median of its rounds. Every figure is also
printed as a ratio to pyzmq sync measured in the same run.

The measuring is that of `zeromq bench` (`zeromq._cli._measure`), which also
covers DEALER/ROUTER, ipc, inproc and other message sizes.
"""

from __future__ import annotations

import argparse
import json

from zeromq._cli._measure import (
    LIBRARIES,
    PATTERNS,
    Case,
    Limit,
    Runner,
    median_of_rounds,
    usable_patterns,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--rounds", type=int, default=None)
    args = parser.parse_args()

    rounds = args.rounds or (1 if args.quick else 5)
    messages = 20_000 if args.quick else 500_000
    trips = 500 if args.quick else 20_000
    with Runner() as runner:
        tput = median_of_rounds(
            rounds, LIBRARIES,
            lambda lib: runner.measure(Case("push-pull", "tcp", 100), lib, Limit(count=messages)),
        )
        # One row per round-trip pattern the libzmq in use has.
        rtts = {
            pattern: median_of_rounds(
                rounds, LIBRARIES,
                lambda lib, pattern=pattern: runner.measure(Case(pattern, "tcp", 1), lib, Limit(count=trips)),
            )
            for pattern in ("req-rep", "server-client")
            if pattern in usable_patterns()
        }
    rtt = rtts["req-rep"]
    result = {
        "rounds": rounds,
        "throughput_msgs_per_s": tput,
        "throughput_ratio": {lib: tput[lib] / tput["pyzmq"] for lib in LIBRARIES},
        "round_trip_us": rtt,
        "round_trip_ratio": {lib: rtt[lib] / rtt["pyzmq"] for lib in LIBRARIES},
    }
    if "server-client" in rtts:
        drafts = rtts["server-client"]
        result["server_client_round_trip_us"] = drafts
        result["server_client_round_trip_ratio"] = {lib: drafts[lib] / drafts["pyzmq"] for lib in LIBRARIES}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"PUSH->PULL 100 B over tcp, {messages} messages, median of {rounds} rounds")
    for lib in LIBRARIES:
        print(f"  {lib:12} {tput[lib]:>12,.0f} msg/s   x{result['throughput_ratio'][lib]:.2f} pyzmq sync")
    for pattern, times in rtts.items():
        print(f"{PATTERNS[pattern][0]} 1 B over tcp, {trips} round trips, median of {rounds} rounds")
        for lib in LIBRARIES:
            print(f"  {lib:12} {times[lib]:>10.1f} us mean   x{times[lib] / times['pyzmq']:.2f} pyzmq sync")


if __name__ == "__main__":
    main()
