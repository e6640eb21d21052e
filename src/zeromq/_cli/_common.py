"""What the subcommands share: errors, argument types, socket options, addresses.

Every socket a subcommand makes takes the same option flags (`add_socket_arguments`),
turned into constructor keywords by `socket_options` with the options table's
own conversions, so a bad value fails as the library would say it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import difflib
import re
import signal
import socket
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from .. import _options
from .._auth import Authenticator
from .._certs import load_certificate, load_certificates
from .._curve import curve_keypair, curve_public, key_text
from .._sockets import Socket


class CLIError(Exception):
    """An error of the user's making: the CLI prints its message as one line
    (``zeromq: error: <message>``) and exits with status 1."""


class UsageError(CLIError):
    """A mistake in the command line itself, found after parsing (a bad
    ``-o NAME=VALUE``): printed after the usage, like argparse's own, with
    exit status 2."""


DEFAULT_LINGER = 5000
"""The linger of CLI sockets given neither --linger nor --timeout, in ms: a
command never waits at exit for longer than this (libzmq's -1 would wait
forever for a peer that never comes)."""


def run_async(main: Coroutine[Any, Any, int]) -> int:
    """`asyncio.run(main)`, with Python's signal wakeup fd set to a socket
    the loop watches for as long as `main` runs.

    asyncio.run turns Ctrl-C into a cancellation from a Python-level handler,
    and Python runs that only once the main thread is back from a system
    call. A Ctrl-C that lands just before the loop goes to sleep (in its
    `epoll_wait`, or in a receive's idle wait), or that is taken by another
    thread, would then wait for the next event, perhaps forever. With the
    wakeup fd set, the signal's C handler writes to it, which wakes any such
    sleep (the idle wait watches the loop's epoll fd too).
    """
    return asyncio.run(_waking_on_signals(main))


async def _waking_on_signals(main: Coroutine[Any, Any, int]) -> int:
    loop = asyncio.get_running_loop()
    reader, writer = socket.socketpair()
    reader.setblocking(False)
    writer.setblocking(False)
    with reader, writer:
        woken = _wake_loop_on_signals(loop, reader, writer)
        try:
            return await main
        finally:
            if woken:
                signal.set_wakeup_fd(-1)
                loop.remove_reader(reader.fileno())
            main.close()  # a no-op once it ran; else no "never awaited" warning


def _wake_loop_on_signals(
    loop: asyncio.AbstractEventLoop, reader: socket.socket, writer: socket.socket
) -> bool:
    """Point the wakeup fd at `writer` and have the loop watch `reader`;
    False, leaving things as they were, where that cannot be done or
    someone's own wakeup fd (an add_signal_handler()'s) wakes the loop."""
    try:
        previous = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    except ValueError:  # not the main thread, where signals are handled
        return False
    if previous != -1:
        signal.set_wakeup_fd(previous)
        return False
    try:
        loop.add_reader(reader.fileno(), _drain, reader)
    except NotImplementedError:  # a loop that cannot watch fds
        signal.set_wakeup_fd(-1)
        return False
    return True


def _drain(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while sock.recv(4096):
            pass


def info(message: str) -> None:
    """Print one informational line on stderr (``zeromq: <message>``)."""
    sys.stderr.write(f"zeromq: {message}\n")
    sys.stderr.flush()


def warn(message: str) -> None:
    """Print one warning line on stderr (``zeromq: warning: <message>``), even with --quiet."""
    info(f"warning: {message}")


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
        help="how long queued messages may still be delivered at exit (default: the "
        f"--timeout if given, else {DEFAULT_LINGER}; -1 until they are; 0 drops them)",
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
    security = parser.add_argument_group(
        "security",
        "A CURVE or PLAIN server lets in only the clients it is told to: give "
        "--allow-client/--allow-clients (CURVE) or --allow-user/--allow-users (PLAIN), "
        "or say --allow-any-client.",
    )
    security.add_argument(
        "--curve-server", action="store_true",
        help="be a CURVE server; needs --curve-secret-key and an allow-list",
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
    security.add_argument(
        "--allow-client", metavar="KEY|FILE", action="append", default=[],
        help="let in the CURVE client with this public key (40 Z85 characters, or its "
        "public certificate file); repeatable",
    )
    security.add_argument(
        "--allow-clients", metavar="DIR", action="append", default=[],
        help="let in the CURVE clients whose public certificates (*.key) are in DIR; repeatable",
    )
    security.add_argument(
        "--plain-server", action="store_true",
        help="be a PLAIN server (clear-text passwords: trusted networks only); needs an allow-list",
    )
    security.add_argument(
        "--allow-user", metavar="USER:PASSWORD", action="append", default=[],
        help="let in the PLAIN client with this username and password; repeatable (other "
        "local users can see command lines: prefer --allow-users)",
    )
    security.add_argument(
        "--allow-users", metavar="FILE", action="append", default=[],
        help="let in the PLAIN clients listed in FILE, one USER:PASSWORD a line "
        "(blank lines and lines starting with # are skipped); repeatable",
    )
    security.add_argument(
        "--allow-any-client", action="store_true",
        help="let in every client: any CURVE key (still encrypted) or any PLAIN username "
        "and password; a warning says so",
    )


def _option_value(opt: _options.Option, text: str) -> object:
    kind = opt.kind
    if isinstance(kind, _options.Bool):
        lowered = text.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise UsageError(f"option {opt.name!r} takes true or false, not {text!r}")
    if isinstance(kind, _options.Int):
        try:
            return int(text, 0)
        except ValueError:
            raise UsageError(f"option {opt.name!r} takes an integer, not {text!r}") from None
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

    timeout = getattr(args, "timeout", None)
    linger = args.linger
    if linger is None:
        # Never wait at exit longer than the command waits for anything else.
        linger = timeout if timeout is not None and timeout >= 0 else DEFAULT_LINGER
    put("linger", linger)
    put("send_high_water_mark", args.hwm)
    put("receive_high_water_mark", args.hwm)
    put("send_high_water_mark", args.send_hwm)
    put("receive_high_water_mark", args.receive_hwm)
    put("send_timeout", timeout)
    put("receive_timeout", timeout)
    options.update(_curve_options(args))
    for item in args.option:
        name, sep, text = item.partition("=")
        name = name.strip().replace("-", "_")
        opt = table.get(name)
        # Spelt with dashes too: a mistyped secret option must not show its value.
        secret = any(
            item.lstrip().replace("-", "_").startswith(s) for s in _options.SECRET_OPTIONS
        )
        if not sep or not name or (opt is None and secret):
            shown = "(not shown: it may hold a secret)" if secret else repr(item)
            raise UsageError(f"-o/--option takes NAME=VALUE, not {shown}")
        if opt is None:
            raise UsageError(_unknown_option(cls, name, table))
        if not opt.writable:
            raise UsageError(f"option {name!r} is read-only")
        options[name] = _option_value(opt, text)
    if not hasattr(args, "allow_client") and _server_mechanism(options):
        # A command without the allow-list flags cannot check clients, and a
        # CURVE server that checks nobody lets everyone in.
        raise CLIError(
            f"this command cannot check clients, so it cannot be a {_server_mechanism(options)} "
            "server (-o curve_server / plain_server)"
        )
    return options


def _unknown_option(cls: type[Socket], name: str, table: dict[str, _options.Option]) -> str:
    writable = [n for n, o in table.items() if o.writable]
    close = difflib.get_close_matches(name, writable, n=3)
    if not close:  # a part of a name, such as "hwm" or "timeout"
        close = [n for n in writable if name in n][:3]
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return f"{cls.__name__} sockets have no option {name!r}{hint}"


def _server_mechanism(options: dict[str, Any]) -> str | None:
    if options.get("curve_server"):
        return "CURVE"
    if options.get("plain_server"):
        return "PLAIN"
    return None


def authenticator(options: dict[str, Any], args: argparse.Namespace) -> Authenticator | None:
    """The `Authenticator` (not started) that lets in the clients the
    allow-list flags name, when `options` make a CURVE or PLAIN server;
    None for any other socket.

    Raises:
        CLIError: a server without an allow-list (unknown clients are never
            let in silently), an allow-list flag without its server, or an
            allow-list that cannot be read.
    """
    mechanism = _server_mechanism(options)
    curve_flags = bool(args.allow_client or args.allow_clients)
    plain_flags = bool(args.allow_user or args.allow_users)
    if curve_flags and mechanism != "CURVE":
        raise CLIError("--allow-client and --allow-clients need --curve-server")
    if plain_flags and mechanism != "PLAIN":
        raise CLIError("--allow-user and --allow-users need --plain-server")
    if args.allow_any_client and mechanism is None:
        raise CLIError("--allow-any-client needs --curve-server or --plain-server")
    if mechanism is None:
        return None
    auth = Authenticator()
    if args.allow_any_client:
        if curve_flags or plain_flags:
            raise CLIError("--allow-any-client and an allow-list exclude each other")
        if mechanism == "CURVE":
            auth.configure_curve(allow_any=True)
            warn("--allow-any-client: any CURVE client key is let in (the traffic is "
                 "encrypted, but anyone can connect)")
        else:
            auth.configure_plain(callback=_anyone)
            warn("--allow-any-client: any PLAIN username and password is let in")
        return auth
    if mechanism == "CURVE":
        if not curve_flags:
            raise CLIError(
                "a CURVE server lets in only the clients it knows: give --allow-client KEY "
                "or --allow-clients DIR (or, to let in any client key, --allow-any-client)"
            )
        keys = {read_key(source, "public") for source in args.allow_client}
        for directory in args.allow_clients:
            try:
                keys.update(cert.public_key for cert in load_certificates(directory).values())
            except OSError as exc:
                raise CLIError(f"cannot read --allow-clients {directory}: {exc.strerror or exc}") from None
            except ValueError as exc:
                raise CLIError(str(exc)) from None
        auth.configure_curve(keys=keys)
        return auth
    if not plain_flags:
        raise CLIError(
            "a PLAIN server lets in only the users it knows: give --allow-user USER:PASSWORD "
            "or --allow-users FILE (or, to let in anyone, --allow-any-client)"
        )
    passwords: dict[str, str] = {}
    for item in args.allow_user:
        passwords.update([_user_password(item, "--allow-user")])
    for path in args.allow_users:
        passwords.update(_read_users(path))
    auth.configure_plain(passwords=passwords)
    return auth


def _anyone(username: str, password: str) -> bool:
    return True


def _user_password(item: str, where: str) -> tuple[str, str]:
    user, sep, password = item.partition(":")
    if not sep or not user:
        # Not the item itself: it may hold a password.
        raise CLIError(f"{where} takes USER:PASSWORD (a username, a colon, the password)")
    return user, password


def _read_users(path: str) -> list[tuple[str, str]]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise CLIError(f"cannot read --allow-users {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        text = None
    if text is None:
        raise CLIError(f"--allow-users {path} is not utf-8 text")
    users = []
    for lineno, line in enumerate(text.split("\n"), start=1):
        line = line.removesuffix("\r")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        users.append(_user_password(line, f"--allow-users {path}, line {lineno},"))
    return users


def _curve_options(args: argparse.Namespace) -> dict[str, object]:
    if not hasattr(args, "curve_server"):
        return {}
    secret_file: str | None = args.curve_secret_key
    if args.plain_server:
        if args.curve_server or args.curve_server_key is not None or secret_file is not None:
            raise CLIError("--plain-server and the --curve-* options exclude each other")
        return {"plain_server": True}
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
            try:
                return key_text(source, f"the {which} key")
            except ValueError as exc:
                raise CLIError(str(exc)) from None
        if which == "secret" or (35 <= len(source) <= 45 and " " not in source):
            # A secret key's option, or as long as a key: perhaps a mistyped
            # key (or a secret one given by mistake, or with a space or its
            # certificate line around it) rather than a file name.
            raise CLIError(
                f"no such {which} key file, and not a valid key (not shown: it may be a secret key)"
            )
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
            try:
                return key_text(text, f"the key in {source}")
            except ValueError as error:
                raise CLIError(str(error)) from None
        raise CLIError(str(exc)) from None
    if which == "public":
        return certificate.public_key
    if certificate.secret_key is None:
        raise CLIError(f"{source} is a public certificate: give the secret one (.key_secret)")
    return certificate.secret_key
