"""Messaging from the shell: one subcommand per socket pattern.

Messages are lines. A sending subcommand reads stdin a line at a time and sends
each line as one message, split into parts at the separator; a receiving one
prints each message as one line, its parts joined by the separator. What each
pattern does with the two directions is in `PATTERNS`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import os
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass

from .. import _threads
from .._engine import Readable, Writable
from .._errors import ZMQError
from .._observer import Event
from .._sockets import (
    Dealer,
    Pair,
    Publisher,
    Pull,
    Push,
    Reply,
    Request,
    Router,
    Socket,
    Subscriber,
    XPublisher,
)
from ._common import (
    CLIError,
    add_address_arguments,
    add_socket_arguments,
    attach,
    authenticator,
    check_addresses,
    info,
    positive_int,
    run_async,
    socket_options,
    unescape,
)


@dataclass(frozen=True)
class Pattern:
    """One messaging subcommand: its socket class and what it does."""

    name: str
    socket: type[Socket]
    role: str  # "send", "receive", "request", "reply" or "both"
    help: str
    description: str
    count: str


PATTERNS: tuple[Pattern, ...] = (
    Pattern(
        "pub", Publisher, "send", "publish the lines of stdin",
        "Publish each line of stdin as a message. A subscriber that has not connected "
        "and subscribed yet misses what is published before: use --wait-subscribers.",
        "exit after publishing N messages",
    ),
    Pattern(
        "sub", Subscriber, "receive", "print the messages of publishers",
        "Print each message published to it, one per line. It subscribes to every "
        "message unless given --subscribe.",
        "exit after N messages",
    ),
    Pattern(
        "push", Push, "send", "send the lines of stdin to pulls",
        "Send each line of stdin as a message to the pulls, round-robin; a send waits "
        "while no pull can take it. At the end of stdin it exits once the messages are "
        "delivered (see --linger).",
        "exit after sending N messages",
    ),
    Pattern(
        "pull", Pull, "receive", "print the messages of pushes",
        "Print each message pushed to it, one per line.",
        "exit after N messages",
    ),
    Pattern(
        "req", Request, "request", "send requests from stdin, print the replies",
        "For each line of stdin, send it as a request, wait for the reply and print it.",
        "exit after N requests",
    ),
    Pattern(
        "rep", Reply, "reply", "print requests, reply from stdin or --echo",
        "Print each request, one per line, and reply with the next line of stdin "
        "(or, with --echo, with the request itself). It exits when stdin ends.",
        "exit after replying to N requests",
    ),
    Pattern(
        "dealer", Dealer, "both", "send stdin lines and print messages, both ways",
        "Send each line of stdin (round-robin over the peers) and print each message "
        "received, both at once. It runs until --count messages were received, a "
        "--timeout expires or Ctrl-C.",
        "exit after receiving N messages",
    ),
    Pattern(
        "router", Router, "both", "print messages with their sender, route stdin lines",
        "Print each message received with the sender's routing id as its first part, "
        "and send each line of stdin to the peer its first part names (with a request "
        "from req, the routing id and an empty part come first). A routing id that is "
        "not printable is shown, and may be given, as 0x<hex>. A line for a peer that "
        "is not connected is reported and dropped.",
        "exit after receiving N messages",
    ),
    Pattern(
        "pair", Pair, "both", "send stdin lines and print messages to and from one peer",
        "Send each line of stdin to the one peer and print each message received from "
        "it, both at once. It runs until --count messages were received, a --timeout "
        "expires or Ctrl-C.",
        "exit after receiving N messages",
    ),
)

_BY_NAME = {pattern.name: pattern for pattern in PATTERNS}

_EPILOG = """\
Messages are lines: a line of stdin is one message, split into parts at the
separator (a tab unless --separator says otherwise; --separator '' never
splits), and a received message is printed as one line, its parts joined by
the separator. Once --count messages were received, lines already read from
stdin are still sent, for up to --linger. The exit status is 0 when stdin
ends or --count is reached, 1 after an error (such as a --timeout that expired) and 130 after Ctrl-C.

example:
  zeromq pull --bind tcp://127.0.0.1:5555 --count 2 &
  printf 'hello\\nworld\\n' | zeromq push --connect tcp://127.0.0.1:5555
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add one subcommand per pattern."""
    for pattern in PATTERNS:
        parser = subparsers.add_parser(
            pattern.name,
            help=pattern.help,
            description=pattern.description,
            epilog=_EPILOG,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        add_address_arguments(parser)
        group = parser.add_argument_group("messages")
        group.add_argument(
            "-s", "--separator", default="\t", metavar="SEP",
            help=r"the separator of message parts (default: a tab; \t \n \0 \\ are understood)",
        )
        group.add_argument("-n", "--count", type=positive_int, metavar="N", help=pattern.count)
        group.add_argument(
            "-q", "--quiet", action="store_true", help="do not print the bound endpoints on stderr"
        )
        if pattern.name == "sub":
            group.add_argument(
                "--subscribe", metavar="PREFIX", action="append", default=[],
                help="receive only messages that start with PREFIX; repeatable "
                "(default: every message)",
            )
        if pattern.name == "pub":
            group.add_argument(
                "--wait-subscribers", metavar="N", type=positive_int,
                help="before sending, wait until N subscriptions have come in (a subscriber "
                "counts once per --subscribe prefix)",
            )
        if pattern.name == "rep":
            group.add_argument(
                "--echo", action="store_true",
                help="reply with the request itself instead of reading stdin",
            )
        if pattern.name in ("dealer", "req", "router"):
            group.add_argument(
                "--routing-id", metavar="ID",
                help="this socket's routing id, as a router peer sees it",
            )
        add_socket_arguments(parser)
        parser.set_defaults(handler=run, pattern=pattern.name, check=check_addresses)


def run(args: argparse.Namespace) -> int:
    """Run a messaging subcommand."""
    return run_async(_main(args))


async def _main(args: argparse.Namespace) -> int:
    pattern = _BY_NAME[args.pattern]
    cls: type[Socket] = pattern.socket
    if pattern.name == "pub" and args.wait_subscribers:
        cls = XPublisher  # a publisher that sees its subscriptions come in
    options = socket_options(cls, args)
    if cls is XPublisher:
        options["verbosity"] = "all_subs"
    if cls is Router:
        # Tell the user about lines for unknown peers rather than drop them unseen.
        options.setdefault("mandatory", True)
    if getattr(args, "routing_id", None) is not None:
        options["routing_id"] = args.routing_id
    codec = Codec(unescape(args.separator).encode(), routed=cls is Router)
    auth = authenticator(options, args)
    if auth is not None:
        await auth.start()  # before the server binds: no connection goes unchecked
    sock = cls(**options)
    try:
        if isinstance(sock, Subscriber):
            sock.subscribe(*args.subscribe)
        if args.connect and args.timeout is None and not args.quiet:
            _tell_when_nobody_answers(sock)
        refusals: list[str] = []
        if args.connect:
            _stop_when_refused(sock, set(args.connect), refusals)
        await attach(sock, args.bind, args.connect, quiet=args.quiet)
        await _ROLES[pattern.role](sock, args, codec)
    except asyncio.CancelledError:
        if refusals:
            sock.linger = 0  # what is queued is for a server that refuses it
            raise CLIError(refusals[0]) from None
        raise
    except TimeoutError as exc:
        what = str(exc).removeprefix("Socket ")
        raise CLIError(f"{what} after {args.timeout} ms (--timeout)") from None
    finally:
        sock.close()
        if auth is not None:
            await auth.stop()
    return 0


def _tell_when_nobody_answers(sock: Socket) -> None:
    """Without --timeout a command waits as long as it takes: say so, once
    per address, when nothing answers at an address it connects to (instead
    of waiting in silence)."""
    told: set[str] = set()

    def retrying(event: Event) -> None:
        address = event.address or "?"
        if address not in told:
            told.add(address)
            info(f"nothing answers at {address} yet; retrying (--timeout MS gives up)")

    sock.events.on("connect:retry", retrying)


def _stop_when_refused(sock: Socket, connected: set[str], refusals: list[str]) -> None:
    """A server that refuses this client's keys or password refuses it on
    every retry: end the command with that error instead of waiting forever."""
    task = asyncio.current_task()

    def refused(event: Event) -> None:
        if event.address not in connected or refusals or task is None:
            return  # a client this socket refused as a server, or already told
        status = getattr(event.error, "status", None)
        refusals.append(
            f"the server at {event.address} refused this client (ZAP status {status}): "
            "check the keys or the username and password"
        )
        task.cancel()

    sock.events.on("handshake:error:auth", refused)


# -- lines in, lines out ----------------------------------------------------------


class Codec:
    """Between lines and messages: splits at and joins with the separator; for
    a router, writes and reads the routing id of the first part."""

    def __init__(self, separator: bytes, *, routed: bool = False) -> None:
        self.separator = separator
        self.routed = routed

    def parts(self, line: bytes) -> list[bytes]:
        """The parts of the message a line stands for."""
        parts = line.split(self.separator) if self.separator else [line]
        if self.routed:
            parts[0] = parse_routing_id(parts[0])
        return parts

    def line(self, parts: list[bytes]) -> bytes:
        """The line (without its newline) a message is printed as."""
        if self.routed and parts:
            parts = [format_routing_id(parts[0]), *parts[1:]]
        return self.separator.join(parts)


def format_routing_id(routing_id: bytes) -> bytes:
    """A routing id as printed: itself when it is printable ASCII, else ``0x<hex>``."""
    if routing_id and all(0x21 <= b <= 0x7E for b in routing_id) and not routing_id.startswith(b"0x"):
        return routing_id
    return b"0x" + routing_id.hex().encode()


def parse_routing_id(text: bytes) -> bytes:
    """The routing id a line names: ``0x<hex>`` is decoded, anything else taken as is."""
    if text.startswith(b"0x"):
        with contextlib.suppress(ValueError):
            return bytes.fromhex(text[2:].decode("ascii"))
    return text


class Output:
    """Prints messages to stdout, one line each, flushed as they come."""

    def __init__(self, codec: Codec) -> None:
        self._codec = codec
        self._stream = sys.stdout.buffer

    def write(self, parts: list[bytes]) -> None:
        """Print one message."""
        self._stream.write(self._codec.line(parts) + b"\n")
        self._stream.flush()


class Lines:
    """The lines of stdin, without their line ends.

    A daemon thread reads them, so the event loop never waits on stdin (which
    may be a terminal, a pipe or a file: only a thread reads all three) and an
    exit is never held up by a read in progress. The queue is bounded, so a
    large stdin is read only as fast as it is sent.
    """

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        # The bound, taken by the thread: a plain callback, not a coroutine,
        # carries each line, so a loop that closes first leaves nothing unawaited.
        self._room = threading.Semaphore(256)
        self._ended = False
        _threads.start(threading.Thread(target=self._read, name="zeromq-stdin", daemon=True))

    async def readline(self) -> bytes | None:
        """The next line, or None at the end of stdin (or of `stop`)."""
        if self._ended:
            return None
        line = await self._queue.get()
        self._room.release()
        if line is None:
            self._ended = True
        return line

    async def stop(self) -> None:
        """End the lines after those read from stdin so far: `readline`
        gives those, then None."""
        await asyncio.sleep(0)  # lines the thread has handed over join the queue first
        self._queue.put_nowait(None)

    def _read(self) -> None:
        try:
            for line in _stdin_lines():
                self._put(line)
            self._put(None)
        except RuntimeError:  # the event loop is closed: nobody reads any more
            pass

    def _put(self, line: bytes | None) -> None:
        self._room.acquire()
        self._loop.call_soon_threadsafe(self._queue.put_nowait, line)


def _stdin_lines() -> Iterator[bytes]:
    # Straight from the file descriptor: no buffered object whose lock the
    # daemon thread could be holding when the interpreter exits.
    try:
        fd = sys.stdin.fileno()
    except (AttributeError, OSError, ValueError):  # no stdin at all
        return
    # The start of a line not ended yet, chunk by chunk: joined once at its
    # end, not grown chunk by chunk (a copy of all of it per chunk, which made
    # a long line take time in its square: minutes for 100 MB).
    pending: list[bytes] = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        if b"\n" not in chunk:
            pending.append(chunk)
            continue
        first, *lines, rest = chunk.split(b"\n")
        pending.append(first)
        yield b"".join(pending).removesuffix(b"\r")
        for line in lines:
            yield line.removesuffix(b"\r")
        pending = [rest] if rest else []
    if pending:
        yield b"".join(pending).removesuffix(b"\r")


# -- the roles ------------------------------------------------------------------

Role = Callable[[Socket, argparse.Namespace, Codec], Awaitable[None]]


def _more(done: int, args: argparse.Namespace) -> bool:
    return args.count is None or done < args.count


async def _send(sock: Socket, args: argparse.Namespace, codec: Codec) -> None:
    assert isinstance(sock, Writable)
    lines = Lines()
    if isinstance(sock, XPublisher):
        await _wait_for_subscribers(sock, args.wait_subscribers)
    sent = 0
    while _more(sent, args):
        line = await lines.readline()
        if line is None:
            break
        await sock.send(codec.parts(line))
        sent += 1


async def _wait_for_subscribers(sock: XPublisher, wanted: int) -> None:
    seen = 0
    while seen < wanted:
        first = (await sock.receive())[0]
        if first[:1] == b"\x01":  # a subscription; b"\x00" would be an unsubscription
            seen += 1


async def _receive(sock: Socket, args: argparse.Namespace, codec: Codec) -> None:
    assert isinstance(sock, Readable)
    out = Output(codec)
    received = 0
    while _more(received, args):
        out.write(await sock.receive())
        received += 1


async def _request(sock: Socket, args: argparse.Namespace, codec: Codec) -> None:
    assert isinstance(sock, Readable) and isinstance(sock, Writable)
    lines, out = Lines(), Output(codec)
    done = 0
    while _more(done, args):
        line = await lines.readline()
        if line is None:
            break
        await sock.send(codec.parts(line))
        out.write(await sock.receive())
        done += 1


async def _reply(sock: Socket, args: argparse.Namespace, codec: Codec) -> None:
    assert isinstance(sock, Readable) and isinstance(sock, Writable)
    lines = None if args.echo else Lines()
    out = Output(codec)
    done = 0
    while _more(done, args):
        request = await sock.receive()
        out.write(request)
        if lines is None:
            reply = request
        else:
            line = await lines.readline()
            if line is None:
                break
            reply = codec.parts(line)
        await sock.send(reply)
        done += 1


async def _both(sock: Socket, args: argparse.Namespace, codec: Codec) -> None:
    assert isinstance(sock, Readable) and isinstance(sock, Writable)
    lines = Lines()

    async def send_lines() -> None:
        while (line := await lines.readline()) is not None:
            parts = codec.parts(line)
            try:
                await sock.send(parts)
            except ZMQError as exc:
                if exc.errno != errno.EHOSTUNREACH:
                    raise
                peer = format_routing_id(parts[0]).decode(errors="replace")
                info(f"no peer with routing id {peer}: message dropped")

    sending = asyncio.ensure_future(send_lines())
    receiving = asyncio.ensure_future(_receive(sock, args, codec))
    try:
        # Receiving decides when to stop; the end of stdin only ends sending.
        done, _ = await asyncio.wait({sending, receiving}, return_when=asyncio.FIRST_COMPLETED)
        if sending in done:
            sending.result()  # raises what made sending fail
            await receiving
        receiving.result()
        if not sending.done():
            await _send_what_was_read(sock, lines, sending)
    finally:
        for task in (sending, receiving):
            task.cancel()
        await asyncio.gather(sending, receiving, return_exceptions=True)


async def _send_what_was_read(sock: Socket, lines: Lines, sending: asyncio.Future[None]) -> None:
    """After --count receives: the lines already read from stdin are as good as
    queued, so they are still sent, for as long as `linger` lets queued
    messages wait (-1: until sent); what is left then is dropped, and said."""
    await lines.stop()
    linger = sock.linger
    try:
        await asyncio.wait_for(sending, None if linger < 0 else linger / 1000)
    except TimeoutError:
        info(f"lines read from stdin but not sent within the linger ({linger} ms) were dropped")


_ROLES: dict[str, Role] = {
    "send": _send,
    "receive": _receive,
    "request": _request,
    "reply": _reply,
    "both": _both,
}
