"""`tlsdoctor watch` end to end: a real nginx whose certificate changes between sweeps, a
real SMTP server and a webhook receiver on loopback, a real SQLite database; the alerts
that arrive are exactly the ones the timeline calls for, once each, across restarts,
kills and a mail server that was down."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509

from loopback import Inbox, Request, receiver, smtp_server
from pki import Issued, make_root
from servers import (
    free_port,
    nginx_available,
    nginx_config,
    running,
    silent_port,
    wait_serving,
)
from tlsdoctor.cli.main import main

pytestmark = pytest.mark.skipif(not nginx_available(), reason="nginx is not installed")

NAME = "shop.example.test"
DAY = dt.timedelta(days=1)


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@dataclass
class Site:
    """nginx serving ``NAME`` with whichever certificate the test installs."""

    folder: Path
    root: Issued
    port: int
    config: Path

    def serve(self, *, days_left: float, lifetime: float = 90) -> x509.Certificate:
        end = now() + days_left * DAY
        leaf = self.root.issue_leaf([NAME], not_before=end - lifetime * DAY, not_after=end)
        (self.folder / "leaf.pem").write_bytes(leaf.pem())
        (self.folder / "leaf.key").write_bytes(leaf.key_pem())
        subprocess.run(
            ["nginx", "-c", str(self.config), "-p", str(self.folder), "-s", "reload"],
            check=True,
            capture_output=True,
            timeout=10,
        )
        wait_serving(self.port, NAME, leaf.cert.serial_number)
        return leaf.cert


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    folder = tmp_path / "nginx"
    folder.mkdir()
    root = make_root("tlsdoctor Watch Test Root", not_before=now() - 400 * DAY)
    (tmp_path / "root.pem").write_bytes(root.pem())
    first = root.issue_leaf([NAME], not_before=now() - 10 * DAY, not_after=now() + 80 * DAY)
    (folder / "leaf.pem").write_bytes(first.pem())
    (folder / "leaf.key").write_bytes(first.key_pem())
    port = free_port()
    config = nginx_config(
        folder,
        port,
        [
            f"listen 127.0.0.1:{port} ssl;\n        server_name {NAME};\n"
            f"        ssl_certificate {folder}/leaf.pem;\n"
            f"        ssl_certificate_key {folder}/leaf.key;"
        ],
    )
    with running(["nginx", "-c", str(config), "-p", str(folder)], "127.0.0.1", port):
        yield Site(folder, root, port, config)


def settings(tmp_path: Path, mail_port: int, hook_url: str) -> Path:
    path = tmp_path / "watch.toml"
    path.write_text(
        f"""
[check]
timeout = 5
ca_files = ["root.pem"]

[[notify]]
name = "ops-mail"
kind = "email"
host = "127.0.0.1"
port = {mail_port}
security = "none"
sender = "tlsdoctor@example.test"
recipients = ["ops@example.test"]
timeout = 3

[[notify]]
name = "chat"
kind = "webhook"
url = "{hook_url}/hook"
format = "json"
"""
    )
    return path


def watch(tmp_path: Path, config: Path, *argv: str) -> int:
    db = f"sqlite:///{tmp_path / 'watch.db'}"
    return main(["watch", "--db", db, "--config", str(config), *argv])


def kinds(requests: list[Request]) -> list[tuple[str, str]]:
    # The lead alert's kind and key of each message (alerts raised together share one).
    return [(r.json()["kind"], r.json()["key"].split("+")[0].split(":")[0]) for r in requests]


def test_a_scripted_timeline_alerts_exactly_once_per_state(
    site: Site, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inbox = Inbox()
    with smtp_server(inbox) as mail_port, receiver() as (hook_url, hooks):
        config = settings(tmp_path, mail_port, hook_url)
        target = f"{NAME}:{site.port}"
        assert watch(tmp_path, config, "add", target, "--connect", "127.0.0.1") == 0

        def sweep(expected_exit: int) -> list[tuple[str, str]]:
            before = len(hooks)
            assert watch(tmp_path, config, "once", "--all") == expected_exit
            capsys.readouterr()
            return kinds(hooks[before:])

        # 1. First sight, 80 days left of 90: nothing to say.
        # Exit 0: this test CA names no CRL or OCSP, which is not a finding.
        assert sweep(0) == []
        # 2. Replaced by a certificate with 5 days left: changed, and the 7-day window,
        # told in one message (the expiry leads; the change is in it).
        site.serve(days_left=5)
        assert sweep(1) == [("expiry", "expiry")]
        assert (
            "certificate:" in hooks[-1].json()["key"]
            and "also: certificate changed" in hooks[-1].json()["title"]
        )
        # 3. Nothing changed: nothing said.
        assert sweep(1) == []
        # 4. Expired certificate deployed: broken (and changed).
        site.serve(days_left=-1)
        assert sweep(2) == [("broken", "broken")]  # and changed, in the same message
        assert sweep(2) == []  # still broken: told once
        # 5. Renewed: recovered, changed; the new certificate's windows start afresh.
        site.serve(days_left=90)
        assert sweep(0) == [("recovered", "recovered")]  # and changed, in the same message
        assert sweep(0) == []

        # Mail got the same alerts as the webhook, one message each, in order.
        subjects = [r.message["Subject"] for r in inbox.received]
        assert subjects == [r.json()["title"] for r in hooks]
        assert len(subjects) == 3  # one message per notifier per swap, 6 alerts in them
        assert re.match(rf"{NAME}:{site.port}: certificate expires in [45] days \(", subjects[0])
        assert "untrusted" in subjects[1] and "expired" in subjects[1].lower()
        assert subjects[2].startswith(f"{NAME}:{site.port}: trusted again (also: certificate")
        assert all(r.rcpt_tos == ["ops@example.test"] for r in inbox.received)

    # History: one line per state, newest first, with the checks each lasted.
    assert watch(tmp_path, config, "history", target, "--json") == 0
    history = json.loads(capsys.readouterr().out)
    checks = [(s["verdict"], s["checks"]) for s in history["states"]]
    assert checks == [("trusted", 2), ("untrusted", 2), ("trusted", 2), ("trusted", 1)]
    assert all(set(a["deliveries"].values()) == {"delivered"} for a in history["alerts"])
    # The calendar: the current certificate's expiry, and the replaced ones that have not
    # ended yet (the first and the 5-day one; not the expired one) cancelled, so calendars
    # that imported them drop their reminders.
    assert watch(tmp_path, config, "calendar", "-o", str(tmp_path / "tls.ics")) == 0
    import icalendar

    events = icalendar.Calendar.from_ical((tmp_path / "tls.ics").read_bytes()).walk("VEVENT")
    assert sorted(str(event.get("STATUS", "CONFIRMED")) for event in events) == [
        "CANCELLED",
        "CANCELLED",
        "CONFIRMED",
    ]
    # Pruning keeps what is recent, and the current state always.
    assert watch(tmp_path, config, "prune", "--keep", "1d") == 0
    assert capsys.readouterr().out.startswith("deleted 0 states and 0 alerts")
    time.sleep(1.1)  # the database keeps whole seconds
    assert watch(tmp_path, config, "prune", "--keep", "0d", "--yes") == 0
    assert capsys.readouterr().out.startswith("deleted 3 states and")
    assert watch(tmp_path, config, "history", target, "--json") == 0
    assert [s["checks"] for s in json.loads(capsys.readouterr().out)["states"]] == [2]


def test_mail_server_down_checks_go_on_and_the_alert_arrives_later(
    site: Site, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tlsdoctor.history.store import History
    from tlsdoctor.monitor.notify import notifiers_from_config
    from tlsdoctor.monitor.notify.outbox import deliver_due

    mail_port = free_port()  # nothing listens there yet
    with receiver() as (hook_url, hooks):
        config = settings(tmp_path, mail_port, hook_url)
        target = f"{NAME}:{site.port}"
        assert watch(tmp_path, config, "add", target, "--connect", "127.0.0.1") == 0
        site.serve(days_left=-1)
        started = time.monotonic()
        assert watch(tmp_path, config, "once", "--all") == 2  # the check itself is unaffected
        assert time.monotonic() - started < 15
        said = capsys.readouterr().err
        assert "1 sent, 1 to retry" in said
        assert kinds(hooks) == [("broken", "broken")]  # the webhook did not wait for mail

    # The mail server comes back; the retry, when its backoff has passed, delivers once.
    from tlsdoctor.monitor.config import read_settings

    notifiers = {
        n.name: n for n in notifiers_from_config({"notify": list(read_settings(config).notify)})
    }
    inbox = Inbox()
    with (
        smtp_server(inbox, port=mail_port),
        History.open(f"sqlite:///{tmp_path / 'watch.db'}") as db,
    ):
        early = deliver_due(db, notifiers)
        assert (early.delivered, inbox.received) == (0, [])  # not due yet: backing off
        later = deliver_due(db, notifiers, now=lambda: now() + dt.timedelta(minutes=5))
        assert later.delivered == 1
        again = deliver_due(db, notifiers, now=lambda: now() + dt.timedelta(hours=5))
        assert again.delivered == 0
    assert [r.message["Subject"] for r in inbox.received] == [hooks[0].json()["title"]]


def test_kill_9_in_the_middle_of_a_sweep_loses_nothing_and_repeats_no_alert(
    site: Site, tmp_path: Path
) -> None:
    """A sweep of fast targets and silent ones (each waits out its timeout) is killed with
    SIGKILL once the fast ones are stored; the restarted sweep keeps their history and
    alerts them no second time."""
    with receiver() as (hook_url, hooks), silent_port() as silent:
        config = settings(tmp_path, free_port(), hook_url)
        config.write_text(config.read_text().replace("timeout = 5", "timeout = 8", 1))
        site.serve(days_left=-1)  # every fast target is broken: one alert each
        fast = [f"{NAME}:{site.port}"] + [f"n{i}.{NAME}:{site.port}" for i in range(5)]
        slow = [f"slow{i}.{NAME}:{silent}" for i in range(3)]
        db_path = tmp_path / "watch.db"
        base = [sys.executable, "-m", "tlsdoctor", "watch", "--db", f"sqlite:///{db_path}",
                "--config", str(config)]  # fmt: skip
        # Slow ones first: the scanner yields in input order, the store must not wait.
        (tmp_path / "list.txt").write_text("".join(f"{t} 127.0.0.1\n" for t in slow + fast))
        subprocess.run([*base, "import", str(tmp_path / "list.txt")], check=True, timeout=60)
        sweep = subprocess.Popen([*base, "once"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 30
            while stored(db_path) < len(fast):
                assert time.monotonic() < deadline, "the fast targets were never stored"
                assert sweep.poll() is None, "the sweep ended before the kill"
                time.sleep(0.05)
            os.kill(sweep.pid, signal.SIGKILL)
        finally:
            sweep.kill()
            sweep.wait(timeout=10)
            if sweep.stderr:
                sweep.stderr.close()
        assert sweep.returncode == -signal.SIGKILL
        assert hooks == []  # killed before it could notify

        with sqlite3.connect(db_path) as db:
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        # Restart: every target checked again; the fast ones' alerts are sent now, once.
        again = subprocess.run([*base, "once", "--all"], capture_output=True, text=True,
                               timeout=120)  # fmt: skip
        assert again.returncode == 3, again.stderr  # the silent ones: could not check
        # One alert per broken target; the silent ones have failed once only so far, and a
        # failure to connect is told when it lasts (confirm_errors = 2).
        broken = sorted(r.json()["target"] for r in hooks if r.json()["kind"] == "broken")
        assert broken == sorted(fast)
        assert len(hooks) == len(fast)
        history = subprocess.run([*base, "history", fast[0], "--json"], capture_output=True,
                                 text=True, timeout=60, check=True)  # fmt: skip
        states = json.loads(history.stdout)["states"]
        assert [(s["verdict"], s["checks"]) for s in states] == [("untrusted", 2)]


def stored(db_path: Path) -> int:
    """How many targets have a check in the database, read as another process would."""
    from tlsdoctor.history.store import History

    if not db_path.exists():
        return 0
    with History.open(f"sqlite:///{db_path}") as history:
        return sum(latest is not None for _, latest in history.latest_all())


def test_the_daemon_checks_alerts_and_stops_cleanly_on_sigterm(site: Site, tmp_path: Path) -> None:
    with receiver() as (hook_url, hooks):
        config = settings(tmp_path, free_port(), hook_url)
        db_path = tmp_path / "watch.db"
        base = [sys.executable, "-m", "tlsdoctor", "watch", "--db", f"sqlite:///{db_path}",
                "--config", str(config)]  # fmt: skip
        target = f"{NAME}:{site.port}"
        site.serve(days_left=-1)
        subprocess.run([*base, "add", target, "--connect", "127.0.0.1", "--every", "1m"],
                       check=True, capture_output=True, timeout=60)  # fmt: skip
        daemon = subprocess.Popen([*base, "run"], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True)  # fmt: skip
        try:
            deadline = time.monotonic() + 30
            while not hooks:  # checked, stored, and the outbox sent the alert
                assert time.monotonic() < deadline, "the daemon never alerted"
                assert daemon.poll() is None, "the daemon died"
                time.sleep(0.1)
            daemon.send_signal(signal.SIGTERM)
            _, err = daemon.communicate(timeout=30)
        finally:
            daemon.kill()
    assert daemon.returncode == 0, err
    assert "watching 1 target (2 notifiers)" in err and err.rstrip().endswith("stopped")
    assert kinds(hooks) == [("broken", "broken")]
    assert stored(db_path) == 1


def test_two_workers_on_one_postgresql_database_never_check_a_target_twice(
    site: Site, tmp_path: Path
) -> None:
    import postgres

    reason = postgres.unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    config = settings(tmp_path, free_port(), "http://127.0.0.1:9")
    config.write_text(config.read_text().split("[[notify]]")[0])  # no notifiers
    names = [f"n{i}.{NAME}:{site.port}" for i in range(40)]
    (tmp_path / "list.txt").write_text("".join(f"{n} 127.0.0.1\n" for n in names))
    with postgres.running_server() as server:
        url = server.create_database()
        base = [sys.executable, "-m", "tlsdoctor", "watch", "--db", url, "--config", str(config)]
        subprocess.run([*base, "import", str(tmp_path / "list.txt")], check=True,
                       capture_output=True, timeout=60)  # fmt: skip
        workers = [
            subprocess.Popen(
                [*base, "once", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
            for _ in range(2)
        ]
        outputs = [worker.communicate(timeout=120)[0] for worker in workers]
        checked = [[json.loads(line)["target"] for line in out.splitlines()] for out in outputs]
        assert sorted(checked[0] + checked[1]) == sorted(names)  # each target once, in all
        listed = subprocess.run([*base, "list", "--json"], capture_output=True, text=True,
                                timeout=60, check=True)  # fmt: skip
        assert len(listed.stdout.splitlines()) == len(names)


def test_list_export_import_calendar_metrics_and_test_notify(
    site: Site, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import icalendar
    from prometheus_client.parser import text_string_to_metric_families

    with receiver() as (hook_url, hooks):
        config = settings(tmp_path, free_port(), hook_url)
        target = f"{NAME}:{site.port}"
        assert watch(tmp_path, config, "add", target, "--connect", "127.0.0.1", "--every",
                     "2h", "--label", "shop") == 0  # fmt: skip
        assert watch(tmp_path, config, "once") == 0  # healthy: no pointer is no finding
        capsys.readouterr()

        # The watch list goes out as TOML and comes back the same into a new database.
        assert watch(tmp_path, config, "export", "-o", str(tmp_path / "list.toml")) == 0
        exported = (tmp_path / "list.toml").read_text()
        assert f'name = "{target}"' in exported and 'every = "2h"' in exported
        other = f"sqlite:///{tmp_path / 'other.db'}"
        assert main(["watch", "--db", other, "import", str(tmp_path / "list.toml")]) == 0
        assert main(["watch", "--db", other, "export"]) == 0
        assert capsys.readouterr().out.endswith(exported)

        # A calendar event per certificate, with reminders 30 and 7 days before.
        assert watch(tmp_path, config, "calendar", "-o", str(tmp_path / "tls.ics")) == 0
        calendar = icalendar.Calendar.from_ical((tmp_path / "tls.ics").read_bytes())
        (event,) = calendar.walk("VEVENT")
        assert NAME in str(event["SUMMARY"])
        triggers = sorted(
            str(alarm["TRIGGER"].to_ical().decode()) for alarm in event.walk("VALARM")
        )
        assert triggers == ["-P30D", "-P7D"]

        # Metrics that Prometheus' own parser reads, with the exporters' names.
        assert watch(tmp_path, config, "metrics", "-o", str(tmp_path / "tls.prom")) == 0
        families = {
            family.name: family
            for family in text_string_to_metric_families((tmp_path / "tls.prom").read_text())
        }
        (expiry,) = families["probe_ssl_earliest_cert_expiry"].samples
        served = x509.load_pem_x509_certificate((site.folder / "leaf.pem").read_bytes())
        assert expiry.value == served.not_valid_after_utc.timestamp()
        assert families["ssl_probe_success"].samples[0].value == 1

        # test-notify: a sample through each notifier, saying which worked.
        assert watch(tmp_path, config, "test-notify") == 3  # the mail server is not there
        said = capsys.readouterr().out
        assert "chat: sent" in said and "ops-mail: FAILED" in said
        assert len(hooks) == 1

        assert watch(tmp_path, config, "remove", f"https://{NAME}:{site.port}/") == 0
        assert capsys.readouterr().out == f"removed: {target}\n"
        assert watch(tmp_path, config, "list", "--json") == 0
        assert capsys.readouterr().out == ""
