"""The tables of the watch history and the migrations that build them.

One schema serves SQLite and PostgreSQL: only portable column types, timestamps through
:class:`UtcDateTime`, reports as compressed bytes. ``schema_version`` holds one row, the
number of migrations applied; :func:`migrate` applies the missing ones in order, inside
one transaction, and refuses a database that a newer tlsdoctor has migrated further.

::

    targets      one row per watched endpoint: options, next_due, lease_until,
                 current_run (the newest row of runs), last_report (zlib JSON)
    runs         one row per *state run*: consecutive checks of a target that saw the
                 same state; first/last seen, count, timings, the first check's report
    alerts       every alert raised; UNIQUE (target_id, active_key) is the anti-storm
                 rule, and forgetting a key sets active_key to NULL, keeping the row
    deliveries   one row per (alert, notifier): the outbox the notifiers drain

A released migration never changes: when a table changes shape, the new migration
alters it, and the one before it keeps creating the old shape (copy the old ``Table``
definitions into it at that point). ``test_history.py`` checks that a migrated database
matches :data:`metadata`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Dialect

# SQLite only makes INTEGER PRIMARY KEY an alias of the rowid (and so auto-incrementing);
# PostgreSQL gets 64 bits, which a decade of checks cannot exhaust.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class UtcDateTime(sa.types.TypeDecorator[dt.datetime]):
    """Aware datetimes in, aware UTC datetimes out, on both databases.

    PostgreSQL stores ``timestamptz``; SQLite stores the naive UTC text SQLAlchemy writes,
    whose fixed width makes text order time order, so ``<=`` in SQL compares instants.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            # A naive time is ambiguous by the hour; the whole watch runs on aware UTC.
            raise ValueError(f"naive datetime {value.isoformat()} given to the history")
        utc = value.astimezone(dt.timezone.utc)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        assert isinstance(value, dt.datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(dt.timezone.utc)


metadata = sa.MetaData()

schema_version = sa.Table(
    "schema_version",
    metadata,
    sa.Column("version", sa.Integer, nullable=False),
)

targets = sa.Table(
    "targets",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(512), nullable=False, unique=True),
    sa.Column("every_seconds", sa.Integer, nullable=False),
    sa.Column("starttls", sa.String(32)),
    sa.Column("servername", sa.String(512)),
    sa.Column("connect", sa.String(512)),  # dial this address instead of resolving
    sa.Column("labels", sa.Text, nullable=False, server_default="[]"),  # JSON list
    # JSON object of the per-target settings (ca_files, warn_days, ignore, mute_until...):
    # added in schema 2; a setting added later needs no migration.
    sa.Column("settings", sa.Text, nullable=False, server_default="{}"),
    sa.Column("added_at", UtcDateTime, nullable=False),
    sa.Column("next_due", UtcDateTime, nullable=False),
    sa.Column("lease_until", UtcDateTime),
    sa.Column("last_checked_at", UtcDateTime),
    # Not a foreign key: runs already points here, and a cycle of foreign keys would
    # need deferred constraints on PostgreSQL for every delete. record() keeps it right.
    sa.Column("current_run", BigId),
    sa.Column("last_report", sa.LargeBinary),
    sa.Index("ix_targets_due", "next_due"),
)

# One row per finished sweep (the newest few are kept): what /healthz and the watch's
# own metrics say about the watch itself. Added in schema 2.
sweeps = sa.Table(
    "sweeps",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("started_at", UtcDateTime, nullable=False),
    sa.Column("finished_at", UtcDateTime, nullable=False),
    sa.Column("checked", sa.Integer, nullable=False),
    sa.Index("ix_sweeps_finished", "finished_at"),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column(
        "target_id",
        sa.Integer,
        sa.ForeignKey("targets.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("first_seen", UtcDateTime, nullable=False),
    sa.Column("last_seen", UtcDateTime, nullable=False),
    sa.Column("seen_count", sa.Integer, nullable=False),
    sa.Column("verdict", sa.String(16), nullable=False),
    sa.Column("exit_code", sa.Integer, nullable=False),
    sa.Column("codes", sa.Text, nullable=False),  # comma-separated, newest check's order
    sa.Column("leaf_sha256", sa.String(64)),
    sa.Column("leaf_subject", sa.Text),
    sa.Column("leaf_not_before", UtcDateTime),
    sa.Column("leaf_not_after", UtcDateTime),
    sa.Column("expires_at", UtcDateTime),
    sa.Column("error", sa.Text),  # the newest check's message
    sa.Column("seconds_last", sa.Float),
    sa.Column("seconds_min", sa.Float),
    sa.Column("seconds_max", sa.Float),
    sa.Column("seconds_total", sa.Float, nullable=False),
    sa.Column("timed_count", sa.Integer, nullable=False),  # checks that had a duration
    sa.Column("first_report", sa.LargeBinary),
    # No index on last_seen: every check updates it, and without one PostgreSQL can
    # update in place (HOT) and SQLite skips an index write; only prune() filters on
    # it, rarely, and a scan is fine there.
    sa.Index("ix_runs_target", "target_id", "id"),
)

alerts = sa.Table(
    "alerts",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column(
        "target_id",
        sa.Integer,
        sa.ForeignKey("targets.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("key", sa.String(512), nullable=False),
    # The key while it still blocks a repeat; NULL once forgotten. NULLs never collide
    # in a UNIQUE constraint, on either database, so forgotten alerts can pile up.
    sa.Column("active_key", sa.String(512)),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("raised_at", UtcDateTime, nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("facts", sa.Text, nullable=False),  # JSON object
    sa.UniqueConstraint("target_id", "active_key", name="uq_alerts_active_key"),
    sa.Index("ix_alerts_target", "target_id", "id"),
)

deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column(
        "alert_id",
        BigId,
        sa.ForeignKey("alerts.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("notifier", sa.String(128), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    # When the next attempt may start; while an attempt runs, the end of its lease.
    sa.Column("next_attempt", UtcDateTime, nullable=False),
    sa.Column("last_error", sa.Text),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Column("delivered_at", UtcDateTime),
    sa.UniqueConstraint("alert_id", "notifier", name="uq_deliveries_alert_notifier"),
    sa.Index("ix_deliveries_due", "status", "next_attempt"),
)

# -- reports --------------------------------------------------------------------------
#
# Reports are stored as one marker byte and a zlib stream. Marker 1: the stream was
# compressed with REPORT_DICTIONARY_V1 as zlib's preset dictionary. A report is a few
# kilobytes of JSON whose keys and common values repeat in every report; deflate alone
# sees them once per report and gets 3.7:1 on the benchmark's reports, 6.6:1 with the
# dictionary, and reports are most of the size of a year of history. The dictionary is
# part of the file format: never edit it; a better one is REPORT_DICTIONARY_V2 under
# marker 2, with a migration bumping the schema version so older tlsdoctors refuse what
# they cannot read.
REPORT_MARKER_V1 = 1
REPORT_DICTIONARY_V1 = (
    b'{"target":{"host":"www.example.com","port":443,"sni":"www.example.com","source":"net'
    b'work","files":[]},"checked_at":"2026-11-27T10:21:42Z","evaluated_at":"2026-06-01T12:'
    b'00:00Z","verdict":"trusted","exit_code":1,"findings":[{"code":"timeout","severity":"'
    b'error","message":"www.example.com:443: no answer within 10 s (connection timed '
    b'out).","evidence":{"address":"93.184.215.14:443","seconds":10.0},"fix":["Check that '
    b"the server is running and that a firewall lets port 443 "
    b'through."]},{"code":"expiring_soon","severity":"warning","message":"The leaf '
    b"certificate 'www.example.com' expires on 2026-06-11 12:00 UTC, in 10 days.\",\"evidenc"
    b'e":{"certificate":"leaf","subject":"CN=www.example.com","sha256":"2568fc1191e1981c6e'
    b'fb58fc37b313f4b3f7de23febb27cab51b80c248c6a77f","not_before":"2026-03-13T12:00:00Z",'
    b'"not_after":"2026-06-11T12:00:00Z","evaluated_at":"2026-06-01T12:00:00Z","days_left"'
    b':10,"warning_window_days":30.0,"lifetime_days":90.0},"fix":["Renew the certificate '
    b'for www.example.com, example.com now and reload the server.","Automate renewal '
    b"(certbot renews when a third of the lifetime "
    b'remains)."]}],"chain":[{"subject":"CN=www.example.com","issuer":"CN=R11,O=Example '
    b'Trust Services","not_before":"2026-03-13T12:00:00Z","not_after":"2026-06-11T12:00:00'
    b'Z","sha256":"2568fc1191e1981c6efb58fc37b313f4b3f7de23febb27cab51b80c248c6a77f","seri'
    b'al":"49941aab57f570667c6aa9b09af0b2fb17f8348b","san":["www.example.com","example.com'
    b'"],"key":"RSA 2048","signature":"sha256WithRSAEncryption","role":"leaf","presented":'
    b'true},{"subject":"CN=R11,O=Example Trust Services","issuer":"CN=ISRG Root '
    b'X1,O=Internet Security Research Group","not_before":"2025-06-01T12:00:00Z","not_afte'
    b'r":"2031-05-31T12:00:00Z","sha256":"87ee271fa455ce4fcb55934ce9ed20acd95c76166b121930'
    b'897ae2b22dbe560b","serial":"40d8a3ee78ab0d95c121af479707e38de010a231","san":[],"key"'
    b':"RSA 2048","signature":"ecdsa-with-SHA256","role":"intermediate","presented":true}]'
    b',"trust_anchors":[{"name":"Mozilla (certifi 2025.1.31)","source":"/usr/lib/python3/d'
    b'ist-packages/certifi/cacert.pem","count":146,"kind":"mozilla"},{"name":"system '
    b'(Debian ca-certificates)","source":"/etc/ssl/certs/ca-certificates.crt","count":146,'
    b'"kind":"system"}],"clients":[{"client":"chrome","trusted":true,"codes":[],"expected_'
    b'error":null,"store":"mozilla"},{"client":"edge","trusted":true,"codes":[],"expected_'
    b'error":null,"store":"mozilla"},{"client":"firefox","trusted":true,"codes":[],"expect'
    b'ed_error":null,"store":"mozilla"},{"client":"safari","trusted":true,"codes":[],"expe'
    b'cted_error":null,"store":"mozilla"},{"client":"curl","trusted":true,"codes":[],"expe'
    b'cted_error":null,"store":"mozilla"},{"client":"wget","trusted":true,"codes":[],"expe'
    b'cted_error":null,"store":"mozilla"},{"client":"python","trusted":true,"codes":[],"ex'
    b'pected_error":null,"store":"mozilla"},{"client":"python-requests","trusted":true,"co'
    b'des":[],"expected_error":null,"store":"mozilla"},{"client":"node","trusted":true,"co'
    b'des":[],"expected_error":null,"store":"mozilla"},{"client":"java","trusted":true,"co'
    b'des":[],"expected_error":null,"store":"mozilla"},{"client":"go","trusted":true,"code'
    b's":[],"expected_error":null,"store":"mozilla"},{"client":"dotnet-windows","trusted":'
    b'true,"codes":[],"expected_error":null,"store":"mozilla"},{"client":"dotnet-linux","t'
    b'rusted":true,"codes":[],"expected_error":null,"store":"mozilla"}],"tls":{"version":"'
    b'TLSv1.3","cipher":"TLS_AES_256_GCM_SHA384","address":"93.184.215.14:443","addresses"'
    b':["93.184.215.14","2606:2800:21f:cb07:6820:80da:af6b:8b2c"],"alpn":"h2","starttls":n'
    b'ull,"client_certificate":null,"seconds":0.0841,"server":"nginx"},"server_clock":{"da'
    b'te":"2026-06-01T12:00:00Z","offset_seconds":0.4,"source":"http_date"},"revocation":{'
    b'"state":"good","source":"ocsp","url":"http://r11.o.lencr.org","detail":null},"fetche'
    b's":[{"url":"http://r11.o.lencr.org","purpose":"ocsp","status":200,"bytes":503,"secon'
    b'ds":0.0412,"cached":false,"error":null}]}'
)


def _v1_initial(conn: Connection) -> None:
    """The first shape of every table (see the module docstring before changing it)."""
    # checkfirst=False: a database that already has a table of these names belongs to
    # someone else, and failing beats mixing our rows into it.
    metadata.create_all(conn, tables=[targets, runs, alerts, deliveries], checkfirst=False)


def _v2_settings_and_sweeps(conn: Connection) -> None:
    """Per-target settings, and the sweeps table. A database made by this version's
    _v1_initial has the settings column already (tables are made from the current
    definitions)."""
    if "settings" not in {c["name"] for c in sa.inspect(conn).get_columns("targets")}:
        conn.execute(sa.text("ALTER TABLE targets ADD COLUMN settings TEXT NOT NULL DEFAULT '{}'"))
    sweeps.create(conn, checkfirst=True)


Migration = Callable[[Connection], None]

MIGRATIONS: tuple[Migration, ...] = (_v1_initial, _v2_settings_and_sweeps)
SCHEMA_VERSION = len(MIGRATIONS)

# Any constant works; it only has to be the same in every tlsdoctor process.
_PG_MIGRATION_LOCK = 0x746C7364  # "tlsd"


class SchemaTooNew(Exception):
    """The database was migrated by a newer tlsdoctor; the caller says so plainly."""

    def __init__(self, found: int, known: int) -> None:
        super().__init__(f"schema version {found}, this tlsdoctor knows up to {known}")
        self.found = found
        self.known = known


def migrate(conn: Connection) -> int:
    """Bring the schema up to date inside the caller's transaction; return the version.

    Idempotent. Concurrent first opens are safe: SQLite's caller holds a write lock
    (``BEGIN IMMEDIATE``), and PostgreSQL takes a transaction-scoped advisory lock, so
    the second process waits and then finds nothing left to do.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_MIGRATION_LOCK)))
    schema_version.create(conn, checkfirst=True)
    found = conn.execute(sa.select(sa.func.max(schema_version.c.version))).scalar()
    if found is None:
        conn.execute(schema_version.insert().values(version=0))
        found = 0
    if found > SCHEMA_VERSION:
        raise SchemaTooNew(found, SCHEMA_VERSION)
    for step in range(found, SCHEMA_VERSION):
        MIGRATIONS[step](conn)
        conn.execute(schema_version.update().values(version=step + 1))
    return SCHEMA_VERSION
