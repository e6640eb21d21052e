"""The options table: every socket and context option, declared once.

Each row says the option's Python name, its libzmq id, how its value converts
(`Kind`), which classes have it and whether it can be read or written. The
typed properties and constructor keywords of `Context` and of the socket
classes are made from these rows at import (`attach`), and
`scripts/gen_stubs.py` writes the `.pyi` stubs that let type checkers and
IDEs see them; a test keeps the stubs in step with the table.
"""

from __future__ import annotations

import errno
import inspect
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import zmq
from zmq.utils import z85

from ._curve import key_bytes
from ._errors import OptionWarning, ZMQError, closed_error, from_zmq
from ._native import clear_option, read_long_string

T = TypeVar("T")


class _Native(Protocol):
    def get(self, option: int) -> Any: ...
    def set(self, option: int, value: Any) -> None: ...


class HasOptions(Protocol):
    """What the option descriptors need of the object they live on."""

    _native: Any
    _option_cache: dict[str, object]


class Kind(Generic[T]):
    """How one type of option value converts between Python and libzmq."""

    get_annotation = "int"
    set_annotation = "int"

    def encode(self, name: str, value: object) -> object:
        raise NotImplementedError

    def decode(self, raw: Any) -> T:
        raise NotImplementedError

    def write(self, native: _Native, option: int, raw: object) -> None:
        native.set(option, raw)


class Bool(Kind[bool]):
    get_annotation = set_annotation = "bool"

    def encode(self, name: str, value: object) -> object:
        if not isinstance(value, bool):
            raise TypeError(f"option {name!r} takes a bool, not {type(value).__name__}")
        return int(value)

    def decode(self, raw: Any) -> bool:
        return bool(raw)


class Int(Kind[int]):
    def __init__(self, low: int, high: int, label: str) -> None:
        self.low, self.high = low, high
        self.label = label  # how `describe` names the range

    def encode(self, name: str, value: object) -> object:
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"option {name!r} takes an int, not {type(value).__name__}")
        if not self.low <= value <= self.high:
            raise ValueError(
                f"option {name!r} must be between {self.low} and {self.high}, not {value}"
            )
        return value

    def decode(self, raw: Any) -> int:
        return int(raw)


class UInt64(Int):
    """An unsigned 64-bit option (0 to 2**64-1). pyzmq passes these through a
    signed int64, so values from 2**63 up travel as their two's complement
    and come back unchanged."""

    def __init__(self) -> None:
        super().__init__(0, 2**64 - 1, "unsigned 64-bit, 0 to 2**64-1")

    def encode(self, name: str, value: object) -> object:
        checked = super().encode(name, value)
        assert isinstance(checked, int)
        return checked - 2**64 if checked >= 2**63 else checked

    def decode(self, raw: Any) -> int:
        return int(raw) % 2**64


class Str(Kind["str | None"]):
    """A string option; unset (or empty) reads back as ``None``."""

    get_annotation = "str | None"
    set_annotation = "str | bytes | None"

    def encode(self, name: str, value: object) -> object:
        if value is None or value in ("", b""):
            return None
        if isinstance(value, str):
            try:
                return value.encode()
            except UnicodeEncodeError as exc:
                where, reason = exc.start + 1, exc.reason
            # Raised here, not in the except block, so that the error does not
            # carry the UnicodeEncodeError (which holds the value, perhaps a
            # password) as its __context__.
            raise ValueError(f"option {name!r}: character {where} cannot be encoded as UTF-8 ({reason})")
        if isinstance(value, bytes):
            return value
        raise TypeError(f"option {name!r} takes a str or None, not {type(value).__name__}")

    def decode(self, raw: Any) -> str | None:
        if isinstance(raw, bytes):
            raw = raw.decode(errors="replace")
        return raw or None

    def write(self, native: _Native, option: int, raw: object) -> None:
        if raw is None:
            try:
                is_set = bool(native.get(option))
            except zmq.ZMQError:  # one libzmq cannot read back: clear it anyway
                is_set = True
            if is_set:  # unsetting what is not set does nothing
                clear_option(native, option)  # type: ignore[arg-type]
        else:
            native.set(option, raw)


def routing_id_bytes(name: str, value: object) -> bytes:
    """A routing id as libzmq takes it: 1 to 255 bytes, not starting with a
    zero byte (libzmq's own generated ids do); a str is UTF-8."""
    if isinstance(value, str):
        raw = Str().encode(name, value) or b""
    elif isinstance(value, bytes):
        raw = value
    else:
        raise TypeError(f"{name} takes a str or bytes, not {type(value).__name__}")
    assert isinstance(raw, bytes)
    if not 1 <= len(raw) <= 255:
        raise ValueError(f"{name} must be 1 to 255 bytes, not {len(raw)}")
    if raw[0] == 0:
        raise ValueError(f"{name} must not start with a zero byte (libzmq's own ids do)")
    return raw


class RoutingId(Kind["bytes | None"]):
    """Routing ids are binary in ZeroMQ: they read back as `bytes` to compare
    with the routing-id frames a `Router` receives."""

    get_annotation = "bytes | None"
    set_annotation = "str | bytes"

    def encode(self, name: str, value: object) -> object:
        return routing_id_bytes(f"option {name!r}", value)

    def decode(self, raw: Any) -> bytes | None:
        return bytes(raw) or None


class Blob(Kind["bytes | None"]):
    """A binary option (a message libzmq sends for us); unset reads back as ``None``."""

    get_annotation = "bytes | None"
    set_annotation = "str | bytes | None"

    def encode(self, name: str, value: object) -> object:
        if value is None or isinstance(value, bytes):
            return value or None
        return STR.encode(name, value)

    def decode(self, raw: Any) -> bytes | None:
        return bytes(raw) or None

    def write(self, native: _Native, option: int, raw: object) -> None:
        if raw is None:
            clear_option(native, option)  # type: ignore[arg-type]
        else:
            native.set(option, raw)


class CurveKey(Kind["str | None"]):
    """A CURVE key: 40 Z85 characters or 32 raw bytes, read back as Z85 text.
    libzmq cannot read keys back through pyzmq, so the last value set is kept."""

    get_annotation = "str | None"
    set_annotation = "str | bytes | None"

    def encode(self, name: str, value: object) -> object:
        if value is None:
            return None
        # One check for every key-taking entry point; its errors never show the key.
        return key_bytes(value, f"option {name!r}")

    def write(self, native: _Native, option: int, raw: object) -> None:
        if raw is not None:
            native.set(option, raw)

    def decode(self, raw: Any) -> str | None:
        return None if raw is None else z85.encode(raw).decode()


class Enum(Kind[T]):
    """An option whose libzmq integers have names in Python."""

    def __init__(self, names: dict[T, int]) -> None:
        self.names = names
        self.values = {v: k for k, v in names.items()}
        literal = "Literal[" + ", ".join(f'"{k}"' for k in names if k is not None) + "]"
        self.get_annotation = self.set_annotation = (
            f"{literal} | None" if None in names else literal
        )

    def encode(self, name: str, value: object) -> object:
        choices = ", ".join(repr(k) for k in self.names)
        if value is not None and not isinstance(value, str):
            raise TypeError(
                f"option {name!r} takes one of {choices}, not {type(value).__name__}"
            )
        try:
            return self.names[value]  # type: ignore[index]
        except KeyError:
            raise ValueError(f"option {name!r} must be one of {choices}, not {value!r}") from None

    def decode(self, raw: Any) -> T:
        return self.values[int(raw)]


class Verbosity(Enum["str | None"]):
    """`XPUB_VERBOSE` and `XPUB_VERBOSER` as one option."""

    def __init__(self) -> None:
        super().__init__({None: 0, "all_subs": 1, "all_subs_unsubs": 2})

    def write(self, native: _Native, option: int, raw: object) -> None:
        # Each of libzmq's two options sets both of its flags: VERBOSE=1 passes
        # every subscription (not unsubscriptions), VERBOSER=1 both, and
        # VERBOSER=0 neither. So exactly one call, or the second undoes the first.
        if raw == 1:
            native.set(zmq.XPUB_VERBOSE, 1)
        else:
            native.set(zmq.XPUB_VERBOSER, int(raw == 2))


BOOL = Bool()
INT32 = Int(-(2**31), 2**31 - 1, "32-bit")
INT64 = Int(-(2**63), 2**63 - 1, "64-bit")
UINT64 = UInt64()
STR = Str()
NAME_TYPE: Enum[str] = Enum({"host_based": 0, "user_name": 1, "krb5_principal": 2})
MECHANISM: Enum[str | None] = Enum({None: 0, "plain": 1, "curve": 2, "gssapi": 3})
ROUTER_NOTIFY: Enum[str | None] = Enum({None: 0, "connect": 1, "disconnect": 2, "both": 3})

# Access: "rw" read and write; "ro" read only; "wo" write only;
# "kept": libzmq cannot read it back, so the last value set is kept here.
Access = str


@dataclass(frozen=True)
class Option:
    """One row of the table.

    `doc` says what the option means; `describe` adds its type, unit and
    default to it for docstrings, stubs and documentation.
    """

    name: str
    id: int
    kind: Kind[Any]
    targets: frozenset[str]
    doc: str
    access: Access = "rw"
    # What a new socket (or context) reads: libzmq's default, and for "kept"
    # options what reading returns until one is set. A test checks each.
    default: object = None
    mirror: str | None = None  # a slot of the owner that shadows the value for the fast path
    unit: str = ""  # of an int value: "milliseconds", "bytes", "messages"...
    # Classes whose new sockets start from another default: (class, value) pairs.
    class_defaults: tuple[tuple[str, object], ...] = ()
    # Only a libzmq built with the DRAFT API has it (`make draft`); elsewhere
    # reading or setting it is a ZMQError naming it (see `_check_draft`).
    draft: bool = False

    @property
    def readable(self) -> bool:
        return self.access != "wo"

    @property
    def writable(self) -> bool:
        return self.access != "ro"

    def default_for(self, cls_name: str) -> object:
        """What a new `cls_name` reads before the option is set."""
        return dict(self.class_defaults).get(cls_name, self.default)


def type_text(option: Option) -> str:
    """The Python type an option reads as (and takes, when that differs)."""
    kind = option.kind
    text = kind.get_annotation
    if isinstance(kind, Int):
        text = f"{text} ({kind.label})"
    if option.writable and kind.set_annotation != kind.get_annotation:
        text = f"{text}; set as {kind.set_annotation}"
    return text


def describe(option: Option) -> str:
    """The whole description of an option: its meaning, then its type, unit
    and default (and whether it is read- or write-only).

    The one text that option properties carry as their docstring (so `help()`
    shows it), that `scripts/gen_stubs.py` writes into the stubs and that the
    documentation renders.
    """
    facts = f"Type: {type_text(option)}"
    if option.unit:
        facts += f", in {option.unit}"
    facts += "."
    if option.access == "ro":
        facts += " Read-only."
    elif option.access == "wo":
        facts += " Write-only."
    else:
        default = option.default
        facts += f" Default: {default!r}" + (" (unset)" if default is None else "")
        if option.class_defaults:
            facts += " (" + ", ".join(
                f"{value!r} on {cls}" for cls, value in option.class_defaults
            ) + ")"
        facts += "."
    return f"{option.doc}\n\n{facts}"


SOCKET_CLASSES = ["Pair", "Publisher", "Subscriber", "Request", "Reply", "Dealer", "Router", "Pull", "Push", "XPublisher", "XSubscriber", "Stream"]
SENDING = frozenset(
    ["Pair", "Publisher", "Request", "Reply", "Dealer", "Router", "Push", "XPublisher", "XSubscriber", "Stream"]
)
RECEIVING = frozenset(
    ["Pair", "Subscriber", "Request", "Reply", "Dealer", "Router", "Pull", "XPublisher", "XSubscriber", "Stream"]
)
# The DRAFT socket types: always defined, usable with a libzmq built with the
# DRAFT API (`make draft`). All but Datagram are thread-safe and single-part.
DRAFT_CLASSES = ["Server", "Client", "Radio", "Dish", "Gather", "Scatter", "Datagram", "Peer", "Channel"]
SENDING |= frozenset(["Server", "Client", "Radio", "Scatter", "Datagram", "Peer", "Channel"])
RECEIVING |= frozenset(["Server", "Client", "Dish", "Gather", "Datagram", "Peer", "Channel"])
ALL = frozenset(SOCKET_CLASSES + DRAFT_CLASSES)
DRAFT = bool(zmq.has("draft"))
"""Whether the libzmq in use has the DRAFT API (its sockets and options)."""
CONTEXT = frozenset({"Context"})


def _only(names: str) -> frozenset[str]:
    return frozenset(names.split())


_GSSAPI = " (needs a libzmq built with GSSAPI)"
_VMCI = " (vmci:// transport only)"

# fmt: off
OPTIONS: tuple[Option, ...] = (
    # -- every socket
    Option("affinity", zmq.AFFINITY, UINT64, ALL, "Bit mask of the I/O threads that handle new connections.", default=0),
    Option("backlog", zmq.BACKLOG, INT32, ALL, "Maximum queue of pending incoming connections.", default=100, unit="connections"),
    Option("connect_timeout", zmq.CONNECT_TIMEOUT, INT32, ALL, "Milliseconds before a TCP connect attempt gives up; 0 leaves it to the OS.", default=0, unit="milliseconds"),
    Option("curve_public_key", zmq.CURVE_PUBLICKEY, CurveKey(), ALL, "This socket's long-term CURVE public key (clients must set it).", "kept"),
    Option("curve_secret_key", zmq.CURVE_SECRETKEY, CurveKey(), ALL, "This socket's long-term CURVE secret key (clients and servers).", "kept"),
    Option("curve_server", zmq.CURVE_SERVER, BOOL, ALL, "Act as CURVE server: needs `curve_secret_key`.", default=False),
    Option("curve_server_key", zmq.CURVE_SERVERKEY, CurveKey(), ALL, "The server's CURVE public key, set on clients.", "kept"),
    Option("gssapi_plain_text", zmq.GSSAPI_PLAINTEXT, BOOL, ALL, "Send GSSAPI messages unencrypted" + _GSSAPI + ".", "kept", False),
    Option("gssapi_principal", zmq.GSSAPI_PRINCIPAL, STR, ALL, "Name of this socket's GSSAPI principal" + _GSSAPI + ".", "kept"),
    Option("gssapi_principal_name_type", zmq.GSSAPI_PRINCIPAL_NAMETYPE, NAME_TYPE, ALL, "How `gssapi_principal` is read" + _GSSAPI + ".", "kept", "host_based"),
    Option("gssapi_server", zmq.GSSAPI_SERVER, BOOL, ALL, "Act as GSSAPI server" + _GSSAPI + ".", "kept", False),
    Option("gssapi_service_principal", zmq.GSSAPI_SERVICE_PRINCIPAL, STR, ALL, "Name of the GSSAPI principal of the server" + _GSSAPI + ".", "kept"),
    Option("gssapi_service_principal_name_type", zmq.GSSAPI_SERVICE_PRINCIPAL_NAMETYPE, NAME_TYPE, ALL, "How `gssapi_service_principal` is read" + _GSSAPI + ".", "kept", "host_based"),
    Option("handshake_interval", zmq.HANDSHAKE_IVL, INT32, ALL, "Milliseconds a new connection has to finish its handshake; 0 is no limit.", default=30000, unit="milliseconds"),
    Option("heartbeat_interval", zmq.HEARTBEAT_IVL, INT32, ALL, "Milliseconds between ZMTP PINGs; 0 sends none.", default=0, unit="milliseconds"),
    Option("heartbeat_timeout", zmq.HEARTBEAT_TIMEOUT, INT32, ALL, "Milliseconds without traffic after a PING before the connection is dropped.", default=-1, unit="milliseconds"),
    Option("heartbeat_time_to_live", zmq.HEARTBEAT_TTL, INT32, ALL, "Milliseconds the peer may go without traffic from us before it drops the connection.", default=0, unit="milliseconds"),
    Option("immediate", zmq.IMMEDIATE, BOOL, ALL, "Queue messages only on completed connections.", default=False),
    Option("interface", zmq.BINDTODEVICE, STR, ALL, "Network interface to bind the socket's connections to (Linux, needs CAP_NET_RAW)."),
    Option("ipv6", zmq.IPV6, BOOL, ALL, "Use IPv6 as well as IPv4.", default=False),
    Option("last_endpoint", zmq.LAST_ENDPOINT, STR, ALL, "The endpoint last bound, with the port chosen for `tcp://host:*`.", "ro"),
    Option("linger", zmq.LINGER, INT32, ALL, "Milliseconds queued messages are kept after `close()`; -1 forever, 0 drop them.", default=-1, unit="milliseconds", class_defaults=(("Subscriber", 0), ("XSubscriber", 0))),
    Option("loopback_fast_path", zmq.LOOPBACK_FASTPATH, BOOL, ALL, "Use the loopback fast path for TCP (Windows only).", default=False),
    Option("max_message_size", zmq.MAXMSGSIZE, INT64, ALL, "Largest inbound message in bytes; a peer that sends a larger one is disconnected. -1 is no limit.", default=-1, unit="bytes"),
    Option("multicast_max_transport_data_unit", zmq.MULTICAST_MAXTPDU, INT32, ALL, "Largest multicast transport data unit in bytes.", default=1500, unit="bytes"),
    Option("plain_password", zmq.PLAIN_PASSWORD, STR, ALL, "Password of a PLAIN client."),
    Option("plain_server", zmq.PLAIN_SERVER, BOOL, ALL, "Act as PLAIN server.", default=False),
    Option("plain_username", zmq.PLAIN_USERNAME, STR, ALL, "User name of a PLAIN client."),
    Option("rate", zmq.RATE, INT32, ALL, "Multicast data rate in kilobits per second.", default=100, unit="kilobits per second"),
    Option("reconnect_interval", zmq.RECONNECT_IVL, INT32, ALL, "Milliseconds before reconnecting; -1 never reconnects.", default=100, unit="milliseconds"),
    Option("reconnect_max_interval", zmq.RECONNECT_IVL_MAX, INT32, ALL, "Upper bound in milliseconds of the doubling reconnect interval; 0 does not double.", default=0, unit="milliseconds"),
    Option("recovery_interval", zmq.RECOVERY_IVL, INT32, ALL, "Milliseconds a multicast receiver may be away before data is lost.", default=10000, unit="milliseconds"),
    Option("security_mechanism", zmq.MECHANISM, MECHANISM, ALL, "The security mechanism in use: None, 'plain', 'curve' or 'gssapi'.", "ro"),
    Option("socks_proxy", zmq.SOCKS_PROXY, STR, ALL, "SOCKS5 proxy for TCP connections, as host:port."),
    Option("tcp_accept_filter", zmq.TCP_ACCEPT_FILTER, STR, ALL, "Accept TCP connections only from this CIDR. Each value set adds a filter to those set before (reading gives the last one set); None clears them all.", "kept"),
    Option("tcp_keepalive", zmq.TCP_KEEPALIVE, INT32, ALL, "SO_KEEPALIVE: 1 on, 0 off, -1 the OS default.", default=-1),
    Option("tcp_keepalive_count", zmq.TCP_KEEPALIVE_CNT, INT32, ALL, "TCP_KEEPCNT; -1 the OS default.", default=-1, unit="probes"),
    Option("tcp_keepalive_idle", zmq.TCP_KEEPALIVE_IDLE, INT32, ALL, "TCP_KEEPIDLE; -1 the OS default.", default=-1, unit="seconds"),
    Option("tcp_keepalive_interval", zmq.TCP_KEEPALIVE_INTVL, INT32, ALL, "TCP_KEEPINTVL; -1 the OS default.", default=-1, unit="seconds"),
    Option("tcp_max_retransmit_timeout", zmq.TCP_MAXRT, INT32, ALL, "Milliseconds before unacknowledged TCP data drops the connection; 0 the OS default.", default=0, unit="milliseconds"),
    Option("thread_safe", zmq.THREAD_SAFE, BOOL, ALL, "Whether the socket may be used from several threads (only DRAFT types are).", "ro"),
    Option("type", zmq.TYPE, INT32, ALL, "The libzmq socket type number (`zmq.DEALER` and so on).", "ro"),
    Option("type_of_service", zmq.TOS, INT32, ALL, "The IP type-of-service byte of outgoing packets.", default=0),
    Option("vmci_buffer_max_size", zmq.VMCI_BUFFER_MAX_SIZE, UINT64, ALL, "Largest VMCI buffer" + _VMCI + ".", "kept", 0, unit="bytes"),
    Option("vmci_buffer_min_size", zmq.VMCI_BUFFER_MIN_SIZE, UINT64, ALL, "Smallest VMCI buffer" + _VMCI + ".", "kept", 0, unit="bytes"),
    Option("vmci_buffer_size", zmq.VMCI_BUFFER_SIZE, UINT64, ALL, "VMCI buffer size" + _VMCI + ".", "kept", 0, unit="bytes"),
    Option("vmci_connect_timeout", zmq.VMCI_CONNECT_TIMEOUT, INT32, ALL, "VMCI connect timeout in milliseconds" + _VMCI + ".", "kept", -1, unit="milliseconds"),
    Option("zap_domain", zmq.ZAP_DOMAIN, STR, ALL, "ZAP authentication domain (RFC 27)."),
    Option("zap_enforce_domain", zmq.ZAP_ENFORCE_DOMAIN, BOOL, ALL, "Require a ZAP domain, as RFC 27 says.", default=False),
    # -- sockets that send
    Option("multicast_hops", zmq.MULTICAST_HOPS, INT32, SENDING, "Time-to-live of multicast packets.", default=1, unit="hops"),
    Option("send_buffer_size", zmq.SNDBUF, INT32, SENDING, "Kernel send buffer in bytes; -1 the OS default.", default=-1, unit="bytes"),
    Option("send_high_water_mark", zmq.SNDHWM, INT32, SENDING, "Most outgoing messages queued per peer; 0 is no limit.", default=1000, unit="messages"),
    Option("send_timeout", zmq.SNDTIMEO, INT32, SENDING, "Milliseconds `send()` waits: -1 forever, 0 fail at once.", mirror="_send_timeout", default=-1, unit="milliseconds"),
    # -- sockets that receive
    Option("receive_buffer_size", zmq.RCVBUF, INT32, RECEIVING, "Kernel receive buffer in bytes; -1 the OS default.", default=-1, unit="bytes"),
    Option("receive_high_water_mark", zmq.RCVHWM, INT32, RECEIVING, "Most incoming messages queued per peer; 0 is no limit.", default=1000, unit="messages"),
    Option("receive_timeout", zmq.RCVTIMEO, INT32, RECEIVING, "Milliseconds `receive()` waits: -1 forever, 0 fail at once.", mirror="_receive_timeout", default=-1, unit="milliseconds"),
    # -- some classes
    Option("conflate", zmq.CONFLATE, BOOL, _only("Dealer Publisher Pull Push Subscriber"), "Keep only the last message in the queue (single-part messages only).", default=False),
    Option("routing_id", zmq.ROUTING_ID, RoutingId(), _only("Dealer Reply Request Router"), "This socket's identity towards a Router (1 to 255 bytes)."),
    Option("probe_router", zmq.PROBE_ROUTER, BOOL, _only("Dealer Request Router"), "Send an empty message to a Router on each new connection.", "kept", False),
    Option("correlate", zmq.REQ_CORRELATE, BOOL, _only("Request"), "Prefix requests with an id and drop replies that do not match it.", "kept", False),
    Option("relaxed", zmq.REQ_RELAXED, BOOL, _only("Request"), "Allow a new request before the last reply came (use with `correlate`).", "kept", False),
    Option("mandatory", zmq.ROUTER_MANDATORY, BOOL, _only("Router"), "Fail sends to unknown peers (EHOSTUNREACH) and wait at the high water mark instead of dropping.", "kept", False),
    Option("handover", zmq.ROUTER_HANDOVER, BOOL, _only("Router"), "Give a routing id to a new peer that claims it, dropping the old one.", "kept", False),
    Option("no_drop", zmq.XPUB_NODROP, BOOL, _only("Publisher XPublisher"), "Fail with EAGAIN at the high water mark instead of dropping.", "kept", False),
    Option("invert_matching", zmq.INVERT_MATCHING, BOOL, _only("Publisher Subscriber XPublisher"), "Deliver the messages that match no subscription.", default=False),
    Option("manual", zmq.XPUB_MANUAL, BOOL, _only("XPublisher"), "Handle subscriptions by hand.", "kept", False),
    Option("welcome_message", zmq.XPUB_WELCOME_MSG, STR, _only("XPublisher"), "A message sent to every new subscriber.", "kept"),
    Option("verbosity", zmq.XPUB_VERBOSE, Verbosity(), _only("XPublisher"), "Pass on duplicate subscriptions ('all_subs') and unsubscriptions too ('all_subs_unsubs').", "kept"),
    Option("notify", zmq.STREAM_NOTIFY, BOOL, _only("Stream"), "Deliver an empty message when a peer connects or disconnects.", "kept", True),
    # -- DRAFT options (libzmq's DRAFT API: `make draft`)
    Option("hello_message", zmq.HELLO_MSG, Blob(), _only("Dealer Router Client Server Peer"), "A message this socket sends to each new peer as its first (DRAFT).", "kept", draft=True),
    Option("disconnect_message", zmq.DISCONNECT_MSG, Blob(), _only("Router Server Peer"), "A message this socket receives, as if from the peer, when a peer disconnects (DRAFT).", "kept", draft=True),
    Option("router_notify", zmq.ROUTER_NOTIFY, ROUTER_NOTIFY, _only("Router"), "Deliver an empty message with the peer's routing id when a peer connects ('connect'), disconnects ('disconnect') or both ('both') (DRAFT).", draft=True),
    Option("only_first_subscribe", zmq.ONLY_FIRST_SUBSCRIBE, BOOL, _only("XPublisher XSubscriber"), "Treat only the first part of a multipart message as a subscription (DRAFT).", "kept", False, draft=True),
    Option("manual_last_value", zmq.XPUB_MANUAL_LAST_VALUE, BOOL, _only("XPublisher"), "As `manual`, but send a new subscriber only the last value (DRAFT).", "kept", False, draft=True),
    Option("socks_username", zmq.SOCKS_USERNAME, STR, ALL, "User name for the SOCKS5 proxy (DRAFT).", draft=True),
    Option("socks_password", zmq.SOCKS_PASSWORD, STR, ALL, "Password for the SOCKS5 proxy (DRAFT).", draft=True),
    Option("in_batch_size", zmq.IN_BATCH_SIZE, Int(1, 2**31 - 1, "positive 32-bit"), ALL, "Bytes libzmq reads from the network in one go (DRAFT).", unit="bytes", draft=True),
    Option("out_batch_size", zmq.OUT_BATCH_SIZE, Int(1, 2**31 - 1, "positive 32-bit"), ALL, "Bytes libzmq writes to the network in one go (DRAFT).", unit="bytes", draft=True),
    Option("multicast_loop", zmq.MULTICAST_LOOP, BOOL, _only("Radio Dish Datagram"), "Deliver multicast UDP back to this host (DRAFT).", draft=True),
    # -- contexts
    Option("blocky", zmq.BLOCKY, BOOL, CONTEXT, "Wait at exit for queued messages of sockets with the default linger; False gives new sockets linger 0.", default=True),
    Option("io_threads", zmq.IO_THREADS, INT32, CONTEXT, "Size of the I/O thread pool (set before the first socket).", default=1, unit="threads"),
    Option("max_message_size", zmq.MAX_MSGSZ, INT32, CONTEXT, "Largest message in bytes for the context.", default=2147483647, unit="bytes"),
    Option("max_sockets", zmq.MAX_SOCKETS, INT32, CONTEXT, "Most sockets the context may have open.", default=1023, unit="sockets"),
    Option("max_sockets_limit", zmq.SOCKET_LIMIT, INT32, CONTEXT, "The largest value `max_sockets` accepts.", "ro", unit="sockets"),
    Option("ipv6", zmq.IPV6, BOOL, CONTEXT, "Give new sockets IPv6 support.", default=False),
    Option("thread_priority", zmq.THREAD_PRIORITY, INT32, CONTEXT, "Scheduling priority of the I/O threads (set before the first socket).", "wo"),
    Option("thread_scheduling_policy", zmq.THREAD_SCHED_POLICY, INT32, CONTEXT, "Scheduling policy of the I/O threads (set before the first socket).", "wo"),
)
# fmt: on


def options_for(cls_name: str) -> tuple[Option, ...]:
    """The rows of one class, in table order."""
    return tuple(o for o in OPTIONS if cls_name in o.targets)


class OptionProperty(property):
    """The typed property made from one row (see `attach`); its docstring is
    `describe(option)`, so ``help()`` shows the option's meaning, type, unit
    and default."""

    def __init__(self, option: Option) -> None:
        super().__init__()
        self.__doc__ = describe(option)  # the instance's, not the class's
        self.option = option

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: HasOptions | None, owner: type | None = None) -> Any:
        if obj is None:
            return self
        return get_option(obj, self.option)

    def __set__(self, obj: HasOptions, value: object) -> None:
        set_option(obj, self.option, value)

    def __delete__(self, obj: HasOptions) -> None:
        raise AttributeError(f"option {self.option.name!r} cannot be deleted")


def get_option(obj: HasOptions, opt: Option) -> Any:
    """Read one option as its Python value, raising what the contract names."""
    if not opt.readable:
        raise AttributeError(f"option {opt.name!r} can only be written")
    _check_open(obj)
    _check_draft(opt)
    if opt.access == "kept":
        value = obj._option_cache.get(opt.name, None)
        if value is None:
            return opt.default
        return opt.kind.decode(value)
    try:
        raw = obj._native.get(opt.id)
    except zmq.ZMQError as exc:
        if exc.errno == errno.EINVAL and isinstance(opt.kind, Str):
            # pyzmq reads strings into 256 bytes; a longer one (an inproc
            # name, say) needs a larger buffer.
            raw = read_long_string(obj._native, opt.id)
            if raw is not None:
                return opt.kind.decode(raw)
        raise from_zmq(exc, f"Cannot read option {opt.name!r}") from None
    return opt.kind.decode(raw)


# Options whose values are secrets: no error message or repr shows them.
SECRET_OPTIONS = frozenset({"curve_secret_key", "plain_password", "socks_password"})

# Options libzmq (or the engine) applies at once even on a socket that has
# bound or connected; setting any other then warns (OptionWarning).
TAKES_EFFECT_AT_ONCE = frozenset(
    {
        "linger", "send_timeout", "receive_timeout", "mandatory", "handover",
        "correlate", "relaxed", "verbosity", "no_drop", "manual", "invert_matching",
        "welcome_message", "router_notify",
    }
)  # fmt: skip
# libzmq resizes the pipes of connects, but a bind's listener keeps the value
# it had at bind(); and it sends the router probe when a pipe is attached, which
# for a connect is at connect().
AT_ONCE_UNLESS_BOUND = frozenset({"send_high_water_mark", "receive_high_water_mark"})
AT_ONCE_UNLESS_CONNECTED = frozenset({"probe_router"})


def _applies_at_once(obj: HasOptions, name: str) -> bool:
    if name in TAKES_EFFECT_AT_ONCE:
        return True
    binds = len(getattr(obj, "_bound", ()))
    if name in AT_ONCE_UNLESS_BOUND:
        return binds == 0
    if name in AT_ONCE_UNLESS_CONNECTED:
        return getattr(obj, "_endpoints", 0) - binds <= 0
    return False


def set_option(obj: HasOptions, opt: Option, value: object) -> None:
    """Convert and set one option, raising what the contract names on bad input."""
    if not opt.writable:
        raise AttributeError(f"option {opt.name!r} is read-only")
    _check_open(obj)
    _check_draft(opt)
    raw = opt.kind.encode(opt.name, value)
    if raw is None and isinstance(opt.kind, CurveKey) and obj._option_cache.get(opt.name):
        # libzmq has no way to unset a key: None would leave the old one in use.
        raise ValueError(
            f"option {opt.name!r}: libzmq cannot unset a CURVE key once set "
            "(set another key, or use a new socket)"
        )
    secret = opt.name in SECRET_OPTIONS
    shown = "<hidden>" if secret else repr(value)
    error: Exception | None = None
    try:
        opt.kind.write(obj._native, opt.id, raw)
    except zmq.ZMQError as exc:
        error = from_zmq(exc, f"Cannot set option {opt.name!r} to {shown}")
    except (OverflowError, ValueError, TypeError) as exc:  # pyzmq's own checks
        # pyzmq's message may quote the value: not for a secret.
        error = ValueError(f"Cannot set option {opt.name!r} to {shown}" + ("" if secret else f": {exc}"))
    if error is not None:
        raise error  # outside the except block: no __context__ holding the value
    if opt.access == "kept":
        obj._option_cache[opt.name] = raw
    if opt.mirror is not None:
        setattr(obj, opt.mirror, value)
    if getattr(obj, "_endpoints", 0) > 0 and not _applies_at_once(obj, opt.name):
        warnings.warn(
            f"option {opt.name!r} was set after bind() or connect(): libzmq applies "
            "it only to later binds and connects",
            OptionWarning,
            stacklevel=3,  # the line that set it
        )


def _check_draft(opt: Option) -> None:
    if opt.draft and not DRAFT:
        raise ZMQError(
            errno.ENOTSUP,
            f"option {opt.name!r} needs a libzmq built with the DRAFT API, which pyzmq's "
            "wheels are not; `make draft` builds one",
        )


def _check_open(obj: HasOptions) -> None:
    # Sockets only (a Context has no `_closed`): a closed socket, or a
    # parent's socket in a forked child, must not touch libzmq.
    if getattr(obj, "_closed", False):
        raise closed_error(getattr(obj, "_orphaned", False))


def attach(cls: type, names: Iterable[Option]) -> None:
    """Give `cls` a property for each row."""
    for opt in names:
        prop = OptionProperty(opt)
        setattr(cls, opt.name, prop)
        prop.__set_name__(cls, opt.name)


def apply_keywords(obj: HasOptions, cls_name: str, table: dict[str, Option], kwargs: dict[str, object]) -> None:
    """Set the constructor's option keywords, naming any that does not belong."""
    for name, value in kwargs.items():
        opt = table.get(name)
        if opt is None or not opt.writable:
            raise TypeError(f"{cls_name}() got an unexpected keyword argument {name!r}")
        set_option(obj, opt, value)


def keyword_table(cls_name: str) -> dict[str, Option]:
    return {o.name: o for o in options_for(cls_name)}


def keyword_signature(cls_name: str, leading: Iterable[inspect.Parameter] = ()) -> inspect.Signature:
    """The constructor signature of a class as `inspect.signature` shows it:
    `leading` (such as ``context``), then each writable option as a keyword
    with its type and default."""
    params = list(leading)
    for opt in options_for(cls_name):
        if opt.writable:
            params.append(
                inspect.Parameter(
                    opt.name,
                    inspect.Parameter.KEYWORD_ONLY,
                    default=opt.default_for(cls_name),
                    annotation=opt.kind.set_annotation,
                )
            )
    return inspect.Signature(params, return_annotation="None")


__all__ = [
    "DRAFT", "DRAFT_CLASSES", "OPTIONS", "Option", "OptionProperty", "ZMQError", "attach",
    "describe", "keyword_signature", "options_for", "type_text",
]
