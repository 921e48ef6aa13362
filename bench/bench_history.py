"""Benchmark of the watch history: a simulated year of checks, then its size and speed.

Run: python bench/bench_history.py [--targets 10000] [--days 365] [--db URL]

No network: the checks are simulated, the database is a temporary SQLite file unless
--db names another (a PostgreSQL URL works too). Each of N endpoints is checked every
6 hours through the same calls `watch` makes (claim_due, then record_many per batch), with
reports shaped like real ones (made once by tlsdoctor.check_chain from a test PKI, then
varied per endpoint and per check), and a realistic rate of change:

- 90-day certificates renewed every 60-90 days (per endpoint), so most cycles also pass
  through expiring_soon before the renewal;
- 1 % of endpoints forget one renewal and serve an expired certificate for 1-10 days;
- about 2 outages per endpoint per year (timeout or refused, 1-8 checks long);
- 0.5 % of endpoints flap: 30 % of their checks time out.

Printed: rows per table, the database size (and per endpoint), records per second in
batches, and milliseconds per record for a 1,000-target sweep recorded one transaction
per record and in one batch.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from pki import DAY, NOW, make_root, rsa_key
from tlsdoctor.anchors import CUSTOM, TrustAnchors
from tlsdoctor.check import check_chain
from tlsdoctor.codes import FindingCode, Verdict
from tlsdoctor.history import History
from tlsdoctor.models import TrustAnchorSource
from tlsdoctor.render.json_report import report_to_dict
from tlsdoctor.watch_model import Observation, WatchTarget

START = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
LIFETIME = dt.timedelta(days=90)
WINDOW = dt.timedelta(days=30)  # expiring_soon: a third of a 90-day lifetime


def templates() -> list[dict[str, Any]]:
    """Real reports of four differently shaped chains, to vary per endpoint."""
    shapes = [
        ("ISRG Root X1", "R11", rsa_key(2048)),
        ("ISRG Root X2", "E5", None),
        ("USERTrust RSA Certification Authority", "Sectigo RSA Domain Validation CA", None),
        ("DigiCert Global Root G2", "DigiCert Global G2 TLS RSA SHA256 2020 CA1", None),
    ]
    made = []
    for root_name, issuing_name, key in shapes:
        root = make_root(root_name, org=root_name.split()[0])
        issuing = root.issue_ca(issuing_name, org=root_name.split()[0], key=key)
        leaf = issuing.issue_leaf(["www.example.com", "example.com"], not_before=NOW - DAY)
        source = TrustAnchorSource("Mozilla (certifi)", "/certifi/cacert.pem", 146, CUSTOM)
        report = check_chain(
            [leaf.cert, issuing.cert],
            "www.example.com",
            anchors=TrustAnchors([(source, [root.cert])]),
            at=NOW,
        )
        data = json.loads(json.dumps(report_to_dict(report)))
        data["target"].update({"port": 443, "sni": "www.example.com", "source": "network"})
        data["tls"] = {
            "version": "TLSv1.3",
            "cipher": "TLS_AES_256_GCM_SHA384",
            "address": "192.0.2.10:443",
            "addresses": ["192.0.2.10", "2001:db8::10"],
            "alpn": "h2",
            "starttls": None,
            "client_certificate": None,
            "seconds": 0.08,
            "server": "nginx",
        }
        made.append(data)
    return made


class Endpoint:
    """One simulated endpoint: its renewal rhythm, outages, and current report."""

    def __init__(self, index: int, rng: random.Random, shapes: list[dict[str, Any]]) -> None:
        self.name = f"host{index:05}.example.com"
        self.rng = rng
        self.period = dt.timedelta(days=rng.uniform(60, 90))
        self.issued = START - dt.timedelta(days=rng.uniform(0, self.period.days))
        self.forgets = rng.random() < 0.01
        self.flaps = rng.random() < 0.005
        self.outage_left = 0
        self.generation = 0
        self.template = shapes[index % len(shapes)]
        self._new_leaf()

    def _new_leaf(self) -> None:
        self.generation += 1
        self.leaf = self.rng.getrandbits(256).to_bytes(32, "big").hex()
        self.report = copy.deepcopy(self.template)
        host = self.name
        self.report["target"].update({"host": host, "sni": host})
        not_after = self.issued + LIFETIME
        for cert in (*self.report["chain"][:1], *self.report["path"][:1]):
            cert.update(
                subject=f"CN={host}",
                san=[host],
                sha256=self.leaf,
                serial=self.rng.getrandbits(159).to_bytes(20, "big").hex(),
                not_before=self.issued.strftime("%Y-%m-%dT%H:%M:%SZ"),
                not_after=not_after.strftime("%Y-%m-%dT%H:%M:%SZ"),
            )

    def check(self, at: dt.datetime) -> Observation:
        rng = self.rng
        renew_at = self.issued + self.period
        if self.forgets and self.generation == 3:
            renew_at = self.issued + LIFETIME + dt.timedelta(days=rng.uniform(1, 10))
        if at >= renew_at:
            self.issued = at - dt.timedelta(hours=rng.uniform(0, 6))
            self._new_leaf()
        if self.outage_left == 0 and rng.random() < 2 / 1460:
            self.outage_left = rng.randint(1, 8)
        down = self.outage_left > 0 or (self.flaps and rng.random() < 0.3)
        if self.outage_left:
            self.outage_left -= 1
        stamp = at.strftime("%Y-%m-%dT%H:%M:%SZ")
        if down:
            code = FindingCode.TIMEOUT if self.generation % 2 else FindingCode.CONNECTION_REFUSED
            message = f"{self.name}:443: {code.value.replace('_', ' ')}"
            return Observation(
                self.name, at, Verdict.ERROR, 3, (code,), None, None, None, None, None,
                10.0 if code is FindingCode.TIMEOUT else 0.01, message,
                {
                    "target": self.report["target"],
                    "checked_at": stamp,
                    "verdict": "error",
                    "exit_code": 3,
                    "findings": [
                        {"code": code.value, "severity": "error", "message": message,
                         "evidence": {"address": "192.0.2.10:443"}, "fix": []}
                    ],
                    "chain": [], "path": [], "clients": [], "tls": None, "fetches": [],
                },
            )  # fmt: skip
        not_after = self.issued + LIFETIME
        codes: tuple[FindingCode, ...]
        if at >= not_after:
            verdict, codes, exit_code = Verdict.UNTRUSTED, (FindingCode.EXPIRED,), 2
        elif at >= not_after - WINDOW:
            verdict, codes, exit_code = Verdict.TRUSTED, (FindingCode.EXPIRING_SOON,), 1
        else:
            verdict, codes, exit_code = Verdict.TRUSTED, (), 0
        seconds = round(rng.uniform(0.03, 0.4), 4)
        report = dict(self.report, checked_at=stamp, evaluated_at=stamp, verdict=verdict.value)
        report["tls"] = dict(report["tls"], seconds=seconds)
        return Observation(
            self.name, at, verdict, exit_code, codes, self.leaf, f"CN={self.name}",
            self.issued, not_after, not_after, seconds, None, report,
        )  # fmt: skip


def postgres_vacuum(url: str) -> Callable[[], None]:
    """VACUUM after each sweep: a real sweep is followed by hours in which autovacuum
    reclaims the row versions the updates left; the simulation has no such hours."""
    import sqlalchemy as sa

    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")

    def run() -> None:
        conn.exec_driver_sql("VACUUM targets, runs")

    return run


def file_size(url: str) -> int | None:
    if not url.startswith("sqlite:///"):
        return None
    path = Path(url.removeprefix("sqlite:///"))
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--every-hours", type=float, default=6)
    parser.add_argument("--batch", type=int, default=1000, help="records per transaction")
    parser.add_argument("--db", help="database URL (default: a temporary SQLite file)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    folder = tempfile.mkdtemp(prefix="tlsdoctor-bench-")
    url = args.db or f"sqlite:///{folder}/watch.db"
    rng = random.Random(args.seed)
    shapes = templates()
    made = (Endpoint(i, random.Random(rng.random()), shapes) for i in range(args.targets))
    endpoints = {endpoint.name: endpoint for endpoint in made}
    every = dt.timedelta(hours=args.every_hours)
    sweeps = int(dt.timedelta(days=args.days) / every)
    print(f"{args.targets} endpoints, {sweeps} sweeps ({args.days} days every {every}), {url}")

    history = History.open(url)
    vacuum = None if url.startswith("sqlite") else postgres_vacuum(url)
    history.add_targets((WatchTarget(name, every=every) for name in endpoints), START)
    db_seconds = claim_seconds = 0.0
    records = 0
    started = time.perf_counter()
    for sweep in range(sweeps):
        at = START + sweep * every
        while True:
            t0 = time.perf_counter()
            claimed = history.claim_due(at, limit=args.batch)
            claim_seconds += time.perf_counter() - t0
            if not claimed:
                break
            batch = [(endpoints[t.name].check(at), at + every) for t in claimed]
            t0 = time.perf_counter()
            history.record_many(batch)
            db_seconds += time.perf_counter() - t0
            records += len(batch)
        if vacuum is not None:
            vacuum()
        if sweep % 100 == 0 or sweep == sweeps - 1:
            elapsed = time.perf_counter() - started
            print(
                f"  sweep {sweep + 1}/{sweeps}: {records} records, "
                f"{records / db_seconds:,.0f} records/s in record_many, {elapsed:.0f} s",
                flush=True,
            )
    total = time.perf_counter() - started

    counts = history.counts()
    # A 1,000-target sweep: one transaction per record, as a simple scheduler would,
    # against one batch, both on the year-old database.
    sample = list(endpoints.values())[: min(1000, args.targets)]
    at = START + sweeps * every
    items = [(e.check(at), at + every) for e in sample]
    t0 = time.perf_counter()
    for item in items:
        history.record(*item)
    one_by_one = time.perf_counter() - t0
    items = [(e.check(at + every), at + 2 * every) for e in sample]
    t0 = time.perf_counter()
    history.record_many(items)
    batched = time.perf_counter() - t0
    each, batch_ms = 1000 * one_by_one / len(sample), 1000 * batched / len(sample)
    print(
        f"{len(sample)}-target sweep: record() one transaction each {each:.3f} ms per record"
        f" ({one_by_one:.2f} s); record_many {batch_ms:.3f} ms per record ({batched:.2f} s)"
    )
    t0 = time.perf_counter()
    rows = history.latest_all()
    print(f"latest_all() of {len(rows)} targets: {1000 * (time.perf_counter() - t0):.0f} ms")
    history.close()  # SQLite checkpoints and removes its WAL: the size is the file's
    size = file_size(url)
    if size is None:
        import sqlalchemy as sa

        engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
        with engine.connect() as conn:
            # Our tables with their indexes and TOAST, not the catalogs every database has.
            size = int(
                conn.execute(
                    sa.text(
                        "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c"
                        " WHERE c.relname IN ('targets', 'runs', 'alerts', 'deliveries')"
                    )
                ).scalar_one()
            )
        engine.dispose()
    print(f"\nRows: {counts}  ({records:,} checks kept in {counts['runs']:,} state runs)")
    print(
        f"Database size: {size / 1e6:.1f} MB, {size / args.targets / 1e3:.1f} kB per endpoint, "
        f"{size / records:.1f} bytes per check"
    )
    print(
        f"record_many (batches of {args.batch}): {records / db_seconds:,.0f} records/s, "
        f"{1000 * db_seconds / records:.3f} ms per record; claim_due: "
        f"{1000 * claim_seconds / records:.3f} ms per target; whole simulation {total:.0f} s"
    )

    if not args.db:
        for path in Path(folder).iterdir():
            os.unlink(path)
        os.rmdir(folder)


if __name__ == "__main__":
    main()
