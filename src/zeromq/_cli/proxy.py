"""`zeromq proxy FRONT BACK`: run a `zeromq.Proxy` between two endpoints until
Ctrl-C, then print its statistics (`Proxy.statistics()`)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time

from .._errors import ZMQError
from .._proxy import Proxy
from .._sockets import Socket, Subscriber
from ._common import add_socket_arguments, info, run_async, socket_options
from .monitor import SOCKET_TYPES

PROXY_TYPES = ("router", "dealer", "xsub", "xpub", "pull", "push", "sub", "pub", "pair")
STATISTICS_TIMEOUT = 2.0  # seconds to wait for the statistics after Ctrl-C


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``proxy`` subcommand."""
    parser = subparsers.add_parser(
        "proxy",
        help="run a proxy between two endpoints",
        description="Run a proxy: every message from the front end goes out of the back end "
        "and every reply comes back, until Ctrl-C, which prints the proxy's statistics. "
        "An address binds, unless it starts with '>' (connect); '@' binds explicitly. "
        "The default types make a request broker: clients (req, dealer) connect to FRONT, "
        "workers (rep, dealer) to BACK. For publish-subscribe use --front-type xsub "
        "--back-type xpub; for a pipeline --front-type pull --back-type push.",
        epilog="example: zeromq proxy tcp://127.0.0.1:5559 tcp://127.0.0.1:5560",
    )
    parser.add_argument("front", metavar="FRONT", help="the front end's address ('>' to connect)")
    parser.add_argument("back", metavar="BACK", help="the back end's address ('>' to connect)")
    parser.add_argument(
        "--front-type", choices=PROXY_TYPES, default="router", metavar="TYPE",
        help=f"type of the front-end socket: {', '.join(PROXY_TYPES)} (default: %(default)s)",
    )
    parser.add_argument(
        "--back-type", choices=PROXY_TYPES, default="dealer", metavar="TYPE",
        help=f"type of the back-end socket: {', '.join(PROXY_TYPES)} (default: %(default)s)",
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="do not print the bound endpoints on stderr"
    )
    add_socket_arguments(parser, timeout=False, curve=False)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Run the proxy until Ctrl-C."""
    return run_async(_main(args))


def split_address(text: str) -> tuple[bool, str]:
    """``(bind, address)`` from ``@addr`` (bind), ``>addr`` (connect) or ``addr`` (bind)."""
    if text.startswith(">"):
        return False, text[1:]
    return True, text.removeprefix("@")


async def _open(kind: str, address: str, args: argparse.Namespace, end: str) -> Socket:
    cls = SOCKET_TYPES[kind]
    sock = cls(**socket_options(cls, args))
    bind, address = split_address(address)
    try:
        if isinstance(sock, Subscriber):
            # A sub end passes on everything, as `zeromq sub` does by
            # default: subscribed to nothing, it would receive nothing.
            sock.subscribe()
        if bind:
            await sock.bind(address)
            if not args.quiet:
                info(f"{end} ({kind}) bound to {sock.last_endpoint}")
        else:
            sock.connect(address)
    except BaseException:
        sock.close()
        raise
    return sock


async def _main(args: argparse.Namespace) -> int:
    front = await _open(args.front_type, args.front, args, "front end")
    try:
        back = await _open(args.back_type, args.back, args, "back end")
    except BaseException:
        front.close()
        raise
    proxy = Proxy(front, back)
    started = time.monotonic()
    # Shielded: Ctrl-C cancels this task, not the proxy, which must still be
    # running to answer for its statistics.
    running = asyncio.ensure_future(proxy.run())
    try:
        await asyncio.shield(running)
    except asyncio.CancelledError:  # Ctrl-C
        if not running.done():
            await print_statistics(proxy, time.monotonic() - started)
            with contextlib.suppress(ZMQError):
                proxy.terminate()
        await asyncio.gather(running, return_exceptions=True)
        raise
    finally:
        front.close()
        back.close()
    return 0


async def print_statistics(proxy: Proxy[Socket, Socket], seconds: float) -> None:
    """Print what went through the proxy, one line per end, on stdout."""
    lines = [f"proxy ran for {seconds:.1f} s"]
    try:
        stats = await asyncio.wait_for(proxy.statistics(), STATISTICS_TIMEOUT)
    except (ZMQError, TimeoutError) as exc:
        lines.append(f"no statistics: {exc}")
    else:
        for name, end in (("front end", stats.front_end), ("back end", stats.back_end)):
            lines.append(
                f"{name}: received {end.received_parts:,} parts ({end.received_bytes:,} bytes), "
                f"sent {end.sent_parts:,} parts ({end.sent_bytes:,} bytes)"
            )
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()
