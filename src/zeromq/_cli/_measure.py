"""The measuring of `zeromq bench` and `benchmarks/bench_core.py`: throughput
and latency of this library, pyzmq's sync sockets and `zmq.asyncio`, alike.

How one measurement runs. Each library has a worker process of its own, and
this process (the driver) plays the other end:

- Throughput (PUSH->PULL, DEALER->ROUTER): the receiving socket binds in the
  worker, which reports its endpoint; the driver connects the sending socket
  of the same library and sends as fast as it can until the worker reports how
  many messages it received in how long, counted from the first message.
- Latency (REQ<->REP): the REP binds in the worker and echoes; the driver's
  REQ makes round trips after a warm-up and takes their mean.
- Over inproc both ends are in the worker: two tasks on one event loop, or
  for pyzmq sync a second thread.

Variants (used by `benchmarks/bench_targets.py`; `zeromq bench` uses none):

- `Case.zero_copy_receive`: the receiving end takes each message's parts as
  buffers without a copy (zeromq `receive_buffers()`, pyzmq and zmq.asyncio
  ``recv(copy=False)`` / ``recv_multipart(copy=False)``).
- `Case.zero_copy_send`: pyzmq and zmq.asyncio send with ``copy=False``, which
  like zeromq's `send()` hands parts of 64 KiB or more to libzmq without a copy
  (zeromq's send is the same either way).
- ``Runner.measure(..., receiver=LIB)``: over tcp or ipc the worker's end
  (the receiver, or the echoing REP) is of another library than the driver's
  end (e.g. a zeromq sender into a pyzmq sync receiver), to measure one side
  alone.
- `UVLOOP`: zeromq on uvloop's event loop instead of asyncio's own.

CPU time. A round trip over tcp or ipc also reports, in `Runner.last_cpu`,
the CPU time each end's main thread spent per round trip
(`time.thread_time()`, which other processes do not inflate the way they do
wall-clock time): what waiting and the library's own code cost, without the
machine's wake-up latency.

A measurement stops after `Limit.count` messages (round trips) or
`Limit.seconds`, whichever comes first. The libraries take turns case by case
and round by round, so that machine noise hits them alike, and each figure is
the median of its rounds (`median_of_rounds`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, TypeVar

import zmq

from .. import _threads
from .._native import ACCELERATED
from ._common import CLIError

LIBRARIES = ("zeromq", "pyzmq", "zmq.asyncio")
"""What ``--compare`` runs, in table order; "pyzmq" is pyzmq's sync sockets."""

UVLOOP = "zeromq-uvloop"
"""zeromq on uvloop's event loop: measurable too, though not in `LIBRARIES`."""
MEASURABLE = (*LIBRARIES, UVLOOP)

BASELINE = "pyzmq"
"""The library every ratio is relative to."""

PATTERNS: dict[str, tuple[str, str, str]] = {
    # name: (label, socket type of the bound end, socket type of the connected end)
    "push-pull": ("PUSH->PULL", "PULL", "PUSH"),
    "dealer-router": ("DEALER->ROUTER", "ROUTER", "DEALER"),
    "req-rep": ("REQ<->REP", "REP", "REQ"),
    "server-client": ("SERVER<->CLIENT", "SERVER", "CLIENT"),
}
LATENCY_PATTERNS = frozenset({"req-rep", "server-client"})
"""The patterns measured as round trips (the bound end echoes)."""
DRAFT_PATTERNS = frozenset({"server-client"})
"""The patterns that need a libzmq with the DRAFT API (`make draft`)."""


def usable_patterns() -> tuple[str, ...]:
    """The patterns the libzmq in use can measure."""
    draft = bool(zmq.has("draft"))
    return tuple(p for p in PATTERNS if draft or p not in DRAFT_PATTERNS)

TRANSPORTS = ("tcp", "ipc", "inproc")

# How long (ms) a receive in a measurement may wait before the measurement
# fails: the other end has died or never connected.
STALL_MS = 10_000
# Sync senders time out this often (ms) to see whether they are to stop.
STOP_CHECK_MS = 100
# The request that ends an echoing worker.
_STOP = b""

T = TypeVar("T")


class BenchError(CLIError):
    """A measurement could not be made."""


@dataclass(frozen=True)
class Case:
    """What one measurement measures."""

    pattern: str  # a key of PATTERNS
    transport: str  # tcp, ipc or inproc
    size: int  # bytes per message
    zero_copy_receive: bool = False  # receive parts as buffers, without a copy
    zero_copy_send: bool = False  # pyzmq/zmq.asyncio send with copy=False

    @property
    def latency(self) -> bool:
        """Whether it measures round trips rather than throughput."""
        return self.pattern in LATENCY_PATTERNS

    @property
    def label(self) -> str:
        """How tables and the progress line name it."""
        label = f"{PATTERNS[self.pattern][0]} {self.transport} {format_size(self.size)}"
        if self.zero_copy_receive:
            label += " zero-copy receive"
        if self.zero_copy_send:
            label += " zero-copy send"
        return label


@dataclass(frozen=True)
class Limit:
    """When a measurement stops: after `count` messages (or round trips) or
    `seconds`, whichever comes first; None is no limit."""

    count: int | None = None
    seconds: float | None = None

    def __post_init__(self) -> None:
        if self.count is None and self.seconds is None:
            raise ValueError("a Limit needs a count or seconds")


def format_size(size: int) -> str:
    """``1 B``, ``64 kB``, ``1 MB``, ``4 KiB``..."""
    for unit, name in ((1_000_000, "MB"), (1_000, "kB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
        if size >= unit and size % unit == 0:
            return f"{size // unit} {name}"
    return f"{size} B"


def _hwm(size: int) -> int:
    # The default 1000 messages, fewer for large ones so that each queue
    # stays near 32 MB instead of reaching gigabytes.
    return max(4, min(1000, (32 << 20) // size))


def _stride(size: int) -> int:
    # Messages between two looks at the clock (or at the stop flag): rare for
    # small messages, whose loop would otherwise time itself.
    return max(1, min(256, 65536 // size))


# -- the loops, once sync and once async ---------------------------------------


def _count_sync(recv: Callable[[], object], limit: Limit, stride: int) -> tuple[int, float]:
    """Receive until `limit`; the messages and seconds since the call (made
    after the first message arrived)."""
    clock = time.perf_counter
    count = sys.maxsize if limit.count is None else limit.count
    start = clock()
    end = start + (math.inf if limit.seconds is None else limit.seconds)
    done = 0
    while done < count:
        batch = min(stride, count - done)
        for _ in range(batch):
            recv()
        done += batch
        if clock() >= end:
            break
    return done, clock() - start


async def _count_async(
    recv: Callable[[], Awaitable[object]], limit: Limit, stride: int
) -> tuple[int, float]:
    """`_count_sync` for zeromq and zmq.asyncio."""
    clock = time.perf_counter
    count = sys.maxsize if limit.count is None else limit.count
    start = clock()
    end = start + (math.inf if limit.seconds is None else limit.seconds)
    done = 0
    while done < count:
        batch = min(stride, count - done)
        for _ in range(batch):
            await recv()
        done += batch
        if clock() >= end:
            break
    return done, clock() - start


def _flood_sync(send: Callable[[bytes], object], payload: bytes, stop: list[object], stride: int) -> None:
    """Send `payload` until `stop` is not empty. The socket's send timeout
    makes a send that waits give up now and then to look."""
    while not stop:
        try:
            for _ in range(stride):
                send(payload)
        except zmq.Again:
            pass


async def _flood_async(send: Callable[[bytes], Awaitable[object]], payload: bytes) -> None:
    """Send `payload` until cancelled."""
    while True:
        await send(payload)


def _warm_up_trips(limit: Limit) -> tuple[int, float]:
    # At most 100 round trips, and at most a tenth of the time limit.
    seconds = math.inf if limit.seconds is None else limit.seconds / 10
    return 100, seconds


def _trips_sync(
    send: Callable[[bytes], object], recv: Callable[[], object], payload: bytes, limit: Limit
) -> tuple[float, float]:
    """The mean round trip after a warm-up, and the CPU time this thread
    spent per round trip, both in microseconds."""
    clock, cpu = time.perf_counter, time.thread_time
    warm, warm_seconds = _warm_up_trips(limit)
    warm_end = clock() + warm_seconds
    for _ in range(warm):
        send(payload)
        recv()
        if clock() >= warm_end:
            break
    count = sys.maxsize if limit.count is None else limit.count
    start, cpu_start = clock(), cpu()
    end = start + (math.inf if limit.seconds is None else limit.seconds)
    done = 0
    while done < count:
        send(payload)
        recv()
        done += 1
        if clock() >= end:
            break
    return (clock() - start) / done * 1e6, (cpu() - cpu_start) / done * 1e6


async def _trips_async(
    send: Callable[[bytes], Awaitable[object]],
    recv: Callable[[], Awaitable[object]],
    payload: bytes,
    limit: Limit,
) -> tuple[float, float]:
    """`_trips_sync` for zeromq and zmq.asyncio."""
    clock, cpu = time.perf_counter, time.thread_time
    warm, warm_seconds = _warm_up_trips(limit)
    warm_end = clock() + warm_seconds
    for _ in range(warm):
        await send(payload)
        await recv()
        if clock() >= warm_end:
            break
    count = sys.maxsize if limit.count is None else limit.count
    start, cpu_start = clock(), cpu()
    end = start + (math.inf if limit.seconds is None else limit.seconds)
    done = 0
    while done < count:
        await send(payload)
        await recv()
        done += 1
        if clock() >= end:
            break
    return (clock() - start) / done * 1e6, (cpu() - cpu_start) / done * 1e6


def _is_stop(message: object) -> bool:
    if isinstance(message, zmq.Frame):  # a SERVER's request (pyzmq)
        message = message.bytes
    message = getattr(message, "parts", message)  # a Server's RoutedMessage (zeromq)
    return message == _STOP or message == [_STOP]


def _echo_sync(send: Callable[[Any], object], recv: Callable[[], object]) -> float:
    """Reply to each request with itself, until the stop request; the CPU
    time this thread spent per reply in microseconds, counted from the end
    of the first (which waited for the client to connect)."""
    cpu, start, done = time.thread_time, 0.0, 0
    while True:
        message = recv()
        send(message)
        if _is_stop(message):
            return (cpu() - start) / max(1, done - 1) * 1e6
        done += 1
        if done == 1:
            start = cpu()


async def _echo_async(
    send: Callable[[Any], Awaitable[object]], recv: Callable[[], Awaitable[object]]
) -> float:
    """`_echo_sync` for zeromq and zmq.asyncio."""
    cpu, start, done = time.thread_time, 0.0, 0
    while True:
        message = await recv()
        await send(message)
        if _is_stop(message):
            return (cpu() - start) / max(1, done - 1) * 1e6
        done += 1
        if done == 1:
            start = cpu()


# -- sockets of each library, made alike ------------------------------------------


# Like the rest of the package, the sockets and threads here are made with
# the program's signals blocked (`_threads`): a context's first socket starts
# libzmq's I/O threads, and a thread that starts unblocked could take the
# driver's Ctrl-C and leave it waiting.


def _sync_socket(ctx: zmq.Context[Any], kind: str, size: int) -> zmq.Socket[Any]:
    sock = _threads.native_socket(ctx, getattr(zmq, kind))
    sock.linger = 0
    sock.sndhwm = sock.rcvhwm = _hwm(size)
    sock.rcvtimeo = STALL_MS
    return sock


def _endpoint(sock: zmq.Socket[Any]) -> str:
    return str(sock.getsockopt_string(zmq.LAST_ENDPOINT))


def _sync_recv(sock: zmq.Socket[Any], kind: str, zero_copy: bool = False) -> Callable[[], object]:
    recv: Callable[..., object] = sock.recv_multipart if kind == "ROUTER" else sock.recv
    # A SERVER's request is a Frame: sent back, it goes to its routing id.
    return functools.partial(recv, copy=False) if zero_copy or kind == "SERVER" else recv


def _sync_send(sock: zmq.Socket[Any], zero_copy: bool = False) -> Callable[[bytes], object]:
    send: Callable[..., object] = sock.send
    return functools.partial(send, copy=False) if zero_copy else send


def _part_type(message: object) -> str:
    """The type name of a received message's (first) part: what the
    receiving call really returned."""
    if isinstance(message, list) and message:
        message = message[0]
    return type(message).__name__


class _AsyncEnd:
    """A socket of zeromq or zmq.asyncio with the calls a measurement makes."""

    def __init__(self, sock: Any, send: Any, recv: Any) -> None:
        self.sock = sock
        self.send: Callable[[Any], Awaitable[object]] = send
        self.recv: Callable[[], Awaitable[object]] = recv


class _AsyncLibrary:
    """Makes the sockets of one asyncio library inside a running event loop."""

    def __init__(self, lib: str) -> None:
        self.lib = lib
        self._ctx: Any = None
        self._ends: list[_AsyncEnd] = []
        # Each measurement's sockets get a context of their own, as pyzmq's
        # and zmq.asyncio's do: on our 2-vCPU virtual machine, a libzmq
        # context that has lived through an idle second makes every round
        # trip cost 2-2.5x the CPU time of a fresh one (pyzmq's as much as
        # ours), so sharing the default context across measurements made
        # zeromq's figures those of an older context than pyzmq's.
        self._zctx: Any = None
        if lib in _ZEROMQ:
            import zeromq

            self._zctx = zeromq.Context()
        if lib == "zmq.asyncio":
            import warnings

            import zmq.asyncio

            self._ctx = zmq.asyncio.Context()
            # pyzmq waits on thread-safe (DRAFT) sockets through an FD it
            # emulates, and warns that this is experimental, every time.
            warning = getattr(zmq.error, "DraftFDWarning", None)
            if warning is not None:
                warnings.simplefilter("ignore", warning)

    def socket(
        self, kind: str, size: int, *, zero_copy_receive: bool = False, zero_copy_send: bool = False
    ) -> _AsyncEnd:
        """A socket of type `kind` (``"PUSH"``...) set up for `size`-byte
        messages; with `zero_copy_receive` its receive takes parts without a
        copy, with `zero_copy_send` (pyzmq only) its send too."""
        hwm = _hwm(size)
        if self.lib in _ZEROMQ:
            import zeromq

            cls: type[zeromq.Socket] = getattr(zeromq, _ZEROMQ_CLASSES[kind])
            options: dict[str, Any] = {"linger": 0, "context": self._zctx}
            for name in ("send_high_water_mark", "receive_high_water_mark"):
                if hasattr(cls, name):
                    options[name] = hwm
            if hasattr(cls, "receive_timeout"):
                options["receive_timeout"] = STALL_MS
            sock: Any = cls(**options)
            # zeromq's send() never copies large read-only buffers: one send for both.
            receive = "receive_buffers" if zero_copy_receive else "receive"
            send = getattr(sock, "send", None)
            if kind == "SERVER":  # echo: answer whom the request came from

                def send(message: Any, sock: Any = sock) -> Awaitable[None]:
                    return sock.send(message.parts, routing_id=message.routing_id)  # type: ignore[no-any-return]

            end = _AsyncEnd(sock, send, getattr(sock, receive, None))
        else:
            sock = _threads.native_socket(self._ctx, getattr(zmq, kind))
            sock.linger = 0
            sock.sndhwm = sock.rcvhwm = hwm
            sock.rcvtimeo = STALL_MS
            end = _AsyncEnd(sock, _sync_send(sock, zero_copy_send), _sync_recv(sock, kind, zero_copy_receive))
        self._ends.append(end)
        return end

    async def bind(self, end: _AsyncEnd, address: str) -> str:
        """Bind and return the endpoint to connect to."""
        if self.lib in _ZEROMQ:
            await end.sock.bind(address)
            return str(end.sock.last_endpoint)
        end.sock.bind(address)
        return _endpoint(end.sock)

    def close(self) -> None:
        """Close the sockets made (and zmq.asyncio's context)."""
        for end in self._ends:
            end.sock.close()
        if self._ctx is not None:
            self._ctx.destroy(linger=0)


_ZEROMQ = ("zeromq", UVLOOP)


def _run(lib: str, main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(main)` on the event loop `lib` runs on."""
    if lib != UVLOOP:
        return asyncio.run(main)
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


_ZEROMQ_CLASSES = {
    "PUSH": "Push", "PULL": "Pull", "DEALER": "Dealer", "ROUTER": "Router", "REQ": "Request", "REP": "Reply",
    "SERVER": "Server", "CLIENT": "Client", "PUB": "Publisher", "SUB": "Subscriber",
}


# -- the worker's side ------------------------------------------------------------

Emit = Callable[[dict[str, Any]], None]


def _receive(lib: str, case: Case, limit: Limit, address: str, emit: Emit) -> tuple[int, float, str]:
    """Bind the receiving end, report its endpoint, count what arrives; also
    the type of the parts received (`_part_type`)."""
    _, kind, _ = PATTERNS[case.pattern]
    stride = _stride(case.size)
    if lib == "pyzmq":
        ctx: zmq.Context[Any] = zmq.Context()
        try:
            sock = _sync_socket(ctx, kind, case.size)
            sock.bind(address)
            emit({"endpoint": _endpoint(sock)})
            recv = _sync_recv(sock, kind, case.zero_copy_receive)
            received = _part_type(recv())
            return (*_count_sync(recv, limit, stride), received)
        finally:
            ctx.destroy(linger=0)

    async def run() -> tuple[int, float, str]:
        library = _AsyncLibrary(lib)
        try:
            end = library.socket(kind, case.size, zero_copy_receive=case.zero_copy_receive)
            emit({"endpoint": await library.bind(end, address)})
            received = _part_type(await end.recv())
            return (*await _count_async(end.recv, limit, stride), received)
        finally:
            library.close()

    return _run(lib, run())


def _echo(lib: str, case: Case, address: str, emit: Emit) -> float:
    """Bind the echoing end (a REP, a SERVER), report its endpoint, echo until
    the stop request; the CPU time per reply (`_echo_sync`)."""
    _, kind, _ = PATTERNS[case.pattern]
    if lib == "pyzmq":
        ctx: zmq.Context[Any] = zmq.Context()
        try:
            sock = _sync_socket(ctx, kind, case.size)
            sock.bind(address)
            emit({"endpoint": _endpoint(sock)})
            return _echo_sync(sock.send, _sync_recv(sock, kind))
        finally:
            ctx.destroy(linger=0)

    async def run() -> float:
        library = _AsyncLibrary(lib)
        try:
            end = library.socket(kind, case.size)
            emit({"endpoint": await library.bind(end, address)})
            return await _echo_async(end.send, end.recv)
        finally:
            library.close()

    return _run(lib, run())


def _local(lib: str, case: Case, limit: Limit, address: str) -> float:
    """Both ends in this process: messages per second, or the mean round trip."""
    _, bound_kind, connected_kind = PATTERNS[case.pattern]
    payload = b"x" * case.size
    stride = _stride(case.size)
    if lib == "pyzmq":
        return _local_sync(case, limit, address, payload, stride)

    async def run() -> float:
        library = _AsyncLibrary(lib)
        try:
            bound = library.socket(bound_kind, case.size, zero_copy_receive=case.zero_copy_receive)
            await library.bind(bound, address)
            connected = library.socket(connected_kind, case.size, zero_copy_send=case.zero_copy_send)
            connected.sock.connect(address)
            if case.latency:
                # On failure, closing the sockets ends the echo task (and
                # asyncio.run cancels it if not).
                echo = asyncio.ensure_future(_echo_async(bound.send, bound.recv))
                mean, _ = await _trips_async(connected.send, connected.recv, payload, limit)
                await connected.send(_STOP)
                await connected.recv()
                await echo
                return mean
            sender = asyncio.ensure_future(_flood_async(connected.send, payload))
            try:
                await bound.recv()
                done, seconds = await _count_async(bound.recv, limit, stride)
            finally:
                sender.cancel()
                await asyncio.gather(sender, return_exceptions=True)
            return done / seconds
        finally:
            library.close()

    return _run(lib, run())


def _local_sync(case: Case, limit: Limit, address: str, payload: bytes, stride: int) -> float:
    """`_local` for pyzmq sync: the second end is a thread."""
    _, bound_kind, connected_kind = PATTERNS[case.pattern]
    ctx: zmq.Context[Any] = zmq.Context()
    bound = _sync_socket(ctx, bound_kind, case.size)
    bound.bind(address)
    connected = _sync_socket(ctx, connected_kind, case.size)
    connected.connect(address)
    if case.latency:
        # After a failure the echo thread may still be in a receive: its
        # context is then left alone (closing a socket another thread uses is
        # not safe), for the driver to end this process.
        echo = threading.Thread(
            target=_echo_sync, args=(bound.send, _sync_recv(bound, bound_kind)), daemon=True
        )
        _threads.start(echo)
        mean, _ = _trips_sync(connected.send, connected.recv, payload, limit)
        connected.send(_STOP)
        connected.recv()
        echo.join()
        ctx.destroy(linger=0)
        return mean
    connected.sndtimeo = STOP_CHECK_MS
    stop: list[object] = []
    send = _sync_send(connected, case.zero_copy_send)
    sender = threading.Thread(target=_flood_sync, args=(send, payload, stop, stride))
    _threads.start(sender)
    try:
        recv = _sync_recv(bound, bound_kind, case.zero_copy_receive)
        recv()
        done, seconds = _count_sync(recv, limit, stride)
    finally:
        stop.append(True)  # the sender sees it within STOP_CHECK_MS
        sender.join()
        ctx.destroy(linger=0)
    return done / seconds


def worker_main() -> None:
    """The loop of a worker process: one JSON command per line of stdin, JSON
    replies on stdout, until stdin ends."""
    # The driver decides what Ctrl-C does; it stops its workers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    ipc_dir = tempfile.mkdtemp(prefix="zeromq-bench-")
    serial = 0

    def emit(reply: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()

    try:
        for line in sys.stdin:
            command = json.loads(line)
            lib: str = command["lib"]
            case = Case(**command["case"])
            limit = Limit(**command["limit"])
            serial += 1
            address = {
                "tcp": "tcp://127.0.0.1:*",
                "ipc": f"ipc://{ipc_dir}/{serial}",
                "inproc": f"inproc://bench-{serial}",
            }[case.transport]
            try:
                if command["op"] == "receive":
                    done, seconds, received = _receive(lib, case, limit, address, emit)
                    emit({"messages": done, "seconds": seconds, "received": received,
                          "accelerated": ACCELERATED})
                elif command["op"] == "echo":
                    emit({"done": True, "cpu_us": _echo(lib, case, address, emit)})
                else:
                    emit({"value": _local(lib, case, limit, address)})
            except Exception as exc:
                message = str(exc)
                if isinstance(exc, (zmq.Again, TimeoutError)):
                    message = f"no message for {STALL_MS / 1000:.0f} s"
                emit({"error": f"{case.label}: {message}"})
    finally:
        shutil.rmtree(ipc_dir, ignore_errors=True)


# -- the driver's side --------------------------------------------------------------

_WORKER_CODE = "from zeromq._cli._measure import worker_main; worker_main()"


class _Worker:
    """A worker process of one library, and the lines to and from it.

    By default the Python worker (`worker_main`); `command` and `cwd` run
    another program that speaks the same JSON lines (the Node.js side of
    `benchmarks/bench_node.py`)."""

    def __init__(
        self, lib: str, command: Sequence[str] | None = None, cwd: Path | None = None
    ) -> None:
        self.lib = lib
        # Where a worker's dying words go, for `_died` to tell.
        self._stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 (closed by close())
        env = dict(os.environ)
        # The worker imports this very package, wherever it was imported from.
        root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        self._process = subprocess.Popen(
            [sys.executable, "-c", _WORKER_CODE] if command is None else list(command),
            cwd=cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            env=env,
        )

    def send(self, command: dict[str, Any]) -> None:
        """Give the worker a command."""
        assert self._process.stdin is not None
        try:
            self._process.stdin.write(json.dumps(command) + "\n")
            self._process.stdin.flush()
        except OSError:
            raise BenchError(self._died()) from None

    def reply(self) -> dict[str, Any]:
        """The worker's next reply; a `BenchError` if it is an error or the worker died."""
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            raise BenchError(self._died())
        reply: dict[str, Any] = json.loads(line)
        if "error" in reply:
            raise BenchError(f"{self.lib}: {reply['error']}")
        return reply

    def _died(self) -> str:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._process.wait(timeout=5)
        self._stderr.seek(0)
        lines = self._stderr.read().decode(errors="replace").strip().splitlines()
        last = lines[-1] if lines else f"exit status {self._process.returncode}"
        return f"the {self.lib} benchmark worker failed: {last}"

    def close(self, *, kill: bool = False) -> None:
        """End the worker: at the end of its stdin, or at once with `kill`."""
        if self._process.stdin is not None:
            with contextlib.suppress(OSError):  # a dead worker's pipe
                self._process.stdin.close()
        try:
            if kill:
                self._process.kill()
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()
        self._stderr.close()


def _capture(call: Callable[[], dict[str, Any]], box: list[object]) -> None:
    try:
        box.append(call())
    except BaseException as exc:
        box.append(exc)


def _unbox(box: list[object]) -> dict[str, Any]:
    value = box[0]
    if isinstance(value, BaseException):
        raise value
    assert isinstance(value, dict)
    return value


def _send_until(lib: str, case: Case, endpoint: str, until: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Connect the sending end to `endpoint` and flood it until `until()` returns."""
    _, _, kind = PATTERNS[case.pattern]
    payload = b"x" * case.size
    if lib == "pyzmq":
        ctx: zmq.Context[Any] = zmq.Context()
        try:
            sock = _sync_socket(ctx, kind, case.size)
            sock.sndtimeo = STOP_CHECK_MS
            sock.connect(endpoint)
            box: list[object] = []
            waiter = threading.Thread(target=_capture, args=(until, box))
            _threads.start(waiter)
            _flood_sync(_sync_send(sock, case.zero_copy_send), payload, box, _stride(case.size))
            waiter.join()
            return _unbox(box)
        finally:
            ctx.destroy(linger=0)

    async def run() -> dict[str, Any]:
        library = _AsyncLibrary(lib)
        try:
            end = library.socket(kind, case.size, zero_copy_send=case.zero_copy_send)
            end.sock.connect(endpoint)
            sender = asyncio.ensure_future(_flood_async(end.send, payload))
            # A pool of our own, not the loop's default executor: asyncio.run
            # shuts that one down from a thread it starts unblocked.
            pool = concurrent.futures.ThreadPoolExecutor(1, "zeromq-bench-wait")
            try:
                with _threads.signals_blocked():  # the pool's thread starts here
                    waiting = asyncio.get_running_loop().run_in_executor(pool, until)
                return await waiting
            finally:
                sender.cancel()
                await asyncio.gather(sender, return_exceptions=True)
                pool.shutdown(wait=False)
        finally:
            library.close()

    return _run(lib, run())


def _round_trips(lib: str, case: Case, limit: Limit, endpoint: str) -> tuple[float, float]:
    """Connect a REQ (a CLIENT) to the echoing `endpoint`: the mean round trip
    and the REQ thread's CPU time per round trip, in us."""
    _, _, kind = PATTERNS[case.pattern]
    payload = b"x" * case.size
    if lib == "pyzmq":
        ctx: zmq.Context[Any] = zmq.Context()
        try:
            sock = _sync_socket(ctx, kind, case.size)
            sock.connect(endpoint)
            trips = _trips_sync(sock.send, sock.recv, payload, limit)
            sock.send(_STOP)
            sock.recv()
            return trips
        finally:
            ctx.destroy(linger=0)

    async def run() -> tuple[float, float]:
        library = _AsyncLibrary(lib)
        try:
            end = library.socket(kind, case.size)
            end.sock.connect(endpoint)
            trips = await _trips_async(end.send, end.recv, payload, limit)
            await end.send(_STOP)
            await end.recv()
            return trips
        finally:
            library.close()

    return _run(lib, run())


class Runner:
    """Runs measurements; owns one worker process per library, started when
    first needed and stopped by `close()` (or the end of a ``with`` block)."""

    def __init__(self) -> None:
        self._workers: dict[str, _Worker] = {}
        self.last_reply: dict[str, Any] = {}
        """The worker's final reply to the last throughput measurement over
        tcp or ipc: ``messages``, ``seconds``, ``received`` (the type of the
        parts its receiving call returned) and ``accelerated`` (whether the
        worker used zeromq's C accelerator). Empty after other measurements."""
        self.last_cpu: dict[str, float] = {}
        """After a round trip over tcp or ipc, the CPU time (us) per round
        trip of each end's main thread: ``client`` (the REQ, in this
        process) and ``server`` (the REP, in the worker). Empty after other
        measurements."""

    def measure(self, case: Case, lib: str, limit: Limit, *, receiver: str | None = None) -> float:
        """Messages per second (throughput) or mean round trip in us (latency).

        `receiver`: over tcp or ipc, the library of the worker's end (the
        receiver, or the echoing REP) when it is not `lib`, which is then the
        library of this process's end only (the sender, or the REQ).

        Raises:
            BenchError: the measurement failed (its worker says why).
        """
        if lib not in MEASURABLE:
            raise ValueError(f"unknown library {lib!r}")
        remote = receiver or lib
        if remote not in MEASURABLE:
            raise ValueError(f"unknown library {remote!r}")
        if remote != lib and case.transport == "inproc":
            raise ValueError("over inproc both ends are of one library")
        self.last_reply, self.last_cpu = {}, {}
        worker = self._workers.get(remote)
        if worker is None:
            worker = self._workers[remote] = _Worker(remote)
        command = {"lib": remote, "case": asdict(case), "limit": asdict(limit)}
        try:
            if case.transport == "inproc":
                worker.send({"op": "local", **command})
                return float(worker.reply()["value"])
            if case.latency:
                worker.send({"op": "echo", **command})
                mean, client = _round_trips(lib, case, limit, worker.reply()["endpoint"])
                self.last_cpu = {"client": client, "server": float(worker.reply()["cpu_us"])}
                return mean
            worker.send({"op": "receive", **command})
            result = _send_until(lib, case, worker.reply()["endpoint"], worker.reply)
            self.last_reply = result
            return float(result["messages"]) / float(result["seconds"])
        except (zmq.ZMQError, OSError) as exc:  # pyzmq's errors, or zeromq's
            # The worker is mid-measurement; it is of no more use.
            self._workers.pop(remote).close(kill=True)
            if isinstance(exc, (zmq.Again, TimeoutError)):
                raise BenchError(f"{lib}: {case.label}: no answer for {STALL_MS / 1000:.0f} s") from None
            raise BenchError(f"{lib}: {case.label}: {exc}") from None
        except BenchError:
            self._workers.pop(remote).close(kill=True)
            raise

    def close(self, *, kill: bool = False) -> None:
        """Stop the workers."""
        workers, self._workers = self._workers, {}
        for worker in workers.values():
            worker.close(kill=kill)

    def __enter__(self) -> Runner:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close(kill=exc_type is not None)


def median_of_rounds(
    rounds: int, libraries: Sequence[str], measure: Callable[[str], float]
) -> dict[str, float]:
    """Measure each library `rounds` times, taking turns; the median of each."""
    samples: dict[str, list[float]] = {lib: [] for lib in libraries}
    for _ in range(rounds):
        for lib in libraries:
            samples[lib].append(measure(lib))
    return {lib: statistics.median(values) for lib, values in samples.items()}
