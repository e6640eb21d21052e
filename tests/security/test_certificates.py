"""Certificate files: the ZPL files of CZMQ and pyzmq's `zmq.auth`, read and
written strictly, and read alike by pyzmq and us."""

from __future__ import annotations

import os
import stat
import sys
import tempfile
import unicodedata
from pathlib import Path

import pytest
import zmq
import zmq.auth
from hypothesis import example, given, settings
from hypothesis import strategies as st
from zmq.utils import z85

import zeromq

# -- certificates -----------------------------------------------------------------


def test_certificates_round_trip(tmp_path: Path) -> None:
    pair = zeromq.curve_keypair()
    meta = {"name": "server #1", "email": "ops@example.com", "quote": 'say "hi"'}
    public_path, secret_path = zeromq.write_certificates(
        tmp_path, "server", keypair=pair, metadata=meta
    )
    assert (public_path.name, secret_path.name) == ("server.key", "server.key_secret")
    public = zeromq.load_certificate(public_path)
    secret = zeromq.load_certificate(secret_path)
    assert (public.public_key, public.secret_key) == (pair.public_key, None)
    assert secret.keypair == pair
    assert dict(public.metadata) == dict(secret.metadata) == meta
    assert "secret-key" not in public_path.read_text()
    with pytest.raises(ValueError, match="no secret key"):
        public.keypair  # noqa: B018


def test_new_key_pair_by_default(tmp_path: Path) -> None:
    _, secret_path = zeromq.write_certificates(tmp_path, "fresh")
    pair = zeromq.load_certificate(secret_path).keypair
    assert zeromq.curve_public(pair.secret_key) == pair.public_key


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")
def test_secret_certificate_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    _, secret_path = zeromq.write_certificates(tmp_path, "server")
    assert stat.S_IMODE(secret_path.stat().st_mode) == 0o600
    os.chmod(secret_path, 0o644)
    zeromq.write_certificates(tmp_path, "server", overwrite=True)
    assert stat.S_IMODE(secret_path.stat().st_mode) == 0o600


def test_existing_certificates_are_not_overwritten(tmp_path: Path) -> None:
    _, secret_path = zeromq.write_certificates(tmp_path, "server")
    before = secret_path.read_text()
    with pytest.raises(FileExistsError, match="overwrite=True"):
        zeromq.write_certificates(tmp_path, "server")
    assert secret_path.read_text() == before
    zeromq.write_certificates(tmp_path, "server", overwrite=True)
    assert secret_path.read_text() != before


def test_pyzmq_loads_our_certificates(tmp_path: Path) -> None:
    pair = zeromq.curve_keypair()
    public_path, secret_path = zeromq.write_certificates(
        tmp_path, "ours", keypair=pair, metadata={"name": "ours"}
    )
    assert zmq.auth.load_certificate(public_path) == (pair.public_key.encode(), None)
    assert zmq.auth.load_certificate(secret_path) == (
        pair.public_key.encode(), pair.secret_key.encode(),
    )
    assert zmq.auth.load_certificates(tmp_path) == {pair.public_key.encode(): True}


def test_we_load_pyzmq_certificates(tmp_path: Path) -> None:
    public_file, secret_file = zmq.auth.create_certificates(
        tmp_path, "theirs", metadata={"name": "their cert", "email": "a@example.com"}
    )
    public_key, secret_key = zmq.auth.load_certificate(secret_file)
    assert secret_key is not None
    ours = zeromq.load_certificate(secret_file)
    assert ours.keypair == (public_key.decode(), secret_key.decode())
    assert dict(ours.metadata) == {"name": "their cert", "email": "a@example.com"}
    assert zeromq.load_certificate(public_file).public_key == public_key.decode()
    assert list(zeromq.load_certificates(tmp_path)) == ["theirs"]


def test_we_load_zpl_as_czmq_writes_it(tmp_path: Path) -> None:
    pair = zeromq.curve_keypair()
    text = (
        "#   ****  A certificate in the layout of CZMQ's zcert_save  ****\r\n"
        "#   Comment lines and blank ones are skipped.\r\n"
        "\r\n"
        "metadata\r\n"
        '    name = "czmq # peer"    # a comment after a quoted value\r\n'
        "    host = example.com      # an unquoted value ends at the comment\r\n"
        "    motto = 'single quoted'\r\n"
        "    empty\r\n"
        "curve\r\n"
        f'    public-key = "{pair.public_key}"\r\n'
        f"    secret-key = '{pair.secret_key}'\r\n"
    )
    path = tmp_path / "czmq.key_secret"
    path.write_bytes(text.encode("utf-8-sig"))  # with a byte-order mark, as some editors save
    cert = zeromq.load_certificate(path)
    assert cert.keypair == pair
    assert dict(cert.metadata) == {
        "name": "czmq # peer", "host": "example.com", "motto": "single quoted", "empty": "",
    }


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("metadata\ncurve\n", "public-key"),
        ('curve\n    public-key = "short"\n', "40 Z85"),
        ('curve\n  public-key = "{public}"\n', "multiples of 4"),
        ('curve\n\tpublic-key = "{public}"\n', "tabs"),
        ('curve\n        public-key = "{public}"\n', "more than one level"),
        ('curve\n    public-key "{public}"\n', "expected '='"),
        ('curve\n    public-key = "{public}"\n    secret-key = "{other}"\n', "not the secret key"),
        ("\udcff binary", "utf-8"),
    ],
    ids=["no-key", "bad-key", "indent", "tab", "jump", "no-equals", "mismatch", "not-utf8"],
)
def test_invalid_certificate_is_a_value_error_naming_the_file(
    tmp_path: Path, text: str, why: str
) -> None:
    path = tmp_path / "bad.key"
    public, other = zeromq.curve_keypair().public_key, zeromq.curve_keypair().secret_key
    path.write_bytes(text.format(public=public, other=other).encode("utf-8", "surrogateescape"))
    with pytest.raises(ValueError, match=r"bad\.key") as info:
        zeromq.load_certificate(path)
    assert why in str(info.value)


def test_load_certificates_reads_public_certificates_only(tmp_path: Path) -> None:
    first, _ = zeromq.write_certificates(tmp_path, "b-second")
    zeromq.write_certificates(tmp_path, "a-first")
    (tmp_path / "notes.txt").write_text("not a certificate")
    found = zeromq.load_certificates(tmp_path)
    assert list(found) == ["a-first", "b-second"]
    assert all(cert.secret_key is None for cert in found.values())
    with pytest.raises(NotADirectoryError):
        zeromq.load_certificates(first)


def test_writing_checks_keys_and_metadata(tmp_path: Path) -> None:
    pair, other = zeromq.curve_keypair(), zeromq.curve_keypair()
    with pytest.raises(ValueError, match="not the secret key"):
        zeromq.write_certificate(tmp_path / "x.key", pair.public_key, secret_key=other.secret_key)
    with pytest.raises(ValueError, match="one line"):
        zeromq.write_certificates(tmp_path, "x", metadata={"name": "two\nlines"})
    with pytest.raises(ValueError, match="ZPL name"):
        zeromq.write_certificates(tmp_path, "x", metadata={"bad name": "v"})
    with pytest.raises(ValueError, match="both kinds of quote"):
        zeromq.write_certificates(tmp_path, "x", metadata={"name": "it's \"x\""})
    with pytest.raises(ValueError, match="plain file name"):
        zeromq.write_certificates(tmp_path, f"sub{os.sep}x")
    assert not list(tmp_path.iterdir())  # nothing half-written
    path = zeromq.write_certificate(tmp_path / "raw.key", z85.decode(pair.public_key))
    assert zeromq.load_certificate(path).public_key == pair.public_key


# -- strict ZPL, and the same keys for pyzmq's reader ----------------------------------------

ZPL_NAME = st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789$-_@.&+/",
    min_size=1, max_size=12,
)
LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"


@settings(max_examples=200, deadline=None)
@given(metadata=st.dictionaries(ZPL_NAME, st.text(max_size=30), max_size=4))
@example(metadata={"name": "x\u2028curve\u2028    public-key = \"" + "0" * 40 + '"'})
@example(metadata={"public-key": "0" * 40})
@example(metadata={"secret-keys": "x"})
def test_metadata_round_trips_or_is_refused(metadata: dict[str, str]) -> None:
    # Whatever the metadata, our writer either refuses it (writing nothing)
    # or writes files from which we read it back whole, and from which both
    # readers take the same, real keys.
    pair = zeromq.curve_keypair()
    with tempfile.TemporaryDirectory() as tmp:
        try:
            public_path, secret_path = zeromq.write_certificates(
                tmp, "cert", keypair=pair, metadata=metadata
            )
        except ValueError:
            assert not os.listdir(tmp), "a refused certificate was half written"
            assert any(c in value for value in metadata.values() for c in LINE_BREAKS + "\0") or any(
                name.startswith(("public-key", "secret-key")) for name in metadata
            ) or any(("'" in value and '"' in value) for value in metadata.values()) or any(
                unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp") and c != "\t"
                for value in metadata.values() for c in value
            ), f"refused without a reason: {metadata!r}"
            return
        for path, secret in ((public_path, None), (secret_path, pair.secret_key)):
            ours = zeromq.load_certificate(path)
            assert (ours.public_key, ours.secret_key) == (pair.public_key, secret)
            assert dict(ours.metadata) == metadata
            assert zmq.auth.load_certificate(path) == (
                pair.public_key.encode(), None if secret is None else secret.encode()
            )


@settings(max_examples=100, deadline=None)
@given(
    metadata=st.dictionaries(
        ZPL_NAME.filter(lambda name: not name.startswith(("public-key", "secret-key"))),
        st.text(max_size=30).filter(lambda value: "\n" not in value and "\r" not in value),
        max_size=4,
    )
)
def test_we_read_the_keys_pyzmq_reads_from_its_files(metadata: dict[str, str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        public_file, secret_file = zmq.auth.create_certificates(tmp, "theirs", metadata=metadata)
        for path in (public_file, secret_file):
            public, secret = zmq.auth.load_certificate(path)
            ours = zeromq.load_certificate(path)
            assert ours.public_key.encode() == public
            assert (ours.secret_key or "").encode() == (secret or b"")


@pytest.mark.parametrize("char", list(LINE_BREAKS[2:]), ids=lambda c: f"U+{ord(c):04X}")
def test_a_metadata_value_cannot_plant_a_line(tmp_path: Path, char: str) -> None:
    # Written: refused. Read (a file made by hand): the value stays one line,
    # and the key is the curve section's, as pyzmq's reader says.
    planted, real = zeromq.curve_keypair(), zeromq.curve_keypair()
    value = f'x{char}curve{char}    public-key = "{planted.public_key}"'
    with pytest.raises(ValueError, match="one line"):
        zeromq.write_certificates(tmp_path, "x", metadata={"name": value})
    path = tmp_path / "hand.key"
    path.write_text(
        f"metadata\n    name = '{value}'\ncurve\n    public-key = \"{real.public_key}\"\n",
        encoding="utf-8",
    )
    assert zeromq.load_certificate(path).public_key == real.public_key
    assert zmq.auth.load_certificate(path)[0] == real.public_key.encode()


@pytest.mark.parametrize(
    "text",
    [
        'curve\n    public-key = "{a}"\ncurve\n    public-key = "{b}"\n',
        'curve\n    public-key = "{a}"\n    public-key = "{b}"\n',
        'metadata\n    name = "x"\n    name = "y"\ncurve\n    public-key = "{a}"\n',
    ],
    ids=["section", "key", "metadata"],
)
def test_a_name_twice_in_a_section_is_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "twice.key"
    path.write_text(
        text.format(a=zeromq.curve_keypair().public_key, b=zeromq.curve_keypair().public_key)
    )
    with pytest.raises(ValueError, match="twice"):
        zeromq.load_certificate(path)


def test_the_public_key_comes_from_the_curve_section_only(tmp_path: Path) -> None:
    planted, real = zeromq.curve_keypair(), zeromq.curve_keypair()
    path = tmp_path / "both.key"
    path.write_text(
        f'metadata\n    public-key = "{planted.public_key}"\n'
        f'curve\n    public-key = "{real.public_key}"\n'
    )
    assert zeromq.load_certificate(path).public_key == real.public_key
    outside = tmp_path / "outside.key"
    outside.write_text(f'metadata\n    public-key = "{planted.public_key}"\ncurve\n')
    with pytest.raises(ValueError, match="no public-key in its curve section"):
        zeromq.load_certificate(outside)
    top = tmp_path / "top.key"
    top.write_text(f'public-key = "{planted.public_key}"\n')
    with pytest.raises(ValueError, match="no public-key in its curve section"):
        zeromq.load_certificate(top)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX links and modes")
@pytest.mark.parametrize("overwrite", [False, True])
def test_a_planted_symlink_is_refused(tmp_path: Path, overwrite: bool) -> None:
    target = tmp_path / "victim"
    target.write_text("keep me")
    (tmp_path / "me.key_secret").symlink_to(target)
    with pytest.raises(OSError, match=r"symbolic link|exists"):
        zeromq.write_certificates(tmp_path, "me", overwrite=overwrite)
    assert target.read_text() == "keep me"
    with pytest.raises(OSError, match="symbolic link"):
        zeromq.write_certificate(tmp_path / "me.key_secret", zeromq.curve_keypair().public_key,
                                 overwrite=True)
    assert target.read_text() == "keep me"


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")
@pytest.mark.parametrize("umask", [0o000, 0o022, 0o277])
def test_secret_certificate_is_0600_whatever_the_umask(tmp_path: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        public_path, secret_path = zeromq.write_certificates(tmp_path, "me")
    finally:
        os.umask(old)
    assert stat.S_IMODE(secret_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(public_path.stat().st_mode) == 0o644 & ~umask
