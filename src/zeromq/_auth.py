"""`Authenticator`: a ZAP handler (ZeroMQ RFC 27) for one context, on asyncio.

libzmq asks whoever is bound to ``inproc://zeromq.zap.01`` *on the server
socket's own context* whether to let each new connection in. The handler here
is one of our `Router` sockets bound there, served by an asyncio task; each
request is answered in a task of its own, so a slow asynchronous check does
not hold up the others.

What libzmq 4.3 does when that endpoint has no handler (measured, and pinned
by the tests): a CURVE server accepts every client whose handshake completes,
so the traffic is encrypted and the server authenticated but any client key
gets in; a PLAIN server refuses every client; NULL sockets are not checked.
That is why a CURVE server needs an `Authenticator` on its context.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import inspect
import ipaddress
import logging
import warnings
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeAlias

from zmq.utils import z85

from ._certs import StrPath, _z85_key, load_certificates
from ._errors import ZMQError

if TYPE_CHECKING:
    from ._context import Context
    from ._sockets import Router

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
    passwords: Mapping[str, bytes] | None = None
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
            nets.append(ipaddress.ip_network(address, strict=False))
        except ValueError:
            raise ValueError(
                f"{what}(): {address!r} is not an IP address or network (such as '10.0.0.0/8')"
            ) from None
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
        logger.warning(
            "authentication callback %r returned %r, not True or False: the client is refused",
            callback,
            result,
        )
    return result is True


class Authenticator:
    """A ZAP handler (ZeroMQ RFC 27): decides which clients the CURVE, PLAIN
    and ZAP-domain sockets of one context let in.

    Use it as ``async with zeromq.Authenticator() as auth:`` or with
    `start()` and `stop()`, and tell it whom to let in with `allow()`,
    `deny()`, `configure_plain()` and `configure_curve()` (before or while it
    runs). It serves the sockets of `context` only (the default context if
    none is given), and a context has at most one. No message of a client
    it refuses is ever delivered: the server socket reports a
    ``"handshake:error:auth"`` event whose ``error.status`` is 400 (refused)
    or 500 (a check raised), and so does the client.

    Without an authenticator on its context, a CURVE server encrypts and
    authenticates itself to clients but **accepts every client key**; a PLAIN
    server refuses every client. Start the authenticator before the servers
    bind or connect; connections made while none runs are not checked. A
    CURVE server that sets ``zap_domain`` and ``zap_enforce_domain=True``
    refuses clients whenever no authenticator runs. inproc connections have
    no security handshake: nothing is checked there.

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
    handler). Decisions are logged on the ``"zeromq.auth"`` logger.
    """

    __slots__ = ("_addresses", "_context", "_curve", "_pending", "_plain", "_socket", "_task")

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
        self._socket: Router | None = None
        self._task: asyncio.Task[None] | None = None
        self._pending: set[asyncio.Task[None]] = set()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<zeromq.Authenticator {state} {self._context!r}>"

    @property
    def context(self) -> Context:
        """The context whose sockets it serves."""
        return self._context

    @property
    def running(self) -> bool:
        """Whether it is started and not stopped."""
        return self._socket is not None

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
                keys=frozenset(_z85_key(key, "key") for key in keys)
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

    async def start(self) -> None:
        """Bind the context's ZAP endpoint and answer requests from now on,
        in a task of the running event loop.

        Raises:
            RuntimeError: it is already running, or no event loop runs.
            ZMQError: code ``EADDRINUSE`` when the context already has a ZAP
                handler (another `Authenticator`, or a socket bound to
                ``inproc://zeromq.zap.01``).
        """
        from ._sockets import Router

        if self._socket is not None:
            raise RuntimeError("the Authenticator is already running")
        loop = asyncio.get_running_loop()
        sock = Router(context=self._context, linger=0)
        try:
            await sock.bind(ZAP_ENDPOINT)
        except ZMQError as exc:
            sock.close()
            if exc.code == "EADDRINUSE":
                raise ZMQError(
                    exc.errno or 0,
                    "Cannot start Authenticator: its context already has a ZAP handler "
                    "(another Authenticator, or a socket bound to inproc://zeromq.zap.01); "
                    "a context can have only one",
                    address=ZAP_ENDPOINT,
                ) from None
            raise
        self._socket = sock
        self._task = loop.create_task(self._serve(sock), name="zeromq.Authenticator")
        # Checked when the starting task next waits, so that the servers it
        # makes right after start() are there (see the class docstring).
        loop.call_soon(self._check_in_use, sock)

    async def stop(self) -> None:
        """Stop answering and unbind; does nothing if it is not running.

        From then on the context's sockets behave as without an authenticator:
        a CURVE server accepts every client key, a PLAIN server refuses every
        client. Requests being checked are abandoned: those clients are not
        let in.
        """
        sock, task = self._socket, self._task
        if sock is None or task is None:
            return
        self._socket = self._task = None
        # Unbind first: close() frees the endpoint only later, in libzmq's
        # reaper thread, and a restart or another handler must find it free.
        with contextlib.suppress(ZMQError):
            await sock.unbind(ZAP_ENDPOINT)
        sock.close()  # ends the `async for` of _serve
        # Not the current task, should a callback call stop(): it cannot await itself.
        pending = [each for each in self._pending if each is not asyncio.current_task()]
        for each in pending:
            each.cancel()
        await asyncio.gather(task, *pending, return_exceptions=True)

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

    # -- serving ------------------------------------------------------------------

    async def _serve(self, sock: Router) -> None:
        # If this task ever dies of a bug, the endpoint stays bound and
        # unanswered: handshakes stall and time out rather than pass (closed,
        # it would let every CURVE client in).
        loop = asyncio.get_running_loop()
        async for request in sock:
            task = loop.create_task(self._handle(sock, request))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def _handle(self, sock: Router, request: list[bytes]) -> None:
        reply = await self._answer(request)
        if reply is None or sock.closed:
            return
        # A Router never waits to send (it drops what it cannot route, here a
        # request whose connection has gone), so concurrent replies do not
        # contend for the one pending send a socket allows.
        with contextlib.suppress(ZMQError):  # closed by stop() meanwhile
            await sock.send(reply)

    async def _answer(self, request: list[bytes]) -> list[bytes] | None:
        """The reply to one request, envelope included; None for a malformed one."""
        try:
            split = request.index(b"")
        except ValueError:
            logger.error("ZAP request without an address envelope dropped: %r", request[:3])
            return None
        envelope, body = request[: split + 1], request[split + 1 :]
        if len(body) < 6:
            logger.error("ZAP request of %d frames dropped (6 or more expected)", len(body))
            return None
        version, request_id, raw_domain, raw_address, _identity, raw_mechanism = body[:6]
        credentials = body[6:]
        if version != b"1.0":
            logger.error("ZAP request of version %r refused (only 1.0 is known)", version)
            return [*envelope, b"1.0", request_id, _INTERNAL, b"Unsupported ZAP version", b"", b""]
        domain = raw_domain.decode(errors="replace")
        address = raw_address.decode(errors="replace")
        mechanism = raw_mechanism.decode(errors="replace")
        try:
            status, text, user_id = await self._decide(domain, address, mechanism, credentials)
        except Exception as exc:  # a check that raises refuses: fail closed
            status, text, user_id = _INTERNAL, "Internal error", ""
            asyncio.get_running_loop().call_exception_handler(
                {
                    "message": f"zeromq.Authenticator: checking a {mechanism} client at "
                    f"{address!r} (domain {domain!r}) raised; the client is refused",
                    "exception": exc,
                }
            )
        if status == _OK:
            logger.debug("ZAP: %s client %r let in (domain %r)", mechanism, address, domain)
        else:
            logger.info(
                "ZAP: %s client %r refused (domain %r): %s", mechanism, address, domain, text
            )
        return [*envelope, b"1.0", request_id, status, text.encode(), user_id.encode(), b""]

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

    def _check_in_use(self, sock: Router) -> None:
        if self._socket is not sock:
            return  # stopped (or restarted) meanwhile
        if any(_uses_zap(s) for s in list(self._context._sockets) if s is not sock):
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
                "pass theirs as Authenticator(context=...). A CURVE server whose context has no "
                "authenticator accepts every client key."
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


__all__ = ["Authenticator", "AuthenticatorWarning", "CurveCallback", "PlainCallback"]
