"""The error type of the library and the conversions from pyzmq's errors."""

from __future__ import annotations

import errno as _errno

import zmq

# ZeroMQ's own errnos have no name in the `errno` module.
_ZMQ_CODES = {
    int(zmq.EFSM): "EFSM",
    int(zmq.ENOCOMPATPROTO): "ENOCOMPATPROTO",
    int(zmq.ETERM): "ETERM",
    int(zmq.EMTHREAD): "EMTHREAD",
}


def errno_code(number: int) -> str:
    """Name of an errno, ZeroMQ's own included (`"EFSM"`); `"E<number>"` if it has none."""
    return _ZMQ_CODES.get(number) or _errno.errorcode.get(number) or f"E{number}"


class ZMQError(OSError):
    """An error raised for a ZeroMQ condition.

    Attributes:
        errno: the numeric error code (ZeroMQ's own codes included).
        code: the name of the error code, such as ``"EADDRINUSE"`` or ``"EFSM"``.
        address: the address involved, for errors of ``bind``, ``unbind``,
            ``connect`` and ``disconnect``, and of connection events;
            otherwise ``None``.
        status: for a ``handshake:error:auth`` event, the status code the
            ZAP handler answered (such as 400); otherwise ``None``.

    A timeout of ``send`` or ``receive`` is a ``ZMQError`` with code ``"EAGAIN"``
    that is also an instance of the built-in ``TimeoutError``.
    """

    code: str
    address: str | None
    status: int | None

    def __init__(
        self, errno: int, message: str, *, address: str | None = None, status: int | None = None
    ) -> None:
        super().__init__(errno, message)
        self.code = errno_code(errno)
        self.address = address
        self.status = status

    def __str__(self) -> str:
        return str(self.strerror)

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild, (type(self), self.errno, self.strerror, self.address, self.status))


def _rebuild(
    cls: type[ZMQError], number: int, message: str, address: str | None, status: int | None
) -> ZMQError:
    return cls(number, message, address=address, status=status)


class OptionWarning(RuntimeWarning):
    """An option was set after the socket bound or connected: libzmq applies
    most options only to later binds and connects (the Node.js bindings warn
    alike). Set options in the constructor, or before `bind()`/`connect()`."""


class _TimeoutZMQError(ZMQError, TimeoutError):
    """A `send` or `receive` that timed out (code ``EAGAIN``)."""


def from_zmq(exc: zmq.ZMQError, what: str | None = None, address: str | None = None) -> ZMQError:
    """Convert a pyzmq error into ours, prefixing the message with `what` failed."""
    number = int(exc.errno) if exc.errno is not None else 0
    text = zmq.strerror(number) if number else str(exc)
    if what:
        text = f"{what}: {text}"
    if address is not None:
        text = f"{text} ({address})"
    return ZMQError(number, text, address=address)


def closed_error(orphaned: bool = False) -> ZMQError:
    """The error of any operation on a closed socket; `orphaned`: a parent's
    socket in a forked child."""
    if orphaned:
        return ZMQError(
            _errno.ENOTSOCK,
            "Socket is closed: it belongs to the parent process, and a forked child "
            "cannot use its parent's sockets; create new ones in the child",
        )
    return ZMQError(_errno.ENOTSOCK, "Socket is closed")


def busy_error(operation: str) -> ZMQError:
    """The error of a second concurrent `send` or `receive`."""
    return ZMQError(
        _errno.EBUSY,
        f"Socket is busy: another {operation} is already pending (only one may be at a time)",
    )


def timeout_error(operation: str) -> ZMQError:
    """The error of a `send` or `receive` whose timeout expired."""
    return _TimeoutZMQError(_errno.EAGAIN, f"Socket {operation} timed out")
