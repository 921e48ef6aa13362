"""The watch defects an SRE met, each against real parts: `openssl s_server` endpoints
that go up and down on a fixed loopback port, a real SMTP server, a real SQLite database
that starts refusing writes in the middle of a sweep, the real dashboard app."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import icalendar
import pytest
from prometheus_client.parser import text_string_to_metric_families

from loopback import Inbox, smtp_server
from pki import Issued, make_root
from tlsdoctor.check import utc_now
from tlsdoctor.cli.main import main
from tlsdoctor.errors import InputError
from tlsdoctor.history.store import History
from tlsdoctor.monitor.config import parse_keep, read_watchlist
from tlsdoctor.monitor.metrics import exposition
from tlsdoctor.monitor.notify import email_message
from tlsdoctor.web import create_app
from watchsites import Endpoint

with warnings.catch_warnings():
    # Starlette 1.x asks for httpx2 and warns when it falls back to httpx (as test_web).
    warnings.filterwarnings("ignore", message=".*httpx2")
    from starlette.testclient import TestClient

NAME = "www.example.test"
DAY = dt.timedelta(days=1)


@pytest.fixture
def root(tmp_path: Path) -> Issued:
    issued = make_root("tlsdoctor Watch Defects Root", not_before=utc_now() - 400 * DAY)
    (tmp_path / "root.pem").write_bytes(issued.pem())
    return issued


def write_settings(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "watch.toml"
    path.write_text(f'[check]\ntimeout = 5\nca_files = ["root.pem"]\n{extra}')
    return path


def watch(tmp_path: Path, config: Path, *argv: str) -> int:
    return main(["watch", "--db", str(tmp_path / "watch.db"), "--config", str(config), *argv])


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_watch_metrics_and_the_dashboard_metrics_come_from_one_function(
    tmp_path: Path, root: Issued, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    site = Endpoint(tmp_path, root, not_after=utc_now() + 60 * DAY)
    config = write_settings(tmp_path)
    target = f"{NAME}:{site.port}"
    with site.up():
        assert watch(tmp_path, config, "add", target, "--connect", "127.0.0.1") == 0
        assert watch(tmp_path, config, "once", "--all") in (0, 1)
    capsysbinary.readouterr()
    assert watch(tmp_path, config, "metrics") == 0
    textfile = samples(capsysbinary.readouterr().out.decode())
    with History.open(str(tmp_path / "watch.db")) as history:
        with TestClient(create_app(history, token=None)) as client:
            scraped = samples(client.get("/metrics").text)
        # What `watch metrics` printed before: the same rows without their reports.
        without_reports = samples(exposition(history.latest_all(), utc_now()).decode())

    assert textfile.keys() == scraped.keys()
    for key, value in textfile.items():
        if key[0] == "tlsdoctor_cert_days_left":  # counted from each one's own "now"
            assert abs(value - scraped[key]) < 0.01
        else:
            assert value == scraped[key], key
    families = {name for name, _ in textfile}
    assert {"ssl_cert_not_after", "ssl_verified_cert_not_after", "probe_tls_version_info"} <= (
        families
    )
    info = [dict(labels) for name, labels in textfile if name == "probe_ssl_last_chain_info"]
    assert info[0]["subject"] == f"CN={NAME}" and info[0]["issuer"].startswith("CN=tlsdoctor")
    # The twin: without the reports the certificate families are missing, as they were.
    assert "ssl_cert_not_after" not in {name for name, _ in without_reports}


def alerts_by_mail(inbox: Inbox) -> list[tuple[str, str, dict[str, str]]]:
    """(Subject, Message-ID, facts) of each mail, facts from the body's ``key  value``."""
    mails = []
    for received in inbox.received:
        message = received.message
        body = message.get_content() if hasattr(message, "get_content") else str(message)
        facts = {}
        for line in body.splitlines():
            key, _, value = line.partition("  ")
            if key and value and " " not in key:
                facts[key] = value.strip()
        mails.append((str(message["Subject"]), str(message["Message-ID"]), facts))
    return mails


def test_outages_one_message_id_each_dated_from_their_start(
    tmp_path: Path, root: Issued, capsys: pytest.CaptureFixture[str]
) -> None:
    site = Endpoint(tmp_path, root, not_after=utc_now() + 60 * DAY)
    inbox = Inbox()
    with smtp_server(inbox) as mail_port:
        config = write_settings(
            tmp_path,
            f"""[alerts]
confirm_errors = 2
[[notify]]
name = "ops-mail"
kind = "email"
host = "127.0.0.1"
port = {mail_port}
security = "none"
sender = "tlsdoctor@example.test"
recipients = ["ops@example.test"]
timeout = 3
""",
        )
        target = f"{NAME}:{site.port}"
        assert watch(tmp_path, config, "add", target, "--connect", "127.0.0.1") == 0

        def sweep() -> None:
            watch(tmp_path, config, "once", "--all")
            time.sleep(1.1)  # the history keeps whole seconds

        for _ in range(2):  # two outages of the same kind, each confirmed by a second check
            with site.up():
                sweep()
            sweep()  # the first failure: not told yet
            sweep()  # confirmed
        with site.up():
            sweep()
        capsys.readouterr()
        assert watch(tmp_path, config, "history", target, "--json") == 0
        history = json.loads(capsys.readouterr().out)

    mails = alerts_by_mail(inbox)
    subjects = [subject for subject, _, _ in mails]
    assert [s.split(": ")[1] for s in subjects] == [
        "could not be checked",
        "trusted again",
        "could not be checked",
        "trusted again",
    ]
    broken = [mail for mail in mails if "could not be checked" in mail[0]]
    # One Message-ID per incident: a mail client threads the second outage, never hides it.
    assert broken[0][1] != broken[1][1]
    outages = [s for s in history["states"] if s["verdict"] == "error"]
    assert [s["checks"] for s in outages] == [2, 2]
    for (_, _, facts), outage in zip(broken, reversed(outages), strict=True):
        # Dated from the first failed check, not from the one that confirmed it.
        since = dt.datetime.fromisoformat(facts["since"])
        began = dt.datetime.fromisoformat(outage["first_seen"].replace("Z", "+00:00"))
        assert abs((since - began).total_seconds()) < 1
        assert facts["was"] == "-"  # no "(was error)"
    bodies = [
        r.message.get_content() for r in inbox.received if "could not" in r.message["Subject"]
    ]
    assert all("(2 checks in a row)" in body and "was error" not in body for body in bodies)
    # A retry of one alert keeps its Message-ID (a mail sent twice folds into one).
    assert broken[0][1].startswith("<") and "@tlsdoctor>" in broken[0][1]

    # Prune: units are days, weeks or years; deleting most of the history asks first.
    assert watch(tmp_path, config, "prune", "--keep", "6m") == 3
    assert "6m could mean minutes or months" in capsys.readouterr().err
    assert watch(tmp_path, config, "prune", "--keep", "0d") == 3  # no terminal, no --yes
    assert "add --yes" in capsys.readouterr().err
    assert watch(tmp_path, config, "history", target, "--json") == 0
    assert len(json.loads(capsys.readouterr().out)["states"]) == 5  # nothing deleted
    assert watch(tmp_path, config, "prune", "--keep", "0d", "--yes") == 0
    assert capsys.readouterr().out.startswith("deleted 4 states")


def test_the_same_alert_keeps_its_message_id_and_another_incident_gets_its_own() -> None:
    from tlsdoctor.monitor.notify import sample_alert

    first = sample_alert(dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc))
    again = sample_alert(dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc))
    later = sample_alert(dt.datetime(2026, 2, 1, tzinfo=dt.timezone.utc))
    later = type(later)(**{**later.__dict__, "key": first.key})  # same key, new incident
    ids = [email_message(a, "a@x.test", ["b@x.test"])["Message-ID"] for a in (first, again, later)]
    assert ids[0] == ids[1] != ids[2]


@pytest.mark.parametrize(
    ("text", "days"), [("90d", 90), ("26w", 182), ("1y", 365), ("1y2w", 379), ("0d", 0)]
)
def test_keep_takes_days_weeks_and_years(text: str, days: int) -> None:
    assert parse_keep(text) == dt.timedelta(days=days)


@pytest.mark.parametrize("text", ["6m", "12h", "30s", "", "d", "1.5d", "-1d"])
def test_keep_refuses_what_could_be_misread(text: str) -> None:
    with pytest.raises(InputError, match="days, weeks or years"):
        parse_keep(text)


def test_a_database_that_fails_mid_sweep_stops_watch_run_with_one_error(
    tmp_path: Path, root: Issued
) -> None:
    site = Endpoint(tmp_path, root, not_after=utc_now() + 60 * DAY)
    config = write_settings(tmp_path)
    db = tmp_path / "watch.db"
    with site.up(), socket_that_never_answers() as silent:
        slow = [f"slow{n}.example.test:{silent}" for n in range(3)]
        assert watch(tmp_path, config, "add", f"{NAME}:{site.port}", "--connect", "127.0.0.1") == 0
        (tmp_path / "slow.txt").write_text("".join(f"{name} 127.0.0.1\n" for name in slow))
        assert watch(tmp_path, config, "import", str(tmp_path / "slow.txt")) == 0
        # The database starts refusing to store check results (as a full disk or a
        # read-only remount would); leasing targets still works.
        with sqlite3.connect(db) as conn:
            conn.execute(
                "CREATE TRIGGER refuse BEFORE INSERT ON runs BEGIN"
                " SELECT RAISE(ABORT, 'database or disk is full'); END"
            )
        started = time.monotonic()
        cli = [sys.executable, "-c", "from tlsdoctor.cli.main import run; run()"]
        run = subprocess.run(
            [*cli, "watch", "--db", str(db), "--config", str(config), "run"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        took = time.monotonic() - started
    # It stopped without waiting for the slow checks (5 s timeout each), with one error.
    assert run.returncode == 3, run.stderr
    assert took < 5, took
    errors = [line for line in run.stderr.splitlines() if line.startswith("tlsdoctor: error")]
    assert len(errors) == 1, run.stderr
    assert "database or disk is full" in errors[0]
    assert "1 check result(s) were not stored" in errors[0]
    assert "Traceback" not in run.stderr
    # Nothing half-stored; the leases were given back, so the targets are due at once:
    # with the database healthy again the next sweep stores every one of them.
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM runs").fetchone() == (0,)
        leased = "SELECT count(*) FROM targets WHERE lease_until IS NOT NULL"
        assert conn.execute(leased).fetchone() == (0,)
        conn.execute("DROP TRIGGER refuse")
    with site.up():
        assert watch(tmp_path, config, "once") == 3  # the slow ones could not be checked
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM runs").fetchone() == (4,)


@contextmanager
def socket_that_never_answers() -> Iterator[int]:
    from servers import silent_port

    with silent_port() as port:
        yield port


def test_an_unclosed_ipv6_bracket_names_the_line(tmp_path: Path) -> None:
    plain = tmp_path / "list.txt"
    plain.write_text("# fleet\nwww.example.test\nhttps://[::1\n")
    with pytest.raises(InputError, match=r"list\.txt:3: 'https://\[::1' is not a URL"):
        read_watchlist(plain)
    toml = tmp_path / "list.toml"
    toml.write_text('[[target]]\nname = "www.example.test"\n\n[[target]]\nname = "https://[::1"\n')
    with pytest.raises(InputError, match=r"list\.toml:4 target 2: 'https://\[::1'"):
        read_watchlist(toml)
    plain.write_text("https://[::1]:8443\n")  # the twin: closed, it is a target
    assert [t.name for t in read_watchlist(plain)] == ["[::1]:8443"]


def test_an_expired_certificate_days_left_interval_and_calendar(
    tmp_path: Path, root: Issued, capsys: pytest.CaptureFixture[str]
) -> None:
    expired = Endpoint(tmp_path, root, not_after=utc_now() - dt.timedelta(days=30, hours=12))
    config = write_settings(tmp_path)
    target = f"{NAME}:{expired.port}"
    assert watch(tmp_path, config, "add", target, "--connect", "127.0.0.1", "--every", "1m") == 0
    assert capsys.readouterr().out.strip() == f"added: {target} every 1m"
    with expired.up():
        assert watch(tmp_path, config, "once", "--all", "--json") == 2
    report = json.loads(capsys.readouterr().out)
    assert report["verdict"] == "untrusted"
    with History.open(str(tmp_path / "watch.db")) as history:
        latest = history.latest(target)
        assert latest is not None
        messages = [str(f.get("message")) for f in latest.report["findings"]]  # type: ignore[union-attr]
        with TestClient(create_app(history, token=None)) as client:
            page = client.get(f"/target/{target}").text
            api = client.get(f"/api/targets/{target}").json()
    # The finding, the list, the API and the page count the same days.
    assert any("(30 days ago)" in m for m in messages), messages
    assert watch(tmp_path, config, "list") == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if target in line)
    assert " -30 " in row and "-31" not in row
    assert api["days_left"] == -30
    assert "expired 30 days ago" in page
    assert "<dd>1m</dd>" in page or ">1m<" in page
    assert "0.0166667" not in page
    # The calendar: an event for the expired certificate, and no "expires in 30 days".
    assert watch(tmp_path, config, "calendar") == 0
    events = icalendar.Calendar.from_ical(capsys.readouterr().out).walk("VEVENT")
    assert len(events) == 1 and events[0].walk("VALARM") == []


def test_a_valid_certificate_keeps_its_calendar_alarms(
    tmp_path: Path, root: Issued, capsys: pytest.CaptureFixture[str]
) -> None:
    site = Endpoint(tmp_path, root, not_after=utc_now() + 60 * DAY)
    config = write_settings(tmp_path)
    target = f"{NAME}:{site.port}"
    assert watch(tmp_path, config, "add", target, "--connect", "127.0.0.1") == 0
    with site.up():
        watch(tmp_path, config, "once", "--all")
    capsys.readouterr()
    assert watch(tmp_path, config, "calendar") == 0
    events = icalendar.Calendar.from_ical(capsys.readouterr().out).walk("VEVENT")
    assert len(events[0].walk("VALARM")) == 2
