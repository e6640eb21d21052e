"""Security end to end: PLAIN, CURVE and the ZAP `Authenticator`.

Connections are made over tcp and ipc: inproc connections have no security
handshake at all (pinned by `test_inproc_has_no_security_handshake`). The
helpers that show a client let in or refused are in `helpers.py`.
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import zmq
import zmq.auth
from conftest import bind

import zeromq

from .helpers import (
    WAIT,
    Keys,
    Refusals,
    curve_client,
    curve_server,
    delivered,
    observe,
    plain_client,
    refused,
)

# -- the options ------------------------------------------------------------------


def test_security_mechanism_reads_what_the_options_chose(keys: Keys) -> None:
    made = [
        (zeromq.Pair(linger=0), None),
        (zeromq.Pair(linger=0, plain_server=True), "plain"),
        (zeromq.Pair(linger=0, plain_username="u", plain_password="p"), "plain"),
        (zeromq.Pair(linger=0, curve_server=True, curve_secret_key=keys.server.secret_key), "curve"),
        (zeromq.Pair(linger=0, curve_server_key=keys.server.public_key), "curve"),
    ]
    try:
        for sock, mechanism in made:
            assert sock.security_mechanism == mechanism
    finally:
        for sock, _ in made:
            sock.close()


def test_zap_options_read_back() -> None:
    sock = zeromq.Router(linger=0, zap_domain="global", zap_enforce_domain=True)
    try:
        assert sock.zap_domain == "global"
        assert sock.zap_enforce_domain is True
        sock.zap_enforce_domain = False
        assert sock.zap_enforce_domain is False
    finally:
        sock.close()


# -- PLAIN ------------------------------------------------------------------------


async def test_plain_good_credentials_pass(
    ctx: zeromq.Context, make: Callable[..., Any], secure: str
) -> None:
    async with zeromq.Authenticator(context=ctx) as auth:
        auth.configure_plain(passwords={"alice": "wonderland"})
        server = make(zeromq.Pull, plain_server=True)
        client = plain_client(make, "alice", "wonderland")
        client.connect(await bind(server, secure))
        await delivered(server, client)
        assert server.security_mechanism == client.security_mechanism == "plain"


@pytest.mark.parametrize(
    ("username", "password"),
    [
        ("alice", "guess"),
        ("mallory", "wonderland"),
        ("alice", "wonderland!"),
        ("alice", "wonderlan"),
        ("alice", "Wonderland"),
        ("Alice", "wonderland"),
        ("alice", "looking-glass"),  # bob's
        ("alice", ""),
    ],
    ids=["wrong-password", "unknown-user", "suffixed", "truncated", "case-changed",
         "user-case-changed", "other-users-password", "empty-password"],
)
async def test_plain_wrong_credentials_are_refused(
    ctx: zeromq.Context, make: Callable[..., Any], refusals: Refusals, secure: str,
    username: str, password: str,
) -> None:
    async with zeromq.Authenticator(context=ctx) as auth:
        auth.configure_plain(passwords={"alice": "wonderland", "bob": "looking-glass"})
        server = make(zeromq.Pull, plain_server=True)
        observer = observe(server)
        client = plain_client(make, username, password)
        client.connect(await bind(server, secure))
        await refused(server, client, observer, by=refusals)


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_plain_callback_decides(
    ctx: zeromq.Context, make: Callable[..., Any], refusals: Refusals, kind: str
) -> None:
    asked: list[tuple[str, str]] = []

    def check(username: str, password: str) -> bool:
        asked.append((username, password))
        return (username, password) == ("alice", "wonderland")

    async def check_later(username: str, password: str) -> bool:
        await asyncio.sleep(0)
        return check(username, password)

    async with zeromq.Authenticator(context=ctx) as auth:
        auth.configure_plain(callback=check if kind == "sync" else check_later)
        server = make(zeromq.Pull, plain_server=True)
        endpoint = await bind(server, "tcp")
        good = plain_client(make, "alice", "wonderland")
        good.connect(endpoint)
        await delivered(server, good)
        good.close()
        observer = observe(server)
        bad = plain_client(make, "alice", "guess")
        bad.connect(endpoint)
        try:
            await refused(server, bad, observer, by=refusals)
        finally:
            assert asked[0] == ("alice", "wonderland")
            assert ("alice", "guess") in asked


async def test_plain_server_without_authenticator_refuses_every_client(
    make: Callable[..., Any], secure: str
) -> None:
    server = make(zeromq.Pull, plain_server=True)
    observer = observe(server)
    client = plain_client(make, "alice", "wonderland")
    client.connect(await bind(server, secure))
    await refused(server, client, observer, by=None, event="handshake:error:other", status=None)


# -- CURVE ------------------------------------------------------------------------


async def test_curve_listed_key_passes(
    ctx: zeromq.Context, make: Callable[..., Any], keys: Keys, secure: str
) -> None:
    async with zeromq.Authenticator(context=ctx) as auth:
        auth.configure_curve(keys={keys.client.public_key})
        server = curve_server(make, keys)
        client = curve_client(make, keys.server.public_key, keys.client)
        client.connect(await bind(server, secure))
        await delivered(server, client)
        assert server.security_mechanism == client.security_mechanism == "curve"


async def test_curve_unlisted_key_is_refused(
    ctx: zeromq.Context, make: Callable[..., Any], refusals: Refusals, keys: Keys, secure: str
) -> None:
    async with zeromq.Authenticator(context=ctx) as auth:
        auth.configure_curve(keys={keys.client.public_key})
        server = curve_server(make, keys)
        observer = observe(server)
        stranger = curve_client(make, keys.server.public_key, zeromq.curve_keypair())
        stranger.connect(await bind(server, secure))
        await refused(server, stranger, observer, by=refusals)


@pytest.mark.parametrize("mechanism", ["null", "plain"])
async def test_curve_server_refuses_clients_of_another_mechanism(
    ctx: zeromq.Context, make: Callable[..., Any], keys: Keys, secure: str, mechanism: str
) -> None:
    async with zeromq.Authenticator(context=ctx) as auth:
        auth.configure_curve(allow_any=True)  # even so: not a CURVE client
        auth.configure_plain(passwords={"alice": "wonderland"})
        server = curve_server(make, keys)
        observer = observe(server)
        client = (
            make(zeromq.Push) if mechanism == "null" else plain_client(make, "alice", "wonderland")
        )
        client.connect(await bind(server, secure))
        await refused(
            server, client, observer, by=None, event="handshake:error:protocol", status=None,
            code="ERR_ZMTP_MECHANISM_MISMATCH",
        )


async def test_curve_refusal_is_reported_to_the_client_too(
    ctx: zeromq.Context, make: Callable[..., Any], refusals: Refusals, keys: Keys
) -> None:
    async with zeromq.Authenticator(context=ctx) as auth:
        auth.configure_curve(keys=set())
        server = curve_server(make, keys)
        stranger = curve_client(make, keys.server.public_key, keys.client)
        observer = observe(stranger)
        stranger.connect(await bind(server, "tcp"))
        await refused(server, stranger, observer, by=refusals)


async def test_curve_wrong_server_key_is_refused(
    ctx: zeromq.Context, make: Callable[..., Any], keys: Keys, secure: str
) -> None:
    async with zeromq.Authenticator(context=ctx) as auth:
        auth.configure_curve(allow_any=True)
        server = curve_server(make, keys)
        observer = observe(server)
        impostor_key = zeromq.curve_keypair().public_key  # not the server's
        client = curve_client(make, impostor_key, keys.client)
        client.connect(await bind(server, secure))
        # The server cannot open the client's hello: a protocol error, before any ZAP request.
        await refused(
            server, client, observer, by=None, event="handshake:error:protocol", status=None,
            code="ERR_ZMTP_CRYPTOGRAPHIC",
        )


async def test_curve_keys_from_a_certificate_directory(
    ctx: zeromq.Context, make: Callable[..., Any], refusals: Refusals, tmp_path: Path
) -> None:
    trusted = tmp_path / "trusted"
    private = tmp_path / "private"
    trusted.mkdir()
    private.mkdir()
    server_public, server_secret = zeromq.write_certificates(private, "server")
    _, client_secret = zeromq.write_certificates(private, "client")
    _, stranger_secret = zeromq.write_certificates(private, "stranger")
    # The server trusts the client: the client's public certificate goes in its directory.
    client_cert = zeromq.load_certificate(client_secret)
    zeromq.write_certificate(trusted / "client.key", client_cert.public_key)

    server_keys = zeromq.load_certificate(server_secret).keypair
    server_key = zeromq.load_certificate(server_public).public_key
    async with zeromq.Authenticator(context=ctx) as auth:
        auth.configure_curve(directory=trusted)
        server = make(zeromq.Pull, curve_server=True, curve_secret_key=server_keys.secret_key)
        endpoint = await bind(server, "tcp")
        client = curve_client(make, server_key, client_cert.keypair)
        client.connect(endpoint)
        await delivered(server, client)
        client.close()
        observer = observe(server)
        stranger = curve_client(make, server_key, zeromq.load_certificate(stranger_secret).keypair)
        stranger.connect(endpoint)
        await refused(server, stranger, observer, by=refusals)


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_curve_callback_decides(
    ctx: zeromq.Context, make: Callable[..., Any], refusals: Refusals, keys: Keys, kind: str
) -> None:
    def check(public_key: str) -> bool:
        return public_key == keys.client.public_key

    async def check_later(public_key: str) -> bool:
        await asyncio.sleep(0)
        return check(public_key)

    async with zeromq.Authenticator(context=ctx) as auth:
        auth.configure_curve(callback=check if kind == "sync" else check_later)
        server = curve_server(make, keys)
        endpoint = await bind(server, "tcp")
        client = curve_client(make, keys.server.public_key, keys.client)
        client.connect(endpoint)
        await delivered(server, client)
        client.close()
        observer = observe(server)
        stranger = curve_client(make, keys.server.public_key, zeromq.curve_keypair())
        stranger.connect(endpoint)
        await refused(server, stranger, observer, by=refusals)


async def test_curve_allow_any_lets_any_key_in(
    ctx: zeromq.Context, make: Callable[..., Any], keys: Keys, secure: str
) -> None:
    async with zeromq.Authenticator(context=ctx) as auth:
        auth.configure_curve(allow_any=True)
        server = curve_server(make, keys)
        client = curve_client(make, keys.server.public_key, zeromq.curve_keypair())
        client.connect(await bind(server, secure))
        await delivered(server, client)


async def test_curve_not_configured_refuses_every_client(
    ctx: zeromq.Context, make: Callable[..., Any], refusals: Refusals, keys: Keys
) -> None:
    async with zeromq.Authenticator(context=ctx) as auth:
        auth.configure_plain(passwords={"alice": "wonderland"})  # CURVE: nothing said
        server = curve_server(make, keys)
        observer = observe(server)
        client = curve_client(make, keys.server.public_key, keys.client)
        client.connect(await bind(server, "tcp"))
        await refused(server, client, observer, by=refusals)


async def test_curve_server_without_authenticator_accepts_any_client(
    make: Callable[..., Any], keys: Keys, secure: str
) -> None:
    # The pitfall the Authenticator exists for: encrypted, but anyone gets in.
    server = curve_server(make, keys)
    stranger = curve_client(make, keys.server.public_key, zeromq.curve_keypair())
    stranger.connect(await bind(server, secure))
    await delivered(server, stranger)


async def test_zap_enforce_domain_refuses_clients_when_no_authenticator_runs(
    make: Callable[..., Any], keys: Keys, secure: str
) -> None:
    server = curve_server(make, keys, zap_domain="global", zap_enforce_domain=True)
    observer = observe(server)
    client = curve_client(make, keys.server.public_key, keys.client)
    client.connect(await bind(server, secure))
    await refused(server, client, observer, by=None, event="handshake:error:other", status=None)


async def test_zap_enforce_domain_lets_authenticated_clients_in(
    ctx: zeromq.Context, make: Callable[..., Any], keys: Keys
) -> None:
    async with zeromq.Authenticator(context=ctx) as auth:
        auth.configure_curve(keys=[keys.client.public_key], domain="global")
        server = curve_server(make, keys, zap_domain="global", zap_enforce_domain=True)
        client = curve_client(make, keys.server.public_key, keys.client)
        client.connect(await bind(server, "tcp"))
        await delivered(server, client)


async def test_inproc_has_no_security_handshake(
    ctx: zeromq.Context, make: Callable[..., Any], keys: Keys
) -> None:
    # libzmq does not secure inproc: nothing is checked, any peer gets in.
    async with zeromq.Authenticator(context=ctx) as auth:
        auth.configure_curve(keys=set())
        server = curve_server(make, keys)
        client = make(zeromq.Push)
        client.connect(await bind(server, "inproc"))
        await delivered(server, client)


# -- addresses --------------------------------------------------------------------


@pytest.mark.parametrize(
    "rule",
    [("deny", "127.0.0.1"), ("deny", "127.0.0.0/8"), ("allow", "10.0.0.0/8")],
    ids=["denied-address", "denied-network", "outside-allow-list"],
)
async def test_denied_address_is_refused(
    ctx: zeromq.Context, make: Callable[..., Any], refusals: Refusals, keys: Keys,
    rule: tuple[str, str],
) -> None:
    how, where = rule
    async with zeromq.Authenticator(context=ctx) as auth:
        auth.configure_curve(allow_any=True)
        getattr(auth, how)(where)
        server = curve_server(make, keys)
        observer = observe(server)
        client = curve_client(make, keys.server.public_key, keys.client)
        client.connect(await bind(server, "tcp"))
        await refused(server, client, observer, by=refusals)


@pytest.mark.parametrize("where", ["::ffff:127.0.0.1", "::ffff:127.0.0.0/104"])
async def test_an_ipv4_client_of_an_ipv6_socket_is_denied_as_the_log_names_it(
    ctx: zeromq.Context, make: Callable[..., Any], refusals: Refusals, keys: Keys, where: str
) -> None:
    """With ipv6=True libzmq names an IPv4 client '::ffff:127.0.0.1', and so
    do the refusals logged: denying that address (or its network) refuses it."""
    async with zeromq.Authenticator(context=ctx) as auth:
        auth.configure_curve(allow_any=True)
        auth.deny(where)
        server = curve_server(make, keys, ipv6=True)
        observer = observe(server)
        client = curve_client(make, keys.server.public_key, keys.client)
        port = (await server.bind("tcp://[::ffff:127.0.0.1]:*")).rsplit(":", 1)[1]
        client.connect(f"tcp://127.0.0.1:{port}")
        await refused(server, client, observer, by=refusals)


async def test_an_ipv4_client_of_an_ipv6_socket_is_allowed_as_the_log_names_it(
    ctx: zeromq.Context, make: Callable[..., Any], keys: Keys
) -> None:
    async with zeromq.Authenticator(context=ctx) as auth:
        auth.configure_curve(allow_any=True)
        auth.allow("::ffff:127.0.0.1")
        server = curve_server(make, keys, ipv6=True)
        client = curve_client(make, keys.server.public_key, keys.client)
        port = (await server.bind("tcp://[::ffff:127.0.0.1]:*")).rsplit(":", 1)[1]
        client.connect(f"tcp://127.0.0.1:{port}")
        await delivered(server, client)


async def test_allowed_address_passes(
    ctx: zeromq.Context, make: Callable[..., Any], keys: Keys
) -> None:
    async with zeromq.Authenticator(context=ctx) as auth:
        auth.configure_curve(allow_any=True)
        auth.allow("10.0.0.0/8", "127.0.0.1")
        auth.deny("192.168.0.0/16")
        server = curve_server(make, keys)
        client = curve_client(make, keys.server.public_key, keys.client)
        client.connect(await bind(server, "tcp"))
        await delivered(server, client)


async def test_ipc_peers_are_outside_every_allow_list(
    ctx: zeromq.Context, make: Callable[..., Any], refusals: Refusals, keys: Keys
) -> None:
    async with zeromq.Authenticator(context=ctx) as auth:
        auth.configure_curve(allow_any=True)
        auth.allow("127.0.0.1")
        server = curve_server(make, keys)
        observer = observe(server)
        client = curve_client(make, keys.server.public_key, keys.client)
        client.connect(await bind(server, "ipc"))
        await refused(server, client, observer, by=refusals)


async def test_null_socket_with_zap_domain_is_checked_by_address(
    ctx: zeromq.Context, make: Callable[..., Any], refusals: Refusals
) -> None:
    async with zeromq.Authenticator(context=ctx) as auth:
        auth.deny("127.0.0.1", domain="internal")
        server = make(zeromq.Pull, zap_domain="internal")
        observer = observe(server)
        client = make(zeromq.Push)
        client.connect(await bind(server, "tcp"))
        await refused(server, client, observer, by=refusals)


# -- failing closed ---------------------------------------------------------------


@pytest.mark.parametrize("mechanism", ["plain", "curve"])
async def test_callback_that_raises_refuses_with_status_500(
    ctx: zeromq.Context, make: Callable[..., Any], refusals: Refusals, keys: Keys,
    mechanism: str,
) -> None:
    reported: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda loop, info: reported.append(info))

    async def broken(*credentials: str) -> bool:
        raise LookupError("the user database is down")

    async with zeromq.Authenticator(context=ctx) as auth:
        if mechanism == "plain":
            auth.configure_plain(callback=broken)
            server = make(zeromq.Pull, plain_server=True)
            client = plain_client(make, "alice", "wonderland")
        else:
            auth.configure_curve(callback=broken)
            server = curve_server(make, keys)
            client = curve_client(make, keys.server.public_key, keys.client)
        observer = observe(server)
        client.connect(await bind(server, "tcp"))
        try:
            await refused(server, client, observer, by=refusals, status=500)
        finally:
            assert reported, "the exception was not reported to the loop"
            assert isinstance(reported[0]["exception"], LookupError)
            assert "refused" in reported[0]["message"]


async def test_callback_returning_other_than_true_refuses(
    ctx: zeromq.Context, make: Callable[..., Any], refusals: Refusals, keys: Keys
) -> None:
    async with zeromq.Authenticator(context=ctx) as auth:
        auth.configure_curve(callback=lambda key: "yes")  # type: ignore[arg-type,return-value]
        server = curve_server(make, keys)
        observer = observe(server)
        client = curve_client(make, keys.server.public_key, keys.client)
        client.connect(await bind(server, "tcp"))
        await refused(server, client, observer, by=refusals)


# -- domains ----------------------------------------------------------------------


async def test_domain_settings_replace_the_default_ones(
    ctx: zeromq.Context, make: Callable[..., Any], refusals: Refusals
) -> None:
    async with zeromq.Authenticator(context=ctx) as auth:
        auth.configure_plain(passwords={"guest": "guest"})
        auth.configure_plain(passwords={"root": "secret"}, domain="admin")
        admin = make(zeromq.Pull, plain_server=True, zap_domain="admin")
        public = make(zeromq.Pull, plain_server=True)
        admin_endpoint = await bind(admin, "tcp")

        root = plain_client(make, "root", "secret")
        root.connect(admin_endpoint)
        await delivered(admin, root)

        guest = plain_client(make, "guest", "guest")
        guest.connect(await bind(public, "tcp"))
        await delivered(public, guest)

        observer = observe(admin)
        intruder = plain_client(make, "guest", "guest")
        intruder.connect(admin_endpoint)
        await refused(admin, intruder, observer, by=refusals)


@pytest.mark.filterwarnings("ignore::zeromq.AuthenticatorWarning")  # no server here
async def test_zap_protocol_replies_as_rfc_27_says(
    ctx: zeromq.Context, make: Callable[..., Any]
) -> None:
    async with zeromq.Authenticator(context=ctx) as auth:
        auth.configure_plain(passwords={"alice": "wonderland"})
        server: zeromq.Dealer = make(zeromq.Dealer)  # asks the handler as libzmq does
        server.connect("inproc://zeromq.zap.01")

        async def ask(*frames: str) -> list[bytes]:
            await server.send(["", *frames])
            async with asyncio.timeout(WAIT):
                return await server.receive()

        request = ["", "127.0.0.1", "", "PLAIN", "alice"]
        assert await ask("1.0", "7", *request, "wonderland") == [
            b"", b"1.0", b"7", b"200", b"OK", b"alice", b"",
        ]
        [_, _, request_id, status, _, user_id, _] = await ask("1.0", "8", *request, "guess")
        assert (request_id, status, user_id) == (b"8", b"400", b"")
        assert (await ask("2.0", "9", *request, "wonderland"))[2:4] == [b"9", b"500"]
        assert (await ask("1.0", "10", "", "127.0.0.1", "", "GSSAPI", "token"))[3] == b"400"


# -- lifecycle --------------------------------------------------------------------


def test_authenticator_serves_the_default_context_unless_told() -> None:
    assert zeromq.Authenticator().context is zeromq.context
    ctx = zeromq.Context()
    assert zeromq.Authenticator(context=ctx).context is ctx
    with pytest.raises(TypeError, match="Context"):
        zeromq.Authenticator(context=zmq.Context.instance())  # type: ignore[arg-type]


async def test_start_and_stop_explicitly(ctx: zeromq.Context) -> None:
    auth = zeromq.Authenticator(context=ctx)
    assert not auth.running
    await auth.start()
    try:
        assert auth.running
        with pytest.raises(RuntimeError, match="already running"):
            await auth.start()
    finally:
        await auth.stop()
    assert not auth.running
    await auth.stop()  # again: nothing happens
    await auth.start()  # the endpoint is free again
    await auth.stop()


async def test_stop_abandons_the_checks_in_progress(
    ctx: zeromq.Context, make: Callable[..., Any], keys: Keys
) -> None:
    asked = asyncio.Event()
    outcome: list[str] = []

    async def never_answers(public_key: str) -> bool:
        asked.set()
        try:
            await asyncio.Future()  # a lookup that hangs
        except asyncio.CancelledError:
            outcome.append("cancelled")
            raise
        return True

    auth = zeromq.Authenticator(context=ctx)
    await auth.start()
    auth.configure_curve(callback=never_answers)
    server = curve_server(make, keys)
    client = curve_client(make, keys.server.public_key, keys.client)
    client.connect(await bind(server, "tcp"))
    async with asyncio.timeout(WAIT):
        await asked.wait()
        await auth.stop()
    assert outcome == ["cancelled"]


# No server uses these authenticators: the warning that says so is tested below.
@pytest.mark.filterwarnings("ignore::zeromq.AuthenticatorWarning")
async def test_second_authenticator_on_a_context_is_eaddrinuse(ctx: zeromq.Context) -> None:
    async with zeromq.Authenticator(context=ctx):
        with pytest.raises(zeromq.ZMQError, match="already has a ZAP handler") as info:
            await zeromq.Authenticator(context=ctx).start()
        assert info.value.code == "EADDRINUSE"
    async with zeromq.Authenticator(context=zeromq.Context()):
        pass  # another context has its own


async def test_warns_when_no_socket_of_its_context_uses_it(
    ctx: zeromq.Context, keys: Keys
) -> None:
    # The pyzmq pitfall: the authenticator on one context, the server on another.
    server = zeromq.Pull(linger=0, curve_server=True, curve_secret_key=keys.server.secret_key)
    try:
        with pytest.warns(zeromq.AuthenticatorWarning, match="other context"):
            async with zeromq.Authenticator(context=ctx):
                await asyncio.sleep(0)  # the check runs when the starting task waits
    finally:
        server.close()


async def test_no_warning_for_servers_made_right_after_start(
    ctx: zeromq.Context, make: Callable[..., Any], keys: Keys
) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        async with zeromq.Authenticator(context=ctx) as auth:
            auth.configure_curve(allow_any=True)
            curve_server(make, keys)
            await asyncio.sleep(0)
    assert not [w for w in caught if issubclass(w.category, zeromq.AuthenticatorWarning)]


# -- configuration errors ------------------------------------------------------------


def test_configure_curve_takes_exactly_one_source(keys: Keys, tmp_path: Path) -> None:
    auth = zeromq.Authenticator(context=zeromq.Context())
    with pytest.raises(TypeError, match="exactly one"):
        auth.configure_curve()
    with pytest.raises(TypeError, match="exactly one"):
        auth.configure_curve(keys={keys.client.public_key}, allow_any=True)
    with pytest.raises(TypeError, match="not one key"):
        auth.configure_curve(keys=keys.client.public_key)
    with pytest.raises(ValueError, match="key"):
        auth.configure_curve(keys={"not a key"})
    with pytest.raises(FileNotFoundError):
        auth.configure_curve(directory=tmp_path / "missing")


def test_configure_plain_and_addresses_check_their_arguments() -> None:
    auth = zeromq.Authenticator(context=zeromq.Context())
    with pytest.raises(TypeError, match="exactly one"):
        auth.configure_plain()
    with pytest.raises(TypeError, match="str"):
        auth.configure_plain(passwords={"alice": 42})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="not an IP address"):
        auth.allow("localhost")
    with pytest.raises(ValueError, match="at least one"):
        auth.deny()
    with pytest.raises(TypeError, match="domain"):
        auth.allow("127.0.0.1", domain=5)  # type: ignore[arg-type]
