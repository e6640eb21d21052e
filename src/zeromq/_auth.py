"""`Authenticator`: a ZAP handler (ZeroMQ RFC 27) for one context, on asyncio or trio.

libzmq asks whoever is bound to ``inproc://zeromq.zap.01`` *on the server
socket's own context* whether to let each new connection in. What libzmq 4.3
does with that endpoint (measured, and pinned by the tests):

- nothing bound there: a CURVE server accepts every client whose handshake
  completes (encrypted, the server authenticated, but any client key gets
  in); a PLAIN server refuses every client; NULL sockets are not checked;
- a socket bound there and closed: the same as nothing bound, once libzmq has
  reaped it (so a closed handler lets every CURVE client in);
- bound but never answering: each handshake waits, and fails when the
  server's ``handshake_interval`` ends;
- bound and answering 400 or 500: the client is refused at once.

So a handler that dies must not take the endpoint with it. The first
`Authenticator` started on a context binds the endpoint with a socket that
belongs to the *context* (`_ZapHandler`, kept in ``Context._zap``) for the
rest of the context's life, served by a thread of its own rather than by an
event loop. The thread hands each request to the running authenticator's
loop or trio run (its `_backends.Runner`) and sends back its decision;
whenever no running authenticator can decide (none started again, stopped,
its loop closed or its trio run over, its check cancelled or failed) the
thread answers 500 itself. It is the only one that ever sends on that
socket, one reply per request.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import hmac
import inspect
import ipaddress
import itertools
import logging
import os
import threading
import time
import warnings
import weakref
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeAlias

import zmq
from zmq.utils import z85

from . import _backends, _threads
from ._certs import StrPath, load_certificates
from ._curve import key_text
from ._errors import ZMQError

if TYPE_CHECKING:
    from ._context import Context

ZAP_ENDPOINT = "inproc://zeromq.zap.01"

logger = logging.getLogger("zeromq.auth")

PlainCallback: TypeAlias = Callable[[str, str], "bool | Awaitable[bool]"]
"""Checks a PLAIN client: ``(username, password)``; returns (or resolves to) True to let it in."""

CurveCallback: TypeAlias = Callable[[str], "bool | Awaitable[bool]"]
"""Checks a CURVE client by its public key (Z85); returns (or resolves to) True to let it in."""

_Network: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network
_Address: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address

# Status codes of RFC 27.
_OK, _DENIED, _INTERNAL = b"200", b"400", b"500"


class AuthenticatorWarning(RuntimeWarning):
    """An `Authenticator` most likely protects nothing: none of the sockets of
    its context is a CURVE or PLAIN server or has a ``zap_domain``."""


@dataclass
class _AddressRules:
    allowed: list[_Network] = field(default_factory=list)
    denied: list[_Network] = field(default_factory=list)

    def refusal(self, address: str) -> str | None:
        """Why `address` is refused, or None if it may go on."""
        ip = _ip(address)
        if ip is not None and any(ip in net for net in self.denied):
            return "Address denied"
        # Fail closed: a peer without an IP address (ipc) is not on an allow list.
        if self.allowed and (ip is None or not any(ip in net for net in self.allowed)):
            return "Address not allowed"
        return None


@dataclass(frozen=True)
class _PlainCheck:
    passwords: Mapping[str, bytes] | None = field(default=None, repr=False)  # secrets
    callback: PlainCallback | None = None


@dataclass(frozen=True)
class _CurveCheck:
    keys: frozenset[str] | None = None
    callback: CurveCallback | None = None  # neither: any key


def _ip(address: str) -> _Address | None:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None  # ipc peers are "host:uid:gid:pid", not IP addresses
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped  # an IPv4 client of a socket with ipv6=True
    return ip


def _networks(addresses: tuple[str, ...], what: str) -> list[_Network]:
    if not addresses:
        raise ValueError(f"{what}() needs at least one address")
    nets = []
    for address in addresses:
        if not isinstance(address, str):
            raise TypeError(f"{what}(): an address is a str, not {type(address).__name__}")
        try:
            net = ipaddress.ip_network(address, strict=False)
        except ValueError:
            raise ValueError(
                f"{what}(): {address!r} is not an IP address or network (such as '10.0.0.0/8')"
            ) from None
        if (
            isinstance(net, ipaddress.IPv6Network)
            and net.prefixlen >= 96
            and net.network_address.ipv4_mapped is not None
        ):
            # An IPv4-mapped network ('::ffff:10.0.0.1', as the log shows an
            # IPv4 client of a socket with ipv6=True): the IPv4 network it
            # stands for, as such a client is checked by its IPv4 address.
            net = ipaddress.IPv4Network(
                (int(net.network_address) & 0xFFFFFFFF, net.prefixlen - 96)
            )
        nets.append(net)
    return nets


def _check_domain(domain: object) -> None:
    if domain is not None and not isinstance(domain, str):
        raise TypeError(f"domain must be a str or None, not {type(domain).__name__}")


def _exactly_one(what: str, **given: object) -> None:
    chosen = [name for name, value in given.items() if value is not None and value is not False]
    if len(chosen) != 1:
        names = ", ".join(f"{name}=" for name in given)
        found = ", ".join(chosen) or "none"
        raise TypeError(f"{what}() takes exactly one of {names} (given: {found})")


async def _passes(callback: Callable[..., object], *args: str) -> bool:
    result = callback(*args)
    if inspect.isawaitable(result):
        result = await result
    if result is not True and result is not False:
        # Its type only: the value may be a secret (a callback that returns
        # the stored password instead of comparing it with the one given).
        logger.warning(
            "authentication callback %r returned a %s, not True or False: the client is refused",
            callback,
            type(result).__name__,
        )
    return result is True


class Authenticator:
    """A ZAP handler (ZeroMQ RFC 27): decides which clients the CURVE, PLAIN
    and ZAP-domain sockets of one context let in.

    Use it as ``async with zeromq.Authenticator() as auth:`` or with
    `start()` and `stop()` (or `close()`, from any thread), and tell it whom to let in with `allow()`,
    `deny()`, `configure_plain()` and `configure_curve()` (before or while it
    runs). It serves the sockets of `context` only (the default context if
    none is given), and a context has at most one. No message of a client
    it refuses is ever delivered: the server socket reports a
    ``"handshake:error:auth"`` event whose ``error.status`` is 400 (refused)
    or 500 (a check raised), and so does the client.

    It fails closed. The first start on a context binds the context's ZAP
    endpoint for the rest of the context's life; from then on, whenever no
    authenticator runs there (stopped from any thread or loop, its event
    loop closed or its trio run over, collected), every client that asks
    is refused with status 500, and so is a client whose check is
    cancelled or fails. A running authenticator is kept alive by its
    context: dropping every reference to it does not stop it.

    The one case that lets everyone in is libzmq's: a CURVE server whose
    context never had an authenticator started accepts **every client key**
    (encrypted, the server authenticated, but anyone gets in); a PLAIN server
    there refuses every client. So start the authenticator before the
    servers bind or connect: connections made before are not checked. A
    CURVE server that sets ``zap_domain`` and ``zap_enforce_domain=True``
    refuses clients even then. inproc connections have no security
    handshake: nothing is checked there.

    Whom it lets in, for each request (the domain is the server socket's
    ``zap_domain``, ``""`` when unset):

    - the address rules (`allow`, `deny`) go first: a denied address, or one
      not on the allow list when there is one, is refused. Over ipc, peers
      have no IP address: deny lists let them pass, allow lists refuse them;
    - NULL clients (sockets with a ``zap_domain`` and no mechanism) that
      pass the address rules are let in;
    - PLAIN clients are checked as `configure_plain` says, CURVE clients as
      `configure_curve` says; a mechanism not configured refuses everyone.

    Settings given with ``domain="name"`` apply to that domain and replace,
    setting by setting (address rules, PLAIN, CURVE), those given without a
    domain, which apply to every other domain.

    It warns with `AuthenticatorWarning` when, after `start()`, none of the
    sockets of its context is a CURVE or PLAIN server or has a
    ``zap_domain``. That is checked once, as soon as the task that started it
    next waits, so sockets made right after `start()` count.

    Callbacks may be plain functions or coroutine functions. Only ``True``
    lets a client in: ``False``, any other value or an exception refuses it
    (an exception with status 500, and it goes to the event loop's exception
    handler; under trio it is logged on the ``"zeromq"`` logger). Decisions
    are logged on the ``"zeromq.auth"`` logger.
    """

    __slots__ = (
        "__weakref__", "_addresses", "_context", "_curve", "_generation", "_handler", "_plain",
        "_runner", "_tasks",
    )

    def __init__(self, *, context: Context | None = None) -> None:
        """Make an authenticator for `context` (default: `zeromq.context`);
        it does nothing until started.

        Raises:
            TypeError: `context` is not a `zeromq.Context`.
        """
        from ._context import Context, default_context

        if context is None:
            context = default_context()
        elif not isinstance(context, Context):
            raise TypeError(f"context must be a zeromq.Context, not {type(context).__name__}")
        self._context = context
        self._addresses: dict[str | None, _AddressRules] = {}
        self._plain: dict[str | None, _PlainCheck] = {}
        self._curve: dict[str | None, _CurveCheck] = {}
        self._handler: _ZapHandler | None = None  # while started and not stopped
        self._runner: _backends.Runner | None = None
        self._generation = -1  # which attachment to the handler is ours
        self._tasks: set[_backends.Task] = set()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<zeromq.Authenticator {state} {self._context!r}>"

    @property
    def context(self) -> Context:
        """The context whose sockets it serves."""
        return self._context

    # -- settings ---------------------------------------------------------------

    def allow(self, *addresses: str, domain: str | None = None) -> None:
        """Let in only clients from these IP addresses or networks
        (``"192.168.1.7"``, ``"10.0.0.0/8"``, ``"::1"``); calls add up.

        Once a domain has an allow list, every other address is refused in
        it, and so are ipc peers (they have no IP address).

        Raises:
            ValueError: no address, or one that is not an IP address or network.
            TypeError: an address or `domain` that is not a str.
        """
        _check_domain(domain)
        nets = _networks(addresses, "allow")
        self._addresses.setdefault(domain, _AddressRules()).allowed.extend(nets)

    def deny(self, *addresses: str, domain: str | None = None) -> None:
        """Refuse clients from these IP addresses or networks; calls add up.
        A denied address is refused even if it is also allowed.

        Raises:
            ValueError: no address, or one that is not an IP address or network.
            TypeError: an address or `domain` that is not a str.
        """
        _check_domain(domain)
        nets = _networks(addresses, "deny")
        self._addresses.setdefault(domain, _AddressRules()).denied.extend(nets)

    def configure_plain(
        self,
        *,
        passwords: Mapping[str, str] | None = None,
        callback: PlainCallback | None = None,
        domain: str | None = None,
    ) -> None:
        """Say which PLAIN clients to let in: those whose username and
        password are in `passwords`, or for which ``callback(username,
        password)`` returns True (a coroutine function may be given). It
        replaces the domain's earlier PLAIN setting.

        PLAIN sends the password in clear text: use it on trusted networks
        only, or prefer CURVE.

        Raises:
            TypeError: not exactly one of `passwords` and `callback`, or
                a username or password that is not a str.
        """
        _check_domain(domain)
        _exactly_one("configure_plain", passwords=passwords, callback=callback)
        if passwords is not None:
            table: dict[str, bytes] = {}
            for user, password in dict(passwords).items():
                if not isinstance(user, str) or not isinstance(password, str):
                    raise TypeError("passwords must map str usernames to str passwords")
                table[user] = password.encode()
            self._plain[domain] = _PlainCheck(passwords=table)
        else:
            if not callable(callback):
                raise TypeError(f"callback must be callable, not {type(callback).__name__}")
            self._plain[domain] = _PlainCheck(callback=callback)

    def configure_curve(
        self,
        *,
        keys: Iterable[str | bytes] | None = None,
        directory: StrPath | None = None,
        callback: CurveCallback | None = None,
        allow_any: bool = False,
        domain: str | None = None,
    ) -> None:
        """Say which CURVE clients to let in, by their public key. Give
        exactly one of:

        - `keys`: the public keys (40 Z85 characters or 32 bytes) to let in;
        - `directory`: a directory of public certificates (``*.key`` files,
          see `write_certificates`), read now: call again to re-read it;
        - `callback`: ``callback(public_key)`` with the key in Z85 returns
          True to let the client in (a coroutine function may be given);
        - ``allow_any=True``: any client key (the traffic is still encrypted
          and the server authenticated). Say it explicitly; it is never the default.

        It replaces the domain's earlier CURVE setting.

        Raises:
            TypeError: not exactly one of the four, or a wrong type.
            ValueError: a key that is not a CURVE key, or a certificate in
                `directory` that is not valid.
            OSError: `directory` cannot be read.
        """
        _check_domain(domain)
        _exactly_one(
            "configure_curve", keys=keys, directory=directory, callback=callback,
            allow_any=allow_any,
        )
        if keys is not None:
            if isinstance(keys, (str, bytes)):
                raise TypeError("keys must be a collection of keys, such as {key}, not one key")
            self._curve[domain] = _CurveCheck(
                keys=frozenset(key_text(key, "configure_curve(): a key") for key in keys)
            )
        elif directory is not None:
            certificates = load_certificates(directory)
            self._curve[domain] = _CurveCheck(
                keys=frozenset(cert.public_key for cert in certificates.values())
            )
        elif callback is not None:
            if not callable(callback):
                raise TypeError(f"callback must be callable, not {type(callback).__name__}")
            self._curve[domain] = _CurveCheck(callback=callback)
        else:
            if allow_any is not True:
                raise TypeError(f"allow_any must be True or False, not {allow_any!r}")
            self._curve[domain] = _CurveCheck()

    # -- running ------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether it answers for its context now: started, not stopped, and
        its event loop not closed (its trio run not over)."""
        handler, runner = self._handler, self._runner
        return (
            handler is not None
            and runner is not None
            and not runner.is_closed()
            and handler.serving == self._generation
        )

    async def start(self) -> None:
        """Answer the ZAP requests of the context's sockets from now on,
        deciding each in a task of the running event loop or trio run.

        The first start on a context binds its ZAP endpoint for the rest of
        the context's life (see the class docstring): from then on, clients
        that no running authenticator lets in are refused.

        Raises:
            RuntimeError: it is already running, or neither asyncio nor trio runs.
            ZMQError: code ``EADDRINUSE`` when the context already has a ZAP
                handler (another running `Authenticator`, or a socket bound
                to ``inproc://zeromq.zap.01``).
        """
        if self.running:
            raise RuntimeError("the Authenticator is already running")
        runner = _backends.current_runner()
        with _SEATS:
            seat = _seat(self._context)
            other = seat.owner
            if other is not None and other is not self and other.running:
                raise _in_use_error()
            seat.owner = self
            self._runner = runner
            self._handler = seat.handler
            self._generation = seat.handler.attach(self, runner)
        # Checked when the starting task next waits, so that the servers it
        # makes right after start() are there (see the class docstring).
        runner.call_soon(self._check_in_use, self._generation)

    def close(self) -> None:
        """Stop answering, at once, from any thread or event loop or from
        plain synchronous code; does nothing if it is not running.

        The context keeps refusing: every client that asks while no
        authenticator runs is refused (status 500). Checks in progress are
        abandoned (their clients are refused) and their tasks cancelled.
        """
        with _SEATS:
            handler, runner = self._handler, self._runner
            if handler is None:
                return
            self._handler = None
            handler.detach(self._generation)
            seat = self._context._zap
            if seat is not None and seat.owner is self:
                seat.owner = None
        if runner is None or runner.is_closed():
            return
        if runner.is_current():
            self._cancel_checks()
        else:
            # On the runner's own thread, which is the one that changes the set of tasks.
            with contextlib.suppress(RuntimeError):  # closed meanwhile: nothing runs them
                runner.call_soon(self._cancel_checks)

    async def stop(self) -> None:
        """Stop answering (see `close`), and when called on the event loop
        (or trio run) it runs on, wait until the abandoned checks have
        ended. It works from any event loop or trio run, also after the one
        it ran on has ended.
        """
        runner = self._runner
        # Not the current task, should a callback stop its own authenticator:
        # it cannot wait for itself.
        tasks = (
            [task for task in self._tasks if not task.is_current()]
            if runner is not None and runner.is_current()
            else []
        )
        self.close()
        for task in tasks:
            await task.wait()

    async def __aenter__(self) -> Authenticator:
        """Start it (see `start`)."""
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop it (see `stop`)."""
        await self.stop()

    # -- deciding, on the event loop or trio run ---------------------------------------

    def _cancel_checks(self) -> None:
        for task in list(self._tasks):
            if not task.is_current():  # a callback may stop its own authenticator
                task.cancel()

    def _begin(self, key: int, generation: int, request: _Request) -> None:
        """Start checking one request (called on its runner by the ZAP thread)."""
        handler, runner = self._handler, self._runner
        if handler is None or runner is None or generation != self._generation:
            return  # stopped meanwhile: the ZAP thread refuses it
        task: _backends.Task | None = None

        async def check() -> None:
            reply: list[bytes] | None = None
            try:
                reply = await self._answer(request)
            except Exception as exc:  # a bug of ours: refuse, and say so
                runner.report("zeromq.Authenticator failed; the client is refused", exc)
            finally:
                if task is not None:  # set before the task first runs
                    self._tasks.discard(task)
                # None (cancelled, failed, or its run ending): the ZAP thread
                # sends the refusal it keeps for this request.
                handler.post(key, reply)

        try:
            task = runner.spawn(check, "zeromq.Authenticator check")
        except RuntimeError:  # a trio run shutting down takes no new task
            handler.post(key, None)
            return
        self._tasks.add(task)

    async def _answer(self, request: _Request) -> list[bytes]:
        """The reply to one request, envelope included."""
        domain = request.domain.decode(errors="replace")
        address = request.address.decode(errors="replace")
        mechanism = request.mechanism.decode(errors="replace")
        try:
            status, text, user_id = await self._decide(
                domain, address, mechanism, request.credentials
            )
        except Exception as exc:  # a check that raises refuses: fail closed
            status, text, user_id = _INTERNAL, "Internal error", ""
            _backends.current_runner().report(
                f"zeromq.Authenticator: checking a {mechanism} client at "
                f"{address!r} (domain {domain!r}) raised; the client is refused",
                exc,
            )
        if status == _OK:
            logger.debug("ZAP: %s client %r let in (domain %r)", mechanism, address, domain)
        else:
            logger.info(
                "ZAP: %s client %r refused (domain %r): %s", mechanism, address, domain, text
            )
        return request.reply(status, text, user_id.encode())

    async def _decide(
        self, domain: str, address: str, mechanism: str, credentials: list[bytes]
    ) -> tuple[bytes, str, str]:
        """(status, status text, user id) for one client."""
        rules = self._setting(self._addresses, domain)
        refusal = rules.refusal(address) if rules is not None else None
        if refusal is not None:
            return _DENIED, refusal, ""
        if mechanism == "NULL":
            return _OK, "OK", ""
        if mechanism == "PLAIN":
            return await self._decide_plain(domain, credentials)
        if mechanism == "CURVE":
            return await self._decide_curve(domain, credentials)
        return _DENIED, f"Mechanism {mechanism} is not supported", ""

    async def _decide_plain(self, domain: str, credentials: list[bytes]) -> tuple[bytes, str, str]:
        check = self._setting(self._plain, domain)
        if check is None:
            return _DENIED, "PLAIN is not configured for this domain", ""
        if len(credentials) != 2:
            return _DENIED, "Malformed PLAIN credentials", ""
        raw_user, raw_password = credentials
        try:
            user, password = raw_user.decode(), raw_password.decode()
        except UnicodeDecodeError:
            return _DENIED, "Invalid username or password", ""
        if check.passwords is not None:
            expected = check.passwords.get(user)
            # Compared in constant time, so timing tells nothing of the password.
            ok = expected is not None and hmac.compare_digest(expected, raw_password)
        else:
            assert check.callback is not None
            ok = await _passes(check.callback, user, password)
        if not ok:
            return _DENIED, "Invalid username or password", ""
        return _OK, "OK", user

    async def _decide_curve(self, domain: str, credentials: list[bytes]) -> tuple[bytes, str, str]:
        check = self._setting(self._curve, domain)
        if check is None:
            return _DENIED, "CURVE is not configured for this domain", ""
        if len(credentials) != 1 or len(credentials[0]) != 32:
            return _DENIED, "Malformed CURVE credentials", ""
        key = z85.encode(credentials[0]).decode("ascii")
        if check.keys is not None:
            ok = key in check.keys
        elif check.callback is not None:
            ok = await _passes(check.callback, key)
        else:
            ok = True  # allow_any=True
        if not ok:
            return _DENIED, "Unknown client key", ""
        return _OK, "OK", key

    @staticmethod
    def _setting(table: dict[str | None, Any], domain: str) -> Any:
        """The domain's own setting, else the one for every domain (None)."""
        if domain in table:
            return table[domain]
        return table.get(None)

    # -- the pitfall check ---------------------------------------------------------

    def _check_in_use(self, generation: int) -> None:
        if not self.running or self._generation != generation:
            return  # stopped (or restarted) meanwhile
        if any(_uses_zap(s) for s in list(self._context._sockets)):
            return
        from ._lifecycle import _CONTEXTS

        elsewhere = sum(
            1
            for ctx in list(_CONTEXTS)
            if ctx is not self._context
            for s in list(ctx._sockets)
            if _uses_zap(s)
        )
        where = (
            f" ({elsewhere} such socket{'s are' if elsewhere != 1 else ' is'} on other contexts)"
            if elsewhere
            else ""
        )
        warnings.warn(
            AuthenticatorWarning(
                f"zeromq.Authenticator started on {self._context!r}, but none of that context's "
                f"sockets is a CURVE or PLAIN server or has a zap_domain, so it checks "
                f"nothing{where}. An authenticator serves only the sockets of its own context: "
                "pass theirs as Authenticator(context=...). A CURVE server on a context where no "
                "authenticator was ever started accepts every client key."
            ),
            stacklevel=1,
        )


def _uses_zap(sock: Any) -> bool:
    """Whether libzmq asks the ZAP handler about this socket's connections."""
    try:
        if sock.closed:
            return False
        return bool(sock.curve_server or sock.plain_server or sock.zap_domain)
    except (ZMQError, AttributeError):
        return False


# -- the context's ZAP endpoint -------------------------------------------------------


@dataclass(frozen=True)
class _Request:
    """One ZAP request (RFC 27), its address envelope kept for the reply."""

    envelope: tuple[bytes, ...]
    version: bytes
    request_id: bytes
    domain: bytes
    address: bytes
    mechanism: bytes
    credentials: list[bytes] = field(repr=False)  # a PLAIN password among them

    def reply(self, status: bytes, text: str, user_id: bytes = b"") -> list[bytes]:
        return [*self.envelope, b"1.0", self.request_id, status, text.encode(), user_id, b""]


def _parse(frames: list[bytes]) -> _Request | str:
    """The request in `frames`, or why it cannot be answered."""
    try:
        split = frames.index(b"")
    except ValueError:
        return "without an address envelope"
    envelope, body = frames[: split + 1], frames[split + 1 :]
    if len(body) < 6:
        return f"of {len(body)} frames (6 or more expected)"
    version, request_id, domain, address, _identity, mechanism = body[:6]
    return _Request(tuple(envelope), version, request_id, domain, address, mechanism, body[6:])


# How often (ms) the ZAP thread looks whether the loop (or trio run) of the
# checks it waits for has ended: their answers will never come, and those
# clients are refused.
_CHECK_MS = 250
# Requests read in a row before the thread sends the replies that came meanwhile.
_BATCH = 64


class _ZapHandler:
    """The ZAP socket of one context and the thread that answers on it.

    The context keeps it (``Context._zap``) until the context is terminated,
    which ends the thread. It refers to the authenticator that decides
    weakly, and never to the context, so that the thread, which lives as
    long as the context, keeps neither alive.
    """

    def __init__(self, native: zmq.Context[Any]) -> None:
        sock = _threads.native_socket(native, zmq.ROUTER)
        sock.linger = 0
        try:
            sock.bind(ZAP_ENDPOINT)
        except BaseException:
            sock.close()
            raise
        self._socket = sock
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_read, False)
        os.set_blocking(self._wake_write, False)
        self._lock = threading.Lock()
        # Which authenticator decides, on which loop or trio run; `serving`
        # is the generation of that attachment (None: nobody decides).
        self._owner: weakref.ref[Authenticator] | None = None
        self._runner: _backends.Runner | None = None
        self.serving: int | None = None
        self._generations = itertools.count()
        self._changed = False  # serving changed since the thread last looked
        self._ended = False  # the thread has ended (its context terminated)
        # Decisions posted from the runner, for the thread to send.
        self._replies: collections.deque[tuple[int, list[bytes] | None]] = collections.deque()
        # The thread's own: requests asked about and not answered yet, by
        # key: (generation, the refusal to send should no answer come, runner).
        self._waiting: dict[int, tuple[int, list[bytes], _backends.Runner]] = {}
        self._keys = itertools.count()
        self.thread = threading.Thread(target=self._run, name="zeromq-zap", daemon=True)
        _threads.start(self.thread)

    # -- from the authenticators (any thread) ----------------------------------------

    def attach(self, owner: Authenticator, runner: _backends.Runner) -> int:
        """Let `owner` decide from now on; returns the generation of this attachment."""
        with self._lock:
            generation = next(self._generations)
            self._owner, self._runner, self.serving = weakref.ref(owner), runner, generation
            self._changed = True
        self._wake()
        return generation

    def detach(self, generation: int) -> None:
        """End attachment `generation`: its waiting requests are refused at once."""
        with self._lock:
            if self.serving != generation:
                return
            self._owner = self._runner = self.serving = None
            self._changed = True
        self._wake()

    def post(self, key: int, reply: list[bytes] | None) -> None:
        """Hand a decision to the thread (None: send the refusal)."""
        self._replies.append((key, reply))
        self._wake()

    def _wake(self) -> None:
        with self._lock:
            # Never once the thread has closed the pipe: its number may be
            # another file's by now.
            if self._ended:
                return
            with contextlib.suppress(BlockingIOError):  # full: the thread wakes anyway
                os.write(self._wake_write, b"\0")

    # -- the thread ---------------------------------------------------------------------

    def _run(self) -> None:
        poller = zmq.Poller()
        poller.register(self._socket, zmq.POLLIN)
        poller.register(self._wake_read, zmq.POLLIN)
        try:
            while True:
                try:
                    ready = dict(poller.poll(_CHECK_MS if self._waiting else None))
                    self._turn(ready.get(self._socket, 0) != 0)
                except zmq.ContextTerminated:
                    return
                except Exception:
                    # A bug of ours: say so, and go on answering. Until then
                    # the endpoint stays bound, so clients wait and are refused.
                    logger.exception("ZAP handler failed; the requests it was answering are refused")
                    self._refuse_all()
                    time.sleep(0.05)  # no busy loop should the failure repeat
        finally:
            self._socket.close(linger=0)
            with self._lock:
                self._ended = True
                os.close(self._wake_read)
                os.close(self._wake_write)

    def _turn(self, readable: bool) -> None:
        with contextlib.suppress(BlockingIOError):
            while os.read(self._wake_read, 4096):
                pass
        while self._replies:
            key, reply = self._replies.popleft()
            waiting = self._waiting.pop(key, None)
            if waiting is None:
                continue  # refused already (its authenticator stopped, its loop closed)
            if reply is not None and waiting[0] != self.serving:
                # Decided, but its authenticator has stopped since (a check
                # that stops its own, a close() from another thread): once
                # stopped, it lets nobody in.
                logger.info("ZAP: a client is refused: its authenticator stopped")
                reply = None
            elif reply is None:
                logger.info("ZAP: a client is refused: its check was cancelled or failed")
            self._send(reply if reply is not None else waiting[1])
        self._refuse_orphans()
        if readable:
            for _ in range(_BATCH):
                try:
                    frames = self._socket.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                try:
                    self._ask(frames)
                except zmq.ContextTerminated:
                    raise
                except Exception:  # a bug of ours: this client is refused, and we go on
                    logger.exception("ZAP handler failed on a request; that client is refused")
                    request = _parse(frames)
                    if not isinstance(request, str):
                        self._send(request.reply(_INTERNAL, "Internal error"))

    def _ask(self, frames: list[bytes]) -> None:
        request = _parse(frames)
        if isinstance(request, str):
            logger.error("ZAP request %s dropped", request)
            return
        refusal = request.reply(_INTERNAL, "No authenticator is running")
        if request.version != b"1.0":
            logger.error("ZAP request of version %r refused (only 1.0 is known)", request.version[:10])
            self._send(request.reply(_INTERNAL, "Unsupported ZAP version"))
            return
        with self._lock:
            owner = self._owner() if self._owner is not None else None
            runner, generation = self._runner, self.serving
        if (
            owner is None
            or runner is None
            or generation is None
            or runner.is_closed()
        ):
            self._refuse(request, refusal)
            return
        key = next(self._keys)
        self._waiting[key] = (generation, refusal, runner)
        try:
            runner.call_soon(owner._begin, key, generation, request)
        except RuntimeError:  # the loop closed (the trio run ended) just now
            del self._waiting[key]
            self._refuse(request, refusal)

    def _refuse(self, request: _Request, refusal: list[bytes]) -> None:
        logger.info(
            "ZAP: %s client %r refused: no Authenticator is running on its context",
            request.mechanism.decode(errors="replace"),
            request.address.decode(errors="replace"),
        )
        self._send(refusal)

    def _refuse_orphans(self) -> None:
        """Refuse the waiting requests nobody will answer: their authenticator
        stopped, or its event loop closed (its trio run ended)."""
        if not self._waiting:
            return
        with self._lock:
            changed, self._changed = self._changed, False
            serving, runner = self.serving, self._runner
        if not changed and runner is not None and not runner.is_closed():
            return
        for key, (generation, refusal, asked) in list(self._waiting.items()):
            if generation != serving or asked.is_closed():
                del self._waiting[key]
                logger.info(
                    "ZAP: a client being checked is refused: its authenticator stopped "
                    "or its event loop closed (its trio run ended)"
                )
                self._send(refusal)

    def _refuse_all(self) -> None:
        waiting, self._waiting = self._waiting, {}
        for _generation, refusal, _runner in waiting.values():
            with contextlib.suppress(zmq.ZMQError):
                self._send(refusal)

    def _send(self, reply: list[bytes]) -> None:
        # A Router drops, without an error, a reply whose connection has
        # gone (that handshake ended anyway); any other error is raised.
        self._socket.send_multipart(reply, zmq.NOBLOCK)


@dataclass
class _Seat:
    """What a context keeps of its ZAP endpoint: the handler, and the
    authenticator started last (kept alive while it may run)."""

    handler: _ZapHandler
    owner: Authenticator | None = None


# Guards starting, stopping and the seats of contexts (from any thread).
_SEATS = threading.RLock()


def _seat(context: Context) -> _Seat:
    """The context's seat, binding its ZAP endpoint the first time."""
    if context._pid != os.getpid():
        raise ZMQError(
            errno.ENOTSUP,
            "Cannot start Authenticator: its context belongs to the parent process (a forked "
            "child cannot use it); create a new Context in the child",
        )
    seat: _Seat | None = context._zap
    if seat is not None and seat.handler.thread.is_alive():
        return seat
    try:
        handler = _ZapHandler(context._native)
    except zmq.ZMQError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise _in_use_error() from None
        raise ZMQError(int(exc.errno or 0), f"Cannot start Authenticator: {exc.strerror}") from None
    seat = context._zap = _Seat(handler)
    return seat


def _in_use_error() -> ZMQError:
    return ZMQError(
        errno.EADDRINUSE,
        "Cannot start Authenticator: its context already has a ZAP handler "
        "(a running Authenticator, or a socket bound to inproc://zeromq.zap.01); "
        "a context can have only one",
        address=ZAP_ENDPOINT,
    )


__all__ = ["Authenticator", "AuthenticatorWarning", "CurveCallback", "PlainCallback"]
