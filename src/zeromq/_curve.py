"""CURVE key pairs, and the one check every key-taking entry point uses."""

from __future__ import annotations

from typing import NamedTuple

import zmq
from zmq.utils import z85

# ZeroMQ RFC 32: the 85 characters of Z85, each standing for its index.
_Z85_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"
_Z85_VALUE = {char: index for index, char in enumerate(_Z85_ALPHABET)}
_KEY_FORMS = "a key of 40 Z85 characters (a 40-character str) or 32 raw bytes"


class CurveKeyPair(NamedTuple):
    """A CURVE key pair, each key 40 Z85 characters. Its repr hides the secret key."""

    public_key: str
    secret_key: str

    def __repr__(self) -> str:
        return f"CurveKeyPair(public_key={self.public_key!r}, secret_key=<hidden>)"


def key_bytes(key: object, what: str) -> bytes:
    """The 32 raw bytes of a CURVE key given as 40 Z85 characters (`str` or
    ASCII `bytes`) or as 32 raw `bytes`. `what` names it in errors, which
    never show the key itself (it may be a secret one).

    Raises:
        TypeError: `key` is neither str nor bytes.
        ValueError: a wrong length, a character outside Z85, or a group of
            five characters worth more than 32 bits (such as ``'#' * 40``).
    """
    if isinstance(key, bytes):
        if len(key) == 32:
            return key
        if len(key) != 40:
            raise ValueError(f"{what} must be {_KEY_FORMS}, not {len(key)} bytes")
        if not key.isascii():
            raise ValueError(f"{what} is not a Z85 key: it has bytes that are not ASCII")
        key = key.decode("ascii")
    if not isinstance(key, str):
        raise TypeError(f"{what} must be a str or bytes ({_KEY_FORMS}), not {type(key).__name__}")
    if len(key) != 40:
        raise ValueError(f"{what} must be {_KEY_FORMS}, not a str of {len(key)} characters")
    if not key.isascii():
        raise ValueError(f"{what} is not a Z85 key: it has characters that are not ASCII")
    raw = bytearray()
    for start in range(0, 40, 5):
        value = 0
        for offset, char in enumerate(key[start : start + 5], start=start):
            digit = _Z85_VALUE.get(char)
            if digit is None:
                raise ValueError(
                    f"{what} is not a Z85 key: character {offset + 1} is not in the Z85 alphabet"
                )
            value = value * 85 + digit
        if value >= 2**32:
            raise ValueError(
                f"{what} is not a Z85 key: characters {start + 1}-{start + 5} "
                "encode more than 32 bits"
            )
        raw += value.to_bytes(4, "big")
    return bytes(raw)


def key_text(key: object, what: str) -> str:
    """A CURVE key as its 40 Z85 characters, checked as `key_bytes` does."""
    return z85.encode(key_bytes(key, what)).decode("ascii")


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
        ValueError: it is not a valid key (the message never shows it).
    """
    secret = z85.encode(key_bytes(secret_key, "secret_key"))
    try:
        return zmq.curve_public(secret).decode("ascii")
    except zmq.ZMQError as exc:  # libzmq without CURVE
        raise ValueError(f"cannot compute the public key: {exc.strerror}") from None
