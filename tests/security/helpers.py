"""What the security tests share: showing a client let in or refused, keys,
and CURVE/PLAIN sockets.

A refused client is shown to be refused three ways: the authenticator logs
the refusal (which tells the test when to look), the observer of the socket
reports the event, and a message the client sent does not arrive within a
short window.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from conftest import send_unless_refused

import zeromq

SECURE = ("tcp", "ipc")
WAIT = 5.0  # seconds anything that must happen may take
REFUSED_MS = 250  # how long a refused client's message must stay away


class RefusalsFromAnyThread(logging.Handler):
    """Sees a refusal logged by the ZAP thread, from any thread, with no event
    loop to wake (where the authenticator's loop or trio run has ended)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.seen = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if "refused" in record.getMessage():
            self.seen.set()


class Refusals(logging.Handler):
    """Counts the refusals the authenticator logs (on its event loop, or on
    its context's ZAP thread), and lets a test wait for one."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.count = 0
        self._lock = threading.Lock()
        self._changed: tuple[asyncio.AbstractEventLoop, asyncio.Event] | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if "refused" in record.getMessage():
            with self._lock:
                self.count += 1
                changed = self._changed
            if changed is not None:
                loop, event = changed
                if _running_loop() is loop:
                    event.set()
                else:  # the ZAP thread: an asyncio.Event is set on its own loop only
                    with contextlib.suppress(RuntimeError):  # that loop has closed
                        loop.call_soon_threadsafe(event.set)

    async def wait(self) -> None:
        """Wait until one more refusal than when called."""
        event = asyncio.Event()
        with self._lock:
            start = self.count
            self._changed = (asyncio.get_running_loop(), event)
        while self.count == start:
            await event.wait()
            event.clear()


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def observe(sock: zeromq.Socket) -> zeromq.Observer:
    """The socket's observer, taken before connecting so that it sees the handshake."""
    return sock.events


async def next_event(observer: zeromq.Observer, kind: str) -> zeromq.Event:
    while True:
        event = await observer.receive()
        if event.type == kind:
            return event


async def delivered(server: zeromq.Pull, client: zeromq.Push) -> None:
    """A message sent by the client arrives."""
    await client.send("hello")
    async with asyncio.timeout(WAIT):
        assert await server.receive() == [b"hello"]


async def refused(
    server: zeromq.Pull,
    client: zeromq.Push,
    observer: zeromq.Observer,
    *,
    by: Refusals | None,
    event: str = "handshake:error:auth",
    status: int | None = 400,
    code: str | None = None,
) -> None:
    """The observer reports `event` (with `status`, for an auth error, and
    the error `code` if given), and the message the client sent never arrives."""
    await send_unless_refused(client)
    async with asyncio.timeout(WAIT):
        if by is not None:
            await by.wait()
        found = await next_event(observer, event)
    assert isinstance(found.error, zeromq.ZMQError)
    if status is not None:
        assert getattr(found.error, "status", None) == status
    if code is not None:
        assert found.error.code == code
    server.receive_timeout = REFUSED_MS
    with pytest.raises(TimeoutError):
        await server.receive()


@dataclass
class Keys:
    server: zeromq.CurveKeyPair
    client: zeromq.CurveKeyPair


def curve_server(make: Callable[..., Any], keys: Keys, **options: Any) -> zeromq.Pull:
    pull: zeromq.Pull = make(
        zeromq.Pull, curve_server=True, curve_secret_key=keys.server.secret_key, **options
    )
    return pull


def curve_client(
    make: Callable[..., Any], server_key: str, client: zeromq.CurveKeyPair
) -> zeromq.Push:
    push: zeromq.Push = make(
        zeromq.Push,
        curve_server_key=server_key,
        curve_public_key=client.public_key,
        curve_secret_key=client.secret_key,
    )
    return push


def plain_client(make: Callable[..., Any], username: str, password: str) -> zeromq.Push:
    push: zeromq.Push = make(zeromq.Push, plain_username=username, plain_password=password)
    return push
