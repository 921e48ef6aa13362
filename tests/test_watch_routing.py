"""Routing and per-target settings, end to end: real `openssl s_server` endpoints, real
webhook receivers on loopback, a JSON Lines log, a real SQLite history and the real
dashboard app. Who hears of what, and what each target's own settings change."""

from __future__ import annotations

import datetime as dt
import json
import warnings
from pathlib import Path
from typing import Any

import pytest

from loopback import Request, receiver
from pki import Issued, make_root
from servers import free_port
from tlsdoctor.check import utc_now
from tlsdoctor.cli.main import main
from tlsdoctor.history.store import History
from tlsdoctor.web import create_app
from watchsites import DAY, Endpoint

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=".*httpx2")  # as test_web
    from starlette.testclient import TestClient


@pytest.fixture
def root(tmp_path: Path) -> Issued:
    issued = make_root("tlsdoctor Routing Test Root", not_before=utc_now() - 400 * DAY)
    (tmp_path / "root.pem").write_bytes(issued.pem())
    return issued


def said(requests: list[Request]) -> list[tuple[str, str]]:
    """(target host, kind) of each message a webhook got."""
    return [(r.json()["target"].split(".")[0], r.json()["kind"]) for r in requests]


def logged(path: Path) -> list[tuple[str, str]]:
    if not path.exists():
        return []
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    return [(line["target"].split(".")[0], line["kind"]) for line in lines]


def test_each_notifier_hears_what_its_route_lets_through(
    tmp_path: Path, root: Issued, capsys: pytest.CaptureFixture[str]
) -> None:
    shop = Endpoint(tmp_path, root, not_after=utc_now() + 80 * DAY, name="shop.example.test")
    test = Endpoint(tmp_path, root, not_after=utc_now() + 80 * DAY, name="test.example.test")
    quiet = Endpoint(tmp_path, root, not_after=utc_now() + 80 * DAY, name="quiet.example.test")
    log = tmp_path / "alerts.jsonl"
    muted_until = (utc_now() + 30 * DAY).date()
    (tmp_path / "list.toml").write_text(
        f"""[defaults]
ca_files = ["root.pem"]
[[target]]
name = "{shop.target}"
connect = "127.0.0.1"
labels = ["prod"]
[[target]]
name = "{test.target}"
connect = "127.0.0.1"
labels = ["staging"]
[[target]]
name = "{quiet.target}"
connect = "127.0.0.1"
labels = ["prod"]
mute_until = {muted_until}
"""
    )
    with receiver() as (pager_url, pager), receiver() as (chat_url, chat):
        settings = tmp_path / "watch.toml"
        settings.write_text(
            f"""[check]
timeout = 5
public_roots = false
[alerts]
confirm_errors = 1
[[notify]]
name = "pager"
kind = "webhook"
url = "{pager_url}/pager"
min_severity = "critical"
[[notify]]
name = "chat"
kind = "webhook"
url = "{chat_url}/chat"
target_labels = ["prod"]
exclude_codes = ["expiring_soon"]
[[notify]]
name = "log"
kind = "log"
path = "{log}"
"""
        )
        db = str(tmp_path / "watch.db")

        def watch(*argv: str) -> int:
            return main(["watch", "--db", db, "--config", str(settings), *argv])

        assert watch("import", str(tmp_path / "list.toml")) == 0
        with shop.up(), test.up(), quiet.up():
            watch("once", "--all")  # first sight: nothing to say
            assert (said(pager), said(chat), logged(log)) == ([], [], [])
        # A swap on shop to a certificate with 5 days left: expiry (warning) and changed
        # (info), told as ONE message to each notifier that takes either.
        shop.serve(utc_now() + 5 * DAY)
        with shop.up(), test.up(), quiet.up():
            watch("once", "--all")
        assert said(pager) == []  # warning and info: below critical
        assert said(chat) == [("shop", "certificate_changed")]  # the expiry is excluded
        assert logged(log) == [("shop", "expiry")]  # both, one line: the expiry leads
        # Everything goes down: broken is critical.
        watch("once", "--all")
        assert sorted(said(pager)) == [("shop", "broken"), ("test", "broken")]
        assert said(chat)[1:] == [("shop", "broken")]  # staging is not chat's
        assert sorted(logged(log)[1:]) == [("shop", "broken"), ("test", "broken")]
        # quiet is muted: its alert is kept, told to nobody.
        capsys.readouterr()
        assert watch("history", quiet.target, "--json") == 0
        alerts = json.loads(capsys.readouterr().out)["alerts"]
        assert [(a["kind"], a["deliveries"]) for a in alerts] == [("broken", {})]
        # shop recovers: the recovery reaches whoever heard of the outage (pager too,
        # though a recovery is info: it is routed as the outage it ends).
        with shop.up():
            watch("once", "--all")
        assert said(pager)[-1] == ("shop", "recovered")
        assert said(chat)[-1] == ("shop", "recovered")


def lines_of(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_per_target_roots_warning_window_and_ignored_findings(
    tmp_path: Path, root: Issued, capsys: pytest.CaptureFixture[str]
) -> None:
    # Two endpoints of the same private CA with 60 days left of 90: one watched with the
    # CA added (and its own settings), its twin with the public roots alone.
    # The private leaf names a CRL that cannot be fetched (nothing listens there):
    # revocation_unknown, which its group ignores.
    closed = free_port()
    private = Endpoint(
        tmp_path,
        root,
        not_after=utc_now() + 60 * DAY,
        name="intra.example.test",
        crl_url=f"http://127.0.0.1:{closed}/intranet.crl",
    )
    twin = Endpoint(tmp_path, root, not_after=utc_now() + 60 * DAY, name="twin.example.test")
    (tmp_path / "list.toml").write_text(
        f"""[group.intranet]
ca_files = ["root.pem"]
warn_days = 90
ignore = ["revocation_unknown"]
ignore_reason = "the intranet CRL is not served to the monitoring host; checked by the PKI team"
[[target]]
name = "{private.target}"
connect = "127.0.0.1"
group = "intranet"
[[target]]
name = "{twin.target}"
connect = "127.0.0.1"
"""
    )
    hooks_file = tmp_path / "alerts.jsonl"
    settings = tmp_path / "watch.toml"
    settings.write_text(f'[check]\ntimeout = 5\n[[notify]]\nkind = "log"\npath = "{hooks_file}"\n')
    db = str(tmp_path / "watch.db")

    def watch(*argv: str) -> int:
        return main(["watch", "--db", db, "--config", str(settings), *argv])

    assert watch("import", str(tmp_path / "list.toml")) == 0
    capsys.readouterr()
    with private.up(), twin.up():
        watch("once", "--all", "--json")
    seen = {line["target"]: line for line in lines_of(capsys)}
    # The CA file is added to the public roots: trusted; the twin is not.
    assert seen[private.target]["verdict"] == "trusted"
    assert seen[twin.target]["verdict"] == "untrusted"
    # revocation_unknown is ignored there: exit 0 (the code stays, marked on the page).
    assert "revocation_unknown" in seen[private.target]["codes"]
    assert seen[private.target]["exit_code"] == 0
    with History.open(db) as history:
        latest = history.latest(private.target)
        assert latest is not None
        kinds = {a["kind"] for a in latest.report["trust_anchors"]}  # type: ignore[union-attr]
        assert {"mozilla", "custom"} <= kinds, kinds
        with TestClient(create_app(history, token=None)) as client:
            page = client.get(f"/target/{private.target}").text
    assert "the intranet CRL is not served to the monitoring host; checked by the PKI team" in page
    assert "90 days ahead" in page
    # warn_days = 90: the 60-day certificate is already in its window; the lifetime
    # window of the default policy (30 days) has not opened for the twin.
    alerts = [json.loads(line) for line in hooks_file.read_text().splitlines()]
    expiring = [(a["target"], a["kind"]) for a in alerts if a["kind"] == "expiry"]
    assert expiring == [(private.target, "expiry")]
    # Export keeps every setting; importing it back changes nothing.
    assert watch("export", "-o", str(tmp_path / "out.toml")) == 0
    exported = (tmp_path / "out.toml").read_text()
    assert "warn_days = 90" in exported and "ignore_reason" in exported
    assert watch("import", str(tmp_path / "out.toml")) == 0
    assert "0 new, 2 updated" in capsys.readouterr().out


A = '[[target]]\nname = "a.test"\n'


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (f'{A}group = "x"\n', "group 'x' has no [group.x] table"),
        (f'{A}ignore = ["nope"]\nignore_reason = "r"\n', "not a finding code"),
        (f'{A}ignore = ["revocation_unknown"]\n', "needs an 'ignore_reason'"),
        (f"{A}warn_days = 0\n", "at least 1"),
        (f"{A}mute_until = 2026-12-31T08:00:00\n", "needs an offset"),
        ('[group.x]\nname = "a"\n[[target]]\nname = "a.test"\n', "unknown key(s) name"),
    ],
)
def test_per_target_mistakes_are_named(tmp_path: Path, content: str, message: str) -> None:
    from tlsdoctor.errors import InputError
    from tlsdoctor.monitor.config import read_watchlist

    (tmp_path / "list.toml").write_text(content)
    with pytest.raises(InputError) as caught:
        read_watchlist(tmp_path / "list.toml")
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"min_severity": "page"}, "min_severity must be one of info, warning, critical"),
        ({"codes": ["nope"]}, "'codes': nope is not a finding code"),
        ({"target_labels": "prod"}, "'target_labels' must be a list of strings"),
    ],
)
def test_route_mistakes_are_named(section: dict[str, Any], message: str) -> None:
    from tlsdoctor.errors import InputError
    from tlsdoctor.monitor.notify import notifiers_from_config

    with pytest.raises(InputError) as caught:
        notifiers_from_config({"notify": [{"kind": "log", "path": "/tmp/x", **section}]})
    assert message in str(caught.value)


def test_a_target_muted_until_a_passed_date_is_told_again() -> None:
    from tlsdoctor.watch_model import WatchTarget

    now = dt.datetime(2026, 6, 1, tzinfo=dt.timezone.utc)
    assert WatchTarget("a:443", mute_until=now + DAY).muted(now)
    assert not WatchTarget("a:443", mute_until=now - DAY).muted(now)
    assert not WatchTarget("a:443").muted(now)
