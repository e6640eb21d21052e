"""The documentation covers the code: every public name, option and command.

The pages' generated parts come from docs/hooks/ (run by mkdocs at build
time); these tests render them the same way, without mkdocs, and check that
nothing public is left out and nothing points outside the repository.
`make docs` (which `make test` runs) checks the rest: links, anchors, references.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import zeromq
from zeromq import _options
from zeromq._cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
sys.path.insert(0, str(DOCS / "hooks"))

import cli_page  # noqa: E402
import generate  # noqa: E402
import options_page  # noqa: E402


def _rendered(page: Path) -> str:
    return generate.on_page_markdown(page.read_text())


def _pages() -> Iterator[Path]:
    yield from sorted(DOCS.rglob("*.md"))


def test_every_public_name_is_in_the_reference() -> None:
    documented = set()
    for page in (DOCS / "reference").glob("*.md"):
        documented.update(re.findall(r"^::: zeromq\.(\w+)", _rendered(page), re.M))
    missing = sorted(set(zeromq.__all__) - documented)
    assert not missing, f"public names without a reference entry: {missing}"


@pytest.mark.parametrize("owner", [options_page.SOCKETS, options_page.CONTEXT])
def test_every_option_has_an_entry(owner: str) -> None:
    text = options_page.render(owner)
    rows = [o for o in _options.OPTIONS if (o.targets == _options.CONTEXT) == (owner == "context")]
    missing = [o.name for o in rows if f"{{ #{options_page.anchor(owner, o.name)} }}" not in text]
    assert not missing, f"{owner} options without an entry: {missing}"


def test_an_option_entry_says_type_unit_default_and_classes() -> None:
    text = options_page.render(options_page.SOCKETS)
    entry = text.split("{ #socket-receive-timeout }")[1].split("\n### ")[0]
    assert "`int" in entry
    assert "milliseconds" in entry
    assert "`-1`" in entry  # read from a new socket
    # The classes that receive, and no other.
    assert "[`Pull`][zeromq.Pull]" in entry and "[`Dealer`][zeromq.Dealer]" in entry
    assert "[`Publisher`]" not in entry and "[`Push`]" not in entry


def test_every_command_and_flag_is_on_the_cli_page() -> None:
    text = cli_page.render()
    for name, _, sub in cli_page._subcommands(build_parser()):
        assert f"{{ #zeromq-{name} }}" in text, name
        section = text.split(f"{{ #zeromq-{name} }}")[1].split("\n## ")[0]
        for action in sub._actions:
            for flag in action.option_strings:
                if flag not in ("-h", "--help"):
                    assert re.search(rf"(`|<code>){flag}\b", section), f"zeromq {name} {flag}"


def test_no_link_points_outside_the_repository() -> None:
    outside = re.compile(r"\]\(\s*(?:https?:|ftp:|//)|<https?://|href=\"https?:")
    offenders = [
        f"{page.relative_to(ROOT)}: {m.group(0)}"
        for page in _pages()
        for m in outside.finditer(_rendered(page))
    ]
    assert not offenders, offenders


def test_an_unknown_generated_part_fails_the_build() -> None:
    with pytest.raises(KeyError, match="no-such-part"):
        generate.on_page_markdown("<!-- generate: no-such-part -->\n")
