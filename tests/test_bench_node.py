"""`benchmarks/bench_node.py` compares against the Node.js bindings, or says why not.

Smoke tests only: the shape of the output, never a speed. Where node is
missing the comparison itself is skipped; where npm cannot reach its
registry and the package is not installed yet, the script must print its
skip line and exit 0, without waiting long.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "bench_node.py"
NODE_DIR = ROOT / "benchmarks" / "node"
SKIP_LINE = "bench_node: skipped: "
LIBRARIES = ("zeromq", "pyzmq sync", "Node.js zeromq")
FIGURE = re.compile(r"([\d,]+(?:\.\d+)?) (msg/s|us)\b")


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
    )


def test_quick_prints_the_three_libraries_or_a_skip_line() -> None:
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    result = _run()
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    if lines[0].startswith(SKIP_LINE):
        assert len(lines) == 1, result.stdout
        return
    header = next(line for line in lines if line.strip().startswith("row "))
    for name in LIBRARIES:
        assert name in header
    rows = [line for line in lines if FIGURE.search(line)]
    assert len(rows) >= 2, result.stdout  # at least the 100 B PUSH->PULL and the round trip
    assert any("PUSH->PULL" in row for row in rows) and any("REQ<->REP" in row for row in rows)
    for row in rows:
        figures = [float(value.replace(",", "")) for value, _ in FIGURE.findall(row)]
        assert len(figures) == len(LIBRARIES), row
        assert all(figure > 0 for figure in figures), row


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _fresh_node_dir(tmp_path: Path) -> Path:
    """A copy of benchmarks/node without node_modules."""
    node_dir = tmp_path / "node"
    node_dir.mkdir()
    for name in ("package.json", "package-lock.json", "bench.mjs"):
        shutil.copy(NODE_DIR / name, node_dir / name)
    return node_dir


def test_unreachable_registry_skips(tmp_path: Path) -> None:
    """Not installed yet, and npm's registry refuses: one skip line, exit 0."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node or npm is not installed")
    node_dir = _fresh_node_dir(tmp_path)
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["npm_config_registry"] = f"http://127.0.0.1:{_closed_port()}/"
    env["npm_config_cache"] = str(tmp_path / "npm-cache")  # empty: nothing to install offline
    result = _run("--node-dir", str(node_dir), env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(SKIP_LINE + "npm ci failed"), result.stdout
    assert len(result.stdout.strip().splitlines()) == 1


def test_without_node_it_skips(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": str(tmp_path)}  # an empty folder: no node, no npm
    result = _run("--json", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == '{"skipped": "node is not installed"}'


def test_without_npm_it_skips_until_installed(tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    node_dir = _fresh_node_dir(tmp_path)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "node").symlink_to(node)  # node on the PATH, npm not
    result = _run("--node-dir", str(node_dir), env={**os.environ, "PATH": str(bin_dir)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(SKIP_LINE + "npm is not installed"), result.stdout
