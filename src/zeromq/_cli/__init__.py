"""The `zeromq` command line (also ``python -m zeromq``): try, debug and measure ZeroMQ.

Each subcommand is a module of this package with a ``register(subparsers)``
that adds its parser and sets ``handler`` (and, for a check argparse cannot
express, ``check``). `main` runs the handler and turns what goes wrong into
one line on stderr and an exit status: 1 for errors, 2 for usage errors (from
argparse), 130 for Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from collections.abc import Sequence
from importlib import metadata
from types import FrameType
from typing import NoReturn

import zmq

from .. import _lifecycle
from .._errors import ZMQError
from . import bench, keygen, messaging, monitor, proxy
from ._common import CLIError, UsageError

__all__ = ["build_parser", "main"]

INTERRUPTED = 130
"""The exit status after Ctrl-C (128 + SIGINT), as shells report it."""


def _version() -> str:
    try:
        own = metadata.version("zeromq")
    except metadata.PackageNotFoundError:
        own = "unknown"
    from .._native import ACCELERATED

    accelerator = "on" if ACCELERATED else "off: pure Python"
    return (
        f"zeromq {own} (libzmq {zmq.zmq_version()}, pyzmq {zmq.__version__}, "
        f"C accelerator {accelerator})"
    )


def build_parser() -> argparse.ArgumentParser:
    """The parser of the whole command line, every subcommand included."""
    parser = argparse.ArgumentParser(
        prog="zeromq",
        description="Try, debug and measure ZeroMQ from the shell: send and receive lines "
        "with any socket pattern, watch a socket's events, run a proxy, make CURVE keys "
        "and benchmark this library.",
        epilog="`zeromq COMMAND --help` tells more about each command.",
    )
    parser.add_argument("--version", action="version", version=_version())
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    messaging.register(subparsers)
    monitor.register(subparsers)
    proxy.register(subparsers)
    keygen.register(subparsers)
    bench.register(subparsers)
    for sub in subparsers.choices.values():
        sub.set_defaults(parser=sub)
    return parser


# Options whose value may start with "-": a Z85 key does once in 85 times, and
# a prefix, a routing id or a user name may. argparse would take such a value
# for an option and refuse the command, so each is joined to its option
# (`--allow-client=-K...`), as a user could write it.
_VALUES_MAY_START_WITH_A_DASH = frozenset(
    {"--curve-server-key", "--allow-client", "--allow-user", "--subscribe", "--routing-id"}
)


def parse_args(parser: argparse.ArgumentParser, argv: Sequence[str] | None = None) -> argparse.Namespace:
    """`parser.parse_args(argv)`, taking the value after each of
    `_VALUES_MAY_START_WITH_A_DASH` as its value whatever it starts with."""
    given = list(sys.argv[1:] if argv is None else argv)
    joined: list[str] = []
    i = 0
    while i < len(given):
        arg = given[i]
        if arg == "--":  # the rest is positional
            joined += given[i:]
            break
        if arg in _VALUES_MAY_START_WITH_A_DASH and i + 1 < len(given):
            joined.append(f"{arg}={given[i + 1]}")
            i += 2
            continue
        joined.append(arg)
        i += 1
    return parser.parse_args(joined)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status.

    Errors are one line, ``zeromq: error: <what went wrong>``, on stderr and
    status 1, never a traceback. Ctrl-C ends the process at once with status
    130, dropping what sockets still had queued.
    """
    parser = build_parser()
    args = parse_args(parser, argv)
    # Waiting at exit for queued messages, the hint names our flag, not the Python API.
    _lifecycle.cure = "--linger MS bounds the wait (--linger 0 drops them)"
    try:
        check = getattr(args, "check", None)
        if check is not None:
            check(args.parser, args)
        status: int = args.handler(args)
    except KeyboardInterrupt:
        _exit_at_once(INTERRUPTED)
    except UsageError as exc:
        args.parser.error(str(exc))  # the usage, then the message; exit status 2
    except BrokenPipeError:
        # Whoever read our stdout has gone (`zeromq sub ... | head`): that ends
        # the command, quietly. Later writes and the flush at exit go nowhere.
        _silence_stdout()
        return 0
    except Exception as exc:
        print(f"zeromq: error: {describe(exc)}", file=sys.stderr, flush=True)
        return 1
    # At exit the process waits for messages still queued (as `--linger` allows);
    # Ctrl-C then ends it at once instead of leaving a traceback from atexit.
    if sys.platform != "win32":
        with contextlib.suppress(ValueError):  # not the main thread: leave signals alone
            signal.signal(signal.SIGINT, _interrupted_at_exit)
    return status


def describe(exc: BaseException) -> str:
    """One line saying what went wrong."""
    if isinstance(exc, (CLIError, ZMQError)):
        text = str(exc)
    elif isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror
        if exc.filename is not None:
            text = f"{text}: {exc.filename}"
    elif isinstance(exc, (ValueError, TypeError)):
        text = str(exc)
    else:
        text = f"{type(exc).__name__}: {exc}"
    return " ".join(text.split()) or type(exc).__name__


def _interrupted_at_exit(signum: int, frame: FrameType | None) -> None:
    _exit_at_once(INTERRUPTED)


def _exit_at_once(status: int) -> NoReturn:
    """Leave now: no atexit waiting for queued messages, no traceback."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # closed or broken
            stream.flush()
    os._exit(status)


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
