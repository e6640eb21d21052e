"""Direct calls into the libzmq that pyzmq loaded, for what pyzmq cannot say.

pyzmq always passes a buffer to `zmq_setsockopt`, but libzmq clears a string
option (`zap_domain = None`) only when given a NULL pointer and length 0.
"""

from __future__ import annotations

import ctypes
import functools
import glob
import os

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
