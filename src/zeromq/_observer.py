"""Socket events. Not yet implemented: see the open issue on `Observer`."""

from __future__ import annotations

from typing import Any


class Observer:
    """The events of one socket (not implemented yet)."""

    def __init__(self, socket: Any) -> None:
        raise NotImplementedError("socket events (Observer) are not implemented yet")

    def _socket_closed(self) -> None:
        """Called by the socket when it closes."""


class Event:
    """One socket event (not implemented yet)."""
