"""`Context`: libzmq's context with its options from the table (types in `_context.pyi`)."""

from __future__ import annotations

import contextlib
import os
import sys
import weakref
from typing import Any

import zmq

from ._lifecycle import retire, track_context
from ._native import new_context
from ._options import CONTEXT, apply_keywords, attach, keyword_signature, keyword_table, options_for


class Context:
    """A ZeroMQ context: the I/O threads behind its sockets.

    Sockets use the default context `zeromq.context` unless given
    ``context=``. Each option is a keyword (``None`` leaves the default) and a
    property; `max_sockets_limit` is read-only, `thread_priority` and
    `thread_scheduling_policy` are write-only.

    Raises:
        TypeError: an unknown keyword or a value of the wrong type, naming it.
        ValueError, ZMQError: a value out of range, naming the option.
    """

    __slots__ = ("__weakref__", "_native", "_option_cache", "_pid", "_sockets", "_zap")
    _keywords = keyword_table("Context")

    def __init__(self, **options: Any) -> None:
        self._native: zmq.Context[zmq.Socket[bytes]] = new_context()
        self._pid = os.getpid()  # a forked child must not terminate its parent's
        self._option_cache: dict[str, object] = {}
        self._sockets: weakref.WeakSet[Any] = weakref.WeakSet()
        # The ZAP endpoint an Authenticator bound, kept for the context's life (see _auth).
        self._zap: Any = None
        apply_keywords(
            self, "Context", self._keywords, {k: v for k, v in options.items() if v is not None}
        )
        track_context(self)

    def __repr__(self) -> str:
        return f"<zeromq.Context sockets={len(self._sockets)}>"

    def __del__(self) -> None:
        # Not pyzmq's finalizer, which terminates the context right here and
        # so blocks whoever dropped it (often the event loop) while queued
        # messages wait out their linger.
        with contextlib.suppress(Exception):  # a failed __init__, or interpreter teardown
            retire(self)


attach(Context, options_for(next(iter(CONTEXT))))
Context.__signature__ = keyword_signature("Context")  # type: ignore[attr-defined]

_default: Context | None = None


def default_context() -> Context:
    """The context of sockets made without ``context=``."""
    global _default
    if _default is None:
        _default = Context()
    return _default


def _reset_default_after_fork() -> None:
    """In a forked child: a new default context (the parent's has no I/O threads here)."""
    global _default
    _default = None
    package = sys.modules.get("zeromq")
    if package is not None:
        package.context = default_context()  # type: ignore[attr-defined]
