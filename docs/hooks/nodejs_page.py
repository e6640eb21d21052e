"""The name mapping from the Node.js bindings, rendered from this library's names.

The Python names are the reference's camelCase names in snake_case (API.md's
naming rule), so each Node.js name is computed from the Python one. What is
written by hand here is only what the rule cannot know: the one name that
does not follow it, and which names exist in Python only. Where the
repository holds the Node.js reference (docs/reference/), each Node.js name is
checked against it, so a wrong entry fails the build.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from pathlib import Path

import zeromq
from zeromq import _options

# The names whose Node.js spelling the camelCase rule does not give.
IRREGULAR = {"curve_keypair": "curveKeyPair"}

# Public names that the Node.js bindings do not have: this library's additions.
PYTHON_ONLY = frozenset(
    {
        "Authenticator", "AuthenticatorWarning", "Certificate", "CurveKeyPair", "Message",
        "MessagePart", "OptionWarning", "ZMQError", "EventType", "curve_public",
        "load_certificate", "load_certificates", "write_certificate", "write_certificates",
        "receive_buffers", "statistics", "capture", "accelerated",
    }
)  # fmt: skip

# The DRAFT API's names: the reference text has no draft module to map them to.
DRAFT_NAMES = frozenset(
    list(getattr(_options, "DRAFT_CLASSES", []))
    + [o.name for o in _options.OPTIONS if getattr(o, "draft", False)]
    + ["RoutedMessage", "GroupMessage"]
)

# The classes whose members the mapping lists, beside the options.
MEMBER_CLASSES = ("Socket", "Subscriber", "Router", "Observer", "Proxy", "Event")


def camel(name: str) -> str:
    """The Node.js spelling of a Python name."""
    if name in IRREGULAR:
        return IRREGULAR[name]
    head, *rest = name.split("_")
    return head + "".join(word.capitalize() for word in rest)


def _row(python: str, node: str, python_name: str, note: str = "") -> str:
    if python_name in PYTHON_ONLY:
        return f"| — | `{python}` (Python only) |"
    if python_name in DRAFT_NAMES:
        return f"| — | `{python}` (DRAFT API, not in the reference) |"
    return f"| `{node}` | `{python}`{note} |"


def _module_rows() -> list[str]:
    return [_row(f"zeromq.{n}", f"zmq.{camel(n)}", n) for n in sorted(zeromq.__all__)]


def _public_members(cls: type) -> list[str]:
    """Methods and properties a class defines (its own and inherited), options aside."""
    options = {o.name for o in _options.OPTIONS}
    names: set[str] = set()
    for klass in inspect.getmro(cls):
        if klass.__module__.startswith("zeromq"):
            names.update(n for n in vars(klass) if not n.startswith("_") and n not in options)
    if cls is zeromq.Event:
        names = {f.name for f in dataclasses.fields(cls)}
    return sorted(names)


def _member_rows() -> list[str]:
    # A socket's members are listed once, under `Socket` (a Dealer has both
    # halves); a class only adds the members it has beyond those.
    socket = set(_public_members(zeromq.Dealer)) | set(_public_members(zeromq.Socket))
    rows = []
    for class_name in MEMBER_CLASSES:
        members = _public_members(getattr(zeromq, class_name))
        if class_name == "Socket":
            members = sorted(socket)
        elif issubclass(cls := getattr(zeromq, class_name), zeromq.Socket):
            members = [m for m in members if m not in socket or m in vars(cls)]
        for m in members:
            note = " (also `routing_id=`)" if class_name != "Socket" and m == "connect" else ""
            rows.append(_row(f"{class_name}.{m}", f"{class_name}.{camel(m)}", m, note))
    return rows


def _option_rows() -> list[str]:
    rows = []
    seen = set()
    for opt in sorted(_options.OPTIONS, key=lambda o: o.name):
        owner = "Context" if opt.targets == _options.CONTEXT else "Socket"
        if (owner, opt.name) in seen:
            continue
        seen.add((owner, opt.name))
        rows.append(_row(opt.name, f"{owner}.{camel(opt.name)}", opt.name))
    return rows


def _value_rows() -> list[str]:
    rows = []
    for opt in _options.OPTIONS:
        names = getattr(opt.kind, "names", None)
        if not isinstance(names, dict):
            continue
        for value in names:
            if isinstance(value, str) and "_" in value:
                rows.append(f'| `{opt.name}`: `"{camel(value)}"` | `"{value}"` |')
    return sorted(set(rows))


def render() -> str:
    """The mapping, in four tables: module names, members, options, option values."""
    _check_against_reference(_module_rows() + _member_rows() + _option_rows())
    header = "| Node.js | Python |\n|---|---|"
    return "\n".join(
        [
            "### Module names\n",
            header,
            *_module_rows(),
            "\n### Methods and properties\n",
            header,
            *_member_rows(),
            "\n### Options\n",
            "Every option is a constructor keyword and a property of the same name.\n",
            header,
            *_option_rows(),
            "\n### Option values\n",
            header,
            *_value_rows(),
            "",
        ]
    )


# The Node.js reference, where the repository holds a copy.
NODE_REFERENCE = Path(__file__).resolve().parent.parent / "reference" / "zeromq-js-6-api-reference.txt"


def _check_against_reference(rows: list[str]) -> None:
    """With the Node.js reference at hand, each Node.js name of the mapping
    must be in it, and no name marked "Python only" may be."""
    if not NODE_REFERENCE.exists():
        return
    words = set(re.findall(r"\w+", NODE_REFERENCE.read_text()))
    absent: list[str] = []
    for row in rows:
        node = row.split("|")[1].strip().strip("`")
        if node != "—":
            absent.extend(w for w in node.split(".")[1:] if w not in words)
    present = [camel(n) for n in PYTHON_ONLY if camel(n) in words and "_" in n]
    if absent or present:
        raise RuntimeError(
            f"nodejs_page disagrees with {NODE_REFERENCE.name}: not there {absent}, "
            f"there but marked Python only {present}"
        )
