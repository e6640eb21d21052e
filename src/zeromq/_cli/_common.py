"""What the subcommands share: errors, argument types, socket options, addresses.

Every socket a subcommand makes takes the same option flags (`add_socket_arguments`),
turned into constructor keywords by `socket_options` with the options table's
own conversions, so a bad value fails as the library would say it.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

from .. import _options
from .._certs import load_certificate
from .._curve import curve_keypair, curve_public
from .._sockets import Socket


class CLIError(Exception):
    """An error of the user's making: the CLI prints its message as one line
    (``zeromq: error: <message>``) and exits with status 1."""


def info(message: str) -> None:
    """Print one informational line on stderr (``zeromq: <message>``)."""
    sys.stderr.write(f"zeromq: {message}\n")
    sys.stderr.flush()


# -- argument types -------------------------------------------------------------


def positive_int(text: str) -> int:
    """An argparse type: an integer of at least 1."""
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def milliseconds(text: str) -> int:
    """An argparse type: milliseconds, where -1 means forever."""
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of milliseconds: {text!r}") from None
    if value < -1:
        raise argparse.ArgumentTypeError(f"must be -1 (forever) or more, not {value}")
    return value


def count(text: str) -> int:
    """An argparse type: a count of at least 0."""
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {value}")
    return value


_ESCAPES = {"\\t": "\t", "\\n": "\n", "\\0": "\0", "\\\\": "\\"}


def unescape(text: str) -> str:
    r"""Turn ``\t``, ``\n``, ``\0`` and ``\\`` into the characters they name
    (so ``--separator '\t'`` works without shell quoting tricks)."""
    return re.sub(r"\\[tn0\\]", lambda m: _ESCAPES[m.group(0)], text)


# -- addresses ------------------------------------------------------------------


def add_address_arguments(parser: argparse.ArgumentParser) -> None:
    """``-b/--bind`` and ``-c/--connect``, each repeatable."""
    group = parser.add_argument_group("addresses (at least one)")
    group.add_argument(
        "-b", "--bind", metavar="ADDRESS", action="append", default=[],
        help="bind to ADDRESS (tcp://127.0.0.1:5555, ipc:///tmp/sock, tcp://127.0.0.1:* for a "
        "free port); the bound endpoint is printed on stderr; repeatable",
    )
    group.add_argument(
        "-c", "--connect", metavar="ADDRESS", action="append", default=[],
        help="connect to ADDRESS; repeatable",
    )


def check_addresses(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """A usage error (exit 2) when neither ``--bind`` nor ``--connect`` was given."""
    if not args.bind and not args.connect:
        parser.error("give at least one --bind or --connect address")


async def attach(sock: Socket, binds: list[str], connects: list[str], *, quiet: bool) -> None:
    """Bind and connect `sock`, telling the bound endpoints on stderr."""
    for address in binds:
        await sock.bind(address)
        if not quiet:
            info(f"bound to {sock.last_endpoint}")
    for address in connects:
        sock.connect(address)


# -- socket options -------------------------------------------------------------


def add_socket_arguments(
    parser: argparse.ArgumentParser, *, timeout: bool = True, curve: bool = True
) -> None:
    """The option flags of the subcommands that make sockets (`--timeout` and
    the CURVE ones where they make sense)."""
    group = parser.add_argument_group("socket options")
    group.add_argument(
        "--linger", metavar="MS", type=milliseconds, default=None,
        help="how long queued messages may still be delivered at exit "
        "(default -1: until they are; 0 drops them)",
    )
    group.add_argument(
        "--hwm", metavar="N", type=count, default=None,
        help="high water mark, in messages, of each direction the socket has (0: no limit)",
    )
    group.add_argument("--send-hwm", metavar="N", type=count, default=None, help="send high water mark")
    group.add_argument(
        "--receive-hwm", metavar="N", type=count, default=None, help="receive high water mark"
    )
    if timeout:
        group.add_argument(
            "--timeout", metavar="MS", type=milliseconds, default=None,
            help="give up, with an error and exit status 1, when a send or receive waits "
            "longer than MS milliseconds",
        )
    group.add_argument(
        "-o", "--option", metavar="NAME=VALUE", action="append", default=[],
        help="set any socket option by its Python name, e.g. -o reconnect_interval=100 "
        "-o immediate=true; repeatable",
    )
    if not curve:
        return
    security = parser.add_argument_group("CURVE security")
    security.add_argument(
        "--curve-server", action="store_true",
        help="be a CURVE server; needs --curve-secret-key",
    )
    security.add_argument(
        "--curve-secret-key", metavar="FILE",
        help="this socket's key pair: a secret certificate written by `zeromq keygen --out` "
        "(or a file holding the 40-character Z85 secret key)",
    )
    security.add_argument(
        "--curve-server-key", metavar="FILE|KEY",
        help="be a CURVE client of the server with this public key: a certificate file or "
        "40 Z85 characters (without --curve-secret-key the client uses a fresh key pair)",
    )


def _option_value(opt: _options.Option, text: str) -> object:
    kind = opt.kind
    if isinstance(kind, _options.Bool):
        lowered = text.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise CLIError(f"option {opt.name!r} takes true or false, not {text!r}")
    if isinstance(kind, _options.Int):
        try:
            return int(text, 0)
        except ValueError:
            raise CLIError(f"option {opt.name!r} takes an integer, not {text!r}") from None
    if isinstance(kind, _options.Enum):
        return None if text.lower() in ("", "none") else text
    return text


def socket_options(cls: type[Socket], args: argparse.Namespace) -> dict[str, Any]:
    """The constructor keywords for `cls` from the parsed option flags."""
    table = _options.keyword_table(cls.__name__)
    options: dict[str, Any] = {}

    def put(name: str, value: object) -> None:
        if value is not None and name in table:
            options[name] = value

    put("linger", args.linger)
    put("send_high_water_mark", args.hwm)
    put("receive_high_water_mark", args.hwm)
    put("send_high_water_mark", args.send_hwm)
    put("receive_high_water_mark", args.receive_hwm)
    timeout = getattr(args, "timeout", None)
    put("send_timeout", timeout)
    put("receive_timeout", timeout)
    options.update(_curve_options(args))
    for item in args.option:
        name, sep, text = item.partition("=")
        name = name.strip().replace("-", "_")
        opt = table.get(name)
        if not sep or not name:
            raise CLIError(f"--option takes NAME=VALUE, not {item!r}")
        if opt is None:
            raise CLIError(f"{cls.__name__} sockets have no option {name!r}")
        if not opt.writable:
            raise CLIError(f"option {name!r} is read-only")
        options[name] = _option_value(opt, text)
    return options


def _curve_options(args: argparse.Namespace) -> dict[str, object]:
    if not hasattr(args, "curve_server"):
        return {}
    secret_file: str | None = args.curve_secret_key
    if args.curve_server:
        if secret_file is None:
            raise CLIError("--curve-server needs --curve-secret-key FILE")
        secret = read_key(secret_file, "secret")
        return {
            "curve_server": True,
            "curve_secret_key": secret,
            "curve_public_key": curve_public(secret),
        }
    if args.curve_server_key is not None:
        server_key = read_key(args.curve_server_key, "public")
        if secret_file is None:
            public, secret = curve_keypair()
        else:
            secret = read_key(secret_file, "secret")
            public = curve_public(secret)
        return {
            "curve_server_key": server_key,
            "curve_public_key": public,
            "curve_secret_key": secret,
        }
    if secret_file is not None:
        raise CLIError("--curve-secret-key needs --curve-server or --curve-server-key")
    return {}


# -- CURVE keys from files ------------------------------------------------------

_Z85_KEY = re.compile(r"[0-9a-zA-Z.\-:+=^!/*?&<>()\[\]{}@%$#]{40}")


def read_key(source: str, which: str) -> str:
    """The Z85 public or secret key (`which`) that `source` names.

    `source` is a certificate file (as `zeromq keygen --out` writes them), a
    file holding just the 40-character key, or, when no such file exists, the
    key itself.

    Raises:
        CLIError: the file cannot be read or holds no such key.
    """
    path = Path(source)
    if not path.exists():
        if _Z85_KEY.fullmatch(source):
            return source
        raise CLIError(f"no such key file: {source}")
    try:
        certificate = load_certificate(path)
    except OSError as exc:
        raise CLIError(f"cannot read key file {source}: {exc.strerror}") from None
    except ValueError as exc:
        # Not a certificate: perhaps a file holding just the key.
        try:
            text = path.read_text(encoding="ascii").strip()
        except (OSError, ValueError):
            text = ""
        if _Z85_KEY.fullmatch(text):
            return text
        raise CLIError(str(exc)) from None
    if which == "public":
        return certificate.public_key
    if certificate.secret_key is None:
        raise CLIError(f"{source} is a public certificate: give the secret one (.key_secret)")
    return certificate.secret_key
