"""The security layer fails closed: every ZAP request gets exactly one reply,
even under load, and whatever happens to an `Authenticator` (stopped from
anywhere, collected, its event loop closed, its checks cancelled, an
exception inside it), a server that required authentication keeps refusing
the clients it cannot vouch for.

libzmq lets *every* CURVE client in when its context has no ZAP handler (see
`test_curve_server_without_authenticator_accepts_any_client`): each ending
below is attacked by a client with a stranger's key, and by the once
allowed one, which no running authenticator vouches for any more.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import threading
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from conftest import bind, send_unless_refused

import zeromq
from zeromq import _auth

from .helpers import (
    SECURE,
    WAIT,
    Keys,
    Refusals,
    RefusalsFromAnyThread,
    curve_client,
    curve_server,
    delivered,
    refused,
)

# Authenticators are started before any server here, on purpose.
pytestmark = pytest.mark.filterwarnings("ignore::zeromq.AuthenticatorWarning")

# -- the attack ---------------------------------------------------------------------------


async def attack(ctx: zeromq.Context, keys: Keys, client: zeromq.CurveKeyPair, transport: str) -> None:
    """A CURVE client with `client`'s keys tries a fresh server on `ctx`: it
    must be refused with status 500 (nobody vouches for it) and its message
    must never arrive."""
    made: list[zeromq.Socket] = []

    def make(cls: type[zeromq.Socket], **options: Any) -> Any:
        sock = cls(context=ctx, linger=0, **options)
        made.append(sock)
        return sock

    try:
        server = curve_server(make, keys)
        observer = server.events
        attacker = curve_client(make, keys.server.public_key, client)
        attacker.connect(await bind(server, transport))
        await refused(server, attacker, observer, by=None, status=500)
    finally:
        for sock in made:
            sock.close()


async def serving(ctx: zeromq.Context, keys: Keys, **settings: Any) -> zeromq.Authenticator:
    """A started authenticator on `ctx` that lets `keys.client` in."""
    auth = zeromq.Authenticator(context=ctx)
    auth.configure_curve(keys={keys.client.public_key}, **settings)
    await auth.start()
    return auth


def in_a_loop_of_its_own(work: Callable[[], Awaitable[Any]]) -> Any:
    """Run `work` on an event loop that is closed when it returns (as asyncio.run does)."""
    return asyncio.run(work())  # type: ignore[arg-type]


@pytest.fixture(params=SECURE)
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


# -- every request gets exactly one reply -------------------------------------------------


CLIENTS = 300  # of each mechanism; every other one is allowed


async def test_every_zap_request_is_answered_under_load(
    ctx: zeromq.Context, keys: Keys, refusals: Refusals, transport: str
) -> None:
    # 300 CURVE and 300 PLAIN clients handshake at once, half of them allowed:
    # each allowed one delivers its message within WAIT seconds (a lost ZAP
    # reply would stall it for the 30 s handshake interval), no stranger's
    # message ever arrives, and every stranger is refused.
    pairs = [zeromq.curve_keypair() for _ in range(CLIENTS)]
    clients = zeromq.Context()  # not the server's: the ZAP load is all on ctx
    made: list[zeromq.Socket] = []
    try:
        async with zeromq.Authenticator(context=ctx) as auth:
            auth.configure_curve(keys={pair.public_key for pair in pairs[::2]})
            auth.configure_plain(passwords={f"user{i}": f"password{i}" for i in range(0, CLIENTS, 2)})
            curve_pull = zeromq.Pull(
                context=ctx, linger=0, curve_server=True, curve_secret_key=keys.server.secret_key
            )
            plain_pull = zeromq.Pull(context=ctx, linger=0, plain_server=True)
            made += [curve_pull, plain_pull]
            curve_at, plain_at = await bind(curve_pull, transport), await bind(plain_pull, transport)
            for i, pair in enumerate(pairs):
                push = zeromq.Push(
                    context=clients, linger=0, curve_server_key=keys.server.public_key,
                    curve_public_key=pair.public_key, curve_secret_key=pair.secret_key,
                )
                made.append(push)
                push.connect(curve_at)
                # Queued until the handshake is done (a stranger refused first has
                # no pipe left to queue on; an allowed one always queues).
                await send_unless_refused(push, f"curve {i}")
            for i in range(CLIENTS):
                # Strangers: an unknown user, or a known one with another's password.
                user, password = (f"user{i}", f"password{i}") if i % 2 == 0 else (
                    (f"user{i}", "guess") if i % 4 == 1 else (f"user{i - 1}", f"password{i}")
                )
                push = zeromq.Push(
                    context=clients, linger=0, plain_username=user, plain_password=password
                )
                made.append(push)
                push.connect(plain_at)
                await send_unless_refused(push, f"plain {i}")

            async def collect(pull: zeromq.Pull) -> set[int]:
                arrived: set[int] = set()
                while len(arrived) < CLIENTS // 2:
                    [message] = await pull.receive()
                    index = int(message.split()[1])
                    assert index % 2 == 0, f"stranger {message!r} got in"
                    arrived.add(index)
                return arrived

            try:
                async with asyncio.timeout(WAIT):
                    await asyncio.gather(collect(curve_pull), collect(plain_pull))
            except TimeoutError:
                pytest.fail(f"allowed clients stalled: ZAP replies were lost ({refusals.count} refused)")
            async with asyncio.timeout(WAIT):
                while refusals.count < CLIENTS:  # 150 strangers of each mechanism
                    await refusals.wait()
            for pull in (curve_pull, plain_pull):
                pull.receive_timeout = 100
                with pytest.raises(TimeoutError):
                    await pull.receive()  # a stranger's message, late
    finally:
        for sock in made:
            sock.close()


# -- every ending of an Authenticator leaves the context refusing ---------------------------


async def test_stop_leaves_the_context_refusing(
    ctx: zeromq.Context, keys: Keys, transport: str
) -> None:
    auth = await serving(ctx, keys)
    await auth.stop()
    assert not auth.running
    await attack(ctx, keys, zeromq.curve_keypair(), transport)
    await attack(ctx, keys, keys.client, transport)  # nobody vouches for it now


async def allowed_in_stranger_out(
    make: Callable[..., Any], keys: Keys, refusals: Refusals
) -> None:
    """The allowed client's message reaches a CURVE server; a stranger is refused."""
    server = curve_server(make, keys)
    endpoint = await bind(server, "tcp")
    client = curve_client(make, keys.server.public_key, keys.client)
    client.connect(endpoint)
    await delivered(server, client)
    observer = server.events
    stranger = curve_client(make, keys.server.public_key, zeromq.curve_keypair())
    stranger.connect(endpoint)
    await refused(server, stranger, observer, by=refusals)


async def test_restart_lets_the_allowed_in_again(
    ctx: zeromq.Context, make: Callable[..., Any], keys: Keys, refusals: Refusals
) -> None:
    await (await serving(ctx, keys)).stop()
    async with zeromq.Authenticator(context=ctx) as auth:  # another one takes over
        auth.configure_curve(keys={keys.client.public_key})
        await allowed_in_stranger_out(make, keys, refusals)


def test_loop_closed_without_stop(keys: Keys, transport: str) -> None:
    ctx = zeromq.Context()
    auth = in_a_loop_of_its_own(lambda: serving(ctx, keys))  # never stopped
    assert not auth.running
    in_a_loop_of_its_own(lambda: attack(ctx, keys, zeromq.curve_keypair(), transport))
    in_a_loop_of_its_own(lambda: attack(ctx, keys, keys.client, transport))


def test_collected_after_its_loop_closed(keys: Keys, transport: str) -> None:
    # The ending that used to let ANY key in: loop ended without stop(), then collected.
    ctx = zeromq.Context()
    gone = weakref.ref(in_a_loop_of_its_own(lambda: serving(ctx, keys)))
    # The context keeps the last one started; a later one, started and
    # stopped, takes its place, and nothing refers to the first any more.
    in_a_loop_of_its_own(lambda: _start_and_stop(ctx, keys))
    gc.collect()
    assert gone() is None, "the authenticator was not collected"
    in_a_loop_of_its_own(lambda: attack(ctx, keys, zeromq.curve_keypair(), transport))


async def _start_and_stop(ctx: zeromq.Context, keys: Keys) -> None:
    await (await serving(ctx, keys)).stop()


async def test_dropped_while_running_keeps_serving(
    ctx: zeromq.Context, make: Callable[..., Any], keys: Keys, refusals: Refusals
) -> None:
    # Its context keeps a running authenticator alive: dropping every
    # reference to it neither stops it nor lets anyone in.
    gone = weakref.ref(await serving(ctx, keys))
    gc.collect()
    auth = gone()
    assert auth is not None and auth.running
    await allowed_in_stranger_out(make, keys, refusals)
    await auth.stop()


def test_stop_from_a_later_loop_and_from_sync_code(keys: Keys, transport: str) -> None:
    ctx = zeromq.Context()
    first = in_a_loop_of_its_own(lambda: serving(ctx, keys))
    in_a_loop_of_its_own(first.stop)  # its loop has closed: no RuntimeError
    second = in_a_loop_of_its_own(lambda: serving(ctx, keys))
    second.close()  # no event loop at all
    second.close()  # again: nothing happens
    in_a_loop_of_its_own(lambda: attack(ctx, keys, keys.client, transport))


async def test_close_from_another_thread(ctx: zeromq.Context, keys: Keys, transport: str) -> None:
    auth = await serving(ctx, keys)
    closer = threading.Thread(target=auth.close)
    closer.start()
    await asyncio.to_thread(closer.join)
    assert not auth.running
    await attack(ctx, keys, keys.client, transport)


@pytest.mark.parametrize("how", ["its own check", "another thread"])
async def test_a_yes_decided_before_stop_and_sent_after_it_is_refused(
    ctx: zeromq.Context, keys: Keys, transport: str, how: str
) -> None:
    # The check says yes, but its authenticator stops before the ZAP thread
    # sends that answer: once stopped, it lets nobody in (no race decides).
    auth = zeromq.Authenticator(context=ctx)

    def yes_after_stop(public_key: str) -> bool:
        if how == "its own check":
            auth.close()  # a callback may stop its own authenticator
        else:
            closer = threading.Thread(target=auth.close)
            closer.start()
            closer.join()
        return True

    auth.configure_curve(callback=yes_after_stop)
    await auth.start()
    await attack(ctx, keys, keys.client, transport)


async def test_checks_cancelled_refuse_their_clients(
    ctx: zeromq.Context, keys: Keys, transport: str
) -> None:
    # A check's task cancelled from outside (a task group tearing down, say):
    # that client is refused at once, with 500.
    asked = asyncio.Event()

    async def hangs(public_key: str) -> bool:
        asked.set()
        await asyncio.Future()
        return True

    auth = zeromq.Authenticator(context=ctx)
    auth.configure_curve(callback=hangs)
    await auth.start()
    canceller = asyncio.create_task(_cancel_checks_when(asked))
    try:
        await attack(ctx, keys, keys.client, transport)
        assert canceller.done() and canceller.result() >= 1
        assert auth.running  # one cancelled check does not stop the authenticator
    finally:
        await auth.stop()


async def _cancel_checks_when(asked: asyncio.Event) -> int:
    await asked.wait()
    checks = [t for t in asyncio.all_tasks() if t.get_name() == "zeromq.Authenticator check"]
    for task in checks:
        task.cancel()
    return len(checks)


def close_without_cancelling(work: Callable[[], Awaitable[Any]]) -> None:
    """Run `work` on a loop, then close the loop with whatever tasks it left pending."""
    loop = asyncio.new_event_loop()
    loop.run_until_complete(work())
    loop.close()


@pytest.mark.parametrize(
    "end_loop", [in_a_loop_of_its_own, close_without_cancelling], ids=["asyncio.run", "loop.close"]
)
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # the pending task
def test_loop_closed_while_a_check_is_pending(
    keys: Keys, transport: str, end_loop: Callable[[Callable[[], Awaitable[Any]]], Any]
) -> None:
    # The loop ends while a check waits: asyncio.run cancels that check,
    # loop.close() just drops it. Either way its client is refused with 500.
    ctx = zeromq.Context()

    async def run_until_asked() -> None:
        asked = asyncio.Event()

        async def check(public_key: str) -> bool:
            asked.set()
            await asyncio.Future()  # hangs
            return True

        auth = zeromq.Authenticator(context=ctx)
        auth.configure_curve(callback=check)
        await auth.start()
        server = zeromq.Pull(
            context=ctx, linger=0, curve_server=True, curve_secret_key=keys.server.secret_key
        )
        pending.append(server)
        client = zeromq.Push(
            context=ctx, linger=0, curve_server_key=keys.server.public_key,
            curve_public_key=keys.client.public_key, curve_secret_key=keys.client.secret_key,
        )
        pending.append(client)
        client.connect(await bind(server, transport))
        await client.send("hello")
        async with asyncio.timeout(WAIT):
            await asked.wait()
        # returns with the check pending

    pending: list[zeromq.Socket] = []
    refusals = RefusalsFromAnyThread()
    log = logging.getLogger("zeromq.auth")
    log.addHandler(refusals)
    level = log.level
    log.setLevel(logging.INFO)
    try:
        end_loop(run_until_asked)
        # Refused at once, not left waiting for the handshake interval (30 s).
        assert refusals.seen.wait(WAIT), "the pending check's client was not refused"
        server = pending[0]

        async def never_delivered() -> None:
            server.receive_timeout = 250
            with pytest.raises(TimeoutError):
                await server.receive()

        in_a_loop_of_its_own(never_delivered)
    finally:
        log.setLevel(level)
        log.removeHandler(refusals)
        for sock in pending:
            sock.close()


async def test_an_exception_inside_refuses(
    ctx: zeromq.Context, keys: Keys, transport: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A bug in the authenticator itself (not in a user's callback): refused with 500.
    reported: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda loop, info: reported.append(info))

    async def broken(self: zeromq.Authenticator, request: object) -> list[bytes]:
        raise RuntimeError("a bug")

    monkeypatch.setattr(zeromq.Authenticator, "_answer", broken)
    async with await _started(ctx, keys):
        await attack(ctx, keys, keys.client, transport)
    assert reported and isinstance(reported[0]["exception"], RuntimeError)


async def test_an_exception_in_the_zap_thread_refuses_and_it_goes_on(
    ctx: zeromq.Context, make: Callable[..., Any], keys: Keys, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="zeromq.auth")
    # The request the ZAP thread fails on is refused with 500; the next ones
    # are answered as usual.
    failures = []
    original = _auth._ZapHandler._ask

    def fails_once(self: _auth._ZapHandler, frames: list[bytes]) -> None:
        if not failures:
            failures.append(frames)
            raise RuntimeError("a bug in the ZAP thread")
        original(self, frames)

    monkeypatch.setattr(_auth._ZapHandler, "_ask", fails_once)
    async with await _started(ctx, keys):
        server = curve_server(make, keys)
        endpoint = await bind(server, "tcp")
        observer = server.events
        first = curve_client(make, keys.server.public_key, keys.client)
        first.connect(endpoint)
        await refused(server, first, observer, by=None, status=500)
        first.close()
        assert "ZAP handler failed" in caplog.text
        client = curve_client(make, keys.server.public_key, keys.client)
        client.connect(endpoint)
        await delivered(server, client)


async def _started(ctx: zeromq.Context, keys: Keys) -> zeromq.Authenticator:
    auth = zeromq.Authenticator(context=ctx)
    auth.configure_curve(keys={keys.client.public_key})
    return auth


# -- the rest of the audit ---------------------------------------------------------------------


async def test_a_check_that_never_returns_refuses_when_the_handshake_times_out(
    ctx: zeromq.Context, make: Callable[..., Any], keys: Keys
) -> None:
    async def hangs(public_key: str) -> bool:
        await asyncio.Future()
        return True

    async with zeromq.Authenticator(context=ctx) as auth:
        auth.configure_curve(callback=hangs)
        server = curve_server(make, keys, handshake_interval=200)
        observer = server.events
        client = curve_client(make, keys.server.public_key, keys.client)
        client.connect(await bind(server, "tcp"))
        # libzmq ends the handshake that waits for a ZAP reply (EAGAIN).
        await refused(
            server, client, observer, by=None, event="handshake:error:other", status=None,
            code="EAGAIN",
        )


async def test_settings_for_a_domain_only_leave_other_domains_refusing(
    ctx: zeromq.Context, make: Callable[..., Any], keys: Keys, refusals: Refusals
) -> None:
    async with zeromq.Authenticator(context=ctx) as auth:
        auth.configure_curve(allow_any=True, domain="open")
        server = curve_server(make, keys)  # no zap_domain: the "" domain, not configured
        observer = server.events
        client = curve_client(make, keys.server.public_key, keys.client)
        client.connect(await bind(server, "tcp"))
        await refused(server, client, observer, by=refusals)


def test_the_zap_thread_ends_with_its_context(keys: Keys) -> None:
    ctx = zeromq.Context()
    in_a_loop_of_its_own(functools.partial(_start_and_stop, ctx, keys))
    thread = ctx._zap.handler.thread
    assert thread.is_alive()
    del ctx
    gc.collect()
    thread.join(WAIT)
    assert not thread.is_alive(), "the ZAP thread outlived its context"
