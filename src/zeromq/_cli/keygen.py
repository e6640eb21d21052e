"""`zeromq keygen`: a new CURVE key pair, printed or written as certificate files.

The files are those of `zeromq.write_certificates` (and of CZMQ and pyzmq's
``zmq.auth``): ``NAME.key`` holds the public key and may be handed out,
``NAME.key_secret`` holds both keys and is readable by its owner only.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from .._certs import write_certificates
from .._curve import curve_keypair
from ._common import CLIError

_NAME = re.compile(r"[A-Za-z0-9_.@+-]+")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``keygen`` subcommand."""
    parser = subparsers.add_parser(
        "keygen",
        help="make a CURVE key pair",
        description="Make a new CURVE key pair. Without --out, print it (public key first); "
        "with --out DIR, write the certificate files DIR/NAME.key (public, share it) and "
        "DIR/NAME.key_secret (secret, mode 0600), which --curve-secret-key and "
        "--curve-server-key of the other subcommands read.",
    )
    parser.add_argument("--out", metavar="DIR", type=Path, help="write certificate files into DIR (made if missing)")
    parser.add_argument(
        "--name", default="curve",
        help="base name of the certificate files (default: %(default)s)",
    )
    parser.add_argument("--force", action="store_true", help="overwrite existing certificate files")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Make the key pair and print it or write it."""
    pair = curve_keypair()
    out: Path | None = args.out
    if out is None:
        if args.json:
            print(json.dumps({"public_key": pair.public_key, "secret_key": pair.secret_key}))
        else:
            print(f"public-key: {pair.public_key}")
            print(f"secret-key: {pair.secret_key}")
        return 0
    if not _NAME.fullmatch(args.name):
        raise CLIError(f"--name takes letters, digits and _.@+- only, not {args.name!r}")
    out.mkdir(parents=True, exist_ok=True)
    if not args.force:
        for suffix in (".key", ".key_secret"):
            if (out / f"{args.name}{suffix}").exists():
                raise CLIError(f"{out / args.name}{suffix} exists (use --force to overwrite it)")
    public, secret = write_certificates(out, args.name, keypair=pair, overwrite=args.force)
    if args.json:
        print(json.dumps({"public_key": pair.public_key, "public": str(public), "secret": str(secret)}))
    else:
        print(f"public certificate: {public}")
        print(f"secret certificate: {secret}")
    return 0
