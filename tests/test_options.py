"""The options table: each class has exactly the reference's options, typed."""

from __future__ import annotations

import asyncio
import gc
import re
import subprocess
import sys
from pathlib import Path

import pytest
import zmq
from conftest import bind

import zeromq
from zeromq._sockets import SOCKET_CLASSES

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "docs" / "reference" / "zeromq-js-6-api-reference.txt"
READ_ONLY = {"type", "last_endpoint", "security_mechanism", "thread_safe"}


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def reference_options() -> dict[str, set[str]]:
    """Constructor options of each class as the reference lists them, snake_cased."""
    found: dict[str, set[str]] = {}
    current = None
    for line in REFERENCE.read_text().splitlines():
        match = re.match(r"class (\w+) extends Socket", line)
        if match:
            current = match.group(1)
        elif current and line.startswith("constructor(options?: {"):
            names = set(re.findall(r"(\w+)\?:", line)) - {"context", "options"}
            found[current] = {snake(n) for n in names}
            current = None
    return found


def public_options(cls: type) -> set[str]:
    return {
        name
        for klass in cls.__mro__
        for name, value in vars(klass).items()
        if isinstance(value, zeromq._options.OptionProperty)
    }


@pytest.mark.parametrize("cls", SOCKET_CLASSES, ids=lambda c: c.__name__)
def test_each_class_has_exactly_the_reference_options(cls: type[zeromq.Socket]) -> None:
    # Beyond the reference: libzmq's DRAFT options (usable under `make draft`).
    draft = {o.name for o in zeromq._options.options_for(cls.__name__) if o.draft}
    expected = reference_options()[cls.__name__] | READ_ONLY | draft
    assert public_options(cls) == expected


@pytest.mark.parametrize("cls", SOCKET_CLASSES, ids=lambda c: c.__name__)
def test_writable_options_are_constructor_keywords_and_read_back(cls: type[zeromq.Socket]) -> None:
    samples: dict[str, object] = {
        "linger": 0,
        "backlog": 7,
        "send_high_water_mark": 123,
        "receive_high_water_mark": 321,
        "send_timeout": 250,
        "receive_timeout": 260,
        "immediate": True,
        "ipv6": True,
        "max_message_size": 2**40,
        "affinity": 2**62,
        "zap_domain": "global",
        "routing_id": "me",
        "conflate": True,
        "invert_matching": True,
        "probe_router": True,
        "mandatory": True,
        "no_drop": True,
        "manual": True,
        "verbosity": "all_subs_unsubs",
        "correlate": True,
        "relaxed": True,
        "handover": True,
        "notify": False,
        "welcome_message": "hi",
        "tcp_accept_filter": "127.0.0.1",
    }
    mine = {k: v for k, v in samples.items() if k in public_options(cls)}
    sock = cls(**mine)  # type: ignore[arg-type]
    try:
        for name, value in mine.items():
            expected = value.encode() if name == "routing_id" else value  # type: ignore[union-attr]
            assert getattr(sock, name) == expected, name
    finally:
        sock.close()


def test_defaults_read_back_as_python_values() -> None:
    with_all = zeromq.Router(linger=0)
    try:
        assert with_all.type == zmq.ROUTER
        assert with_all.last_endpoint is None
        assert with_all.security_mechanism is None
        assert with_all.thread_safe is False
        assert with_all.routing_id is None
        assert with_all.mandatory is False
        assert with_all.curve_server_key is None
        assert with_all.receive_timeout == -1
    finally:
        with_all.close()


def test_unknown_keyword_is_a_type_error_naming_it() -> None:
    with pytest.raises(TypeError, match="'lingr'"):
        zeromq.Dealer(lingr=0)  # type: ignore[call-arg]


def test_option_of_another_class_is_not_there() -> None:
    with pytest.raises(TypeError, match="'conflate'"):
        zeromq.Router(conflate=True)  # type: ignore[call-arg]
    pull = zeromq.Pull(linger=0)
    try:
        with pytest.raises(AttributeError, match="send_high_water_mark"):
            pull.send_high_water_mark = 5  # type: ignore[attr-defined]
        with pytest.raises(AttributeError, match="send_high_water_mark"):
            pull.send_high_water_mark  # type: ignore[attr-defined]  # noqa: B018
        assert not hasattr(pull, "send")
        assert not hasattr(zeromq.Publisher, "receive")
    finally:
        pull.close()


@pytest.mark.parametrize("name", sorted(READ_ONLY))
def test_read_only_options_raise_attribute_error_when_set(name: str) -> None:
    sock = zeromq.Dealer(linger=0)
    try:
        with pytest.raises(AttributeError, match=name):
            setattr(sock, name, None)
        with pytest.raises(TypeError, match=name):
            zeromq.Dealer(**{name: None})
    finally:
        sock.close()


@pytest.mark.parametrize(
    ("name", "value", "kind"),
    [
        ("linger", "0", "int"),
        ("linger", 1.5, "int"),
        ("linger", True, "int"),
        ("immediate", 1, "bool"),
        ("zap_domain", 5, "str"),
        ("curve_secret_key", 5, "Z85"),
    ],
)
def test_wrong_type_is_a_type_error_naming_option_and_type(name: str, value: object, kind: str) -> None:
    sock = zeromq.Dealer(linger=0)
    try:
        with pytest.raises(TypeError, match=f"'{name}'.*{kind}"):
            setattr(sock, name, value)
        with pytest.raises(TypeError, match=f"'{name}'"):
            zeromq.Dealer(**{name: value})
    finally:
        sock.close()


@pytest.mark.parametrize(
    ("name", "value"),
    [("linger", 2**31), ("affinity", -1), ("send_high_water_mark", -(2**40)), ("verbosity", "all")],
)
def test_out_of_range_is_a_value_error_naming_the_option(name: str, value: object) -> None:
    sock = zeromq.XPublisher(linger=0)
    try:
        with pytest.raises(ValueError, match=f"'{name}'"):
            setattr(sock, name, value)
    finally:
        sock.close()


# Each integer kind at both ends of its range: (option, value, what happens).
# "back": accepted and read back unchanged; ValueError: refused by the table's
# range check, naming the option; ZMQError: within the table's range, so passed
# to libzmq, which refuses it (no 32-bit option of libzmq takes INT32's minimum).
RANGE_ENDS: list[tuple[str, int, str | type[Exception]]] = [
    ("linger", 2**31 - 1, "back"),  # INT32
    ("linger", 2**31, ValueError),
    ("linger", -(2**31), zeromq.ZMQError),
    ("linger", -(2**31) - 1, ValueError),
    ("max_message_size", 2**63 - 1, "back"),  # INT64
    ("max_message_size", 2**63, ValueError),
    ("max_message_size", -(2**63), "back"),
    ("max_message_size", -(2**63) - 1, ValueError),
    ("affinity", 0, "back"),  # unsigned 64-bit: libzmq takes the whole range
    ("affinity", 2**63, "back"),
    ("affinity", 2**64 - 1, "back"),
    ("affinity", 2**64, ValueError),
    ("affinity", -1, ValueError),
]


@pytest.mark.parametrize(("name", "value", "outcome"), RANGE_ENDS, ids=lambda v: repr(v))
@pytest.mark.parametrize("via", ["property", "keyword"])
def test_integer_options_at_both_ends_of_their_range(
    name: str, value: int, outcome: str | type[Exception], via: str
) -> None:
    def make() -> zeromq.Dealer:
        if via == "keyword":
            return zeromq.Dealer(**{"linger": 0, name: value})
        sock = zeromq.Dealer(linger=0)
        try:
            setattr(sock, name, value)
        except BaseException:
            sock.close()
            raise
        return sock

    if outcome == "back":
        sock = make()
        try:
            assert getattr(sock, name) == value
        finally:
            sock.close()
    else:
        assert not isinstance(outcome, str)
        # The table's own check says the range (pyzmq's overflow would not).
        message = f"'{name}' must be between" if outcome is ValueError else f"'{name}'"
        with pytest.raises(outcome, match=message) as info:
            make()
        # A ZMQError is an OSError, never the table's ValueError, and vice versa.
        assert isinstance(info.value, zeromq.ZMQError) == (outcome is zeromq.ZMQError)


def test_value_libzmq_refuses_is_a_zmq_error_naming_the_option() -> None:
    sock = zeromq.Dealer(linger=0)
    try:
        with pytest.raises(zeromq.ZMQError, match="'send_high_water_mark'") as info:
            sock.send_high_water_mark = -5
        assert info.value.code == "EINVAL"
    finally:
        sock.close()


def test_failed_constructor_leaves_no_socket_open() -> None:
    gc.collect()  # sockets of earlier tests must not be collected while we count
    before = len(zeromq.context._sockets)
    for _ in range(50):
        with pytest.raises(TypeError):
            zeromq.Dealer(linger=0, immediate="yes")  # type: ignore[arg-type]
    assert len(zeromq.context._sockets) == before


def test_enum_options_use_snake_case_strings() -> None:
    server = zeromq.Reply(linger=0, plain_server=True)
    xpub = zeromq.XPublisher(linger=0)
    try:
        assert server.security_mechanism == "plain"
        assert xpub.verbosity is None
        xpub.verbosity = "all_subs"
        assert xpub.verbosity == "all_subs"
        xpub.verbosity = None
        assert xpub.verbosity is None
    finally:
        server.close()
        xpub.close()


def test_curve_keys_accept_z85_or_raw_bytes_and_read_back_as_z85() -> None:
    public, secret = zeromq.curve_keypair()
    raw = zmq.utils.z85.decode(secret.encode())
    sock = zeromq.Dealer(linger=0, curve_secret_key=raw, curve_public_key=public)
    try:
        assert sock.curve_secret_key == secret
        assert sock.curve_public_key == public
        assert sock.security_mechanism == "curve"
        with pytest.raises(ValueError, match="'curve_server_key'"):
            sock.curve_server_key = "too short"
        with pytest.raises(ValueError, match="'curve_server_key'"):
            sock.curve_server_key = "~" * 40  # not Z85
    finally:
        sock.close()


def test_string_options_read_none_when_empty() -> None:
    sock = zeromq.Dealer(linger=0, zap_domain="domain", socks_proxy="127.0.0.1:1080")
    try:
        assert sock.zap_domain == "domain"
        assert sock.socks_proxy == "127.0.0.1:1080"
        sock.socks_proxy = None
        assert sock.socks_proxy is None
        assert sock.interface is None
        # libzmq 4.3 has no way to unset a ZAP domain: it says so, naming the option.
        with pytest.raises(zeromq.ZMQError, match="'zap_domain'"):
            sock.zap_domain = None
    finally:
        sock.close()


async def test_tcp_accept_filter_and_welcome_message_can_be_cleared() -> None:
    # libzmq cannot read either back; None must still clear them.
    async with (
        zeromq.XPublisher(linger=0, welcome_message="welcome", tcp_accept_filter="10.1.2.3") as xpub,
        zeromq.Subscriber(linger=0) as sub,
    ):
        xpub.tcp_accept_filter = None  # the filter would refuse 127.0.0.1
        xpub.welcome_message = None
        assert xpub.tcp_accept_filter is None and xpub.welcome_message is None
        await xpub.bind("tcp://127.0.0.1:*")
        sub.subscribe()
        sub.connect(xpub.last_endpoint)
        async with asyncio.timeout(5):
            assert await xpub.receive() == [b"\x01"]  # subscribed: accepted, no filter
            await xpub.send("news")
            assert await sub.receive() == [b"news"]  # and no welcome message first
    assert zeromq.Dealer(linger=0, tcp_accept_filter=None).tcp_accept_filter is None


def test_curve_key_text_is_40_z85_characters() -> None:
    sock = zeromq.Dealer(linger=0)
    try:
        # 32 characters of text are not taken for 32 raw bytes (bytes are).
        with pytest.raises(ValueError, match=r"'curve_secret_key'.*40-character"):
            sock.curve_secret_key = "a" * 32
        with pytest.raises(ValueError, match="ASCII"):
            sock.curve_secret_key = "é" * 40
        with pytest.raises(ValueError, match="40 Z85 characters"):
            zeromq.curve_public("a" * 32)
        assert sock.curve_secret_key is None
    finally:
        sock.close()


def test_a_curve_key_once_set_cannot_be_unset() -> None:
    public, _ = zeromq.curve_keypair()
    sock = zeromq.Dealer(linger=0, curve_server_key=None)  # never set: None is fine
    try:
        assert sock.curve_server_key is None
        sock.curve_server_key = public
        # libzmq would go on using the old key: say so instead of pretending.
        with pytest.raises(ValueError, match=r"'curve_server_key'.*cannot unset"):
            sock.curve_server_key = None
        assert sock.curve_server_key == public
    finally:
        sock.close()


def test_routing_ids_are_1_to_255_bytes_not_starting_with_zero() -> None:
    sock = zeromq.Dealer(linger=0)
    router = zeromq.Router(linger=0)
    try:
        with pytest.raises(ValueError, match=r"routing_id.*zero byte"):
            sock.routing_id = b"\x00abc"
        with pytest.raises(ValueError, match=r"routing_id.*zero byte"):
            router.connect("tcp://127.0.0.1:1", routing_id=b"\x00abc")
        with pytest.raises(TypeError, match="'routing_id' takes a str or bytes, not int"):
            sock.routing_id = 5  # type: ignore[assignment]
        with pytest.raises(TypeError, match="routing_id"):
            sock.routing_id = None  # type: ignore[assignment]
        with pytest.raises(ValueError, match="1 to 255"):
            sock.routing_id = b"x" * 256
        sock.routing_id = "me"
        assert sock.routing_id == b"me"
    finally:
        sock.close()
        router.close()


def test_enum_option_of_the_wrong_type_is_a_type_error() -> None:
    xpub = zeromq.XPublisher(linger=0)
    try:
        with pytest.raises(TypeError, match=r"'verbosity'.*int"):
            xpub.verbosity = 1  # type: ignore[assignment]
        with pytest.raises(ValueError, match="'verbosity'"):
            xpub.verbosity = "all"  # type: ignore[assignment]
    finally:
        xpub.close()


async def test_setting_an_option_after_bind_or_connect_warns() -> None:
    import warnings

    async with zeromq.Dealer(linger=0) as sock:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no warning before any bind or connect
            sock.heartbeat_interval = 100
        sock.connect("inproc://nowhere")
        # A security option set now would silently not apply to that connection.
        with pytest.warns(zeromq.OptionWarning, match="'curve_server'.*after bind") as caught:
            sock.curve_server = True
        assert caught[0].filename == __file__  # it points at the line that set it
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            sock.linger = 10  # applies at once: no warning
            sock.receive_high_water_mark = 5
        sock.disconnect("inproc://nowhere")
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            sock.heartbeat_interval = 200  # no endpoint left


async def test_which_late_options_warn_follows_what_libzmq_applies() -> None:
    import warnings

    async with (
        zeromq.Push(linger=0) as bound,
        zeromq.Push(linger=0) as connected,
        zeromq.XPublisher(linger=0) as xpub,
        zeromq.Dealer(linger=0) as dealer,
    ):
        await bound.bind("inproc://late-options-bound")
        connected.connect("inproc://late-options-elsewhere")
        await xpub.bind("inproc://late-options-xpub")
        dealer.connect("inproc://late-options-router")
        # A bind's listener keeps the high-water marks it had at bind().
        with pytest.warns(zeromq.OptionWarning, match="'send_high_water_mark'"):
            bound.send_high_water_mark = 5
        # A router probe is sent when a pipe is attached: at connect().
        with pytest.warns(zeromq.OptionWarning, match="'probe_router'"):
            dealer.probe_router = True
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            connected.send_high_water_mark = 5  # resizes the connect's pipe
            xpub.welcome_message = "hi"  # sent to each subscriber as it comes
        async with zeromq.Subscriber(linger=0) as sub:
            sub.subscribe()
            sub.connect("inproc://late-options-xpub")
            async with asyncio.timeout(5):
                # (libzmq attaches the subscriber, and sends the welcome, when
                # the XPublisher next handles its commands: this receive.)
                assert await xpub.receive() == [b"\x01"]
                assert await sub.receive() == [b"hi"]


@pytest.mark.parametrize(
    ("verbosity", "expected"),
    [
        (None, [[b"\x01a"]]),
        ("all_subs", [[b"\x01a"], [b"\x01a"]]),
        ("all_subs_unsubs", [[b"\x01a"], [b"\x01a"], [b"\x00a"], [b"\x00a"]]),
    ],
)
async def test_xpublisher_verbosity_passes_what_it_says(
    verbosity: str | None, expected: list[list[bytes]]
) -> None:
    async with (
        zeromq.XPublisher(linger=0, verbosity=verbosity, receive_timeout=200) as xpub,  # type: ignore[arg-type]
        zeromq.Subscriber(linger=0) as first,
        zeromq.Subscriber(linger=0) as second,
    ):
        assert xpub.verbosity == verbosity
        endpoint = await bind(xpub, "inproc")
        got = []
        for sub in (first, second):
            sub.connect(endpoint)
            sub.subscribe("a")
            if sub is first:
                got.append(await xpub.receive())  # the first always comes
        for sub in (first, second):
            sub.unsubscribe("a")
        # Then everything else this verbosity passes; a missing one times out.
        got += [await xpub.receive() for _ in range(len(expected) - 1)]
        assert got == expected


def test_the_socket_base_class_is_not_made_directly() -> None:
    with pytest.raises(TypeError, match=r"base of the socket classes.*Dealer"):
        zeromq.Socket()


def test_context_options() -> None:
    ctx = zeromq.Context(io_threads=2, max_sockets=64, blocky=False, ipv6=None)
    assert (ctx.io_threads, ctx.max_sockets, ctx.blocky, ctx.ipv6) == (2, 64, False, False)
    assert ctx.max_sockets_limit > 0
    ctx.thread_priority = 0
    with pytest.raises(AttributeError, match="thread_priority"):
        ctx.thread_priority  # noqa: B018
    with pytest.raises(AttributeError, match="max_sockets_limit"):
        ctx.max_sockets_limit = 5
    with pytest.raises(TypeError, match="'io_thread'"):
        zeromq.Context(io_thread=1)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="'blocky'"):
        zeromq.Context(blocky=1)  # type: ignore[arg-type]


def test_blocky_false_context_gives_sockets_linger_zero() -> None:
    ctx = zeromq.Context(blocky=False)
    sock = zeromq.Push(context=ctx)
    try:
        assert sock.linger == 0
        assert sock.context is ctx
    finally:
        sock.close()


def test_context_keyword_must_be_a_context() -> None:
    with pytest.raises(TypeError, match="context"):
        zeromq.Pair(context=zmq.Context.instance())  # type: ignore[arg-type]


def test_stubs_match_the_table() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_stubs.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


# -- run-time introspection: help() and inspect.signature() say what the stubs say

OWNERS: list[type] = [*SOCKET_CLASSES, zeromq.Context]


def rows_of(cls: type) -> tuple[zeromq._options.Option, ...]:
    return zeromq._options.options_for(cls.__name__)


def test_describe_gives_meaning_type_unit_and_default() -> None:
    text = zeromq._options.describe(zeromq.Dealer.receive_timeout.option)
    assert text.startswith("Milliseconds `receive()` waits")
    assert "Type: int (32-bit), in milliseconds. Default: -1." in text
    linger = zeromq._options.describe(zeromq.Dealer.linger.option)
    assert "Default: -1 (0 on Subscriber, 0 on XSubscriber)." in linger
    assert "Read-only." in zeromq._options.describe(zeromq.Dealer.last_endpoint.option)
    assert "Write-only." in zeromq._options.describe(zeromq.Context.thread_priority.option)
    assert "set as str | bytes" in zeromq._options.describe(zeromq.Dealer.routing_id.option)


@pytest.mark.parametrize("cls", OWNERS, ids=lambda c: c.__name__)
def test_help_on_an_option_shows_its_description(cls: type) -> None:
    import pydoc

    for opt in rows_of(cls):
        prop = getattr(cls, opt.name)
        assert prop.__doc__ == zeromq._options.describe(opt)
        assert "Type: " in pydoc.render_doc(prop, renderer=pydoc.plaintext)


@pytest.mark.parametrize("cls", OWNERS, ids=lambda c: c.__name__)
def test_signature_shows_the_option_keywords_with_their_defaults(cls: type) -> None:
    import inspect

    params = inspect.signature(cls).parameters
    writable = {o.name: o for o in rows_of(cls) if o.writable}
    expected = set(writable) | ({"context"} if cls is not zeromq.Context else set())
    assert set(params) == expected
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params.values())
    for name, opt in writable.items():
        assert params[name].default == opt.default_for(cls.__name__), name
        assert params[name].annotation == opt.kind.set_annotation, name


@pytest.mark.parametrize("cls", OWNERS, ids=lambda c: c.__name__)
def test_documented_defaults_are_what_a_new_one_reads(cls: type) -> None:
    """The defaults that help(), the signature and the docs show are libzmq's."""
    obj = cls()
    try:
        for opt in rows_of(cls):
            # DRAFT options document no default (and need `make draft` to read).
            if opt.readable and opt.writable and not opt.draft:
                assert getattr(obj, opt.name) == opt.default_for(cls.__name__), opt.name
    finally:
        if isinstance(obj, zeromq.Socket):
            obj.linger = 0
            obj.close()
