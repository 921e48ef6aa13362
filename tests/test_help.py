"""Every command's --help, as a newcomer reads it: a summary the command list shows
whole, help for every option, two examples that parse, the exit codes; one vocabulary
(--password / TLSDOCTOR_PASSWORD reads, --passphrase-env encrypts, --fetch/--no-fetch
wherever a command downloads); watch's --db before or after the subcommand."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from tlsdoctor.cli.help import HELP, MAX_SUMMARY
from tlsdoctor.cli.main import PASSWORD_HELP, cli, main


def commands(
    command: click.Command = cli, path: str = "tlsdoctor"
) -> Iterator[tuple[str, click.Command]]:
    yield path, command
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            yield from commands(sub, name if path == "tlsdoctor" else f"{path} {name}")


ALL = dict(commands())


def help_text(path: str, columns: int = 80) -> str:
    argv = [] if path == "tlsdoctor" else path.split()
    result = subprocess.run(
        [sys.executable, "-m", "tlsdoctor", *argv, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": str(columns)},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_every_command_has_an_entry_and_every_entry_a_command() -> None:
    assert sorted(ALL) == sorted(HELP)


@pytest.mark.parametrize("path", sorted(ALL))
def test_every_option_has_help(path: str) -> None:
    missing = [
        param.opts[0]
        for param in ALL[path].params
        if isinstance(param, click.Option) and not param.hidden and not param.help
    ]
    assert missing == []


@pytest.mark.parametrize("path", sorted(p for p, c in ALL.items() if isinstance(c, click.Group)))
def test_the_command_list_shows_each_summary_whole_on_80_columns(path: str) -> None:
    text = help_text(path)
    listed = text.split("Commands:", 1)[1]
    group = ALL[path]
    assert isinstance(group, click.Group)
    for name in group.commands:
        summary = HELP[name if path == "tlsdoctor" else f"{path} {name}"].summary
        assert len(summary) <= MAX_SUMMARY
        assert f"{name}  " in listed and summary in listed, (name, listed)
    assert "..." not in listed


@pytest.mark.parametrize("path", sorted(ALL))
def test_each_help_ends_with_two_examples_and_the_exit_codes(path: str) -> None:
    text = help_text(path)
    examples = text.split("Examples:", 1)[1].split("Exit codes:", 1)[0]
    lines = [line.strip() for line in examples.splitlines() if line.strip()]
    assert len(lines) >= 2
    codes = " ".join(text.split("Exit codes:", 1)[1].split())
    assert codes[0].isdigit() or codes.startswith(("those", "the worst")), codes
    assert "3" in codes


def _example_argv(example: str) -> list[str]:
    """The tlsdoctor arguments of an example: after sudo, VAR=value or eval "$(".."""
    if example.startswith("eval "):
        example = shlex.split(example)[1].removeprefix("$(").removesuffix(")")
    words = shlex.split(example.split(" | ")[-1].split(" > ")[0])
    start = words.index("tlsdoctor")
    return words[start + 1 :]


@pytest.mark.parametrize("path", sorted(ALL))
def test_each_example_parses(path: str) -> None:
    for example in HELP[path].examples:
        args = _example_argv(example)
        command: click.Command = cli
        ctx = command.make_context("tlsdoctor", list(args))
        while isinstance(command, click.Group):
            rest = [*getattr(ctx, "_protected_args", []), *ctx.args]
            name, sub, rest = command.resolve_command(ctx, rest)
            assert sub is not None, example
            command = sub
            ctx = command.make_context(name or "", rest, parent=ctx)
        assert not ctx.args or command.params, example


def test_a_broken_example_would_fail_to_parse() -> None:
    with pytest.raises(click.NoSuchOption):
        ALL["check"].make_context("check", ["example.com", "--no-such-option"])


def test_password_means_one_thing_and_passphrase_env_another() -> None:
    for path, command in ALL.items():
        for param in command.params:
            if isinstance(param, click.Option) and "--password" in param.opts:
                assert param.envvar == "TLSDOCTOR_PASSWORD", path
                assert param.help == PASSWORD_HELP, path
            if isinstance(param, click.Option) and "--passphrase-env" in param.opts:
                assert param.help is not None and "--password" in param.help
    readers = {
        p for p, c in ALL.items() if any("--password" in getattr(o, "opts", []) for o in c.params)
    }
    assert {"check", "inspect", "fix chain", "trust add", "trust find", "trust remove"} <= readers


def test_commands_that_download_take_fetch_and_no_fetch() -> None:
    for path in ("check", "fix chain", "explain", "trust add"):
        opts = {opt for param in ALL[path].params for opt in getattr(param, "opts", [])}
        secondary = {
            opt for param in ALL[path].params for opt in getattr(param, "secondary_opts", [])
        }
        assert "--fetch" in opts and "--no-fetch" in secondary, path


def test_host_is_explained_in_check_and_explain() -> None:
    check_help = " ".join(help_text("check", 200).split())
    explain_help = " ".join(help_text("explain", 200).split())
    assert "the host name the chain must be valid for" in check_help
    assert "explain --host" in check_help
    assert "Connect to this endpoint" in explain_help and "check --host" in explain_help


def test_watch_db_before_and_after_the_subcommand(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TLSDOCTOR_DB", raising=False)
    monkeypatch.setenv("TLSDOCTOR_HOME", str(tmp_path / "home"))
    first = f"sqlite:///{tmp_path / 'first.db'}"
    other = f"sqlite:///{tmp_path / 'other.db'}"
    assert main(["watch", "--db", first, "add", "watched.example"]) == 0
    capsys.readouterr()

    def listed(*argv: str) -> list[str]:
        assert main(["watch", *argv]) == 0
        out = capsys.readouterr().out
        return [json.loads(line)["target"] for line in out.splitlines() if line.strip()]

    assert listed("--db", first, "list", "--json") == ["watched.example:443"]
    assert listed("list", "--json", "--db", first) == ["watched.example:443"]
    assert listed("list", "--db", other, "--json") == []
    assert listed("--db", other, "list", "--db", first, "--json") == ["watched.example:443"]


@pytest.mark.parametrize("path", sorted(ALL))
def test_help_never_refers_to_what_users_do_not_have(path: str) -> None:
    text = " ".join(help_text(path, 200).split())
    assert "the spec" not in text and "ARCHITECTURE" not in text
