"""The README, as a newcomer uses it: every tlsdoctor command it shows parses (so a
renamed option cannot leave it stale), every link leads somewhere, and nothing refers to
what a user does not have."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest

from tlsdoctor.cli.main import cli

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
# Pages other parts of the project are adding; the README lists them already.
COMING = {"docs/path-building.md", "docs/certificates.md", "docs/watch.md", "docs/scale.md"}


def shown_commands() -> list[str]:
    """``tlsdoctor ...`` lines of the code blocks: typed (sh) or after a ``$`` prompt."""
    found = []
    fence: str | None = None  # the language of the open code block, "" for none
    for text in README.splitlines():
        if text.startswith("```"):
            fence = text[3:].strip() if fence is None else None
            continue
        if fence not in ("sh", ""):
            continue  # prose, or a block of JSON, YAML, ...
        if fence == "" and not text.startswith("$ "):
            continue  # output, not a command
        line = text.split("  #", 1)[0].strip().removeprefix("$ ")
        if line.startswith("tlsdoctor "):
            line = line.split(" | ")[0].split(" > ")[0].split(" < ")[0]
            found.append(line.rstrip("&").strip())
    return found


def parse(argv: list[str]) -> click.Context:
    command: click.Command = cli
    ctx = command.make_context("tlsdoctor", argv)
    while isinstance(command, click.Group):
        rest = [*getattr(ctx, "_protected_args", []), *ctx.args]
        name, sub, rest = command.resolve_command(ctx, rest)
        assert sub is not None
        command = sub
        ctx = command.make_context(name or "", rest, parent=ctx)
    return ctx


def test_the_readme_shows_commands() -> None:
    assert len(shown_commands()) >= 12, shown_commands()


@pytest.mark.parametrize("line", shown_commands())
def test_each_command_the_readme_shows_parses(line: str) -> None:
    parse(shlex.split(line)[1:])


def test_a_stale_option_would_fail() -> None:
    with pytest.raises(click.NoSuchOption):
        parse(["check", "example.com", "--ca-bundle", "x.pem"])


def test_set_up_is_one_line_in_a_venv() -> None:
    assert "python3 -m venv .venv && .venv/bin/pip install . && .venv/bin/tlsdoctor demo" in README
    assert "pipx install ." in README


@pytest.mark.parametrize("link", sorted(set(re.findall(r"\]\(([^)#]+)\)", README))))
def test_each_link_leads_somewhere(link: str) -> None:
    if link.startswith("http"):
        return
    assert (ROOT / link).exists() or link in COMING, link


def test_nothing_a_user_does_not_have() -> None:
    for words in ("the spec", "ARCHITECTURE.md", "../shared", "2-core", "issue #", "issues "):
        assert words not in README, words
