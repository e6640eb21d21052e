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


def from_zmq(
    exc: zmq.ZMQError, what: str | None = None, address: str | None = None, hint: str | None = None
) -> ZMQError:
    """Convert a pyzmq error into ours, prefixing the message with `what`
    failed; `hint` says what went wrong in the caller's terms, instead of
    libzmq's bare strerror (the code stays libzmq's)."""
    number = int(exc.errno) if exc.errno is not None else 0
    text = hint or (zmq.strerror(number) if number else str(exc))
    if what:
        text = f"{what}: {text}"
    if address is not None:
        text = f"{text} ({address})"
    return ZMQError(number, text, address=address)


_ADDRESS_FORMS = "tcp://host:port, ipc://path or inproc://name"


def address_hint(what: str, address: str, number: int | None) -> str | None:
    """What is wrong with an address libzmq refused, where its errno alone
    misleads (``EINVAL`` "Invalid argument", ``ENODEV`` "No such device");
    None where libzmq's own message is clear."""
    transport, sep, rest = address.partition("://")
    if number not in (_errno.EINVAL, _errno.ENODEV, _errno.EPROTONOSUPPORT):
        return None
    if not sep:
        return (
            f"invalid address: it names no transport; write tcp://{address} "
            "(or ipc://, inproc://)"
        )
    if transport == "tcp":
        # host:port, where the host may be [an:ipv6:address].
        end = rest.find("]") + 1 if rest.startswith("[") else 0
        host, colon, _port = rest[end:].rpartition(":")
        host = rest[:end] + host
        if not colon:
            return "invalid address: a tcp address needs a port: tcp://host:port (:* for a free one)"
        if number == _errno.ENODEV and what == "bind":
            return (
                f"invalid address: {host!r} is no IP address or network interface of this "
                "machine (bind to one of its own, or * for all)"
            )
    if number == _errno.EPROTONOSUPPORT:
        return f"unknown transport {transport!r} (addresses are {_ADDRESS_FORMS})"
    if number == _errno.EINVAL:
        return f"invalid address (addresses are {_ADDRESS_FORMS})"
    return None


# What the request-reply state machine expects instead, by class and operation.
_STATE_HINTS = {
    ("Request", "send"): "a Request must receive the reply to its last request before "
    "it sends another (relaxed=True lifts this)",
    ("Request", "receive"): "a Request receives only the reply to a request it sent",
    ("Reply", "send"): "a Reply sends only the reply to a request it received",
    ("Reply", "receive"): "a Reply must send the reply to the last request before it "
    "receives another",
}


def state_hint(cls_name: str, operation: str) -> str | None:
    """Why a `send` or `receive` failed with ``EFSM`` on a socket class."""
    return _STATE_HINTS.get((cls_name, operation))


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


def lent_error(what: str) -> ZMQError:
    """The error of an operation (`what`: ``"Cannot send"``...) on a socket
    lent to a running `Proxy`, whose thread has it: ``ENOTSOCK``, as on a
    closed socket, the proxy's thread being the only one to use it."""
    return ZMQError(_errno.ENOTSOCK, f"{what}: the socket is in use by a running Proxy")


def timeout_error(operation: str) -> ZMQError:
    """The error of a `send` or `receive` whose timeout expired."""
    return _TimeoutZMQError(_errno.EAGAIN, f"Socket {operation} timed out")
