"""The README's examples run and pass `mypy --strict`, and its links lead
somewhere, so that neither can rot."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import mypy.api
import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
TEXT = README.read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", TEXT, flags=re.S)


def test_readme_has_examples() -> None:
    assert len(BLOCKS) >= 3


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index: int) -> None:
    result = subprocess.run(
        [sys.executable, "-c", BLOCKS[index]],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr


def test_readme_examples_pass_mypy_strict(tmp_path: Path) -> None:
    """What a user copies type-checks as it is: one mypy run over every block
    (a run per block would take a minute)."""
    files = []
    for index, block in enumerate(BLOCKS):
        path = tmp_path / f"readme_block_{index}.py"
        path.write_text(block)
        files.append(str(path))
    out, err, status = mypy.api.run(
        # The repository's cache: warm after `make typecheck`.
        ["--strict", "--no-error-summary", "--cache-dir", str(ROOT / ".mypy_cache"), *files]
    )
    # Name each failing line by its block and line, and show the line.
    report = [
        f"block {m[1]} line {m[2]}: {m[3]}\n    {BLOCKS[int(m[1])].splitlines()[int(m[2]) - 1].strip()}"
        for m in re.finditer(r"readme_block_(\d+)\.py:(\d+): (.*)", out)
    ]
    assert status == 0, "\n".join(report) or out + err


def test_readme_links_to_files_in_the_repository() -> None:
    """A fresh clone is whole: every relative link names a file the
    repository holds (nothing beside it)."""
    targets = [
        target.split("#")[0]
        for target in re.findall(r"\]\(([^)\s]+)\)", TEXT)
        if not re.match(r"[a-z]+:|#", target)
    ]
    assert targets, "the README links to no file of the repository"
    for target in targets:
        path = (ROOT / target).resolve()
        assert path.is_relative_to(ROOT), f"{target} is outside the repository"
        assert path.exists(), f"{target} does not exist"


def test_readme_links_to_nothing_outside_the_repository() -> None:
    """The README is the docs' front page: its links stay inside the repository."""
    outside = re.findall(r"\]\(\s*((?:https?:|ftp:|//)[^)]*)\)|<(https?://[^>]*)>", TEXT)
    assert outside == [], outside
