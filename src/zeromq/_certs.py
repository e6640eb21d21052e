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
import errno
import os
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from ._curve import CurveKeyPair, curve_keypair, curve_public, key_text

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
            ``None`` in a public one (the repr never shows it).
        metadata: the names and values of the file's ``metadata`` section.
    """

    public_key: str
    secret_key: str | None = field(default=None, repr=False)
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
            ``$-_@.&+/``, not starting with ``public-key`` or ``secret-key``;
            values without control or line-breaking characters, and not
            containing both quote kinds).
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
    public = key_text(public_key, "public_key")
    secret = None if secret_key is None else key_text(secret_key, "secret_key")
    if secret is not None and curve_public(secret) != public:
        raise ValueError("secret_key is not the secret key of public_key")
    text = _render(public, secret, dict(metadata or {}))
    path = Path(path)
    # O_NOFOLLOW: a symbolic link planted where the file goes is refused,
    # never followed to overwrite (or expose) whatever it points at.
    flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
    flags |= os.O_TRUNC if overwrite else os.O_EXCL
    # A secret certificate is never readable by others, not even for a moment.
    mode = 0o600 if secret is not None else 0o644
    if path.is_symlink():
        raise OSError(errno.ELOOP, f"certificate {str(path)!r} is a symbolic link: refused")
    try:
        fd = os.open(path, flags, mode)
    except FileExistsError:
        raise FileExistsError(f"certificate {str(path)!r} exists (pass overwrite=True)") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # a link planted between the check and the open
            raise OSError(errno.ELOOP, f"certificate {str(path)!r} is a symbolic link: refused") from None
        raise
    if secret is not None and hasattr(os, "fchmod"):
        # 0600 whatever the umask, and whatever mode the file replaced had.
        os.fchmod(fd, 0o600)
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


# Names pyzmq's reader takes a key from wherever a line starts with them
# (it reads no sections): as metadata they would plant a key for it.
_KEY_NAMES = ("public-key", "secret-key")


def _metadata_name(name: object) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(
            f"metadata name {name!r} is not a ZPL name (letters, digits and $-_@.&+/ only)"
        )
    if name.startswith(_KEY_NAMES):
        raise ValueError(
            f"metadata name {name!r} is refused: readers such as pyzmq's would take it for a key"
        )
    return name


def _unsafe(char: str) -> bool:
    """Whether a character may not be in a metadata value: controls (but tab),
    line and paragraph separators, and lone surrogates. That covers every
    character `str.splitlines()` breaks at (\x0b \x0c \x1c-\x1e \x85
    \u2028 \u2029 too), so no reader sees a value as more than one line."""
    return char != "\t" and unicodedata.category(char) in ("Cc", "Zl", "Zp", "Cs")


def _quoted(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"metadata {name!r} must be a str, not {type(value).__name__}")
    bad = next((c for c in value if _unsafe(c)), None)
    if bad is not None:
        raise ValueError(
            f"metadata {name!r} must be on one line without control characters "
            f"(it has U+{ord(bad):04X})"
        )
    quote = "'" if '"' in value else '"'
    if quote in value:
        raise ValueError(f"metadata {name!r} cannot hold both kinds of quote (ZPL has no escapes)")
    return f"{quote}{value}{quote}"


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
    problem = None
    try:
        return _certificate(data)
    except UnicodeDecodeError as exc:
        problem = f"not utf-8 text (byte {exc.start + 1})"
    except ValueError as exc:
        problem = str(exc)
    # Raised here, not in the except block, so that the error does not carry
    # the one it replaces (a UnicodeDecodeError holds the whole file, secret
    # key included) as its __context__.
    raise ValueError(f"{str(path)!r} is not a valid CURVE certificate: {problem}")


def _certificate(data: bytes) -> Certificate:
    """The certificate of a file's content; ValueError if it is not one."""
    tree = _parse_zpl(data.decode("utf-8-sig"))
    # The keys come from the curve section only, wherever else such names appear.
    curve = tree.get("curve")
    if curve is None or "public-key" not in curve.children:
        raise ValueError("no public-key in its curve section")
    public = key_text(curve.children["public-key"].value, "public-key")
    secret = None
    if "secret-key" in curve.children:
        secret = key_text(curve.children["secret-key"].value, "secret-key")
        if curve_public(secret) != public:
            raise ValueError("secret-key is not the secret key of public-key")
    meta = tree.get("metadata")
    metadata = {} if meta is None else {k: v.value for k, v in meta.children.items()}
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
    """Parse ZPL (RFC 4) into its tree of named nodes; ValueError if it is not
    ZPL or names a node twice under one parent."""
    root = _Node("")
    path = [root]  # path[level] is the node that children at `level` go into
    # Lines end at "\n" only (an "\r" before it is part of the line end), as
    # in CZMQ and pyzmq: not at the other characters str.splitlines() breaks
    # at, which would let a metadata value plant lines of its own.
    for lineno, line in enumerate(text.split("\n"), start=1):
        line = line.removesuffix("\r")
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
        if name in path[level].children:
            # Readers disagree on which of two counts: a file with both is refused.
            raise ValueError(f"line {lineno}: {name!r} appears twice in the same section")
        path[level].children[name] = node
        path.append(node)
    return root.children


def _parse_property(body: str, lineno: int) -> tuple[str, str]:
    match = _NAME.match(body)
    if match is None:
        # Not the line itself: it may hold a secret key.
        raise ValueError(f"line {lineno}: expected a name")
    name, rest = match.group(), body[match.end() :].lstrip()
    if not rest or rest.startswith("#"):
        return name, ""
    if not rest.startswith("="):
        raise ValueError(f"line {lineno}: expected '=' after the name")
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
