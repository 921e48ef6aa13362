"""The watch's files: intervals, watch lists (TOML or plain) and settings, read back
exactly, and every mistake named with where it is."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from tlsdoctor.cli.main import main
from tlsdoctor.errors import InputError
from tlsdoctor.monitor.config import (
    format_every,
    parse_every,
    read_settings,
    read_watchlist,
    watchlist_toml,
)
from tlsdoctor.watch_model import WatchTarget


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30m", 1800), ("6h", 21600), ("1d", 86400), ("1h30m", 5400), (" 2 w ", 1209600)],
)
def test_intervals(text: str, seconds: int) -> None:
    assert parse_every(text) == dt.timedelta(seconds=seconds)
    assert parse_every(format_every(parse_every(text))) == parse_every(text)


@pytest.mark.parametrize(
    ("text", "said"),
    [("", "not a duration"), ("6 hours", "not a duration"), ("h6", "not a duration"),
     ("30s", "more often than once a minute")],
)  # fmt: skip
def test_bad_intervals(text: str, said: str) -> None:
    with pytest.raises(InputError, match=said):
        parse_every(text)


def test_a_toml_watch_list_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "list.toml"
    path.write_text(
        """
[defaults]
every = "2h"

[[target]]
name = "https://Shop.Example.com/"
[[target]]
name = "mail.example.com:587"
every = "30m"
labels = ["mail"]
[[target]]
name = "api.example.com:8443"
connect = "10.0.0.5"
servername = "api.internal"
"""
    )
    targets = read_watchlist(path)
    assert targets == [
        WatchTarget("shop.example.com:443", every=dt.timedelta(hours=2)),
        WatchTarget("mail.example.com:587", every=dt.timedelta(minutes=30), starttls="smtp",
                    labels=("mail",)),
        WatchTarget("api.example.com:8443", every=dt.timedelta(hours=2),
                    servername="api.internal", connect="10.0.0.5"),
    ]  # fmt: skip
    again = tmp_path / "again.toml"
    again.write_text(watchlist_toml(targets))
    assert read_watchlist(again) == targets


def test_a_plain_list_is_read_like_check_f(tmp_path: Path) -> None:
    path = tmp_path / "list.txt"
    path.write_text("# ours\nshop.example.com\napi.example.com:8443 127.0.0.1\n\n")
    assert [(t.name, t.connect) for t in read_watchlist(path)] == [
        ("shop.example.com:443", None),
        ("api.example.com:8443", "127.0.0.1"),
    ]


@pytest.mark.parametrize(
    ("content", "said"),
    [
        ("[[target]]\nname = 'a.example.com'\nevry = '1h'\n", "target 1: unknown key(s) evry"),
        ("[[target]]\nevery = '1h'\n", "target 1: 'name' (a host, host:port or URL) is required"),
        ("[[target]]\nname = 'a.example.com'\nevery = 'often'\n", "target 1: 'often'"),
        ("[[target]]\nname = 'http://a.example.com'\n", "plain HTTP"),
        ("[[target]]\nname = 'a.example.com'\nstarttls = 'smtps'\n", "starttls 'smtps'"),
        ("[[target]\nname = 'x'\n", "not valid TOML"),
        ("[targets]\n", "unknown section(s) targets"),
    ],
)
def test_watch_list_mistakes_are_named(tmp_path: Path, content: str, said: str) -> None:
    path = tmp_path / "list.toml"
    path.write_text(content)
    with pytest.raises(InputError, match=said.replace("(", r"\(").replace(")", r"\)")):
        read_watchlist(path)


def test_settings(tmp_path: Path) -> None:
    path = tmp_path / "watch.toml"
    path.write_text(
        """
[alerts]
expiry_days = [14, 3]
lifetime_relative = false
confirm_errors = 3
[check]
timeout = 4.5
concurrency = 8
ca_files = ["roots/internal.pem"]
[[notify]]
kind = "command"
command = "true"
"""
    )
    settings = read_settings(path)
    assert settings.policy.expiry_windows == (dt.timedelta(days=14), dt.timedelta(days=3))
    assert not settings.policy.lifetime_relative and settings.policy.confirm_errors == 3
    assert (settings.timeout, settings.concurrency) == (4.5, 8)
    assert settings.ca_files == (str(tmp_path / "roots" / "internal.pem"),)
    assert settings.notify == ({"kind": "command", "command": "true"},)


@pytest.mark.parametrize(
    ("content", "said"),
    [
        ("[alerts]\nexpiry_days = 7\n", "a list of positive whole days"),
        ("[alerts]\nconfirm_errors = 0\n", "at least 1"),
        ("[alerts]\nsilence = true\n", "[alerts] silence: unknown setting"),
        ("[check]\ntimeout = -1\n", "[check] timeout"),
        ("[notify]\nkind = 'email'\n", "'notify' must be an array of tables"),
    ],
)
def test_settings_mistakes_are_named(tmp_path: Path, content: str, said: str) -> None:
    path = tmp_path / "watch.toml"
    path.write_text(content)
    with pytest.raises(InputError) as raised:
        read_settings(path)
    assert said in str(raised.value) and str(path) in str(raised.value)


def test_a_missing_named_settings_file_is_an_error_but_no_default_file_is_fine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TLSDOCTOR_HOME", str(tmp_path / "home"))
    assert read_settings().source is None
    db = f"sqlite:///{tmp_path / 'w.db'}"
    code = main(["watch", "--db", db, "--config", str(tmp_path / "nope.toml"), "once"])
    assert code == 3
    assert "nope.toml: no such settings file" in capsys.readouterr().err
