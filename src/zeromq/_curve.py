"""CURVE key pairs."""

from __future__ import annotations

from typing import NamedTuple

import zmq
from zmq.utils import z85


class CurveKeyPair(NamedTuple):
    """A CURVE key pair, each key 40 Z85 characters."""

    public_key: str
    secret_key: str


def curve_keypair() -> CurveKeyPair:
    """Make a new random CURVE key pair.

    Give the secret key to a socket as `curve_secret_key` (servers and
    clients), a client its own public key as `curve_public_key` and the
    server's public key as `curve_server_key`.

    Raises:
        ZMQError: libzmq was built without CURVE (``capability["curve"]`` is False).
    """
    public, secret = zmq.curve_keypair()
    return CurveKeyPair(public.decode("ascii"), secret.decode("ascii"))


def curve_public(secret_key: str | bytes) -> str:
    """The public key (Z85) of a secret key given as 40 Z85 characters or 32 bytes.

    Raises:
        TypeError: `secret_key` is neither str nor bytes.
        ValueError: it is not a valid key.
    """
    if isinstance(secret_key, str):
        # Text is Z85; 32 raw bytes come as bytes.
        if len(secret_key) != 40 or not secret_key.isascii():
            raise ValueError(
                "secret_key must be 40 Z85 characters (a str) or 32 bytes, "
                f"not a str of {len(secret_key)} characters"
                + ("" if secret_key.isascii() else " that are not all ASCII")
            )
        secret_key = secret_key.encode("ascii")
    if not isinstance(secret_key, bytes):
        raise TypeError(f"secret_key must be str or bytes, not {type(secret_key).__name__}")
    if len(secret_key) == 32:
        secret_key = z85.encode(secret_key)
    elif len(secret_key) != 40:
        raise ValueError(
            f"secret_key must be 40 Z85 characters or 32 bytes, not {len(secret_key)}"
        )
    try:
        return zmq.curve_public(secret_key).decode("ascii")
    except (zmq.ZMQError, ValueError) as exc:
        raise ValueError(f"secret_key is not a valid Z85 key: {exc}") from None
