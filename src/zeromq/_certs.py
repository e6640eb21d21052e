"""CURVE certificate files: the ZPL files of CZMQ's `zcert` and pyzmq's `zmq.auth`.

A certificate is a small text file in ZPL (ZeroMQ RFC 4) holding a public key,
the secret key too if it is a *secret* certificate, and free-form metadata::

    metadata
        name = "server"
    curve
        public-key = "G8WovfAg*Rg0#cZbKuKk@E}3Jz+EhZ)IVs1ql{)j"
        secret-key = "l0hTYtT6aJm^Ce/C9K.B9unCMSo.wi(={f%C=<u:"

By the convention of those tools, `<name>.key` is the public certificate, to
be handed to peers, and `<name>.key_secret` the secret one, to be kept. Files
written here load with those tools and theirs load here, so keys move between
them.
"""

from __future__ import annotations

import datetime
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from zmq.utils import z85

from ._curve import CurveKeyPair, curve_keypair, curve_public

PUBLIC_SUFFIX = ".key"
SECRET_SUFFIX = ".key_secret"

StrPath = str | os.PathLike[str]

# ZPL names (RFC 4): letters, digits and these.
_NAME = re.compile(r"[A-Za-z0-9$\-_@.&+/]+")


@dataclass(frozen=True)
class Certificate:
    """The content of one certificate file.

    Attributes:
        public_key: the CURVE public key, 40 Z85 characters.
        secret_key: the matching secret key (Z85) in a secret certificate,
            ``None`` in a public one.
        metadata: the names and values of the file's ``metadata`` section.
    """

    public_key: str
    secret_key: str | None = None
    metadata: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def keypair(self) -> CurveKeyPair:
        """The key pair of a secret certificate.

        Raises:
            ValueError: this is a public certificate (it has no secret key).
        """
        if self.secret_key is None:
            raise ValueError("a public certificate has no secret key: load the secret one")
        return CurveKeyPair(self.public_key, self.secret_key)


# -- writing -------------------------------------------------------------------


def write_certificates(
    directory: StrPath,
    name: str,
    *,
    keypair: CurveKeyPair | None = None,
    metadata: Mapping[str, str] | None = None,
    overwrite: bool = False,
) -> tuple[Path, Path]:
    """Write the public and the secret certificate of a key pair.

    Writes ``<directory>/<name>.key`` (the public key: give it to peers, or
    put it in the directory an `Authenticator` trusts) and
    ``<directory>/<name>.key_secret`` (both keys: only the owner may read it,
    it is created with mode 0600), the file names CZMQ and pyzmq's
    ``zmq.auth`` use. `metadata` goes into both files.

    Args:
        directory: an existing directory.
        name: the base name of the two files.
        keypair: the keys to write; by default a new pair from `curve_keypair()`.
        metadata: names and values to store (names of letters, digits and
            ``$-_@.&+/``; values on one line, not containing both quote kinds).
        overwrite: replace existing files instead of failing.

    Returns:
        The paths of the public and the secret certificate.

    Raises:
        FileExistsError: a file exists and `overwrite` is False (nothing is written).
        ValueError: an invalid key, a secret key that does not match the
            public one, or metadata that a certificate cannot hold.
        OSError: the files cannot be written.
    """
    if not isinstance(name, str) or not name or os.sep in name or name in (".", ".."):
        raise ValueError(f"name must be a plain file name, not {name!r}")
    if keypair is None:
        keypair = curve_keypair()
    base = Path(directory)
    public_path = base / (name + PUBLIC_SUFFIX)
    secret_path = base / (name + SECRET_SUFFIX)
    if not overwrite:
        for path in (public_path, secret_path):
            if path.exists():
                raise FileExistsError(f"certificate {str(path)!r} exists (pass overwrite=True)")
    write_certificate(secret_path, keypair.public_key, secret_key=keypair.secret_key,
                      metadata=metadata, overwrite=overwrite)
    write_certificate(public_path, keypair.public_key, metadata=metadata, overwrite=overwrite)
    return public_path, secret_path


def write_certificate(
    path: StrPath,
    public_key: str | bytes,
    *,
    secret_key: str | bytes | None = None,
    metadata: Mapping[str, str] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write one certificate file: a public one, or a secret one when
    `secret_key` is given (then created with mode 0600).

    Use it to store a peer's public key where an `Authenticator` looks for
    trusted keys; `write_certificates` writes both files of a key pair.
    Keys are 40 Z85 characters or 32 raw bytes.

    Returns:
        The path written.

    Raises:
        FileExistsError: the file exists and `overwrite` is False.
        ValueError: an invalid key, a secret key that does not match
            `public_key`, or metadata that a certificate cannot hold.
        OSError: the file cannot be written.
    """
    public = _z85_key(public_key, "public_key")
    secret = None if secret_key is None else _z85_key(secret_key, "secret_key")
    if secret is not None and curve_public(secret) != public:
        raise ValueError("secret_key is not the secret key of public_key")
    text = _render(public, secret, dict(metadata or {}))
    path = Path(path)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
    # A secret certificate is never readable by others, not even for a moment.
    mode = 0o600 if secret is not None else 0o644
    try:
        fd = os.open(path, flags, mode)
    except FileExistsError:
        raise FileExistsError(f"certificate {str(path)!r} exists (pass overwrite=True)") from None
    if secret is not None and overwrite and hasattr(os, "fchmod"):
        os.fchmod(fd, 0o600)  # the file replaced may have been readable by others
    with open(fd, "w", encoding="utf-8", newline="\n") as file:
        file.write(text)
    return path


def _render(public: str, secret: str | None, metadata: dict[str, str]) -> str:
    stamp = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    if secret is None:
        banner = [
            "ZeroMQ CURVE Public Certificate",
            f"written by the Python zeromq library, {stamp}",
            "It holds a public key only: give it to the peers that are to trust this key.",
        ]
    else:
        banner = [
            "ZeroMQ CURVE **Secret** Certificate",
            f"written by the Python zeromq library, {stamp}",
            "It holds a secret key: whoever reads it can pose as its owner. Keep it private.",
        ]
    lines = [f"#   {line}" for line in banner]
    lines += ["", "metadata"]
    for name, value in metadata.items():
        lines.append(f"    {_metadata_name(name)} = {_quoted(name, value)}")
    lines += ["curve", f'    public-key = "{public}"']
    if secret is not None:
        lines.append(f'    secret-key = "{secret}"')
    return "\n".join(lines) + "\n"


def _metadata_name(name: object) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(
            f"metadata name {name!r} is not a ZPL name (letters, digits and $-_@.&+/ only)"
        )
    return name


def _quoted(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"metadata {name!r} must be a str, not {type(value).__name__}")
    if any(c in value for c in "\r\n\0"):
        raise ValueError(f"metadata {name!r} must be on one line")
    quote = "'" if '"' in value else '"'
    if quote in value:
        raise ValueError(f"metadata {name!r} cannot hold both kinds of quote (ZPL has no escapes)")
    return f"{quote}{value}{quote}"


def _z85_key(key: object, what: str) -> str:
    """A key as 40 Z85 characters, checked; `what` names it in errors."""
    if isinstance(key, bytes) and len(key) == 32:
        return z85.encode(key).decode("ascii")
    if isinstance(key, bytes):
        key = key.decode("ascii", errors="replace")
    if not isinstance(key, str):
        raise TypeError(f"{what} must be a str or bytes, not {type(key).__name__}")
    if len(key) != 40:
        raise ValueError(f"{what} must be 40 Z85 characters or 32 bytes, not {len(key)}")
    try:
        raw = z85.decode(key.encode("ascii"))
    except (ValueError, KeyError, IndexError, TypeError, UnicodeEncodeError):
        raw = b""
    if len(raw) != 32:
        raise ValueError(f"{what} {key!r} is not a Z85 key")
    return key


# -- reading -------------------------------------------------------------------


def load_certificate(path: StrPath) -> Certificate:
    """Read a certificate file, public or secret, as written by
    `write_certificate`, CZMQ (``zcert_save``) or pyzmq (``zmq.auth``).

    Raises:
        OSError: the file cannot be read (`FileNotFoundError` if it is not there).
        ValueError: it is not a valid certificate: not ZPL, no public key,
            an invalid key, or a secret key that does not match the public
            one. The message names the file.
    """
    path = Path(path)
    data = path.read_bytes()
    try:
        tree = _parse_zpl(data.decode("utf-8-sig"))
        curve = tree.get("curve")
        if curve is None or "public-key" not in curve.children:
            raise ValueError("no curve/public-key")
        public = _z85_key(curve.children["public-key"].value, "public-key")
        secret = None
        if "secret-key" in curve.children:
            secret = _z85_key(curve.children["secret-key"].value, "secret-key")
            if curve_public(secret) != public:
                raise ValueError("secret-key is not the secret key of public-key")
        meta = tree.get("metadata")
        metadata = {} if meta is None else {k: v.value for k, v in meta.children.items()}
    except ValueError as exc:
        raise ValueError(f"{str(path)!r} is not a valid CURVE certificate: {exc}") from None
    return Certificate(public, secret, MappingProxyType(metadata))


def load_certificates(directory: StrPath) -> dict[str, Certificate]:
    """Read the public certificates (``*.key`` files) of a directory, as
    CZMQ and pyzmq store the certificates of trusted peers.

    Returns:
        The certificates by name (the file name without ``.key``), in name order.

    Raises:
        NotADirectoryError, FileNotFoundError: `directory` is not a directory.
        ValueError: a ``*.key`` file is not a valid certificate (naming it).
    """
    base = Path(directory)
    if not base.is_dir():
        if base.exists():
            raise NotADirectoryError(f"{str(base)!r} is not a directory")
        raise FileNotFoundError(f"certificate directory {str(base)!r} does not exist")
    return {
        path.name[: -len(PUBLIC_SUFFIX)]: load_certificate(path)
        for path in sorted(base.glob("*" + PUBLIC_SUFFIX))
        if path.is_file()
    }


@dataclass
class _Node:
    value: str
    children: dict[str, _Node] = field(default_factory=dict)


def _parse_zpl(text: str) -> dict[str, _Node]:
    """Parse ZPL (RFC 4) into its tree of named nodes; ValueError if it is not ZPL."""
    root = _Node("")
    path = [root]  # path[level] is the node that children at `level` go into
    for lineno, line in enumerate(text.splitlines(), start=1):
        body = line.lstrip(" ")
        if not body.strip() or body.startswith("#"):
            continue
        indent = len(line) - len(body)
        if body[0].isspace():
            raise ValueError(f"line {lineno}: indent with spaces, not tabs")
        if indent % 4:
            raise ValueError(f"line {lineno}: indent by multiples of 4 spaces")
        level = indent // 4
        if level >= len(path):
            raise ValueError(f"line {lineno}: indented more than one level below its parent")
        name, value = _parse_property(body, lineno)
        node = _Node(value)
        del path[level + 1 :]
        path[level].children.setdefault(name, node)  # a repeated name: the first counts
        path.append(node)
    return root.children


def _parse_property(body: str, lineno: int) -> tuple[str, str]:
    match = _NAME.match(body)
    if match is None:
        raise ValueError(f"line {lineno}: expected a name, found {body[:20]!r}")
    name, rest = match.group(), body[match.end() :].lstrip()
    if not rest or rest.startswith("#"):
        return name, ""
    if not rest.startswith("="):
        raise ValueError(f"line {lineno}: expected '=' after {name!r}")
    rest = rest[1:].lstrip()
    if rest[:1] in ("'", '"'):
        end = rest.find(rest[0], 1)
        after = rest[end + 1 :].lstrip() if end > 0 else "x"
        # A value that does not end in its matching quote is unquoted (RFC 4).
        if not after or after.startswith("#"):
            return name, rest[1:end]
    return name, rest.split("#", 1)[0].rstrip()


__all__ = [
    "Certificate",
    "load_certificate",
    "load_certificates",
    "write_certificate",
    "write_certificates",
]
