"""`zeromq monitor ADDRESS`: connect (or bind) a socket and print its events
(`sock.events`) as they happen, one line each."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from .. import _sockets
from .._observer import Event
from .._sockets import Socket
from ._common import (
    add_socket_arguments,
    attach,
    authenticator,
    positive_int,
    run_async,
    socket_options,
)

SOCKET_TYPES: dict[str, type[Socket]] = {
    "pair": _sockets.Pair,
    "pub": _sockets.Publisher,
    "sub": _sockets.Subscriber,
    "req": _sockets.Request,
    "rep": _sockets.Reply,
    "dealer": _sockets.Dealer,
    "router": _sockets.Router,
    "pull": _sockets.Pull,
    "push": _sockets.Push,
    "xpub": _sockets.XPublisher,
    "xsub": _sockets.XSubscriber,
    "stream": _sockets.Stream,
}
"""The socket types by their command-line names."""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``monitor`` subcommand."""
    parser = subparsers.add_parser(
        "monitor",
        help="print the events of a socket as they happen",
        description="Connect a socket to ADDRESS (or bind it there, with --bind) and print "
        "its events as they happen, one line each: time, event type (connect, "
        "connect:retry, handshake, disconnect, handshake:error:auth, ...), address and "
        "details. The socket's type must suit the peer (a dealer for a router, a push "
        "for a pull...), or the handshake fails and says so.",
        epilog="example: zeromq monitor tcp://127.0.0.1:5555 --type push",
    )
    parser.add_argument("address", metavar="ADDRESS", help="the address to connect to (or bind)")
    parser.add_argument("--bind", action="store_true", help="bind to ADDRESS instead of connecting")
    parser.add_argument(
        "--type", choices=tuple(SOCKET_TYPES), default="dealer", metavar="TYPE",
        help=f"the type of the socket: {', '.join(SOCKET_TYPES)} (default: %(default)s)",
    )
    parser.add_argument("-n", "--count", type=positive_int, metavar="N", help="exit after N events")
    parser.add_argument("--json", action="store_true", help="print each event as a JSON object")
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="do not print the bound endpoint on stderr"
    )
    add_socket_arguments(parser, timeout=False)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Watch the socket until --count events, its end, or Ctrl-C."""
    return run_async(_main(args))


async def _main(args: argparse.Namespace) -> int:
    cls = SOCKET_TYPES[args.type]
    options = socket_options(cls, args)
    auth = authenticator(options, args)
    if auth is not None:
        await auth.start()  # before the server binds: no connection goes unchecked
    sock = cls(**options)
    try:
        events = sock.events  # before bind/connect, so no event is missed
        binds, connects = ([args.address], []) if args.bind else ([], [args.address])
        await attach(sock, binds, connects, quiet=args.quiet)
        seen = 0
        async for event in events:
            line = json.dumps(event_record(event)) if args.json else format_event(event)
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
            seen += 1
            if args.count is not None and seen >= args.count:
                break
    finally:
        sock.close()
        if auth is not None:
            await auth.stop()
    return 0


def event_record(event: Event) -> dict[str, Any]:
    """An event as a JSON-able dict: time, type, and what else it carries."""
    now = time.time()
    record: dict[str, Any] = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(now)) + f".{int(now * 1000) % 1000:03d}",
        "type": event.type,
        "address": event.address,
    }
    if event.interval is not None:
        record["interval"] = event.interval
    error = event.error
    if error is not None:
        record["error"] = {"code": error.code, "message": str(error)}
        status = getattr(error, "status", None)
        if status is not None:
            record["error"]["status"] = status
    return record


def format_event(event: Event) -> str:
    """An event as one line: ``12:00:01.250  connect:retry  tcp://...  interval=200ms``."""
    record = event_record(event)
    fields = [record["time"][11:], record["type"]]
    if record["address"]:
        fields.append(record["address"])
    if "interval" in record:
        fields.append(f"interval={record['interval']}ms")
    error = record.get("error")
    if error is not None:
        text = f"error={error['code']}" if error["code"] else "error"
        if "status" in error:
            text += f" status={error['status']}"
        fields.append(f"{text} ({error['message']})")
    return "  ".join(str(field) for field in fields)
