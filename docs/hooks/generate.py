"""mkdocs hook: fills the generated parts of the pages at build time.

A page asks for a generated part with a marker on a line of its own,
``<!-- generate: NAME -->``; `GENERATORS` says what each NAME renders. The
parts come from the code (the options table, the argparse definitions, the
public names), so the site cannot drift from it. An unknown NAME fails the build.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import cli_page
import nodejs_page
import options_page
import reference_page

GENERATORS: dict[str, Callable[[], str]] = {
    "socket-options": lambda: options_page.render(options_page.SOCKETS),
    "socket-options-summary": lambda: options_page.summary(options_page.SOCKETS),
    "context-options": lambda: options_page.render(options_page.CONTEXT),
    "socket-reference": reference_page.render,
    "other-names": reference_page.other_names,
    "cli": cli_page.render,
    "nodejs-names": nodejs_page.render,
}
# "class-options Dealer": the options a class adds, linked to their entries.
_CLASS_OPTIONS = re.compile(r"class-options (\w+)")

MARKER = re.compile(r"^<!-- generate: ([\w -]+?) -->$", re.M)


def _render(name: str) -> str:
    match = _CLASS_OPTIONS.fullmatch(name)
    if match:
        return options_page.class_options(match.group(1))
    if name not in GENERATORS:
        raise KeyError(f"unknown generated part {name!r} (known: {', '.join(GENERATORS)})")
    return GENERATORS[name]()


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    """Replace each marker of a page with the part it names."""
    return MARKER.sub(lambda m: _render(m.group(1)), markdown)
