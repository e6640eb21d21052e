"""The option entries of the reference, rendered from the options table.

Each entry shows what `describe` says of a row (type, unit, meaning), the
default as a fresh socket or context of this libzmq reads it, whether it can be
read and written, when it takes effect, and which classes have it. Nothing here
is typed by hand: a new row of `zeromq._options.OPTIONS` is a new entry.
"""

from __future__ import annotations

import re
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import zeromq
from zeromq import _options
from zeromq._options import Option

SOCKETS = "socket"
CONTEXT = "context"


@dataclass(frozen=True)
class OptionDoc:
    """What the page says of one option beyond its default and classes."""

    type: str  # the Python type it reads as (and, if different, is set as)
    unit: str | None  # "milliseconds", "bytes"... or None for a plain value
    meaning: str


# The unit of an option, read from its one-line description until the table
# carries one (`describe` below is the one place that needs to change then).
_UNIT_WORDS = (
    ("milliseconds", "milliseconds"),
    ("kilobits per second", "kilobits per second"),
    ("in bytes", "bytes"),
    ("messages", "messages"),
)
# libzmq's TCP keep-alive knobs pass straight to the kernel, in seconds.
_SECONDS = frozenset({"tcp_keepalive_idle", "tcp_keepalive_interval"})


def _unit_from_text(opt: Option) -> str | None:
    if opt.name in _SECONDS:
        return "seconds"
    if not isinstance(opt.kind, _options.Int):
        return None
    text = opt.doc.lower()
    for word, unit in _UNIT_WORDS:
        if word in text:
            return unit
    return None


def _type_text(opt: Option) -> str:
    get, set_ = opt.kind.get_annotation, opt.kind.set_annotation
    if opt.access == "wo":
        return set_
    if opt.access == "ro" or get == set_:
        return get
    return f"{get}; set as {set_}"


def describe(opt: Option) -> OptionDoc:
    """Type, unit and meaning of one option.

    The one seam between this page and the options module: it uses the
    module's own `type_text()` and the row's `unit` where they exist, and
    falls back to reading them off the annotations and the description.
    """
    type_text: Callable[[Option], str] = getattr(_options, "type_text", _type_text)
    unit: str | None = getattr(opt, "unit", None)
    if unit is None:  # a table without units: read the description
        unit = _unit_from_text(opt)
    return OptionDoc(type=type_text(opt), unit=unit or None, meaning=opt.doc)


def _defaults(owner: str) -> Callable[[Option], dict[str, object]]:
    """For each option, its default in each class that has it, read from a
    fresh object (write-only options have none to read)."""
    objects: dict[str, Any] = {}
    if owner == CONTEXT:
        objects["Context"] = zeromq.Context()
    else:
        for cls in (getattr(zeromq, name) for name in _options.SOCKET_CLASSES):
            objects[cls.__name__] = cls()  # nothing queued: closing waits for nothing
    values: dict[str, dict[str, object]] = {}
    for opt in _rows(owner):
        values[opt.name] = {}
        if not opt.readable:
            continue
        if _needs_draft(opt) and not getattr(_options, "DRAFT", False):
            # This libzmq cannot read it: what the table says a new socket reads.
            values[opt.name] = {"": getattr(opt, "default", None)}
            continue
        for name, obj in objects.items():
            if name in opt.targets:
                values[opt.name][name] = getattr(obj, opt.name)
    for obj in objects.values():
        if hasattr(obj, "close"):
            obj.close()
    return lambda opt: values[opt.name]


def _needs_draft(opt: Option) -> bool:
    return bool(getattr(opt, "draft", False))


def _socket_classes() -> list[str]:
    """The 12 socket classes, then the DRAFT ones where the library has them."""
    return list(_options.SOCKET_CLASSES) + list(getattr(_options, "DRAFT_CLASSES", []))


def _rows(owner: str) -> Iterator[Option]:
    for opt in _options.OPTIONS:
        if (opt.targets == _options.CONTEXT) == (owner == CONTEXT):
            yield opt


def anchor(owner: str, name: str) -> str:
    """The page anchor of an option's entry (`ipv6` is both kinds)."""
    return f"{owner}-{name}".replace("_", "-")


def _inline(text: str) -> str:
    """A description's single backticks are already Markdown code."""
    return re.sub(r"\s+", " ", text).strip()


def _default_text(values: dict[str, object]) -> str:
    """The value most classes read, then the classes that read another."""
    if not values:
        return "none to read (write-only)"
    texts = {name: repr(value) for name, value in values.items()}
    common, count = Counter(texts.values()).most_common(1)[0]
    if count == 1 and len(texts) > 1:  # one per class, e.g. `type`
        return ", ".join(f"{name} `{text}`" for name, text in texts.items())
    others = [f"`{text}` on {name}" for name, text in texts.items() if text != common]
    return f"`{common}`" + (f" ({', '.join(others)})" if others else "")


_ACCESS = {
    "rw": "read and write",
    "kept": "read and write (libzmq cannot read it back: the value last set is kept)",
    "ro": "read-only",
    "wo": "write-only",
}


def _takes_effect(opt: Option) -> str | None:
    if not opt.writable or opt.targets == _options.CONTEXT:
        return None
    if opt.name in _options.TAKES_EFFECT_AT_ONCE:
        return "at once, also after `bind()`/`connect()`"
    if opt.name in _options.AT_ONCE_UNLESS_BOUND:
        return "at once, except on a socket that has bound (its listener keeps the value it had)"
    if opt.name in _options.AT_ONCE_UNLESS_CONNECTED:
        return "on later connects; setting it after `connect()` warns (`OptionWarning`)"
    return "on later binds and connects; setting it after either warns (`OptionWarning`)"


def _classes(opt: Option) -> str:
    if opt.targets == _options.CONTEXT:
        return "[`Context`][zeromq.Context]"
    if opt.targets == _options.ALL:
        return "every socket class"
    names = [n for n in _socket_classes() if n in opt.targets]
    return ", ".join(f"[`{n}`][zeromq.{n}]" for n in names)


def render(owner: str) -> str:
    """The Markdown of every option entry of sockets (`SOCKETS`) or of contexts."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # reading defaults of a fresh object
        defaults = _defaults(owner)
    out = []
    for opt in sorted(_rows(owner), key=lambda o: o.name):
        info = describe(opt)
        out.append(f"### `{opt.name}` {{ #{anchor(owner, opt.name)} }}\n")
        out.append(f"{_inline(info.meaning)}\n")
        out.append(f"Type\n: `{info.type}`\n")
        if info.unit:
            out.append(f"Unit\n: {info.unit}\n")
        label = "Value of a new socket" if opt.access == "ro" else "Default"
        out.append(f"{label}\n: {_default_text(defaults(opt))}\n")
        out.append(f"Access\n: {_ACCESS[opt.access]}\n")
        effect = _takes_effect(opt)
        if effect:
            out.append(f"Takes effect\n: {effect}\n")
        out.append(f"Classes\n: {_classes(opt)}\n")
        if _needs_draft(opt):
            out.append("Needs\n: a libzmq built with the DRAFT API; elsewhere a `ZMQError` says so\n")
    return "\n".join(out)


def summary(owner: str) -> str:
    """A table of every option: name (linked to its entry), type, unit, classes."""
    rows = ["| option | type | unit | classes |", "|---|---|---|---|"]
    for opt in sorted(_rows(owner), key=lambda o: o.name):
        info = describe(opt)
        classes = _classes(opt) if opt.targets != _options.ALL else "all"
        if _needs_draft(opt):
            classes += " (DRAFT API)"
        rows.append(
            f"| [`{opt.name}`](#{anchor(owner, opt.name)}) | `{info.type}` "
            f"| {info.unit or ''} | {classes} |"
        )
    return "\n".join(rows) + "\n"


def class_options(class_name: str) -> str:
    """One line listing the options of a class, each linked to its entry."""
    own = [o for o in _options.options_for(class_name) if o.targets != _options.ALL]
    if class_name == "Context":
        owner = CONTEXT
        own = list(_options.options_for("Context"))
    else:
        owner = SOCKETS
    if not own:
        return "Options: those of every socket (see [`Socket`][zeromq.Socket]).\n"
    links = ", ".join(
        f"[`{o.name}`](options.md#{anchor(owner, o.name)})" for o in sorted(own, key=lambda o: o.name)
    )
    prefix = "Options" if owner == CONTEXT else "Options beyond those of every socket"
    return f"{prefix}: {links}.\n"
