"""No secret (a password, a secret key, the content of a secret key file)
appears in an error message, a warning, a log line or a repr, whatever goes
wrong with it. Every secret-bearing option and function is tried with bad
values; the command line's are in `test_cli_security.py`."""

from __future__ import annotations

import asyncio
import logging
import secrets
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import bind

import zeromq
from zeromq import _options

from .helpers import Keys, Refusals, curve_client, curve_server, plain_client, refused


def assert_hidden(text: str, secret: str) -> None:
    """Not the secret, nor any 8 characters of it in a row."""
    for start in range(max(1, len(secret) - 7)):
        assert secret[start : start + 8] not in text, f"a secret shows in: {text!r}"


def bad_key(secret: str) -> Iterator[str]:
    """Broken variants of a secret key that still carry most of it."""
    yield secret[:-1]  # too short
    yield secret + "x"  # too long
    yield secret[:39] + "~"  # a character outside Z85
    yield "#####" + secret[5:]  # a group worth more than 32 bits
    yield secret[:20] + "é" + secret[21:]  # not ASCII


def password() -> str:
    return "pw-" + secrets.token_hex(12)


def raised(call: Callable[[], object]) -> BaseException:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning carrying it counts as a failure too
        try:
            call()
        except Exception as exc:
            return exc
    pytest.fail("no error")


def shown(exc: BaseException) -> str:
    """Everything a traceback would show of an error."""
    return f"{exc!s} {exc!r} {exc.__cause__!r} {exc.__context__!r} {getattr(exc, 'args', '')!r}"


# -- socket options ---------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["keyword", "property"])
def test_bad_curve_secret_key_is_not_shown(how: str) -> None:
    secret = zeromq.curve_keypair().secret_key
    for value in [*bad_key(secret), secret.encode()[:-1], secret.encode() + b"!"]:
        if how == "keyword":
            exc = raised(lambda value=value: zeromq.Pair(linger=0, curve_secret_key=value))
        else:
            sock = zeromq.Pair(linger=0)
            try:
                exc = raised(lambda sock=sock, value=value: setattr(sock, "curve_secret_key", value))
            finally:
                sock.close()
        assert isinstance(exc, ValueError)
        assert "curve_secret_key" in str(exc)
        assert_hidden(shown(exc), secret)


@pytest.mark.parametrize(
    "value",
    [
        "x" * 300,  # longer than libzmq takes
        "pw-\udcff-" + secrets.token_hex(12),  # cannot be UTF-8
    ],
    ids=["too-long", "not-utf8"],
)
def test_bad_plain_password_is_not_shown(value: str) -> None:
    secret = value.replace("\udcff", "")
    secret = secret[:40]
    exc = raised(lambda: zeromq.Pair(linger=0, plain_password=value))
    assert "plain_password" in str(exc)
    assert_hidden(shown(exc), secret)


def test_a_socks_password_libzmq_refuses_is_not_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    # A DRAFT option (allowed here as if libzmq had DRAFT): libzmq refuses a
    # password longer than 255 bytes.
    monkeypatch.setattr(_options, "DRAFT", True)
    secret = password() * 10
    exc = raised(lambda: zeromq.Pair(linger=0, socks_password=secret))
    assert "socks_password" in str(exc)
    assert_hidden(shown(exc), secret)


def test_curve_public_of_a_bad_secret_key_does_not_show_it() -> None:
    secret = zeromq.curve_keypair().secret_key
    for value in bad_key(secret):
        exc = raised(lambda value=value: zeromq.curve_public(value))
        assert isinstance(exc, ValueError)
        assert_hidden(shown(exc), secret)


def test_reprs_hide_secret_keys(tmp_path: Path) -> None:
    pair = zeromq.curve_keypair()
    _, secret_file = zeromq.write_certificates(tmp_path, "me", keypair=pair)
    certificate = zeromq.load_certificate(secret_file)
    for obj in (pair, certificate, (pair, [certificate])):
        assert_hidden(repr(obj), pair.secret_key)
        assert_hidden(str(obj), pair.secret_key)
    assert pair.public_key in repr(pair)  # the public key is there to be seen
    assert certificate.secret_key == pair.secret_key  # and the secret one is still there


# -- certificate files -------------------------------------------------------------------------


def test_writing_a_bad_secret_key_does_not_show_it(tmp_path: Path) -> None:
    pair = zeromq.curve_keypair()
    for value in bad_key(pair.secret_key):
        exc = raised(
            lambda value=value: zeromq.write_certificate(
                tmp_path / "x.key_secret", pair.public_key, secret_key=value
            )
        )
        assert isinstance(exc, ValueError)
        assert_hidden(shown(exc), pair.secret_key)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    "line",
    [
        '    secret-key = "{secret}"',  # does not match the public key
        '    secret-key = "{secret}x"',
        '    secret-key = "{broken}"',
        '    secret-key "{secret}"',
        '    "{secret}"',
        '  secret-key = "{secret}"',
        '\tsecret-key = "{secret}"',
        '    secret-key = "{secret}"\n    secret-key = "{secret}"',
    ],
    ids=["mismatch", "long", "not-z85", "no-equals", "no-name", "indent", "tab", "twice"],
)
def test_reading_a_bad_secret_certificate_does_not_show_its_content(
    tmp_path: Path, line: str
) -> None:
    secret = zeromq.curve_keypair().secret_key
    public = zeromq.curve_keypair().public_key
    path = tmp_path / "bad.key_secret"
    body = line.format(secret=secret, broken="#####" + secret[5:])
    path.write_text(f'curve\n    public-key = "{public}"\n{body}\n')
    exc = raised(lambda: zeromq.load_certificate(path))
    assert isinstance(exc, ValueError) and "bad.key_secret" in str(exc)
    assert_hidden(shown(exc), secret)


# -- the Authenticator -------------------------------------------------------------------------


def test_authenticator_configuration_errors_do_not_show_secrets() -> None:
    auth = zeromq.Authenticator(context=zeromq.Context())
    secret = password()
    exc = raised(lambda: auth.configure_plain(passwords={"alice": secret, 7: secret}))  # type: ignore[dict-item]
    assert_hidden(shown(exc), secret)
    key = zeromq.curve_keypair().secret_key  # a secret key given by mistake, broken
    for value in bad_key(key):
        exc = raised(lambda value=value: auth.configure_curve(keys={value}))
        assert_hidden(shown(exc), key)
    auth.configure_plain(passwords={"alice": secret})
    assert_hidden(repr(auth) + repr(auth._plain), secret)


@pytest.mark.parametrize(
    "how", ["passwords", "callback", "callback-raises", "callback-returns-the-password"]
)
async def test_plain_checks_log_no_password(
    ctx: zeromq.Context, make: Callable[..., Any], refusals: Refusals,
    caplog: pytest.LogCaptureFixture, how: str,
) -> None:
    caplog.set_level(logging.DEBUG, logger="zeromq.auth")
    reported: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda loop, info: reported.append(info))
    right, wrong = password(), password()

    def check(username: str, password: str) -> bool:
        if how == "callback-raises":
            raise LookupError("the user database is down")
        if how == "callback-returns-the-password":
            return {"alice": right}.get(username)  # type: ignore[return-value]  # a slip: no comparison
        return password == right

    async with zeromq.Authenticator(context=ctx) as auth:
        if how == "passwords":
            auth.configure_plain(passwords={"alice": right})
        else:
            auth.configure_plain(callback=check)
        server = make(zeromq.Pull, plain_server=True)
        observer = server.events
        client = plain_client(make, "alice", wrong)
        client.connect(await bind(server, "tcp"))
        await refused(
            server, client, observer, by=refusals, status=500 if how == "callback-raises" else 400
        )
    said = caplog.text + " ".join(str(info.get("message")) for info in reported)
    assert "refused" in said
    for secret in (right, wrong):
        assert_hidden(said, secret)


async def test_curve_checks_log_no_secret_key(
    ctx: zeromq.Context, make: Callable[..., Any], refusals: Refusals, keys: Keys,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="zeromq")
    async with zeromq.Authenticator(context=ctx) as auth:
        auth.configure_curve(keys=set())
        server = curve_server(make, keys)
        observer = server.events
        client = curve_client(make, keys.server.public_key, keys.client)
        client.connect(await bind(server, "tcp"))
        await refused(server, client, observer, by=refusals)
    assert "refused" in caplog.text
    for secret in (keys.server.secret_key, keys.client.secret_key):
        assert_hidden(caplog.text, secret)


def test_setting_a_secret_late_warns_without_it() -> None:
    secret, key = password(), zeromq.curve_keypair().secret_key
    sock = zeromq.Pair(linger=0)
    try:
        sock.connect("tcp://127.0.0.1:1")
        with pytest.warns(zeromq.OptionWarning) as caught:
            sock.plain_password = secret
            sock.curve_secret_key = key
        assert len(caught) == 2
        for warning in caught:
            assert_hidden(str(warning.message), secret)
            assert_hidden(str(warning.message), key)
    finally:
        sock.close()
