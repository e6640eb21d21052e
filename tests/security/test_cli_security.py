"""The command line's CURVE and PLAIN servers let in only the clients they
are told to, and its errors show no secret. Driven as subprocesses, the
console script included: `zeromq monitor` as the server shows each refusal
(``handshake:error:auth``), `zeromq pull` that nothing of a stranger arrives.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from test_cli import ANY_PORT, WAIT, Process, assert_one_error_line, run

import zeromq

from .test_secrets import assert_hidden

SCRIPT = str(Path(sys.executable).with_name("zeromq"))  # the console script


@pytest.fixture
def certs(tmp_path: Path) -> Path:
    """server, friend and stranger certificates in tmp_path; friend's public one in trusted/."""
    for name in ("server", "friend", "stranger"):
        assert run("keygen", "--out", str(tmp_path), "--name", name).returncode == 0
    (tmp_path / "trusted").mkdir()
    (tmp_path / "trusted" / "friend.key").write_bytes((tmp_path / "friend.key").read_bytes())
    return tmp_path


def curve_server(certs: Path, *allow: str) -> list[str]:
    return ["--curve-server", "--curve-secret-key", str(certs / "server.key_secret"), *allow]


def curve_client(certs: Path, name: str | None) -> list[str]:
    own = [] if name is None else ["--curve-secret-key", str(certs / f"{name}.key_secret")]
    return ["--curve-server-key", str(certs / "server.key"), *own]


def send(endpoint: str, line: str, *options: str) -> subprocess.CompletedProcess[str]:
    """`zeromq push` one line; it gives up delivering after a second (a refused client)."""
    return run("push", "--connect", endpoint, "--linger", "1000", *options, input=line + "\n")


def refused(result: subprocess.CompletedProcess[str]) -> None:
    """A refused client's `zeromq push` ends without hanging: at once with the
    refusal as its error, or having queued its line before the refusal came
    (the line is then dropped with the connection)."""
    if result.returncode != 0:
        line = assert_one_error_line(result)
        assert "refused this client (ZAP status 400)" in line, line


def refusals(monitor: Process, count: int) -> list[str]:
    """The next `count` handshake failures the monitor prints (other events skipped)."""
    found: list[str] = []
    while len(found) < count:
        line = monitor.line()
        if "handshake" in line and "error" in line:
            found.append(line)
    return found


# -- unknown clients are refused unless said otherwise ---------------------------------------


@pytest.mark.parametrize("mechanism", ["curve", "plain"])
def test_a_server_without_an_allow_list_does_not_start(certs: Path, mechanism: str) -> None:
    secret = zeromq.load_certificate(certs / "server.key_secret").secret_key
    if mechanism == "curve":
        ways = [curve_server(certs), ["-o", "curve_server=true", "-o", f"curve_secret_key={secret}"]]
    else:
        ways = [["--plain-server"], ["-o", "plain_server=true"]]
    for how in ways:
        result = subprocess.run(
            [SCRIPT, "pull", "--bind", ANY_PORT, *how],
            capture_output=True, text=True, timeout=WAIT,
        )
        line = assert_one_error_line(result)
        assert "--allow-any-client" in line and "--allow-" in line


@pytest.mark.parametrize("allow", ["key", "file", "dir"])
def test_the_curve_server_lets_in_only_its_clients(
    start: type[Process], certs: Path, allow: str
) -> None:
    friend_key = zeromq.load_certificate(certs / "friend.key").public_key
    allowed = {
        "key": ["--allow-client", friend_key],
        "file": ["--allow-client", str(certs / "friend.key")],
        "dir": ["--allow-clients", str(certs / "trusted")],
    }[allow]
    monitor = start("monitor", ANY_PORT, "--bind", "--type", "pull", *curve_server(certs, *allowed))
    endpoint = monitor.endpoint()
    for stranger in ("stranger", None):  # a known key pair, and a fresh one
        refused(send(endpoint, "intruder", *curve_client(certs, stranger)))
        [line] = refusals(monitor, 1)
        assert "handshake:error:auth" in line and "status=400" in line

    pull = start("pull", "--bind", ANY_PORT, "--count", "1", *curve_server(certs, *allowed))
    endpoint = pull.endpoint()
    # The stranger goes first: were it let in, its line would be the one printed.
    send(endpoint, "intruder", *curve_client(certs, "stranger"))
    friend = send(endpoint, "friend", *curve_client(certs, "friend"))
    assert friend.returncode == 0, friend.stderr
    assert pull.rest() == ["friend"]


def test_allow_any_client_says_so_and_lets_anyone_in(start: type[Process], certs: Path) -> None:
    pull = start("pull", "--bind", ANY_PORT, "--count", "1", *curve_server(certs, "--allow-any-client"))
    assert "warning: --allow-any-client: any CURVE client key is let in" in pull.line("stderr")
    endpoint = pull.endpoint()
    assert send(endpoint, "anyone", *curve_client(certs, None)).returncode == 0
    assert pull.rest() == ["anyone"]


def test_the_plain_server_lets_in_only_its_users(
    start: type[Process], tmp_path: Path
) -> None:
    users = tmp_path / "users"
    users.write_text("# who may come in\nalice:wonder:land\n\nbob:builder\n")
    monitor = start(
        "monitor", ANY_PORT, "--bind", "--type", "pull", "--plain-server", "--allow-users", str(users)
    )
    endpoint = monitor.endpoint()
    for user, password in (("alice", "wonder"), ("mallory", "builder"), ("bob", "Builder")):
        client = ["-o", f"plain_username={user}", "-o", f"plain_password={password}"]
        refused(send(endpoint, "intruder", *client))
        [line] = refusals(monitor, 1)
        assert "handshake:error:auth" in line and "status=400" in line

    pull = start(
        "pull", "--bind", ANY_PORT, "--count", "2", "--plain-server",
        "--allow-user", "carol:secret", "--allow-users", str(users),
    )
    endpoint = pull.endpoint()
    send(endpoint, "intruder", "-o", "plain_username=alice", "-o", "plain_password=wonder")
    for user, password in (("alice", "wonder:land"), ("carol", "secret")):
        result = send(endpoint, user, "-o", f"plain_username={user}", "-o", f"plain_password={password}")
        assert result.returncode == 0, result.stderr
    assert sorted(pull.rest()) == ["alice", "carol"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--allow-client", "x" * 40), "--allow-client and --allow-clients need --curve-server"),
        (("--allow-user", "a:b"), "--allow-user and --allow-users need --plain-server"),
        (("--allow-any-client",), "--allow-any-client needs --curve-server or --plain-server"),
        (("--plain-server", "--allow-user", "nopassword"), "--allow-user takes USER:PASSWORD"),
        (("--plain-server", "--allow-any-client", "--allow-user", "a:b"), "exclude each other"),
        (("--plain-server", "--allow-users", "no-such-file"), "cannot read --allow-users"),
    ],
)
def test_allow_list_mistakes_are_one_line(args: tuple[str, ...], message: str) -> None:
    assert message in assert_one_error_line(run("pull", "--bind", ANY_PORT, *args))


def test_curve_server_flags_need_an_allow_list_even_through_allow_dir_errors(certs: Path) -> None:
    bad = certs / "bad"
    bad.mkdir()
    (bad / "broken.key").write_text("curve\n    public-key = \"short\"\n")
    line = assert_one_error_line(
        run("pull", "--bind", ANY_PORT, *curve_server(certs, "--allow-clients", str(bad)))
    )
    assert "broken.key" in line


def test_the_proxy_refuses_to_be_an_unchecked_server(certs: Path) -> None:
    secret = zeromq.load_certificate(certs / "server.key_secret").secret_key
    assert secret is not None
    line = assert_one_error_line(
        run("proxy", ANY_PORT, ANY_PORT, "-o", "curve_server=true", "-o", f"curve_secret_key={secret}")
    )
    assert "cannot check clients" in line
    assert_hidden(line, secret)


# -- errors show no secret -----------------------------------------------------------------------


def test_cli_errors_do_not_show_secrets(tmp_path: Path) -> None:
    secret = zeromq.curve_keypair().secret_key
    password = "pw-" + "7f3a9c1e5b" * 3
    broken = tmp_path / "broken.key_secret"
    broken.write_text(f"{secret[:-1]}\n")  # a key file one character short
    overflowing = tmp_path / "overflow.key_secret"
    overflowing.write_text("#####" + secret[5:] + "\n")
    cases = [
        (("--curve-server", "--curve-secret-key", secret[:-1] + "~"), secret),  # mistyped key
        (("--curve-server", "--curve-secret-key", "#####" + secret[5:]), secret),
        (("--curve-server", "--curve-secret-key", str(broken)), secret),
        (("--curve-server", "--curve-secret-key", str(overflowing)), secret),
        (("--curve-server-key", secret[:-1] + "~"), secret),
        (("-o", f"plain_password={password * 10}"), password),  # longer than libzmq takes
        (("-o", f"plain_password {password}"), password),  # no "="
        (("-o", f"plain-password:{password}"), password),  # dashes, no "="
        (("-o", f"curve_secret_key:{secret}="), secret),  # an "=" after the key
        (("--curve-server", "--curve-secret-key", secret + " "), secret),  # a space pasted too
        (("--curve-server", "--curve-secret-key", f'secret-key = "{secret}"'), secret),
        (("-o", f"curve_secret_key={secret[:-1]}"), secret),
        (("--plain-server", "--allow-user", f"alice{password}"), password),  # no ":"
    ]
    for args, hidden in cases:
        result = run("pull", "--bind", ANY_PORT, *args)
        if result.returncode == 2:  # a bad -o is a usage error: usage, then the error
            assert "zeromq pull: error: " in result.stderr, result.stderr
            assert_hidden(result.stderr, hidden)
        else:
            assert_hidden(assert_one_error_line(result), hidden)
    users = tmp_path / "users"
    users.write_text(f"alice:ok\n{password}\n")  # a line without ":"
    line = assert_one_error_line(
        run("pull", "--bind", ANY_PORT, "--plain-server", "--allow-users", str(users))
    )
    assert "line 2" in line
    assert_hidden(line, password)


# -- the README's recipe --------------------------------------------------------------------------

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_curve_recipe_works_and_refuses_strangers(
    start: type[Process], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The README's own command lines, on a free port instead of 5555.
    lines = [line for line in README.read_text().splitlines() if line.startswith(("zeromq ", "echo "))]
    keygens = [shlex.split(line.split("#")[0]) for line in lines if line.startswith("zeromq keygen --out")]
    [server] = [shlex.split(line.rstrip(" &")) for line in lines if "--curve-server " in line]
    [client] = [shlex.split(line.split("|", 1)[1]) for line in lines if "--curve-server-key" in line]
    monkeypatch.chdir(tmp_path)  # certs/ is relative
    for keygen in keygens:
        assert run(*keygen[1:]).returncode == 0
    address = "tcp://127.0.0.1:5555"
    pull = start(*[ANY_PORT if arg == address else arg for arg in server[1:]], "--count", "1")
    endpoint = pull.endpoint()
    client_args = [endpoint if arg == address else arg for arg in client[1:]]
    assert "--curve-secret-key" in client_args
    stranger_args = client_args[: client_args.index("--curve-secret-key")]  # a fresh key pair
    send(endpoint, "intruder", *stranger_args[3:])
    result = run(*client_args, input="secret\n")
    assert result.returncode == 0, result.stderr
    assert pull.rest() == ["secret"]
