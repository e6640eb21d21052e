"""The socket classes of the reference: one mkdocstrings entry per class, with
the members it adds, whether it sends and receives, and its own options.

The member lists and class list come from the classes, so a new class or
method shows up without editing a page; the docstrings come from the code.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import options_page

import zeromq
from zeromq import _options

# What every socket has, documented once under `Socket`.
_BASE_MEMBERS = [
    name
    for name, member in inspect.getmembers(zeromq.Socket)
    if not name.startswith("_") and name not in {o.name for o in _options.OPTIONS}
]


def _entry(path: str, members: list[str] | bool, heading_level: int = 2, **options: object) -> str:
    """A mkdocstrings block; `members` lists the members to render (False: none)."""
    settings = {"heading_level": heading_level, "members": members, **options}
    lines = [f"::: {path}", "    options:"]
    for key, value in settings.items():
        if isinstance(value, bool):
            text = str(value).lower()
        elif isinstance(value, list):
            text = "[" + ", ".join(value) + "]"
        else:
            text = str(value)
        lines.append(f"      {key}: {text}")
    return "\n".join(lines) + "\n"


_BASE_SEND = zeromq._engine.Writable.send
_BASE_RECEIVE = zeromq._engine.Readable.receive


def _own_members(cls: type) -> tuple[list[str], list[str]]:
    """(members the class defines, inherited members to show with it): a
    `send` or `receive` other than the common ones (a DRAFT socket's, with a
    routing id or a group) is shown with the class."""
    own = sorted(
        n for n, m in vars(cls).items() if not n.startswith("_") and callable(m) and not _on_lane(m)
    )
    inherited = [
        name
        for name, base in (("send", _BASE_SEND), ("receive", _BASE_RECEIVE))
        if name not in own and _member(cls, name, base) is not base
    ]
    return own, inherited


def _on_lane(member: object) -> bool:
    """A thread-safe DRAFT socket's `send`/`receive`, run on the calling
    loop's lane: documented as the half it wraps."""
    return hasattr(member, "__wrapped__")


def _member(cls: type, name: str, default: object = None) -> object:
    return inspect.unwrap(getattr(cls, name, default))  # type: ignore[arg-type]


def _link(cls: type, name: str, base: object, base_anchor: str) -> str:
    where = base_anchor if _member(cls, name) is base else f"zeromq.{cls.__name__}.{name}"
    return f"[`{name}()`](#{where})"


def _halves(cls: type) -> str:
    sends, receives = hasattr(cls, "send"), hasattr(cls, "receive")
    send = _link(cls, "send", _BASE_SEND, "zeromq._engine.Writable.send") if sends else ""
    receive = (
        _link(cls, "receive", _BASE_RECEIVE, "zeromq._engine.Readable.receive") + ", `async for`"
        if receives
        else ""
    )
    if sends and receives:
        return f"Sends ({send}) and receives ({receive})."
    if sends:
        return f"Sends only ({send}): it has no `receive`."
    return f"Receives only ({receive}): it has no `send`."


def _classes(classes: tuple[type, ...]) -> list[str]:
    out = []
    for cls in classes:
        own, inherited = _own_members(cls)
        # The constructor takes `context=` and the class's options (listed
        # below): its signature, 60 keywords long, would bury the rest.
        extra: dict[str, object] = {"merge_init_into_class": False}
        if inherited:
            extra["inherited_members"] = inherited
        out.append(_entry(f"zeromq.{cls.__name__}", own + inherited or False, 3, **extra))
        out.append(f"`{cls.__name__}(*, context=None, **options)`\n")
        out.append(_halves(cls) + "\n")
        out.append(options_page.class_options(cls.__name__))
    return out


_DRAFT_INTRO = """\
## DRAFT socket classes

These classes need a libzmq built with the DRAFT API
([`capability["draft"]`][zeromq.capability] is `True`); pyzmq's wheels are
built without it, and `make draft` builds one. Elsewhere, making one raises a
[`ZMQError`][zeromq.ZMQError] that says so. All but `Datagram` are
thread-safe (usable from several threads' event loops and trio runs at once,
see [Threads](../concurrency.md#threads)) and send and receive messages of one
part.
"""


def render() -> str:
    """`Socket` with the members every socket has, the sending and receiving
    calls, each of the 12 classes, then the DRAFT classes if there are any."""
    out = [_entry("zeromq.Socket", sorted(_BASE_MEMBERS), inherited_members=True)]
    out.append("## Sending and receiving\n")
    out.append(_entry("zeromq._engine.Writable.send", True, 3))
    out.append(_entry("zeromq._engine.Readable.receive", True, 3))
    out.append(_entry("zeromq._engine.Readable.receive_buffers", True, 3))
    out.append("## The socket classes\n")
    out.extend(_classes(zeromq._sockets.SOCKET_CLASSES))
    draft = _draft_classes()
    if draft:
        out.append(_DRAFT_INTRO)
        out.extend(_classes(draft))
        out.extend(
            _entry(f"zeromq.{name}", True, 3) for name in _DRAFT_MESSAGES if name in zeromq.__all__
        )
    return "\n".join(out)


# What the DRAFT sockets receive, documented with them.
_DRAFT_MESSAGES = ("RoutedMessage", "GroupMessage")


def _draft_classes() -> tuple[type, ...]:
    return tuple(getattr(zeromq._sockets, "DRAFT_SOCKET_CLASSES", ()))


REFERENCE = Path(__file__).resolve().parent.parent / "reference"


def other_names() -> str:
    """An entry for each public name no reference page lists by hand (the
    module's attributes, such as `version`), so a new one cannot be left out."""
    listed = set()
    for page in REFERENCE.glob("*.md"):
        listed.update(re.findall(r"^::: zeromq\.(\w+)", page.read_text(), re.M))
    listed.update(cls.__name__ for cls in zeromq._sockets.SOCKET_CLASSES + _draft_classes())
    listed.update(("Socket", *_DRAFT_MESSAGES))
    return "\n".join(f"::: zeromq.{name}\n" for name in zeromq.__all__ if name not in listed)
