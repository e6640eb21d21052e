"""Fixtures of the security tests (helpers that are not fixtures: `helpers.py`)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from test_cli import start  # noqa: F401 (the fixture that starts `zeromq` processes)

import zeromq

from .helpers import SECURE, Keys, Refusals


@pytest.fixture(params=SECURE)
def secure(request: pytest.FixtureRequest) -> str:
    """Parametrises a test over the transports that have a security handshake."""
    return str(request.param)


@pytest.fixture
def ctx() -> zeromq.Context:
    """A context of the test's own, so that authenticators of tests never meet."""
    return zeromq.Context()


@pytest.fixture
def make(ctx: zeromq.Context) -> Iterator[Callable[..., Any]]:
    """`make(cls, **options)`: a socket on the test's context, closed after the test."""
    made: list[zeromq.Socket] = []

    def factory(cls: type[zeromq.Socket], **options: Any) -> Any:
        sock = cls(context=ctx, linger=0, **options)
        made.append(sock)
        return sock

    yield factory
    for sock in made:
        sock.close()


@pytest.fixture
def refusals() -> Iterator[Refusals]:
    handler = Refusals()
    log = logging.getLogger("zeromq.auth")
    old_level = log.level
    log.setLevel(logging.INFO)
    log.addHandler(handler)
    yield handler
    log.removeHandler(handler)
    log.setLevel(old_level)


@pytest.fixture
def keys() -> Keys:
    return Keys(zeromq.curve_keypair(), zeromq.curve_keypair())
