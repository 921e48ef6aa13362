"""The watch history on real databases: SQLite files and a PostgreSQL server of its own.

Every storage test runs on both backends. The crash test kills a writer with SIGKILL in
the middle of its transactions and checks that what survives is whole.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

import postgres
from tlsdoctor.codes import FindingCode, Verdict
from tlsdoctor.errors import InputError
from tlsdoctor.history import (
    DeliveryStatus,
    History,
    HistoryError,
    default_url,
    engine,
    rows,
    schema,
    store,
)
from tlsdoctor.watch_model import Alert, AlertKind, AlertSeverity, Observation, WatchTarget

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.timezone.utc)
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)
SECOND = dt.timedelta(seconds=1)
LEASE = dt.timedelta(minutes=5)


def observation(
    target: str = "www.example.test",
    at: dt.datetime = T0,
    *,
    verdict: Verdict = Verdict.TRUSTED,
    codes: tuple[FindingCode, ...] = (),
    leaf: str | None = "aa" * 32,
    expires: dt.datetime | None = T0 + 60 * DAY,
    seconds: float | None = 0.25,
    error: str | None = None,
    report: dict[str, object] | None = None,
) -> Observation:
    return Observation(
        target=target,
        checked_at=at,
        verdict=verdict,
        exit_code={Verdict.TRUSTED: 0, Verdict.UNTRUSTED: 2, Verdict.ERROR: 3}[verdict],
        codes=codes,
        leaf_sha256=leaf,
        leaf_subject=None if leaf is None else "CN=www.example.test",
        leaf_not_before=None if leaf is None else T0 - 30 * DAY,
        leaf_not_after=expires if leaf is not None else None,
        expires_at=expires,
        seconds=seconds,
        error=error,
        report=report if report is not None else {"checked_at": at.isoformat(), "chain": []},
    )


def alert(target: str = "www.example.test", key: str = "broken:1", at: dt.datetime = T0) -> Alert:
    return Alert(
        target=target,
        kind=AlertKind.BROKEN,
        severity=AlertSeverity.CRITICAL,
        key=key,
        raised_at=at,
        title=f"{target} is broken",
        body="The chain is incomplete.\nFix: serve the intermediate.",
        facts={"verdict": "untrusted", "days": 3, "ratio": 0.5, "none": None},
    )


# -- the two backends -------------------------------------------------------------------


@pytest.fixture(scope="module")  # a server left running would outlive its tests
def pg_server() -> Iterator[postgres.Server]:
    reason = postgres.unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    with postgres.running_server() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'data' / 'watch.db'}"
    server: postgres.Server = request.getfixturevalue("pg_server")
    return server.create_database()


@pytest.fixture
def history(db_url: str) -> Iterator[History]:
    with History.open(db_url) as opened:
        yield opened


def raw_engine(url: str) -> sa.Engine:
    return sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))


# -- opening and migrations -------------------------------------------------------------


def test_migrations_are_idempotent_and_match_the_tables(db_url: str) -> None:
    for _ in range(3):
        History.open(db_url).close()
    engine = raw_engine(db_url)
    try:
        with engine.connect() as conn:
            versions = conn.execute(sa.select(schema.schema_version.c.version)).scalars().all()
            inspector = sa.inspect(conn)
            for table in schema.metadata.sorted_tables:
                columns = {column["name"] for column in inspector.get_columns(table.name)}
                assert columns == set(table.columns.keys()), table.name
                indexes = {index["name"] for index in inspector.get_indexes(table.name)}
                assert {index.name for index in table.indexes} <= indexes, table.name
    finally:
        engine.dispose()
    assert versions == [schema.SCHEMA_VERSION]


def test_the_report_dictionary_is_part_of_the_file_format() -> None:
    # Stored reports can only be read with the exact dictionary they were packed with:
    # a better one is a REPORT_DICTIONARY_V2 with its own marker, never an edit.
    digest = hashlib.sha256(schema.REPORT_DICTIONARY_V1).hexdigest()
    assert digest == "d0751bdbe5ad8c16fca25cceddef96aa61cc23114a9a80cc75c159fe45aa63b1"
    report = {"target": {"host": "münchen.example.test"}, "findings": [], "n": 1.5}
    packed = rows._pack(report)
    assert packed is not None and packed[0] == schema.REPORT_MARKER_V1
    assert rows._unpack(packed) == report
    assert rows._pack({}) is None and rows._unpack(None) == {}


def test_refuses_a_database_from_a_newer_tlsdoctor(db_url: str) -> None:
    History.open(db_url).close()
    engine = raw_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(schema.schema_version.update().values(version=99))
        with pytest.raises(HistoryError, match=r"newer tlsdoctor \(history schema 99"):
            History.open(db_url)
        # Negative control: the same database at the version this code knows opens.
        with engine.begin() as conn:
            conn.execute(schema.schema_version.update().values(version=schema.SCHEMA_VERSION))
    finally:
        engine.dispose()
    History.open(db_url).close()


def test_a_file_that_is_not_a_database_is_an_input_error(tmp_path: Path) -> None:
    garbage = tmp_path / "watch.db"
    garbage.write_bytes(b"these are not the pages you are looking for\n" * 200)
    with pytest.raises(InputError, match="not a database") as caught:
        History.open(str(garbage))
    assert str(garbage) in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_folder_that_cannot_be_made_is_an_input_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the folder should be")
    with pytest.raises(InputError, match="cannot create the folder"):
        History.open(f"sqlite:///{blocker / 'sub' / 'watch.db'}")


def test_an_unknown_url_scheme_is_an_input_error() -> None:
    with pytest.raises(InputError, match="must be SQLite"):
        History.open("mysql://user:pw@localhost/db")


def test_unreachable_postgresql_is_an_input_error_quickly() -> None:
    port = postgres.free_port()  # nothing listens there any more
    started = time.monotonic()
    with pytest.raises(InputError, match="cannot open the watch history") as caught:
        History.open(f"postgresql://tlsdoctor:s3cret@127.0.0.1:{port}/watch")
    assert time.monotonic() - started < 5
    message = str(caught.value)
    assert "s3cret" not in message and f"127.0.0.1:{port}" in message
    assert "\n" not in message


def test_a_silent_postgresql_server_times_out(monkeypatch: pytest.MonkeyPatch) -> None:
    # A socket that accepts TCP and never speaks: only connect_timeout ends the wait.
    monkeypatch.setattr(store, "_PG_CONNECT_TIMEOUT", 1)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(InputError, match="cannot open the watch history"):
            History.open(f"postgresql://tlsdoctor@127.0.0.1:{port}/watch")
        assert time.monotonic() - started < 8


@pytest.mark.parametrize(
    ("given", "driver", "database"),
    [
        ("postgresql://u:p@db.example.test/watch", "postgresql+psycopg", "watch"),
        ("postgres://db.example.test:6432/watch", "postgresql+psycopg", "watch"),
        ("postgresql+psycopg://db.example.test/w", "postgresql+psycopg", "w"),
        ("sqlite:////var/lib/tlsdoctor/watch.db", "sqlite", "/var/lib/tlsdoctor/watch.db"),
        ("/srv/watch.db", "sqlite", "/srv/watch.db"),
    ],
)
def test_database_urls(given: str, driver: str, database: str) -> None:
    url = engine._engine_url(given)
    assert (url.drivername, url.database) == (driver, database)


def test_default_url(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("TLSDOCTOR_DB", raising=False)
    monkeypatch.delenv("TLSDOCTOR_HOME", raising=False)
    assert default_url().startswith("sqlite:///") and default_url().endswith("watch.db")
    monkeypatch.setenv("TLSDOCTOR_HOME", str(tmp_path / "home"))
    data = tmp_path / "home" / ".local" / "share" / "tlsdoctor"
    assert default_url() == f"sqlite:///{data / 'watch.db'}"  # beside the CA and ACME keys
    with History.open() as opened:
        assert opened.targets() == []
    assert (data / "watch.db").is_file()
    monkeypatch.setenv("TLSDOCTOR_DB", "postgresql://db.example.test/watch")
    assert default_url() == "postgresql://db.example.test/watch"


# -- targets and scheduling -------------------------------------------------------------


def test_targets_are_added_updated_and_removed(history: History) -> None:
    added = history.add_targets(
        [WatchTarget("a.example.test"), WatchTarget("smtp.example.test:25", starttls="smtp")],
        T0,
    )
    assert added == ["a.example.test", "smtp.example.test:25"]
    history.record(observation("a.example.test"), T0 + 6 * HOUR)
    # Re-adding updates the options and does not duplicate; a new interval counts from
    # the last check.
    again = history.add_targets(
        [
            WatchTarget("a.example.test", every=HOUR, labels=("prod", "web")),
            WatchTarget("b.example.test", servername="b.internal"),
        ],
        T0 + HOUR,
    )
    assert again == ["b.example.test"]
    assert history.target("a.example.test") == WatchTarget(
        "a.example.test", every=HOUR, labels=("prod", "web")
    )
    assert [t.name for t in history.targets()] == [
        "a.example.test",
        "b.example.test",
        "smtp.example.test:25",
    ]
    assert history.target("smtp.example.test:25") == WatchTarget(
        "smtp.example.test:25", starttls="smtp"
    )
    claimed = history.claim_due(T0 + HOUR, limit=10, lease=LEASE)
    assert {t.name for t in claimed} == {"a.example.test", "b.example.test", "smtp.example.test:25"}

    history.raise_alert(alert("a.example.test"), ["smtp"])
    assert history.remove_targets(["a.example.test", "nope.example.test"]) == ["a.example.test"]
    assert history.target("a.example.test") is None
    assert history.history("a.example.test") == []
    assert history.counts() == {"targets": 2, "runs": 0, "alerts": 0, "deliveries": 0}


def test_claim_due_leases_targets(history: History) -> None:
    assert history.next_due_at() is None and history.claim_due(T0) == []
    names = [f"host{i}.example.test" for i in range(5)]
    history.add_targets([WatchTarget(name) for name in names], T0)
    assert history.next_due_at() == T0

    first = history.claim_due(T0, limit=3, lease=LEASE)
    assert len(first) == 3
    rest = history.claim_due(T0, limit=10, lease=LEASE)
    assert {t.name for t in first} | {t.name for t in rest} == set(names)
    assert not {t.name for t in first} & {t.name for t in rest}
    # Leased: not due again, by this process or another, until the lease ends.
    assert history.claim_due(T0 + LEASE / 2, limit=10, lease=LEASE) == []
    assert history.next_due_at() == T0 + LEASE

    # Recording releases the lease and moves the due time.
    for target in first:
        history.record(observation(target.name), T0 + 6 * HOUR)
    # The checker of the other two died (kill -9): their leases run out, they are due.
    after = history.claim_due(T0 + LEASE, limit=10, lease=LEASE)
    assert {t.name for t in after} == {t.name for t in rest}
    history.release(t.name for t in after)
    assert {t.name for t in history.claim_due(T0 + LEASE, limit=10, lease=LEASE)} == {
        t.name for t in rest
    }
    for target in rest:
        history.record(observation(target.name), T0 + 7 * HOUR)
    assert history.next_due_at() == T0 + 6 * HOUR
    assert history.claim_due(T0 + 6 * HOUR, limit=10, lease=LEASE) == first


def test_concurrent_claims_never_share_a_target(db_url: str) -> None:
    names = [f"host{i:03}.example.test" for i in range(120)]
    with History.open(db_url) as setup:
        setup.add_targets([WatchTarget(name) for name in names], T0)
    claimed: list[list[str]] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            with History.open(db_url) as mine:
                got: list[str] = []
                while batch := mine.claim_due(T0, limit=7, lease=LEASE):
                    got.extend(t.name for t in batch)
                claimed.append(got)
        except BaseException as exc:  # reported below; a thread cannot fail the test
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    everything = [name for got in claimed for name in got]
    assert sorted(everything) == names  # each exactly once


# -- observations and retention ---------------------------------------------------------


def test_repeats_are_thinned_and_every_change_kept(history: History) -> None:
    name = "www.example.test"
    history.add_targets([WatchTarget(name)], T0)
    for i in range(100):
        history.record(observation(at=T0 + i * 6 * HOUR, seconds=0.1 + i / 100), T0)
    runs = history.history(name)
    assert len(runs) == 1
    run = runs[0]
    assert run.seen_count == 100
    assert (run.first_seen, run.last_seen) == (T0, T0 + 99 * 6 * HOUR)
    assert run.seconds == pytest.approx(1.09) and run.seconds_min == pytest.approx(0.1)
    assert run.seconds_max == pytest.approx(1.09)
    assert run.seconds_mean == pytest.approx(0.595)
    assert run.report == {"checked_at": T0.isoformat(), "chain": []}  # the first check's
    assert run.state == observation().state

    # A renewal: a new leaf is a new run, with its own evidence.
    renewed = T0 + 100 * 6 * HOUR
    history.record(
        observation(at=renewed, leaf="bb" * 32, expires=renewed + 90 * DAY, report={"n": 2}),
        T0,
    )
    # An outage: could not connect, no leaf.
    broken = renewed + 6 * HOUR
    for i in range(3):
        history.record(
            observation(
                at=broken + i * HOUR,
                verdict=Verdict.ERROR,
                codes=(FindingCode.TIMEOUT,),
                leaf=None,
                expires=None,
                seconds=None if i else 10.0,
                error=f"timed out ({i})",
            ),
            T0,
        )
    # Back to the state of the renewal: a new run again (history is a sequence).
    back = broken + 3 * HOUR
    history.record(observation(at=back, leaf="bb" * 32, expires=renewed + 90 * DAY), T0)

    runs = history.history(name)
    assert [(r.leaf_sha256, r.seen_count, r.verdict) for r in runs] == [
        ("bb" * 32, 1, Verdict.TRUSTED),
        (None, 3, Verdict.ERROR),
        ("bb" * 32, 1, Verdict.TRUSTED),
        ("aa" * 32, 100, Verdict.TRUSTED),
    ]
    outage = runs[1]
    assert outage.codes == (FindingCode.TIMEOUT,)
    assert outage.error == "timed out (2)"  # the newest message
    assert (outage.seconds, outage.seconds_min, outage.seconds_mean) == (None, 10.0, 10.0)
    assert runs[2].report == {"n": 2}
    assert history.history(name, limit=2, with_reports=False)[0].report == {}

    latest = history.latest(name)
    assert latest == observation(at=back, leaf="bb" * 32, expires=renewed + 90 * DAY)
    assert latest is not None and latest.report == {"checked_at": back.isoformat(), "chain": []}


def test_the_same_state_with_another_chain_expiry_is_a_change(history: History) -> None:
    history.add_targets([WatchTarget("www.example.test")], T0)
    history.record(observation(at=T0, expires=T0 + 60 * DAY), T0)
    history.record(observation(at=T0 + HOUR, expires=T0 + 30 * DAY), T0)
    assert [r.expires_at for r in history.history("www.example.test")] == [
        T0 + 30 * DAY,
        T0 + 60 * DAY,
    ]


def test_codes_order_does_not_make_a_change(history: History) -> None:
    history.add_targets([WatchTarget("www.example.test")], T0)
    both = (FindingCode.EXPIRING_SOON, FindingCode.CHAIN_ORDER)
    history.record(observation(at=T0, codes=both), T0)
    history.record(observation(at=T0 + HOUR, codes=both[::-1]), T0)
    (run,) = history.history("www.example.test")
    assert run.seen_count == 2 and run.codes == both[::-1]


def test_latest_all_and_unknown_targets(history: History) -> None:
    history.add_targets([WatchTarget("b.example.test"), WatchTarget("a.example.test")], T0)
    stored = history.record_many(
        [
            (observation("a.example.test", at=T0), T0 + 6 * HOUR),
            (observation("gone.example.test", at=T0), T0 + 6 * HOUR),
            (observation("a.example.test", at=T0 + HOUR, verdict=Verdict.UNTRUSTED), T0),
        ]
    )
    assert stored.observations == 2  # a target removed mid-check is dropped
    rows = history.latest_all()
    assert [(t.name, o is not None) for t, o in rows] == [
        ("a.example.test", True),
        ("b.example.test", False),
    ]
    latest = rows[0][1]
    assert latest is not None and latest.verdict == Verdict.UNTRUSTED and latest.report == {}
    with_reports = history.latest_all(with_reports=True)[0][1]
    assert with_reports is not None and with_reports.report["checked_at"] == (T0 + HOUR).isoformat()
    assert len(history.history("a.example.test")) == 2
    assert history.latest("b.example.test") is None
    assert history.latest("gone.example.test") is None


def test_prune_keeps_the_latest_run(history: History) -> None:
    history.add_targets([WatchTarget("www.example.test")], T0)
    for i in range(4):
        history.record(observation(at=T0 + i * DAY, leaf=f"{i:02}" * 32), T0)
    history.raise_alert(alert(key="old"), ["smtp"])
    history.forget_alerts("www.example.test", ["old"])
    history.raise_alert(alert(key="pending", at=T0), ["smtp"])
    history.forget_alerts("www.example.test", ["pending"])
    for delivery in history.due_deliveries(T0, limit=10):
        if delivery.alert.key == "old":
            history.delivered(delivery.id, T0)
    pruned = history.prune(T0 + 100 * DAY)
    # Three old runs go, the newest stays; the settled forgotten alert goes, the one
    # still waiting for its delivery stays.
    assert (pruned.runs, pruned.alerts) == (3, 1)
    assert [r.leaf_sha256 for r in history.history("www.example.test")] == ["03" * 32]
    assert [a.alert.key for a in history.alerts()] == ["pending"]


# -- alerts and deliveries --------------------------------------------------------------


def test_an_alert_is_raised_once_per_key_across_restarts(db_url: str) -> None:
    with History.open(db_url) as first:
        first.add_targets([WatchTarget("www.example.test")], T0)
        assert first.raise_alert(alert(), ["smtp", "slack", "smtp"])
        assert not first.raise_alert(alert(at=T0 + HOUR), ["smtp"])
        assert first.alert_keys("www.example.test") == {"broken:1"}
        assert not first.raise_alert(alert("unwatched.example.test"), ["smtp"])
    with History.open(db_url) as second:
        assert not second.raise_alert(alert(at=T0 + DAY), ["smtp"])
        (record,) = second.alerts()
        assert record.active and record.alert == alert()
        assert [d.notifier for d in record.deliveries] == ["smtp", "slack"]
        assert all(d.status is DeliveryStatus.PENDING for d in record.deliveries)
        # A recovery re-arms the key: the next breakage alerts again, the old one stays.
        assert second.forget_alerts("www.example.test", ["broken:1"]) == 1
        assert second.alert_keys("www.example.test") == set()
        assert second.raise_alert(alert(at=T0 + 2 * DAY), ["smtp"])
        assert [(a.alert.raised_at, a.active) for a in second.alerts("www.example.test")] == [
            (T0 + 2 * DAY, True),
            (T0, False),
        ]


def test_forget_alerts_by_prefix(history: History) -> None:
    history.add_targets([WatchTarget("www.example.test")], T0)
    for key in ("expiry:aa:7d", "expiry:aa:1d", "expiry%:x", "broken:1"):
        assert history.raise_alert(alert(key=key), [])
    assert history.forget_alerts("www.example.test", prefix="expiry:aa:") == 2
    # The prefix is literal text: % and _ are not wildcards.
    assert history.forget_alerts("www.example.test", prefix="expiry%") == 1
    assert history.alert_keys("www.example.test") == {"broken:1"}
    assert history.forget_alerts("www.example.test") == 0
    assert history.forget_alerts("nope.example.test", ["broken:1"]) == 0


def test_record_and_its_alerts_commit_together(history: History) -> None:
    history.add_targets([WatchTarget("www.example.test")], T0)
    broken = observation(verdict=Verdict.UNTRUSTED, codes=(FindingCode.MISSING_INTERMEDIATE,))
    result = history.record(broken, T0 + 6 * HOUR, [alert(), alert(key="broken:1")], ["smtp"])
    assert result.observations == 1 and result.raised == (alert(),)
    again = history.record(broken, T0 + 12 * HOUR, [alert()], ["smtp"])
    assert again.raised == ()
    with history.transaction() as tx:
        previous = tx.latest("www.example.test")
        assert previous is not None and previous.verdict is Verdict.UNTRUSTED
        assert tx.record(observation(at=T0 + DAY), T0 + DAY + 6 * HOUR)
        assert tx.forget_alerts("www.example.test", ["broken:1"]) == 1
        assert tx.alert_keys("www.example.test") == set()
    assert len(history.history("www.example.test")) == 2


def test_deliveries_retry_with_backoff_until_delivered(history: History) -> None:
    history.add_targets([WatchTarget("www.example.test")], T0)
    history.raise_alert(alert(), ["smtp", "webhook"])
    assert history.next_delivery_at() == T0

    smtp, webhook = history.due_deliveries(T0, limit=10, lease=LEASE)
    assert (smtp.notifier, smtp.attempts, smtp.alert) == ("smtp", 0, alert())
    # Claimed: not handed out again while the attempt may still be running.
    assert history.due_deliveries(T0 + LEASE / 2, limit=10, lease=LEASE) == []

    history.delivery_failed(smtp.id, T0 + SECOND, "SMTP: connection refused", T0 + 2 * LEASE)
    history.delivered(webhook.id, T0 + SECOND)
    # The webhook process died before saying how it went? Its lease would have ended and
    # it would be retried; here it said delivered, so only smtp comes back, at its time.
    assert history.due_deliveries(T0 + LEASE, limit=10, lease=LEASE) == []
    assert history.next_delivery_at() == T0 + 2 * LEASE
    (retry,) = history.due_deliveries(T0 + 2 * LEASE, limit=10, lease=LEASE)
    assert (retry.id, retry.attempts, retry.status) == (smtp.id, 1, DeliveryStatus.FAILED)
    assert retry.last_error == "SMTP: connection refused"
    history.delivered(retry.id, T0 + 2 * LEASE)
    # A late failure report from an attempt whose lease had run out undoes nothing.
    history.delivery_failed(retry.id, T0 + 3 * LEASE, "late", T0 + 4 * LEASE)
    assert history.due_deliveries(T0 + DAY, limit=10, lease=LEASE) == []
    assert history.next_delivery_at() is None

    (record,) = history.alerts()
    assert [(d.notifier, d.status, d.attempts) for d in record.deliveries] == [
        ("smtp", DeliveryStatus.DELIVERED, 2),
        ("webhook", DeliveryStatus.DELIVERED, 1),
    ]
    assert record.deliveries[0].delivered_at == T0 + 2 * LEASE


def test_a_notifier_can_give_up(history: History) -> None:
    history.add_targets([WatchTarget("www.example.test")], T0)
    history.raise_alert(alert(), ["pager"])
    (delivery,) = history.due_deliveries(T0, limit=1)
    history.gave_up(delivery.id, T0, "HTTP 401 from the pager: check the token")
    assert history.due_deliveries(T0 + DAY, limit=10) == []
    (record,) = history.alerts()
    assert record.deliveries[0].status is DeliveryStatus.GAVE_UP
    assert record.deliveries[0].last_error == "HTTP 401 from the pager: check the token"


# -- crash safety -----------------------------------------------------------------------

BATCH = 20
WRITER = """
import datetime as dt, sys
from tlsdoctor.codes import FindingCode, Verdict
from tlsdoctor.history import History
from tlsdoctor.watch_model import Alert, AlertKind, AlertSeverity, Observation, WatchTarget

T0 = dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc)
history = History.open(sys.argv[1])
names = [f"t{j:02}.example.test" for j in range(int(sys.argv[2]))]
history.add_targets([WatchTarget(n) for n in names], T0)
for b in range(100000):
    at = T0 + dt.timedelta(hours=6 * b)
    batch = []
    for j, name in enumerate(names):
        leaf = f"{j:02}{b // (j + 2):062}"  # renewed every j + 2 sweeps
        obs = Observation(name, at, Verdict.TRUSTED, 0, (FindingCode.EXPIRING_SOON,), leaf,
            "CN=x", T0, T0, T0, 0.1, None, {"sweep": b, "pad": "x" * 2000})
        batch.append((obs, at + dt.timedelta(hours=6)))
    alert = Alert(names[0], AlertKind.NEW_FINDING, AlertSeverity.INFO, f"sweep:{b}", at, "t", "b")
    history.record_many(batch, [alert], ["smtp", "slack"])
    print(b, flush=True)
"""


def test_kill_9_mid_write_loses_nothing_committed_and_keeps_alerts_whole(db_url: str) -> None:
    with History.open(db_url):
        pass  # migrations done before the writer races anything
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, db_url, str(BATCH)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert writer.stdout is not None
    last = -1
    deadline = time.monotonic() + 60
    with selectors.DefaultSelector() as selector:
        selector.register(writer.stdout, selectors.EVENT_READ)
        while last < 60 and time.monotonic() < deadline:
            if selector.select(timeout=1):
                line = writer.stdout.readline()
                if not line:
                    break
                last = int(line)
    os.kill(writer.pid, signal.SIGKILL)
    _, err = writer.communicate(timeout=30)
    assert writer.returncode == -signal.SIGKILL, err.decode()[-2000:]
    assert last >= 60, "the writer made no progress"

    with History.open(db_url) as reopened:
        counts = reopened.counts()
        total = 0
        for target, latest in reopened.latest_all(with_reports=True):
            runs = reopened.history(target.name, limit=100000)
            total += sum(run.seen_count for run in runs)
            assert latest is not None
            assert latest.checked_at == runs[0].last_seen  # current_run is the newest
            assert all("sweep" in run.report for run in runs)  # each change keeps its report
        # Batches are atomic: whole sweeps only, at least every sweep reported done.
        sweeps, partial = divmod(total, BATCH)
        assert partial == 0 and sweeps >= last + 1
        # ...and each sweep's alert went in with it, with both deliveries.
        assert counts["alerts"] == sweeps and counts["deliveries"] == 2 * sweeps
        # No duplicate after the restart: every raised key is still taken.
        assert reopened.alert_keys("t00.example.test") == {f"sweep:{b}" for b in range(sweeps)}
        assert not reopened.raise_alert(
            Alert(
                "t00.example.test",
                AlertKind.NEW_FINDING,
                AlertSeverity.INFO,
                "sweep:0",
                T0,
                "t",
                "b",
            ),
            ["smtp"],
        )
    if db_url.startswith("sqlite"):
        engine = raw_engine(db_url)
        try:
            with engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
        finally:
            engine.dispose()


def test_a_sweep_reads_previous_states_and_keys_in_one_go(history: History) -> None:
    names = ["a.example.test", "b.example.test", "c.example.test"]
    history.add_targets([WatchTarget(name) for name in names], T0)
    history.record(observation("a.example.test", at=T0), T0)
    history.record(observation("b.example.test", at=T0, verdict=Verdict.UNTRUSTED), T0)
    history.raise_alert(alert("b.example.test", key="broken:1"), [])
    with history.transaction() as tx:
        previous = tx.latest_many([*names, "gone.example.test"])
        keys = tx.alert_keys_many(names)
    assert sorted(previous) == ["a.example.test", "b.example.test"]
    assert previous["b.example.test"].verdict is Verdict.UNTRUSTED
    assert previous["a.example.test"].observation() == history.latest("a.example.test")
    assert previous["a.example.test"].report == {}  # not read: comparing needs none
    assert previous["a.example.test"].seen_count == 1
    assert keys == {
        "a.example.test": set(),
        "b.example.test": {"broken:1"},
        "c.example.test": set(),
    }
    (run,) = history.history("b.example.test")
    assert run.observation() == previous["b.example.test"].observation()
    assert run.state == run.observation().state
