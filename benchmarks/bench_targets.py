"""The performance targets of issue #7, measured side by side with pyzmq sync.

    python benchmarks/bench_targets.py             # full run (about two minutes)
    python benchmarks/bench_targets.py --quick     # a few seconds, for smoke tests
    python benchmarks/bench_targets.py --json      # one JSON document
    python benchmarks/bench_targets.py --markdown  # the table for docs/benchmarks.md

Each row is one target ratio (issue #7's 1 MB target has two): a figure of
this library, the figure of the pyzmq sync baseline the target names,
measured in the same run, their ratio, and whether the target is met. Over
tcp the two ends are two processes: a worker process per library binds the
receiving end and this process connects the sending end
(`zeromq._cli._measure`, the machinery of `zeromq bench`).

The two libraries take turns row by row and round by round (which goes first
alternates), and each figure is the median of its rounds. The ratio is the
median of the rounds' ratios, each the zeromq figure over the pyzmq figure
measured right before or after it: on a noisy machine (other processes come
and go) the two figures of one round have met the same conditions, while the
medians of the two columns may come from rounds that did not (their ratio is
in the JSON too, as ``ratio_of_medians``). The run reports how many CPUs
other processes kept busy meanwhile; ``--quiet`` waits for them to calm down
before each round, ``--split`` tells which end costs what.

The rows (`TARGETS`), numbered as in the table:

1. 100 B PUSH->PULL throughput over tcp, >= 0.6 x pyzmq sync.
2. 100 B DEALER->ROUTER throughput over tcp, >= 1.0 x pyzmq sync; the ROUTER
   takes whole messages: zeromq ``receive()`` against pyzmq ``recv_multipart()``.
3. 1 B REQ<->REP mean round trip over tcp, <= 1.10 x pyzmq sync (issue
   #16; #7 asked 1.15), also on uvloop (where installed). The row also
   reports the CPU time each end's main thread spent per round trip
   (`time.thread_time`), the steadier measure of our overhead: the target
   is <= 1.4 x pyzmq sync's per end.
4. 1 MB PUSH->PULL throughput over tcp, the default receive: zeromq
   ``receive()`` against pyzmq ``recv()``, >= 1.0 x.
5. 1 MB PUSH->PULL throughput over tcp, the zero-copy receive: zeromq
   ``receive_buffers()`` against pyzmq ``recv(copy=False)``, >= 0.95 x.
   In rows 4 and 5 both senders pass the payload without a copy (zeromq
   ``send()``; pyzmq ``send(copy=False)``), so that the rows compare the
   receiving paths. And a check, not timed: a 1 MB `bytes` payload sent by
   zeromq arrives over inproc in the very memory it was sent from (no copy),
   while a writable `bytearray` is copied.
6. 100 B PUSH->PULL throughput over inproc within one process: two zeromq
   tasks on one event loop against a pyzmq sync receiver with a sender thread,
   >= 0.5 x.
7. The sending side alone: 100 B PUSH->PULL over tcp into a pyzmq sync
   receiver, a zeromq sender against a pyzmq sync sender, >= 0.7 x.

With ``--shared-dealer``, one more comparison (no target): 16 tasks sharing
one Dealer, 1 B request/reply through a Router echo over tcp, zeromq against
zmq.asyncio doing the same.

The run also checks that each receiving end really took the path its row
names (the type of the parts it received: ``bytes``, ``memoryview``, pyzmq's
``Frame``) and tells whether zeromq's C accelerator was in use.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import importlib.util
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import zeromq
from zeromq import _native
from zeromq._cli._measure import UVLOOP, BenchError, Case, Limit, Runner
from zeromq._cli.bench import _Progress, versions

OURS = "zeromq"
BASELINE = "pyzmq"  # pyzmq's sync sockets

FULL_ROUNDS = 11
FULL_SECONDS = 0.8
QUICK_ROUNDS = 1
QUICK_SECONDS = 0.1

BIG = 1_000_000

CPU_TARGET = 1.4
"""Main-thread CPU time per round trip per end, at most this times pyzmq sync's."""

# Issue #16's CPU target is for asyncio's own loop. On uvloop every wait goes
# through the loop's turn and the asyncio Task's suspend and resume, which
# alone cost about 1.4x pyzmq sync's CPU per end (docs/benchmarks.md).
_NO_CPU_TARGET = " no target (the wait through uvloop alone costs about 1.4x)"


@dataclass(frozen=True)
class Target:
    """One row: what is measured on each side, and the target ratio."""

    key: str  # a short name, also the JSON key
    title: str  # what the row measures, in a few words
    case: Case
    target: float  # the ratio zeromq / pyzmq sync to reach (at least, or at most for latency)
    ours: str  # what the zeromq side runs
    baseline: str  # what the pyzmq sync side runs
    receiver: str | None = None  # the receiving end's library on the zeromq side, if not zeromq
    also: tuple[str, ...] = ()  # more libraries measured on both ends (e.g. zeromq on uvloop)
    # The type of the parts each side's receiving end must get (None: not checked).
    expect: dict[str, str] = field(default_factory=dict)

    @property
    def lower_is_better(self) -> bool:
        """Latency rows: a smaller figure is better, and the target is a maximum."""
        return self.case.latency

    @property
    def unit(self) -> str:
        """The unit of the row's figures."""
        return "us" if self.case.latency else "msg/s"


TARGETS: tuple[Target, ...] = (
    Target(
        "push-pull-100", "100 B PUSH->PULL tcp", Case("push-pull", "tcp", 100), 0.6,
        ours="Push.send() -> Pull.receive()", baseline="send() -> recv()",
        expect={OURS: "bytes", BASELINE: "bytes"},
    ),
    Target(
        "dealer-router-100", "100 B DEALER->ROUTER tcp", Case("dealer-router", "tcp", 100), 1.0,
        ours="Dealer.send() -> Router.receive()", baseline="send() -> recv_multipart()",
        expect={OURS: "bytes", BASELINE: "bytes"},
    ),
    Target(
        "req-rep-1", "1 B REQ<->REP tcp, round trip", Case("req-rep", "tcp", 1), 1.10,
        ours="Request <-> Reply", baseline="REQ <-> REP, blocking",
        also=(UVLOOP,) if importlib.util.find_spec("uvloop") is not None else (),
    ),
    Target(
        "push-pull-1mb", "1 MB PUSH->PULL tcp, receive()",
        Case("push-pull", "tcp", BIG, zero_copy_send=True), 1.0,
        ours="Push.send() -> Pull.receive()", baseline="send(copy=False) -> recv()",
        expect={OURS: "bytes", BASELINE: "bytes"},
    ),
    Target(
        "push-pull-1mb-zero-copy", "1 MB PUSH->PULL tcp, zero-copy",
        Case("push-pull", "tcp", BIG, zero_copy_receive=True, zero_copy_send=True), 0.95,
        ours="Push.send() -> Pull.receive_buffers()", baseline="send(copy=False) -> recv(copy=False)",
        expect={OURS: "memoryview", BASELINE: "Frame"},
    ),
    Target(
        "inproc-100", "100 B PUSH->PULL inproc", Case("push-pull", "inproc", 100), 0.5,
        ours="two tasks, one event loop", baseline="recv() with a sender thread",
    ),
    Target(
        "send-100", "100 B sending side, tcp", Case("push-pull", "tcp", 100), 0.7,
        ours="Push.send() -> pyzmq sync recv()", baseline="send() -> pyzmq sync recv()",
        receiver=BASELINE, expect={OURS: "bytes", BASELINE: "bytes"},
    ),
)


# -- the machine ----------------------------------------------------------------


def _first_line(path: str, prefix: str) -> str | None:
    try:
        with open(path) as lines:
            for line in lines:
                if line.startswith(prefix):
                    return line.split(":", 1)[1].strip() if ":" in line else line[len(prefix):].strip()
    except OSError:
        pass
    return None


def machine() -> dict[str, Any]:
    """What the figures were measured on: processors, memory, OS, load."""
    memory = _first_line("/proc/meminfo", "MemTotal")
    os_name = _first_line("/etc/os-release", "PRETTY_NAME=")
    return {
        "cpus": os.cpu_count(),
        "cpu_model": _first_line("/proc/cpuinfo", "model name") or platform.processor() or "unknown",
        "memory": f"{int(memory.split()[0]) / 2**20:.1f} GiB" if memory else "unknown",
        "os": f"{(os_name or platform.system()).strip(chr(34))}, kernel {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }


def busy_seconds() -> float | None:
    """CPU seconds the whole machine has been busy since boot (all processes,
    all CPUs, from /proc/stat), or None where there is no /proc/stat."""
    try:
        with open("/proc/stat") as stat:
            fields = stat.readline().split()
    except OSError:
        return None
    # user nice system idle iowait irq softirq steal ...: all but idle and iowait
    ticks = [int(x) for x in fields[1:9]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def _live_children_seconds() -> float:
    """CPU seconds used so far by this process's children still running."""
    me, tick, total = os.getpid(), os.sysconf("SC_CLK_TCK"), 0.0
    try:
        entries = [e.name for e in os.scandir("/proc") if e.name.isdigit()]
    except OSError:
        return 0.0
    for pid in entries:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                text = stat.read()
        except OSError:
            continue  # gone meanwhile
        fields = text[text.rindex(")") + 2:].split()  # from the state on: ppid, ..., utime, stime
        if int(fields[1]) == me:
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def own_seconds() -> float:
    """CPU seconds used by this process and its children, running or ended."""
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime + _live_children_seconds()


class NoiseMeter:
    """How many CPUs other processes keep busy: the machine's busy time
    (/proc/stat) less this process's and its children's, per second."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Start a new interval."""
        self._start, self._busy, self._own = time.monotonic(), busy_seconds(), own_seconds()

    def load(self) -> float | None:
        """Other processes' average CPUs busy since `reset`, or None where unknown."""
        busy, elapsed = busy_seconds(), time.monotonic() - self._start
        if self._busy is None or busy is None or elapsed <= 0:
            return None
        return max(0.0, (busy - self._busy) - (own_seconds() - self._own)) / elapsed


def wait_for_quiet(limit: float = 0.2, timeout: float = 30.0, sample: float = 0.5) -> float:
    """Wait until other processes keep fewer than `limit` CPUs busy over
    `sample` seconds, for at most `timeout` seconds; the seconds waited."""
    started = time.monotonic()
    meter = NoiseMeter()
    while time.monotonic() - started < timeout:
        meter.reset()
        time.sleep(sample)
        load = meter.load()
        if load is None or load < limit:
            break
    return time.monotonic() - started


def commit() -> str | None:
    """The git commit of the code measured (``+`` if it has uncommitted
    changes), or None outside a git checkout."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        head = subprocess.run(
            ["git", "-C", root, "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", root, "status", "--porcelain", "--untracked-files=no", "--", "src"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("+" if dirty else "")


# -- the untimed check: a large buffer is sent without a copy ----------------------


class _PyBuffer(ctypes.Structure):
    _fields_ = [
        ("buf", ctypes.c_void_p), ("obj", ctypes.c_void_p), ("len", ctypes.c_ssize_t),
        ("itemsize", ctypes.c_ssize_t), ("readonly", ctypes.c_int), ("ndim", ctypes.c_int),
        ("format", ctypes.c_char_p), ("shape", ctypes.c_void_p), ("strides", ctypes.c_void_p),
        ("suboffsets", ctypes.c_void_p), ("internal", ctypes.c_void_p),
    ]


def buffer_address(obj: object) -> int:
    """The address of the memory an object's buffer exports."""
    get = ctypes.pythonapi.PyObject_GetBuffer
    get.argtypes = [ctypes.py_object, ctypes.POINTER(_PyBuffer), ctypes.c_int]
    release = ctypes.pythonapi.PyBuffer_Release
    release.argtypes = [ctypes.POINTER(_PyBuffer)]
    view = _PyBuffer()
    get(obj, ctypes.byref(view), 0)  # raises (as pythonapi does) if obj has no buffer
    try:
        return int(view.buf or 0)
    finally:
        release(ctypes.byref(view))


def check_send_without_copy(size: int = BIG) -> dict[str, bool]:
    """Send a `size`-byte `bytes` and `bytearray` from a zeromq Push to a
    Pull over inproc, where libzmq hands the message itself across: whether
    the `bytes` arrives in its own memory (it was not copied) and the
    writable `bytearray` in other memory (it was copied, as it must be)."""

    async def run() -> dict[str, bool]:
        async with zeromq.Push(linger=0) as push, zeromq.Pull(linger=0) as pull:
            await pull.bind("inproc://bench-targets-no-copy")
            push.connect("inproc://bench-targets-no-copy")
            payload = b"x" * size
            await push.send(payload)
            [received] = await pull.receive_buffers()
            not_copied = buffer_address(received) == buffer_address(payload)
            del received
            writable = bytearray(size)
            await push.send(writable)
            [received] = await pull.receive_buffers()
            copied = buffer_address(received) != buffer_address(writable)
            return {"bytes_sent_without_copy": not_copied, "bytearray_copied": copied}

    return asyncio.run(run())


# -- measuring --------------------------------------------------------------------


SPLIT_SEND = "zeromq sender"  # a zeromq sender into a pyzmq sync receiver
SPLIT_RECEIVE = "zeromq receiver"  # a pyzmq sync sender into a zeromq receiver


def splittable(target: Target) -> bool:
    """Whether ``--split`` applies: a throughput row over tcp, zeromq on both ends."""
    return target.case.transport == "tcp" and not target.case.latency and target.receiver is None


def _sides(target: Target, split: bool) -> dict[str, tuple[str, str]]:
    """What is measured for a row: name -> (sending library, receiving library)."""
    sides = {OURS: (OURS, target.receiver or OURS), BASELINE: (BASELINE, BASELINE)}
    sides.update((lib, (lib, lib)) for lib in target.also)
    if split and splittable(target):
        sides[SPLIT_SEND] = (OURS, BASELINE)
        sides[SPLIT_RECEIVE] = (BASELINE, OURS)
    return sides


@dataclass
class Measured:
    """What `measure` found."""

    samples: dict[str, dict[str, list[float]]]  # row key -> side -> one figure per round
    received: dict[str, dict[str, set[str]]]  # row key -> side -> part types received
    accelerated: set[bool]  # whether zeromq's receiving ends used the C accelerator
    round_noise: list[float | None]  # CPUs other processes kept busy, per round
    waited: float = 0.0  # seconds spent waiting for a quiet machine
    # Round trips: row key -> side -> end ("client", "server") -> CPU us per round trip, per round
    cpu: dict[str, dict[str, dict[str, list[float]]]] = field(default_factory=dict)


def measure(
    targets: Sequence[Target], rounds: int, seconds: float, *, split: bool = False, quiet: bool = False
) -> Measured:
    """Every row's figures, `rounds` times, taking turns: the samples of each
    row and side (`OURS`, `BASELINE`, and with `split` `SPLIT_SEND` and
    `SPLIT_RECEIVE`), the part types each receiving end got, whether the
    workers used the C accelerator, and how busy other processes kept the
    machine in each round; with `quiet`, each round first waits (up to 30 s)
    for other processes to leave the machine alone.

    Raises:
        BenchError: a measurement failed, or a receiving end did not take
            the path its row names.
    """
    limit = Limit(seconds=seconds)
    sides = {t.key: _sides(t, split) for t in targets}
    samples: dict[str, dict[str, list[float]]] = {t.key: {n: [] for n in sides[t.key]} for t in targets}
    received: dict[str, dict[str, set[str]]] = {t.key: {n: set() for n in sides[t.key]} for t in targets}
    accelerated: set[bool] = set()
    cpu: dict[str, dict[str, dict[str, list[float]]]] = {
        t.key: {n: {"client": [], "server": []} for n in sides[t.key]} for t in targets if t.case.latency
    }
    round_noise: list[float | None] = []
    waited = 0.0
    meter = NoiseMeter()
    progress = _Progress(rounds * sum(len(s) for s in sides.values()))
    try:
        with Runner() as runner:
            for round_ in range(rounds):
                if quiet:
                    waited += wait_for_quiet()
                meter.reset()
                for index, target in enumerate(targets):
                    names = list(sides[target.key])
                    # Who goes first changes from round to round and row to row.
                    shift = (round_ + index) % len(names)
                    for name in names[shift:] + names[:shift]:
                        sender, receiver = sides[target.key][name]
                        progress.step(f"round {round_ + 1}/{rounds}  {target.title}  {name}")
                        value = runner.measure(target.case, sender, limit, receiver=receiver)
                        samples[target.key][name].append(value)
                        for end, used in runner.last_cpu.items():
                            cpu[target.key][name][end].append(used)
                        reply = runner.last_reply
                        if "received" in reply:
                            received[target.key][name].add(str(reply["received"]))
                            if receiver == OURS:
                                accelerated.add(bool(reply["accelerated"]))
                round_noise.append(meter.load())
    finally:
        progress.clear()
    for target in targets:
        for lib, expected in target.expect.items():
            got = received[target.key][lib]
            if got != {expected}:
                raise BenchError(
                    f"{target.title}: the {lib} side received {', '.join(sorted(got)) or 'nothing'}, "
                    f"not {expected}: it did not take the path the row is about"
                )
    return Measured(samples, received, accelerated, round_noise, waited, cpu)


def paired_ratio(values: Sequence[float], baseline: Sequence[float]) -> float:
    """The median of the rounds' ratios of `values` to `baseline`."""
    return statistics.median(a / b for a, b in zip(values, baseline, strict=True))


def ratio_spread(values: Sequence[float], baseline: Sequence[float]) -> list[float]:
    """The lowest and highest of the rounds' ratios of `values` to `baseline`."""
    ratios = [a / b for a, b in zip(values, baseline, strict=True)]
    return [min(ratios), max(ratios)]


def per_end(cpu: dict[str, list[float]]) -> list[float]:
    """Per round, the mean of the two ends' CPU time per round trip."""
    return [(a + b) / 2 for a, b in zip(cpu["client"], cpu["server"], strict=True)]


def cpu_report(cpu: dict[str, dict[str, list[float]]]) -> dict[str, dict[str, Any]]:
    """A round-trip row's CPU figures: per side, the medians of each end's and
    of their mean (``per_end``), and the paired ratio of ``per_end`` to pyzmq
    sync's with its spread."""
    base = per_end(cpu[BASELINE])
    return {
        side: {
            "client": statistics.median(ends["client"]),
            "server": statistics.median(ends["server"]),
            "per_end": statistics.median(per_end(ends)),
            "ratio": paired_ratio(per_end(ends), base),
            "ratio_range": ratio_spread(per_end(ends), base),
        }
        for side, ends in cpu.items()
    }


def make_report(
    targets: Sequence[Target],
    measured: Measured,
    *,
    rounds: int,
    seconds: float,
    checks: dict[str, bool],
    started: dict[str, Any],
    elapsed: float,
) -> dict[str, Any]:
    """The JSON document of a run."""
    samples, received, accelerated = measured.samples, measured.received, measured.accelerated
    rows = []
    for target in targets:
        ours = statistics.median(samples[target.key][OURS])
        base = statistics.median(samples[target.key][BASELINE])
        ratio = paired_ratio(samples[target.key][OURS], samples[target.key][BASELINE])
        met = ratio <= target.target if target.lower_is_better else ratio >= target.target
        rows.append({
            "key": target.key,
            "title": target.title,
            "unit": target.unit,
            "zeromq": ours,
            "pyzmq": base,
            "ratio": ratio,
            "ratio_range": ratio_spread(samples[target.key][OURS], samples[target.key][BASELINE]),
            "ratio_of_medians": ours / base,
            "target": target.target,
            "comparison": "<=" if target.lower_is_better else ">=",
            "met": met,
            "zeromq_side": target.ours,
            "pyzmq_side": target.baseline,
            "transport": target.case.transport,
            "size": target.case.size,
            "received": {lib: sorted(types) for lib, types in received[target.key].items() if types},
            "samples": samples[target.key],
        })
        split = {
            name: {
                "median": statistics.median(values),
                "ratio": paired_ratio(values, samples[target.key][BASELINE]),
            }
            for name, values in samples[target.key].items()
            if name in (SPLIT_SEND, SPLIT_RECEIVE)
        }
        if split:
            rows[-1]["split"] = split
        also = {
            lib: {
                "median": statistics.median(samples[target.key][lib]),
                "ratio": paired_ratio(samples[target.key][lib], samples[target.key][BASELINE]),
                "ratio_range": ratio_spread(samples[target.key][lib], samples[target.key][BASELINE]),
            }
            for lib in target.also
        }
        if also:
            rows[-1]["also"] = also
        if target.key in measured.cpu:
            rows[-1]["cpu"] = cpu_report(measured.cpu[target.key])
    return {
        "versions": versions(),
        "commit": started.get("commit"),
        "accelerated": sorted(accelerated) == [True] if accelerated else _native.ACCELERATED,
        "machine": started,
        "load_average_after": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "rounds": rounds,
        "seconds_per_measurement": seconds,
        "elapsed_seconds": elapsed,
        "rows": rows,
        "checks": checks,
        "round_others_load": measured.round_noise,
        "waited_for_quiet_seconds": measured.waited,
    }


# -- many tasks sharing one socket (issue 12) ---------------------------------------

SHARED_TASKS = 16
SHARED_SIDES = (OURS, "zmq.asyncio")

# A pyzmq sync Router echoing every message back, in its own process, for both sides.
_ECHO = """
import zmq
router = zmq.Context().socket(zmq.ROUTER)
router.linger = 0
print(router.bind_to_random_port("tcp://127.0.0.1"), flush=True)
while True:
    router.send_multipart(router.recv_multipart())
"""


async def _shared_round_trips(side: str, endpoint: str, seconds: float) -> float:
    """Round trips per second made by `SHARED_TASKS` tasks sharing one Dealer,
    each sending 1 B and awaiting a reply in turn (zeromq queues the waiting
    operations; zmq.asyncio allows concurrent awaits too)."""
    if side == OURS:
        dealer: Any = zeromq.Dealer(linger=0)
        dealer.connect(endpoint)
        send, receive, close = dealer.send, dealer.receive, dealer.close
    else:
        import zmq
        import zmq.asyncio

        context = zmq.asyncio.Context()
        dealer = context.socket(zmq.DEALER)
        dealer.linger = 0
        dealer.connect(endpoint)
        send, receive = dealer.send, dealer.recv_multipart

        def close() -> None:
            dealer.close()
            context.term()

    done = 0
    running = True

    async def client() -> None:
        nonlocal done
        while running:
            await send(b"x")
            await receive()
            done += 1

    try:
        await send(b"warm-up")
        await receive()
        clients = [asyncio.ensure_future(client()) for _ in range(SHARED_TASKS)]
        await asyncio.sleep(seconds / 4)  # all in flight
        start, before = time.perf_counter(), done
        await asyncio.sleep(seconds)
        rate = (done - before) / (time.perf_counter() - start)
        running = False
        await asyncio.gather(*clients)  # each finishes its round trip
        return rate
    finally:
        close()


def measure_shared_dealer(rounds: int, seconds: float) -> dict[str, Any]:
    """`SHARED_TASKS` tasks sharing one Dealer, request/reply through a Router
    echo over tcp: zeromq against zmq.asyncio, taking turns round by round;
    the medians and the median of the rounds' ratios. (No pyzmq sync figure:
    a sync socket cannot be shared by concurrent callers.)"""
    echo = subprocess.Popen([sys.executable, "-c", _ECHO], stdout=subprocess.PIPE, text=True)
    try:
        assert echo.stdout is not None
        endpoint = f"tcp://127.0.0.1:{int(echo.stdout.readline())}"
        samples: dict[str, list[float]] = {side: [] for side in SHARED_SIDES}
        for round_ in range(rounds):
            order = SHARED_SIDES if round_ % 2 == 0 else SHARED_SIDES[::-1]
            for side in order:
                samples[side].append(asyncio.run(_shared_round_trips(side, endpoint, seconds)))
    finally:
        echo.kill()
        echo.wait()
    return {
        "tasks": SHARED_TASKS,
        "unit": "round trips/s",
        "zeromq": statistics.median(samples[OURS]),
        "zmq_asyncio": statistics.median(samples["zmq.asyncio"]),
        "ratio": paired_ratio(samples[OURS], samples["zmq.asyncio"]),
        "samples": samples,
    }


def _shared_lines(report: dict[str, Any]) -> list[str]:
    shared = report.get("shared_dealer")
    if not shared:
        return []
    return [
        "",
        f"{shared['tasks']} tasks sharing one Dealer, 1 B request/reply through a Router echo (tcp): "
        f"zeromq {shared['zeromq']:,.0f}, zmq.asyncio {shared['zmq_asyncio']:,.0f} round trips/s, "
        f"ratio {shared['ratio']:.2f}",
    ]


# -- output ------------------------------------------------------------------------


def format_figure(value: float, unit: str) -> str:
    """A figure as the tables show it: a round trip in µs, else messages/s."""
    return f"{value:,.1f} us" if unit == "us" else f"{value:,.0f} msg/s"


def _cells(report: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    header = ["#", "row", "zeromq", "pyzmq sync", "ratio (range)", "target", ""]
    rows = [
        [
            str(number), row["title"], format_figure(row["zeromq"], row["unit"]),
            format_figure(row["pyzmq"], row["unit"]),
            f"{row['ratio']:.2f} ({row['ratio_range'][0]:.2f}-{row['ratio_range'][1]:.2f})",
            f"{row['comparison']} {row['target']:.2f}", "met" if row["met"] else "MISSED",
        ]
        for number, row in enumerate(report["rows"], 1)
    ]
    return header, rows


def _about(report: dict[str, Any]) -> list[str]:
    v, m = report["versions"], report["machine"]
    lines = [
        f"zeromq {v['zeromq']} (C accelerator {'on' if report['accelerated'] else 'OFF'}), "
        f"libzmq {v['libzmq']}, pyzmq {v['pyzmq']}, {m['python']}"
        + (f", commit {report['commit']}" if report.get("commit") else ""),
        f"{m['cpus']} x {m['cpu_model']}, {m['memory']}, {m['os']}",
        f"median of {report['rounds']} round{'s' if report['rounds'] > 1 else ''} of "
        f"{report['seconds_per_measurement']} s per figure, the two libraries taking turns; "
        f"ratio: the median of the rounds' ratios; {report['elapsed_seconds']:.0f} s in all",
    ]
    others = report.get("others_load")
    per_round = [x for x in report.get("round_others_load") or [] if x is not None]
    if others is not None:
        noise = f"other processes kept {others:.2f} CPUs busy on average"
        if len(per_round) > 1:
            noise += f" (per round {min(per_round):.2f} to {max(per_round):.2f})"
        waited = report.get("waited_for_quiet_seconds") or 0
        if waited:
            noise += f"; {waited:.0f} s spent waiting for a quiet machine"
        lines.append(noise)
    return lines


def _extra_lines(report: dict[str, Any]) -> list[str]:
    """The other loops' figures and the CPU time per round trip, as lines."""
    lines = []
    for row in report["rows"]:
        for lib, also in row.get("also", {}).items():
            lines.append(
                f"{row['title']}, {lib}: {format_figure(also['median'], row['unit'])}, ratio "
                f"{also['ratio']:.2f} ({also['ratio_range'][0]:.2f}-{also['ratio_range'][1]:.2f})"
            )
        for side, cpu in row.get("cpu", {}).items():
            lines.append(
                f"{row['title']}, {side}: main-thread CPU per round trip {cpu['client']:.1f} us "
                f"(REQ), {cpu['server']:.1f} us (REP), {cpu['per_end']:.1f} us per end"
                + ("" if side == BASELINE else
                   f", ratio {cpu['ratio']:.2f} ({cpu['ratio_range'][0]:.2f}-{cpu['ratio_range'][1]:.2f}),"
                   + (f" target <= {CPU_TARGET}" if side == "zeromq" else _NO_CPU_TARGET))
            )
    return lines


def _check_lines(report: dict[str, Any]) -> list[str]:
    checks = report["checks"]
    if not checks:
        return []
    return [
        f"1 MB bytes sent without a copy (same memory at both ends over inproc): "
        f"{'yes' if checks['bytes_sent_without_copy'] else 'NO'}; "
        f"a writable bytearray copied: {'yes' if checks['bytearray_copied'] else 'NO'}",
    ]


def render(report: dict[str, Any]) -> str:
    """The plain-text table of a report, with what each row measures."""
    header, rows = _cells(report)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [*_about(report), ""]
    for row in [header, *rows]:
        cells = [
            cell.ljust(width) if i in (0, 1, 6) else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  " + "  ".join(cells).rstrip())
    lines += ["", *_extra_lines(report), *_check_lines(report), "", "What each row measures (zeromq | pyzmq sync):"]
    for number, row in enumerate(report["rows"], 1):
        lines.append(f"  {number}. {row['zeromq_side']} | {row['pyzmq_side']}")
    lines += _split_lines(report)
    lines += _shared_lines(report)
    met = sum(row["met"] for row in report["rows"])
    lines += ["", f"{met} of {len(report['rows'])} targets met"]
    return "\n".join(lines)


def _split_lines(report: dict[str, Any], markdown: bool = False) -> list[str]:
    """The ``--split`` table: which end makes the difference."""
    rows = [row for row in report["rows"] if "split" in row]
    if not rows:
        return []
    header = ["row", "zeromq both ends", "zeromq sender only", "zeromq receiver only"]
    cells = [
        [row["title"], f"{row['ratio']:.2f}",
         f"{row['split'][SPLIT_SEND]['ratio']:.2f}", f"{row['split'][SPLIT_RECEIVE]['ratio']:.2f}"]
        for row in rows
    ]
    title = "Which end (ratios to pyzmq sync on both ends; the other end is pyzmq sync):"
    if markdown:
        return [
            "", title, "", "| " + " | ".join(header) + " |", "|:---|---:|---:|---:|",
            *("| " + " | ".join(row) + " |" for row in cells),
        ]
    widths = [max(len(r[i]) for r in [header, *cells]) for i in range(len(header))]
    lines = ["", title]
    for row in [header, *cells]:
        lines.append("  " + "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ))
    return lines


def render_markdown(report: dict[str, Any]) -> str:
    """The table of a report in Markdown."""
    header, rows = _cells(report)
    for row, data in zip(rows, report["rows"], strict=True):
        row[1] = f"{data['title']}<br>*{data['zeromq_side']}* / *{data['pyzmq_side']}*"
        if not data["met"]:
            row[6] = "**MISSED**"
    align = ["---:", ":---", "---:", "---:", "---:", ":---:", ":---"]
    lines = [f"_{line}_  " for line in _about(report)]
    lines += ["", "| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    lines += ["", *(f"{line}  " for line in _extra_lines(report)), *_check_lines(report)]
    lines += [*_split_lines(report, markdown=True), *_shared_lines(report)]
    return "\n".join(lines)


K = TypeVar("K", bound="Keyed")


class Keyed(Protocol):
    @property
    def key(self) -> str: ...


def run_arguments(
    parser: argparse.ArgumentParser, args: argparse.Namespace, rows: Sequence[K]
) -> tuple[int, float, list[K]]:
    """The rounds, seconds per figure and rows (``--only``) a run's options ask
    for (``--quick`` changing the defaults); a usage error if they are wrong."""
    rounds: int = args.rounds or (QUICK_ROUNDS if args.quick else FULL_ROUNDS)
    seconds: float = args.seconds or (QUICK_SECONDS if args.quick else FULL_SECONDS)
    if rounds < 1 or not 0 < seconds <= 60:
        parser.error("--rounds must be at least 1 and --seconds in (0, 60]")
    if not args.only:
        return rounds, seconds, list(rows)
    keys = {key.strip() for key in args.only.split(",") if key.strip()}
    unknown = sorted(keys - {row.key for row in rows})
    if unknown:
        parser.error(f"unknown rows: {', '.join(unknown)}")
    return rounds, seconds, [row for row in rows if row.key in keys]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the targets and print the report; the exit status is 1 with
    ``--check`` when a target is missed, 2 when a measurement fails."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"a short smoke run ({QUICK_ROUNDS} round of {QUICK_SECONDS} s per figure)")
    parser.add_argument("--rounds", type=int, help=f"rounds (default {FULL_ROUNDS}, --quick {QUICK_ROUNDS})")
    parser.add_argument("--seconds", type=float,
                        help=f"seconds per figure (default {FULL_SECONDS}, --quick {QUICK_SECONDS})")
    parser.add_argument("--only", metavar="KEYS",
                        help="a comma-separated subset of rows: " + ", ".join(t.key for t in TARGETS))
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print one JSON document")
    output.add_argument("--markdown", action="store_true", help="print the table in Markdown")
    parser.add_argument("--check", action="store_true", help="exit with status 1 if a target is missed")
    parser.add_argument(
        "--quiet", action="store_true",
        help="before each round, wait (up to 30 s) until other processes keep fewer than 0.2 CPUs busy",
    )
    parser.add_argument(
        "--split", action="store_true",
        help="for the tcp throughput rows, also measure a zeromq sender into a pyzmq sync receiver "
        "and a pyzmq sync sender into a zeromq receiver (twice the time): which end costs what",
    )
    parser.add_argument(
        "--shared-dealer", action="store_true",
        help=f"also measure {SHARED_TASKS} tasks sharing one Dealer (request/reply through a "
        "Router echo) against zmq.asyncio doing the same",
    )
    args = parser.parse_args(argv)

    rounds, seconds, targets = run_arguments(parser, args, TARGETS)

    started = {**machine(), "commit": commit()}
    clock, meter = time.monotonic(), NoiseMeter()
    try:
        checks = check_send_without_copy() if any(t.case.size == BIG for t in targets) else {}
        measured = measure(targets, rounds, seconds, split=args.split, quiet=args.quiet)
        shared = measure_shared_dealer(rounds, seconds) if args.shared_dealer else None
    except BenchError as exc:
        print(f"bench_targets: error: {exc}", file=sys.stderr)
        return 2
    report = make_report(
        targets, measured, rounds=rounds, seconds=seconds,
        checks=checks, started=started, elapsed=time.monotonic() - clock,
    )
    report["others_load"] = meter.load()
    if shared is not None:
        report["shared_dealer"] = shared
    if args.json:
        print(json.dumps(report, indent=2))
    elif args.markdown:
        print(render_markdown(report))
    else:
        print(render(report))
    missed = not all(row["met"] for row in report["rows"]) or not all(checks.values())
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
