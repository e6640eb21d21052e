"""Every entry point that takes a CURVE key checks it the same way, fuzzed:
a valid key (40 Z85 characters as str or ASCII bytes, or 32 raw bytes) is
taken and reads back as its Z85 text; anything else is a ValueError (a
TypeError for another type) naming what was given, never a `struct.error`,
`KeyError` or other surprise. pyzmq's Z85 decoder is the reference."""

from __future__ import annotations

import struct
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
import zmq
import zmq.auth
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from zmq.utils import z85

import zeromq

Z85 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"

keys = st.one_of(
    st.text(alphabet=Z85, min_size=40, max_size=40),  # valid, or a group past 32 bits
    st.text(alphabet=Z85 + "\"' ~`,;|\\_\x7f", min_size=40, max_size=40),
    st.text(min_size=38, max_size=42),  # any characters, near the right length
    st.text(alphabet=Z85, max_size=60),  # wrong lengths
    st.binary(min_size=30, max_size=42),  # raw bytes, near both right lengths
    st.binary(max_size=64),
    st.text(alphabet=Z85, min_size=40, max_size=40).map(str.encode),  # Z85 as bytes
)


def reference(key: str | bytes) -> str | None:
    """The key's Z85 text by pyzmq's decoder, or None if it is not a key."""
    if isinstance(key, bytes) and len(key) == 32:
        return z85.encode(key).decode()
    if len(key) != 40:
        return None
    try:
        raw = z85.decode(key)
    except (ValueError, KeyError, struct.error, UnicodeError):
        return None
    return z85.encode(raw).decode() if len(raw) == 32 else None


def by_option(name: str) -> Callable[[str | bytes], str]:
    def take(key: str | bytes) -> str:
        sock = zeromq.Pair(linger=0)
        try:
            setattr(sock, name, key)
            value = getattr(sock, name)
            assert isinstance(value, str)
            return value
        finally:
            sock.close()

    take.__name__ = name
    return take


def by_keyword(key: str | bytes) -> str:
    sock = zeromq.Pair(linger=0, curve_server_key=key)
    try:
        value = sock.curve_server_key
        assert value is not None
        return value
    finally:
        sock.close()


def by_curve_public(key: str | bytes) -> str:
    public = zeromq.curve_public(key)
    # The public key of what was taken as the secret key.
    return public if reference(key) is None else _secret_of(public, key)


def _secret_of(public: str, key: str | bytes) -> str:
    expected = reference(key)
    assert expected is not None
    assert public == zmq.curve_public(expected.encode()).decode()
    return expected


def by_authenticator(key: str | bytes) -> str:
    auth = zeromq.Authenticator(context=zeromq.Context())
    auth.configure_curve(keys={key})
    check = auth._curve[None]
    assert check.keys is not None
    [taken] = check.keys
    return taken


def by_write_certificate(key: str | bytes) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        path = zeromq.write_certificate(Path(tmp) / "peer.key", key)
        ours = zeromq.load_certificate(path).public_key
        assert zmq.auth.load_certificate(path) == (ours.encode(), None)  # pyzmq agrees
        return ours


def by_load_certificate(key: str | bytes) -> str:
    assert isinstance(key, str)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "peer.key"
        quote = "'" if '"' in key else '"'  # Z85 has '#', which ends an unquoted value
        text = f"curve\n    public-key = {quote}{key}{quote}\n"
        path.write_text(text, encoding="utf-8", errors="surrogateescape")
        return zeromq.load_certificate(path).public_key


ENTRY_POINTS = [
    by_option("curve_secret_key"),
    by_option("curve_public_key"),
    by_option("curve_server_key"),
    by_keyword,
    by_curve_public,
    by_authenticator,
    by_write_certificate,
    by_load_certificate,
]


@pytest.mark.parametrize("take", ENTRY_POINTS, ids=lambda take: take.__name__)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(key=keys)
@example(key="#" * 40)  # decodes past 32 bits per group: pyzmq raises struct.error
@example(key="%" * 40)
@example(key=b"#" * 40)
@example(key="0" * 40)
@example(key=zeromq.curve_keypair().secret_key)
def test_every_key_entry_point_takes_keys_and_refuses_the_rest(
    take: Callable[[str | bytes], str], key: str | bytes
) -> None:
    if take is by_load_certificate:
        # A file holds text: bytes stand for the characters of the same codes.
        key = key.decode("latin-1") if isinstance(key, bytes) else key
        if "\n" in key or "\r" in key:
            return  # a line break in the file makes it another file, not another key
    expected = reference(key)
    if expected is None:
        with pytest.raises(ValueError) as info:
            take(key)
        if take is not by_load_certificate:
            message = str(info.value)
            assert "key" in message, message
    else:
        assert take(key) == expected


@pytest.mark.parametrize("value", [None, 42, 3.0, bytearray(32), ["key"]], ids=repr)
def test_a_key_of_another_type_is_a_type_error(value: object) -> None:
    for call in (
        lambda: zeromq.curve_public(value),  # type: ignore[arg-type]
        lambda: zeromq.write_certificate("unused.key", value),  # type: ignore[arg-type]
        lambda: zeromq.Authenticator(context=zeromq.Context()).configure_curve(keys=[value]),  # type: ignore[list-item]
    ):
        with pytest.raises(TypeError, match="str or bytes"):
            call()
    if value is not None:  # None leaves an option unset
        with pytest.raises(TypeError, match="curve_server_key"):
            zeromq.Pair(linger=0, curve_server_key=value)  # type: ignore[arg-type]
