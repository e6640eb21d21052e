"""The `zeromq` command line, driven as subprocesses (``python -m zeromq``).

Processes that talk to each other bind to ``tcp://127.0.0.1:*`` and the test
reads the endpoint they print on stderr: no sleeps, no fixed ports.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import queue
import re
import signal
import stat
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest
from conftest import address, proxy_counted, within

import zeromq
from zeromq._cli import build_parser
from zeromq._cli._common import DEFAULT_LINGER, socket_options

ZEROMQ = [sys.executable, "-m", "zeromq"]
ROOT = Path(__file__).resolve().parent.parent
WAIT = 20  # seconds any one step may take before the test fails
COMMANDS = (
    "pub", "sub", "push", "pull", "req", "rep", "dealer", "router", "pair",
    "monitor", "proxy", "keygen", "bench",
)
ANY_PORT = "tcp://127.0.0.1:*"


class Process:
    """A running `zeromq` command whose output lines threads collect, so
    that a test waits for a line with a timeout instead of hanging."""

    def __init__(self, *args: str) -> None:
        self.popen = subprocess.Popen(
            [*ZEROMQ, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: dict[str, queue.Queue[str | None]] = {"stdout": queue.Queue(), "stderr": queue.Queue()}
        for name, stream in (("stdout", self.popen.stdout), ("stderr", self.popen.stderr)):
            threading.Thread(target=self._collect, args=(stream, self.lines[name]), daemon=True).start()

    @staticmethod
    def _collect(stream: IO[str], lines: queue.Queue[str | None]) -> None:
        for line in stream:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    def line(self, stream: str = "stdout") -> str:
        """The next line of `stream`; fails the test at its end or after WAIT seconds."""
        try:
            line = self.lines[stream].get(timeout=WAIT)
        except queue.Empty:
            pytest.fail(f"no line on {stream} within {WAIT} s")
        if line is None:
            pytest.fail(f"{stream} ended (exit status {self.popen.poll()})")
        return line

    def endpoint(self) -> str:
        """The endpoint of the next ``zeromq: bound to ...`` line on stderr."""
        line = self.line("stderr")
        assert "bound to " in line, line
        return line.rsplit(" ", 1)[-1]

    def write(self, text: str) -> None:
        assert self.popen.stdin is not None
        self.popen.stdin.write(text)
        self.popen.stdin.flush()

    def close_stdin(self) -> None:
        assert self.popen.stdin is not None
        self.popen.stdin.close()

    def wait(self) -> int:
        return self.popen.wait(timeout=WAIT)

    def rest(self, stream: str = "stdout") -> list[str]:
        """The remaining lines of `stream` once the process has exited."""
        self.wait()
        lines = []
        while (line := self.lines[stream].get(timeout=WAIT)) is not None:
            lines.append(line)
        return lines


@pytest.fixture
def start() -> Iterator[type[Process]]:
    """Starts `Process`es and kills whatever is left of them after the test."""
    started: list[Process] = []

    class Started(Process):
        def __init__(self, *args: str) -> None:
            super().__init__(*args)
            started.append(self)

    yield Started
    for process in started:
        if process.popen.poll() is None:
            process.popen.kill()
        process.popen.wait()
        for stream in (process.popen.stdin, process.popen.stdout, process.popen.stderr):
            if stream is not None:
                stream.close()


def run(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ZEROMQ, *args], input=input, capture_output=True, text=True, timeout=WAIT
    )


def assert_one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("zeromq: error: ")
    return lines[0]


# -- help and usage --------------------------------------------------------------


@pytest.mark.parametrize("command", COMMANDS)
def test_every_subcommand_has_help(command: str) -> None:
    result = run(command, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: zeromq {command}")


def test_help_lists_every_subcommand() -> None:
    result = run("--help")
    assert result.returncode == 0
    for command in COMMANDS:
        assert f"\n    {command} " in result.stdout


def test_no_subcommand_is_a_usage_error() -> None:
    result = run()
    assert result.returncode == 2
    assert "usage: zeromq" in result.stderr


def test_missing_address_is_a_usage_error() -> None:
    result = run("push")
    assert result.returncode == 2
    assert "--bind or --connect" in result.stderr


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).with_name("zeromq")
    if not script.exists():
        pytest.skip("the console script is not installed next to this Python")
    result = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=WAIT)
    assert result.returncode == 0
    assert result.stdout.startswith("zeromq ")


# -- messaging between two processes -------------------------------------------------


def test_push_sends_lines_to_pull_over_tcp(start: type[Process]) -> None:
    pull = start("pull", "--bind", ANY_PORT, "--count", "3")
    endpoint = pull.endpoint()
    assert endpoint.startswith("tcp://127.0.0.1:")
    push = run("push", "--connect", endpoint, input="one\ntwo\nthree\n")
    assert push.returncode == 0, push.stderr
    assert pull.rest() == ["one", "two", "three"]
    assert pull.wait() == 0


def test_req_prints_the_reply_of_rep(start: type[Process]) -> None:
    rep = start("rep", "--bind", ANY_PORT, "--echo", "--count", "2")
    req = run("req", "--connect", rep.endpoint(), input="hello\nworld\n")
    assert req.returncode == 0, req.stderr
    assert req.stdout == "hello\nworld\n"
    assert rep.rest() == ["hello", "world"]


def test_rep_replies_with_the_lines_of_its_stdin(start: type[Process]) -> None:
    rep = start("rep", "--bind", ANY_PORT, "--count", "2")
    rep.write("uno\ndos\n")
    req = run("req", "--connect", rep.endpoint(), input="one\ntwo\n")
    assert req.stdout == "uno\ndos\n", req.stderr
    assert rep.rest() == ["one", "two"]


def test_sub_receives_what_pub_publishes_under_its_prefix(start: type[Process]) -> None:
    sub = start("sub", "--bind", ANY_PORT, "--subscribe", "news", "--count", "2")
    pub = run(
        "pub", "--connect", sub.endpoint(), "--wait-subscribers", "1",
        input="weather\tsunny\nnews\tone\nsports\tnil\nnews\ttwo\n",
    )
    assert pub.returncode == 0, pub.stderr
    assert sub.rest() == ["news\tone", "news\ttwo"]


def test_separator_splits_lines_into_parts_and_joins_them(start: type[Process]) -> None:
    # The router shows the parts one by one: its peer's id, then the message's.
    router = start("router", "--bind", ANY_PORT, "--count", "1", "--separator", " | ")
    dealer = start("dealer", "--connect", router.endpoint(), "--routing-id", "d1", "--separator", ",")
    dealer.write("a,b,c\n")
    assert router.line() == "d1 | a | b | c"


def _stdin_lines_of(monkeypatch: pytest.MonkeyPatch, chunks: list[bytes]) -> list[bytes]:
    """The lines the commands read from a stdin that gives these chunks."""
    from types import SimpleNamespace

    from zeromq._cli import messaging

    given = iter(chunks)
    monkeypatch.setattr(sys, "stdin", SimpleNamespace(fileno=lambda: 0))
    monkeypatch.setattr(messaging, "os", SimpleNamespace(read=lambda fd, size: next(given, b"")))
    return list(messaging._stdin_lines())


def test_stdin_lines_end_at_newlines_across_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    chunks = [b"he", b"llo\r", b"\nwor", b"ld\n\nlong", b" one", b" too\r\nlast\r"]
    assert _stdin_lines_of(monkeypatch, chunks) == [
        b"hello", b"world", b"", b"long one too", b"last"
    ]


def test_a_long_line_on_stdin_is_read_as_fast_as_many_short_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 64 MiB as pipes give it, 64 KiB at a time: growing the line by a copy
    # per chunk took a time in the square of its length (half a minute here).
    chunk = 2**16
    size = 2**26
    one_line = [b"x" * chunk] * (size // chunk) + [b"\n"]
    short_lines = [(b"x" * 1023 + b"\n") * (chunk // 1024)] * (size // chunk)
    started = time.perf_counter()
    assert len(_stdin_lines_of(monkeypatch, short_lines)) == size // 1024
    short_took = time.perf_counter() - started
    started = time.perf_counter()
    assert [len(line) for line in _stdin_lines_of(monkeypatch, one_line)] == [size]
    long_took = time.perf_counter() - started
    assert long_took < 5 * short_took + 0.5, (long_took, short_took)


def test_router_and_dealer_talk_both_ways(start: type[Process]) -> None:
    router = start("router", "--bind", ANY_PORT)
    endpoint = router.endpoint()
    named = start("dealer", "--connect", endpoint, "--routing-id", "w1", "--count", "1")
    named.write("ping\n")
    assert router.line() == "w1\tping"
    router.write("w1\tpong\n")
    assert named.rest() == ["pong"]
    # A peer without a routing id gets one that is not printable: 0x<hex>.
    anonymous = start("dealer", "--connect", endpoint, "--count", "1")
    anonymous.write("hi\n")
    routing_id, text = router.line().split("\t")
    assert routing_id.startswith("0x") and text == "hi"
    router.write(f"{routing_id}\tback\n")
    assert anonymous.rest() == ["back"]
    router.write("nobody\tlost\n")
    assert router.line("stderr") == "zeromq: no peer with routing id nobody: message dropped"


def test_pair_talks_both_ways(start: type[Process]) -> None:
    one = start("pair", "--bind", ANY_PORT)
    two = start("pair", "--connect", one.endpoint(), "--count", "1")
    # In turn: a pair exits on its --count-th receive, and a line written to
    # its stdin after that is never read.
    two.write("from two\n")
    assert one.line() == "from two"
    one.write("from one\n")
    assert two.rest() == ["from one"]
    assert two.wait() == 0


LINES = [b"%04d" % i + b"." * 1000 for i in range(200)]


async def _pair_at_its_count_with_lines_unsent(
    start: type[Process], peer: zeromq.Pair, *options: str
) -> Process:
    """A `pair --count 1` that has read LINES from stdin, sent only some (a
    small kernel buffer and high-water mark, and `peer` reads nothing yet),
    and has then received its one message from `peer`."""
    endpoint = await peer.bind(address("tcp"))
    command = start(
        "pair", "--connect", endpoint, "--count", "1",
        "-o", "send_high_water_mark=1", "-o", "send_buffer_size=4096", *options,
    )
    assert command.popen.stdin is not None
    stdin = command.popen.stdin.buffer
    writer = threading.Thread(target=lambda: (stdin.write(b"\n".join(LINES) + b"\n"), stdin.flush()))
    writer.start()
    deadline = time.monotonic() + WAIT
    # Until the command has read all of stdin and handed every line over:
    # its reader thread then waits in read(0) again.
    while writer.is_alive() or _unread(stdin.fileno()) or not _reading_stdin(command.popen.pid):
        assert time.monotonic() < deadline, "the command did not read its stdin"
        await asyncio.sleep(0.01)
    await peer.send("stop")
    assert command.line() == "stop"  # received: its --count is reached
    return command


# tcp, and a linger on the peer: when the command exits, libzmq drops what the
# peer has not yet read with linger=0, and over ipc (whose close reads as a
# hang-up at once) even with one.


# libzmq itself can drop the last message or two of a closing socket that had
# already left its queue for the connection's output buffer, when the peer reads
# slower than the connection carries: linger covers the queue, not that buffer
# (libzmq issue #4660). Plain pyzmq, sending these lines the same way and
# closing, lost the last one in 1 run of 80 under load. At most libzmq's output
# batch (8 KiB) can go so, in lines:
LIBZMQ_TAIL = 8192 // len(LINES[0]) + 1


async def test_pair_at_its_count_still_sends_the_lines_it_has_read(start: type[Process]) -> None:
    """Lines read from stdin are as good as queued: reaching --count while
    sends wait for room does not drop them (all but LIBZMQ_TAIL of them wait
    unsent then: a drop shows)."""
    async with zeromq.Pair(linger=1000, receive_high_water_mark=1) as peer:
        two = await _pair_at_its_count_with_lines_unsent(start, peer)
        got = [
            await within(WAIT, f"line {i} from the command", peer.receive())
            for i in range(len(LINES) - LIBZMQ_TAIL)
        ]
        # The tail, as far as libzmq delivers it: once the command has exited,
        # what it sent arrives within a second.
        peer.receive_timeout = 1000
        while len(got) < len(LINES):
            try:
                got.append(await peer.receive())
            except TimeoutError:
                if two.popen.poll() is not None:
                    break
        assert got == [[line] for line in LINES[: len(got)]]
        assert two.wait() == 0
        assert two.rest("stderr") == []  # it handed every line over within its linger


async def test_pair_at_its_count_drops_unsendable_lines_after_the_linger(
    start: type[Process],
) -> None:
    async with zeromq.Pair(linger=0, receive_high_water_mark=1) as peer:
        two = await _pair_at_its_count_with_lines_unsent(start, peer, "--linger", "200")
        assert two.wait() == 0  # its peer reads nothing: it gives up after the linger
        assert two.rest("stderr") == [
            "zeromq: lines read from stdin but not sent within the linger (200 ms) were dropped"
        ]


def _reading_stdin(pid: int) -> bool:
    """Whether a thread of process `pid` waits in read(0) (Linux: syscall 0, fd 0)."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            if (task / "syscall").read_text().startswith("0 0x0 "):
                return True
    return False


def _unread(fd: int) -> int:
    """How many bytes wait in the pipe `fd` is an end of."""
    return struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0]


def test_count_stops_sending_and_receiving(start: type[Process]) -> None:
    pull = start("pull", "--bind", ANY_PORT, "--count", "2")
    push = run("push", "--connect", pull.endpoint(), "--count", "2", input="1\n2\n3\n4\n")
    assert push.returncode == 0, push.stderr
    assert pull.rest() == ["1", "2"]
    assert pull.wait() == 0


def test_timeout_without_a_message_is_an_error() -> None:
    result = run("pull", "--bind", ANY_PORT, "--quiet", "--timeout", "100")
    line = assert_one_error_line(result)
    assert line == "zeromq: error: receive timed out after 100 ms (--timeout)"


def test_timeout_of_a_request_without_a_server_is_an_error() -> None:
    # Immediate: no connection, so the send itself has to wait (and times out).
    result = run(
        "req", "--connect", "tcp://127.0.0.1:1", "--timeout", "100", "-o", "immediate=true",
        input="anyone?\n",
    )
    assert "timed out after 100 ms" in assert_one_error_line(result)


# CURVE and PLAIN from the command line: tests/security/test_cli_security.py.


# -- never waiting unbounded or in silence ---------------------------------------------

NOBODY = "tcp://127.0.0.1:1"  # nothing listens on port 1


def test_queued_messages_hold_the_exit_no_longer_than_the_timeout() -> None:
    """Messages for a peer that never comes: the command exits once --timeout
    has passed (libzmq's default linger would wait forever)."""
    started = time.monotonic()
    try:
        result = run("push", "--connect", NOBODY, "--timeout", "500", input="lost\n")
    except subprocess.TimeoutExpired:
        pytest.fail(f"push still waiting at exit after {WAIT} s")
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < WAIT / 2


def test_the_exit_hint_names_the_linger_flag() -> None:
    result = run("push", "--connect", NOBODY, "--linger", "1500", input="lost\n")
    assert result.returncode == 0, result.stderr
    hint = result.stderr.splitlines()[-1]
    assert "--linger MS bounds the wait" in hint and "for up to 1500 ms" in hint
    assert "blocky" not in hint and "`linger`" not in hint  # the Python API's words


@pytest.mark.parametrize(
    ("flags", "linger"),
    [((), DEFAULT_LINGER), (("--timeout", "300"), 300), (("--linger", "-1"), -1),
     (("--timeout", "-1"), DEFAULT_LINGER), (("--timeout", "300", "-o", "linger=7"), 7)],
)
def test_sockets_linger_a_bounded_time_unless_told_otherwise(
    flags: tuple[str, ...], linger: int
) -> None:
    args = build_parser().parse_args(["push", "--connect", NOBODY, *flags])
    assert socket_options(zeromq.Push, args)["linger"] == linger


def test_a_request_nobody_answers_says_so(start: type[Process]) -> None:
    """Without --timeout, `req` waits as long as it takes, but not in silence."""
    req = start("req", "--connect", NOBODY)
    req.write("anyone?\n")
    line = req.line("stderr")
    assert line == f"zeromq: nothing answers at {NOBODY} yet; retrying (--timeout MS gives up)"
    assert req.popen.poll() is None  # still waiting, as asked


def test_ctrl_c_exits_with_130_and_no_traceback(start: type[Process]) -> None:
    pull = start("pull", "--bind", ANY_PORT)
    pull.endpoint()
    pull.popen.send_signal(signal.SIGINT)
    assert pull.wait() == 130
    assert pull.rest("stderr") == []


# A Ctrl-C that no Python code sees at once: its C handler runs in another
# thread (as when the kernel picks one that has it unblocked), while the main
# thread sleeps waiting for a message. Python runs the handler (asyncio's,
# which cancels the main task) only once the main thread wakes up.
_SLEEPING_MAIN = """
import asyncio, os, signal, sys, threading
import zeromq
from zeromq._cli._common import run_async

SLEEPS = {7, 232, 271, 281}  # poll, epoll_wait, ppoll, epoll_pwait (x86-64)
main_thread = threading.get_native_id()

def sleeping() -> bool:
    with open(f"/proc/self/task/{main_thread}/syscall") as status:
        number = status.read().split()[0]
    return number.isdigit() and int(number) in SLEEPS

def interrupt_when_asleep() -> None:
    while not sleeping():
        os.sched_yield()
    signal.pthread_kill(threading.get_ident(), signal.SIGINT)  # this thread takes it

async def main() -> int:
    async with zeromq.Pull(linger=0) as pull:
        await pull.bind("tcp://127.0.0.1:*")
        threading.Thread(target=interrupt_when_asleep, daemon=True).start()
        await pull.receive()  # nothing comes
    return 0

try:
    sys.exit(run_async(main()))
except KeyboardInterrupt:
    print("interrupted", flush=True)
    sys.exit(130)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux") or os.uname().machine != "x86_64",
                    reason="reads the main thread's system call number from /proc (x86-64 Linux)")
def test_a_ctrl_c_taken_while_the_main_thread_sleeps_still_wakes_the_loop() -> None:
    """The CLI's commands set Python's signal wakeup fd to a socket the loop
    watches: the handler's write wakes the sleep (without it this waits
    for a message that never comes)."""
    result = subprocess.run(
        [sys.executable, "-c", _SLEEPING_MAIN], capture_output=True, text=True, timeout=WAIT
    )
    assert (result.returncode, result.stdout) == (130, "interrupted\n"), result.stderr


# -- errors --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("pull", "--bind", "tcp://nope"),
        ("push", "--connect", "nope://127.0.0.1:5555"),
        ("monitor", "tcp://nope", "--bind"),
        ("proxy", "tcp://nope", ANY_PORT),
    ],
    ids=["bind", "connect", "monitor", "proxy"],
)
def test_bad_address_is_one_line_on_stderr(args: tuple[str, ...]) -> None:
    assert "nope" in assert_one_error_line(run(*args))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("-o", "lingr=1"), "Pull sockets have no option 'lingr'; did you mean 'linger'?"),
        (("-o", "timeout=1"), "did you mean 'receive_timeout' or 'connect_timeout'?"),
        (("-o", "linger=forever"), "option 'linger' takes an integer"),
        (("-o", "linger"), "-o/--option takes NAME=VALUE, not 'linger'"),
        (("-o", "type=1"), "option 'type' is read-only"),
    ],
)
def test_a_bad_dash_o_is_a_usage_error(args: tuple[str, ...], message: str) -> None:
    result = run("pull", "--bind", ANY_PORT, *args)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("usage: zeromq pull")
    last = result.stderr.splitlines()[-1]
    assert last.startswith("zeromq pull: error: ") and message in last


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--curve-server",), "--curve-server needs --curve-secret-key"),
        (("--curve-server-key", "no-such-file"), "no such key file: no-such-file"),
    ],
)
def test_bad_option_is_one_line_on_stderr(args: tuple[str, ...], message: str) -> None:
    line = assert_one_error_line(run("pull", "--bind", ANY_PORT, *args))
    assert message in line


# -- keygen --------------------------------------------------------------------------


def test_keygen_prints_a_key_pair() -> None:
    result = run("keygen")
    assert result.returncode == 0
    public, secret = (line.split(": ", 1)[1] for line in result.stdout.splitlines())
    assert len(public) == len(secret) == 40
    assert zeromq.curve_public(secret) == public


def test_keygen_writes_certificate_files(tmp_path: Path) -> None:
    out = tmp_path / "certs"
    result = run("keygen", "--out", str(out), "--name", "server", "--json")
    assert result.returncode == 0, result.stderr
    written = json.loads(result.stdout)
    public, secret = out / "server.key", out / "server.key_secret"
    assert (written["public"], written["secret"]) == (str(public), str(secret))
    assert stat.S_IMODE(os.stat(secret).st_mode) == 0o600
    pair = zeromq.load_certificate(secret).keypair
    assert pair.public_key == zeromq.load_certificate(public).public_key == written["public_key"]
    assert zeromq.curve_public(pair.secret_key) == pair.public_key


def test_keygen_keeps_existing_files_unless_forced(tmp_path: Path) -> None:
    assert run("keygen", "--out", str(tmp_path)).returncode == 0
    before = (tmp_path / "curve.key").read_text()
    assert "exists (use --force" in assert_one_error_line(run("keygen", "--out", str(tmp_path)))
    assert (tmp_path / "curve.key").read_text() == before
    assert run("keygen", "--out", str(tmp_path), "--force").returncode == 0
    assert (tmp_path / "curve.key").read_text() != before


# -- monitor and proxy --------------------------------------------------------------


def test_monitor_prints_the_events_of_a_connection(start: type[Process]) -> None:
    pull = start("pull", "--bind", ANY_PORT)
    endpoint = pull.endpoint()
    monitor = start("monitor", endpoint, "--type", "push", "--json")
    seen = []
    while "handshake" not in seen:
        event = json.loads(monitor.line())
        assert event["address"] == endpoint
        seen.append(event["type"])
    assert "connect" in seen
    monitor.popen.send_signal(signal.SIGINT)
    assert monitor.wait() == 130


def test_monitor_of_a_bound_socket_stops_after_count(start: type[Process]) -> None:
    result = run("monitor", ANY_PORT, "--bind", "--count", "1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[1] == "bind"


def test_proxy_forwards_and_prints_statistics_on_ctrl_c(start: type[Process]) -> None:
    proxy = start("proxy", ANY_PORT, ANY_PORT)
    front, back = proxy.endpoint(), proxy.endpoint()
    rep = start("rep", "--connect", back, "--echo", "--count", "1")
    req = run("req", "--connect", front, input="through\n")
    assert req.stdout == "through\n", req.stderr
    assert rep.rest() == ["through"]
    proxy.popen.send_signal(signal.SIGINT)
    assert proxy.wait() == 130
    report = proxy.rest()
    assert report[0].startswith("proxy ran for")
    # routing id, delimiter, body (one message: libzmq 4.3.4 counts messages)
    assert report[1].startswith(f"front end: received {proxy_counted(3, 1)} parts")
    assert "Traceback" not in "\n".join(proxy.rest("stderr"))


def test_proxy_with_a_sub_front_end_passes_on_every_message(start: type[Process]) -> None:
    pull = start("pull", "--bind", ANY_PORT, "--count", "1")
    back = pull.endpoint()
    # The publisher sends once a subscription has come in: the proxy's own.
    pub = start("pub", "--bind", ANY_PORT, "--wait-subscribers", "1")
    front = pub.endpoint()
    pub.write("through\n")
    pub.close_stdin()
    start("proxy", "--front-type", "sub", "--back-type", "push", f">{front}", f">{back}")
    assert pub.wait() == 0
    assert pull.rest() == ["through"]


# -- bench -------------------------------------------------------------------------


def test_bench_quick_json_covers_every_case() -> None:
    result = run("bench", "--quick", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["libraries"] == ["zeromq"]
    cases = {(r["pattern"], r["transport"], r["size"]) for r in report["results"]}
    assert cases == {
        (pattern, transport, size)
        for pattern in ("push-pull", "dealer-router", "req-rep")
        + (("server-client",) if zeromq.capability["draft"] else ())
        for transport in ("tcp", "ipc", "inproc")
        for size in (1, 64_000)
    }
    for row in report["results"]:
        figure = row["round_trip_us" if row["kind"] == "latency" else "messages_per_s"]
        assert figure["zeromq"] > 0
        assert "ratio" not in row


def test_bench_compare_gives_ratios_to_pyzmq() -> None:
    result = run(
        "bench", "--quick", "--json", "--compare",
        "--patterns", "push-pull,req-rep", "--transports", "tcp,inproc", "--sizes", "1k",
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["libraries"] == ["zeromq", "pyzmq", "zmq.asyncio"]
    assert len(report["results"]) == 4
    for row in report["results"]:
        assert row["size"] == 1000
        assert row["ratio"]["pyzmq"] == 1.0
        assert set(row["ratio"]) == {"zeromq", "pyzmq", "zmq.asyncio"}


def test_bench_prints_tables() -> None:
    result = run("bench", "--quick", "--transports", "inproc", "--sizes", "100")
    assert result.returncode == 0, result.stderr
    assert "Throughput" in result.stdout and "Latency" in result.stdout
    assert re.search(r"PUSH->PULL +inproc +100 B +[\d,]+ +[\d.,]+\n", result.stdout)


def test_bench_core_script_still_runs() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_core.py"), "--quick", "--json"],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["throughput_ratio"]["pyzmq"] == 1.0
    assert set(report["round_trip_us"]) == {"zeromq", "pyzmq", "zmq.asyncio"}


# A Z85 key starts with "-" once in 85 times (CI once drew one); a prefix, a
# routing id or a user name may too. argparse would take such a value for an
# option and refuse the command.
DASH_KEY = "-" + "a" * 39


@pytest.mark.parametrize(
    ("given", "attribute", "value"),
    [
        (["monitor", "--bind", "tcp://127.0.0.1:1", "--curve-server", "--allow-client", DASH_KEY],
         "allow_client", [DASH_KEY]),
        (["push", "--connect", "tcp://127.0.0.1:1", "--curve-server-key", DASH_KEY],
         "curve_server_key", DASH_KEY),
        (["sub", "--connect", "tcp://127.0.0.1:1", "--subscribe", "-x"], "subscribe", ["-x"]),
        (["dealer", "--connect", "tcp://127.0.0.1:1", "--routing-id", "-me"], "routing_id", "-me"),
        (["pull", "--bind", "tcp://127.0.0.1:1", "--plain-server", "--allow-user", "-bob:pw"],
         "allow_user", ["-bob:pw"]),
    ],
    ids=["allow-client", "curve-server-key", "subscribe", "routing-id", "allow-user"],
)
def test_an_option_value_may_start_with_a_dash(given: list[str], attribute: str, value: object) -> None:
    from zeromq._cli import build_parser, parse_args

    assert getattr(parse_args(build_parser(), given), attribute) == value
