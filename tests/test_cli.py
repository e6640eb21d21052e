"""The `zeromq` command line, driven as subprocesses (``python -m zeromq``).

Processes that talk to each other bind to ``tcp://127.0.0.1:*`` and the test
reads the endpoint they print on stderr: no sleeps, no fixed ports.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

import zeromq

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
    one = start("pair", "--bind", ANY_PORT, "--count", "1")
    two = start("pair", "--connect", one.endpoint(), "--count", "1")
    one.write("from one\n")
    two.write("from two\n")
    assert one.rest() == ["from two"]
    assert two.rest() == ["from one"]


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


def test_curve_keys_from_certificate_files_encrypt(start: type[Process], tmp_path: Path) -> None:
    assert run("keygen", "--out", str(tmp_path), "--name", "server").returncode == 0
    pull = start(
        "pull", "--bind", ANY_PORT, "--count", "1",
        "--curve-server", "--curve-secret-key", str(tmp_path / "server.key_secret"),
    )
    push = run(
        "push", "--connect", pull.endpoint(), "--curve-server-key", str(tmp_path / "server.key"),
        input="secret\n",
    )
    assert push.returncode == 0, push.stderr
    assert pull.rest() == ["secret"]


def test_ctrl_c_exits_with_130_and_no_traceback(start: type[Process]) -> None:
    pull = start("pull", "--bind", ANY_PORT)
    pull.endpoint()
    pull.popen.send_signal(signal.SIGINT)
    assert pull.wait() == 130
    assert pull.rest("stderr") == []


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
        (("-o", "linger=forever"), "option 'linger' takes an integer"),
        (("-o", "lingering=1"), "Pull sockets have no option 'lingering'"),
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
    assert report[1].startswith("front end: received 3 parts")
    assert "Traceback" not in "\n".join(proxy.rest("stderr"))


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
