"""The command-line page, rendered from the argparse definitions.

`zeromq._cli.build_parser()` is the parser the `zeromq` command runs, so each
subcommand, argument group, flag, metavar, default and help text here is the
one `zeromq COMMAND --help` prints.
"""

from __future__ import annotations

import argparse
import html
import os
import re

from zeromq._cli import build_parser


def _subcommands(
    parser: argparse.ArgumentParser,
) -> list[tuple[str, str, argparse.ArgumentParser]]:
    """(name, one-line help, parser) of every subcommand, in the parser's order."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            return [(name, helps.get(name, ""), sub) for name, sub in action.choices.items()]
    return []


def _text(text: str) -> str:
    """argparse prose as Markdown: one paragraph, nothing read as markup."""
    text = re.sub(r"\s+", " ", text).strip().replace("\\", "\\\\")
    return text.replace("*", r"\*").replace("<", "&lt;").replace("|", r"\|")


def _flags(action: argparse.Action) -> str:
    if not action.option_strings:
        return _code(str(action.metavar or action.dest))
    metavar = ""
    if action.nargs != 0:
        name = action.metavar if isinstance(action.metavar, str) else action.dest.upper()
        metavar = f" {name}"
    return ", ".join(_code(flag + metavar) for flag in action.option_strings)


def _code(text: str) -> str:
    """Inline code that may sit in a table cell: a `|` in a Markdown code span
    would end the cell (and escaping it shows the backslash), so such text
    is HTML."""
    if "|" not in text:
        return f"`{text}`"
    return "<code>" + html.escape(text).replace("|", "&#124;") + "</code>"


def _help(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    formatter = parser._get_formatter()
    text = formatter._expand_help(action) if action.help else ""
    if action.choices is not None and action.option_strings and "choices" not in text:
        text += f" (one of: {', '.join(map(str, action.choices))})"
    return _text(text)


def _command(name: str, summary: str, parser: argparse.ArgumentParser) -> str:
    out = [f"## `zeromq {name}` {{ #zeromq-{name} }}\n", f"{_text(summary.capitalize())}.\n" if summary else ""]
    out.append("```text\n" + parser.format_usage().strip() + "\n```\n")
    if parser.description:
        out.append(_text(parser.description) + "\n")
    for group in parser._action_groups:
        actions = [
            a for a in group._group_actions if a.help != argparse.SUPPRESS and a.dest != "help"
        ]
        if not actions:
            continue
        out.append(f"**{group.title}**\n" if group.title else "")
        out.append("| argument | meaning |\n|---|---|")
        out.extend(f"| {_flags(a)} | {_help(parser, a)} |" for a in actions)
        out.append("")
    if parser.epilog:
        out.append("```text\n" + parser.epilog.strip() + "\n```\n")
    return "\n".join(out)


def render() -> str:
    """The Markdown of the whole command line: a table of commands, then each one."""
    os.environ.setdefault("COLUMNS", "88")  # argparse wraps usage to the terminal
    parser = build_parser()
    commands = _subcommands(parser)
    out = [
        f"{_text(parser.description or '')}\n",
        "```text\n" + parser.format_usage().strip() + "\n```\n",
        "| command | what it does |\n|---|---|",
    ]
    out.extend(f"| [`{name}`](#zeromq-{name}) | {_text(summary)} |" for name, summary, _ in commands)
    out.append("")
    out.extend(_command(name, summary, sub) for name, summary, sub in commands)
    return "\n".join(out)


def command_names() -> list[str]:
    """Every subcommand's name (for the tests)."""
    return [name for name, _, _ in _subcommands(build_parser())]
