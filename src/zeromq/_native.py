"""Direct calls into the libzmq that pyzmq loaded, for what pyzmq cannot say.

pyzmq always passes a buffer to `zmq_setsockopt`, but libzmq clears a string
option (`zap_domain = None`) only when given a NULL pointer and length 0.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import glob
import os
from collections.abc import Callable
from typing import Any

import zmq


@functools.cache
def _libzmq() -> ctypes.CDLL | None:
    """pyzmq's own libzmq (the same copy its sockets live in), or None."""
    candidates: list[str] = []
    try:
        with open("/proc/self/maps") as maps:
            candidates += [line.split()[-1] for line in maps if "libzmq" in line.split()[-1]]
    except OSError:
        pass
    site = os.path.dirname(os.path.dirname(zmq.__file__))
    for folder in (os.path.join(site, "pyzmq.libs"), os.path.join(os.path.dirname(zmq.__file__), ".dylibs")):
        candidates += glob.glob(os.path.join(folder, "libzmq*"))
    for path in candidates:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        lib.zmq_setsockopt.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t]
        lib.zmq_setsockopt.restype = ctypes.c_int
        lib.zmq_errno.restype = ctypes.c_int
        return lib
    return None


def new_context() -> zmq.Context[zmq.Socket[bytes]]:
    """A new libzmq context that only we terminate.

    pyzmq's own Context objects terminate themselves when collected. A
    dropped context is terminated by `_lifecycle.retire` on a thread (term
    waits out queued messages); had pyzmq's finalizer run too, as it does
    when both are collected in one reference cycle, libzmq would abort on
    the second term. So the context is made with zmq_ctx_new and wrapped as
    a pyzmq *shadow*, whose finalizer does nothing.
    """
    lib = _libzmq()
    if lib is None:
        return zmq.Context()
    lib.zmq_ctx_new.restype = ctypes.c_void_p
    handle = lib.zmq_ctx_new()
    if not handle:
        raise zmq.ZMQError(lib.zmq_errno())
    return zmq.Context.shadow(handle)


# The largest string option `read_long_string` reads (bytes).
_LONGEST_STRING = 2**26


def read_long_string(native: zmq.Socket[bytes], option: int) -> bytes | None:
    """A string option longer than pyzmq's 256-byte buffer, or None if it
    cannot be read either way."""
    lib = _libzmq()
    if lib is None:
        return None
    lib.zmq_getsockopt.argtypes = [
        ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(ctypes.c_size_t)
    ]
    lib.zmq_getsockopt.restype = ctypes.c_int
    # libzmq refuses a buffer too small (EINVAL) without saying how large
    # the value is: grow until it fits. An inproc name has no length limit,
    # and a bind() to a long one reads it back here.
    capacity = 4096
    while capacity <= _LONGEST_STRING:
        size = ctypes.c_size_t(capacity)
        buffer = ctypes.create_string_buffer(capacity)
        if lib.zmq_getsockopt(native.underlying, option, buffer, ctypes.byref(size)) == 0:
            return buffer.raw[: size.value].rstrip(b"\0")
        if lib.zmq_errno() != errno.EINVAL:
            return None
        capacity *= 4
    return None


def clear_option(native: zmq.Socket[bytes], option: int) -> None:
    """Set a string option to NULL (its unset state).

    Raises:
        zmq.ZMQError: libzmq refused, or pyzmq's libzmq could not be found.
    """
    lib = _libzmq()
    if lib is None:
        raise zmq.ZMQError(zmq.ENOTSUP, "cannot find the libzmq pyzmq uses to clear the option")
    if lib.zmq_setsockopt(native.underlying, option, None, 0) != 0:
        raise zmq.ZMQError(lib.zmq_errno())


# -- the engine's hot calls -----------------------------------------------------
#
# Each takes a "target": with the C accelerator the socket's raw libzmq handle
# (0 once the engine has closed it, which raises ENOTSOCK rather than touching
# freed memory), without it the pyzmq socket itself.

_NOBLOCK = int(zmq.NOBLOCK)
_SNDMORE = int(zmq.SNDMORE)
_RCVMORE = int(zmq.RCVMORE)
_EVENTS = int(zmq.EVENTS)
# In the order _speedups.init() takes them.
_FUNCTIONS = (
    "zmq_msg_init", "zmq_msg_recv", "zmq_msg_close", "zmq_msg_data", "zmq_msg_size",
    "zmq_msg_more", "zmq_send", "zmq_getsockopt", "zmq_errno", "zmq_msg_init_data",
    "zmq_msg_send",
)


def _py_recv(sock: zmq.Socket[bytes]) -> list[bytes] | None:
    try:
        part = sock.recv(_NOBLOCK)
    except zmq.Again:
        return None
    parts = [part]
    # libzmq delivers a multipart message whole: the rest is already there.
    while sock.get(_RCVMORE):
        parts.append(sock.recv(_NOBLOCK))
    return parts


def _py_recv_parts(sock: zmq.Socket[bytes]) -> list[memoryview] | None:
    try:
        frame = sock.recv(_NOBLOCK, copy=False)
    except zmq.Again:
        return None
    views = [frame.buffer.toreadonly()]
    while frame.more:
        frame = sock.recv(_NOBLOCK, copy=False)
        views.append(frame.buffer.toreadonly())
    return views


def _py_send(sock: zmq.Socket[bytes], data: object) -> bool:
    # bytes cannot change: pyzmq may send them without a copy (it still
    # copies those under its 64 KiB threshold); other buffers are copied.
    parts: list[Any] = data if type(data) is list else [data]
    last = len(parts) - 1
    try:
        first = parts[0]
        sock.send(first, _NOBLOCK | (_SNDMORE if last else 0), copy=type(first) is not bytes)
    except zmq.Again:
        return False
    # libzmq counts whole messages against the high water mark: once the
    # first part is queued, the rest cannot fail with EAGAIN.
    for i in range(1, last + 1):
        part = parts[i]
        sock.send(part, _NOBLOCK | (_SNDMORE if i < last else 0), copy=type(part) is not bytes)
    return True


def _py_bytes_parts(message: object) -> list[bytes] | None:
    if (type(message) is list or type(message) is tuple) and message:
        parts: list[Any] = list(message)
        if all(type(part) is bytes for part in parts):
            return parts
    return None


def _py_send_plain(sock: zmq.Socket[bytes], message: object) -> bool | None:
    if type(message) is bytes:
        return _py_send(sock, message)
    parts = _py_bytes_parts(message)
    return None if parts is None else _py_send(sock, parts)


def _py_events(sock: zmq.Socket[bytes]) -> int:
    return int(sock.get(_EVENTS))


def pure_python_forced() -> bool:
    """Whether ``ZEROMQ_PURE_PYTHON`` asks for the pure-Python calls: any value
    but empty or ``0`` does. Read at import; it does not change the build."""
    return os.environ.get("ZEROMQ_PURE_PYTHON", "").strip() not in ("", "0")


def _load_speedups() -> Any:
    if pure_python_forced():
        return None
    try:
        from . import _speedups  # type: ignore[attr-defined]
    except ImportError:
        return None
    lib = _libzmq()
    if lib is None:
        return None
    # A build older than this module (a stale in-place build) lacks a call
    # that it relies on: run in pure Python rather than fail to import.
    if not all(
        hasattr(_speedups, name) for name in ("recv", "recv_parts", "send", "send_plain", "events", "bytes_parts")
    ):
        return None
    try:
        addresses = tuple(ctypes.cast(getattr(lib, name), ctypes.c_void_p).value for name in _FUNCTIONS)
        _speedups.init(addresses, zmq.ZMQError)
    except (AttributeError, ValueError, TypeError):
        return None
    return _speedups


_SPEEDUPS = _load_speedups()
ACCELERATED: bool = _SPEEDUPS is not None
"""Whether the C accelerator is in use (else the pure-Python calls)."""

recv_message: Callable[[Any], list[bytes] | None]
recv_parts: Callable[[Any], list[Any] | None]  # parts that export the buffer protocol
send_message: Callable[[Any, object], bool]
send_plain: Callable[[Any, object], bool | None]
"""`send_message` of a message that needs no conversion (bytes, or a
non-empty list or tuple of bytes); None, having sent nothing, for others."""
events: Callable[[Any], int]
bytes_parts: Callable[[object], list[bytes] | None]
"""A new list of a message's parts when it is a non-empty list or tuple of
bytes (nothing to convert), else None."""
if _SPEEDUPS is not None:
    recv_message, recv_parts = _SPEEDUPS.recv, _SPEEDUPS.recv_parts
    send_message, events, bytes_parts = _SPEEDUPS.send, _SPEEDUPS.events, _SPEEDUPS.bytes_parts
    send_plain = _SPEEDUPS.send_plain
else:
    recv_message, recv_parts = _py_recv, _py_recv_parts
    send_message, events, bytes_parts = _py_send, _py_events, _py_bytes_parts
    send_plain = _py_send_plain


def target_of(native: zmq.Socket[bytes]) -> Any:
    """What the hot calls take for this socket."""
    return native.underlying if ACCELERATED else native


class _Dead:
    """The pure-Python target of a closed socket: every call fails with ENOTSOCK."""

    def __getattr__(self, name: str) -> Any:
        raise zmq.ZMQError(zmq.ENOTSOCK)


CLOSED_TARGET: Any = 0 if ACCELERATED else _Dead()
"""The target of a closed socket: every hot call on it raises ENOTSOCK."""
