"""The guides' examples are complete programs: each runs, and all pass mypy --strict.

The pages include these very files (pymdownx.snippets), so what a reader copies
is what ran here. Each example checks its own outcome with `assert`, so running
it is the test; a time bound says which one hung.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
EXAMPLES = sorted((DOCS / "examples").glob("*.py"))
SNIPPET = re.compile(r'^[ \t]*--8<-- "([^"]+)"$', re.M)

# Seconds an example may take, under load on a shared machine; each takes well
# under one on its own.
BOUND = 60


def _included() -> set[Path]:
    """The files the pages include."""
    return {
        (ROOT / path).resolve()
        for page in DOCS.rglob("*.md")
        for path in SNIPPET.findall(page.read_text())
    }


def test_there_are_examples() -> None:
    assert len(EXAMPLES) >= 15


def test_every_example_is_on_a_page() -> None:
    orphans = [p.name for p in EXAMPLES if p.resolve() not in _included()]
    assert not orphans, f"examples no page includes: {orphans}"


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs(example: Path) -> None:
    try:
        result = subprocess.run(
            [sys.executable, str(example)],
            capture_output=True,
            text=True,
            timeout=BOUND,
            cwd=example.parent,
        )
        failure = "" if result.returncode == 0 else f"{example.name} failed:\n{result.stderr}"
    except subprocess.TimeoutExpired:
        failure = f"{example.name} did not finish within {BOUND} s"
    assert not failure, failure
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stdout.strip(), f"{example.name} printed nothing"


def test_examples_pass_mypy_strict() -> None:
    from mypy import api

    # One run for every file: mypy's start-up is most of its cost.
    stdout, stderr, status = api.run(
        ["--strict", "--python-version", "3.11", *map(str, EXAMPLES)]
    )
    assert status == 0, stdout + stderr
