"""Prometheus metrics of the watch: the names existing dashboards already query.

The certificate and probe metrics carry the names and labels of the two exporters most
Grafana dashboards and alert rules are written for, so they work unchanged:

- ribbybibby/ssl_exporter: ``ssl_probe_success`` (and its pre-2.0 name
  ``ssl_tls_connect_success``), ``ssl_cert_not_after`` / ``ssl_cert_not_before`` per
  presented certificate with ``serial_no`` (decimal), ``issuer_cn``, ``cn``,
  ``dnsnames`` / ``ips`` / ``emails`` / ``ou`` (comma-joined between leading and
  trailing commas, ``",a,b,"``), ``ssl_verified_cert_not_after`` /
  ``ssl_verified_cert_not_before`` with ``chain_no`` for the verified path, and
  ``ssl_tls_version_info{version="TLS 1.3"}``;
- prometheus/blackbox_exporter: ``probe_success``, ``probe_duration_seconds``,
  ``probe_ssl_earliest_cert_expiry`` (earliest notAfter of the presented chain),
  ``probe_ssl_last_chain_expiry_timestamp_seconds``, ``probe_ssl_last_chain_info`` and
  ``probe_tls_version_info``.

Both exporters succeed only when the handshake *verified* (chain, dates and host name):
so here ``ssl_probe_success`` and ``probe_success`` are 1 exactly when the verdict is
``trusted``. Unlike them, the certificate metrics are still exported when verification
fails, which is when they are most wanted.

The exporters serve one target per scrape and let Prometheus add ``instance``; one
exposition here holds every watched target, so each series has a ``target`` label
(relabel it to ``instance`` if a dashboard groups by that). On top come
``tlsdoctor_verdict``, ``tlsdoctor_finding``, ``tlsdoctor_cert_days_left`` and friends.

The text is made by prometheus_client (a Collector and ``generate_latest``), so names,
escaping and format are the library's, and :func:`write_textfile` puts it where
node_exporter's textfile collector reads it, atomically.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import NameOID
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from tlsdoctor.codes import Verdict, default_severity
from tlsdoctor.errors import InputError
from tlsdoctor.history.health import WatchHealth
from tlsdoctor.history.store import History
from tlsdoctor.watch_model import Observation, WatchTarget

__all__ = ["exposition", "history_exposition", "write_textfile"]

_CERT_LABELS = ("target", "serial_no", "issuer_cn", "cn", "dnsnames", "ips", "emails", "ou")


class _Family:
    """One gauge family; a repeated label set keeps its last value instead of being
    exported twice (Prometheus rejects a scrape with duplicate series)."""

    def __init__(self, name: str, documentation: str, labels: Sequence[str]) -> None:
        self.name = name
        self.documentation = documentation
        self.labels = tuple(labels)
        self.samples: dict[tuple[str, ...], float] = {}

    def set(self, value: float, *label_values: str) -> None:
        self.samples[label_values] = float(value)

    def metric(self) -> GaugeMetricFamily:
        family = GaugeMetricFamily(self.name, self.documentation, labels=self.labels)
        for values, value in self.samples.items():
            family.add_metric(list(values), value)
        return family


def _time(value: object) -> dt.datetime | None:
    """A spec time ("2026-11-27T10:00:00Z") from a report, or None."""
    if not isinstance(value, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


def _certificates(report: Mapping[str, object], key: str) -> list[Mapping[str, object]]:
    entries = report.get(key)
    if not isinstance(entries, list):
        return []
    return [entry for entry in entries if isinstance(entry, Mapping)]


def _presented(report: Mapping[str, object]) -> list[Mapping[str, object]]:
    # ssl_exporter's ssl_cert_* describe the peer certificates: what the server sent.
    return [c for c in _certificates(report, "chain") if c.get("presented", True) is not False]


def _name_values(text: object, oid: x509.ObjectIdentifier) -> list[str]:
    if not isinstance(text, str) or not text:
        return []
    try:
        name = x509.Name.from_rfc4514_string(text)
    except ValueError:
        return []
    return [str(attribute.value) for attribute in name.get_attributes_for_oid(oid)]


def _joined(values: Sequence[str]) -> str:
    # ssl_exporter's list format: leading and trailing commas, so that a regex like
    # dnsnames=~".*,www.example.com,.*" matches whole names.
    return "," + ",".join(values) + "," if values else ""


def _split_san(entry: Mapping[str, object]) -> tuple[list[str], list[str]]:
    names = entry.get("san")
    dns: list[str] = []
    ips: list[str] = []
    for name in names if isinstance(names, list) else []:
        text = str(name)
        try:
            ipaddress.ip_address(text)
        except ValueError:
            dns.append(text)
        else:
            ips.append(text)
    return dns, ips


def _serial_decimal(entry: Mapping[str, object]) -> str:
    # The report writes serials in hex; ssl_exporter labels them as Go's big.Int.String().
    serial = entry.get("serial")
    try:
        return str(int(str(serial), 16))
    except ValueError:
        return str(serial or "")


def _common_name(text: object) -> str:
    # The first CN, as Go's pkix.Name.CommonName (which ssl_exporter labels with).
    names = _name_values(text, NameOID.COMMON_NAME)
    return names[0] if names else ""


def _cert_labels(target: str, entry: Mapping[str, object]) -> tuple[str, ...]:
    dns, ips = _split_san(entry)
    return (
        target,
        _serial_decimal(entry),
        _common_name(entry.get("issuer")),
        _common_name(entry.get("subject")),
        _joined(dns),
        _joined(ips),
        "",  # emails: the report does not list e-mail SANs
        _joined(_name_values(entry.get("subject"), NameOID.ORGANIZATIONAL_UNIT_NAME)),
    )


def _tls_version(report: Mapping[str, object]) -> str | None:
    """The negotiated version as the Go exporters name it ("TLS 1.3"), if known."""
    tls = report.get("tls")
    version = tls.get("version") if isinstance(tls, Mapping) else None
    if not isinstance(version, str):
        return None
    names = {"TLSv1": "TLS 1.0", "TLSv1.1": "TLS 1.1", "TLSv1.2": "TLS 1.2", "TLSv1.3": "TLS 1.3"}
    return names.get(version, "unknown")


class _WatchCollector(Collector):
    """Every metric of a set of observations, made afresh on each collect()."""

    def __init__(
        self,
        entries: Sequence[tuple[WatchTarget, Observation | None]],
        now: dt.datetime,
        health: WatchHealth | None = None,
    ) -> None:
        self.entries = entries
        self.now = now
        self.health = health

    def collect(self) -> Iterator[Metric]:
        f = _families()
        for target, observation in self.entries:
            f["target_info"].set(1, target.name, _joined(list(target.labels)))
            if observation is not None:
                _observe(f, target.name, observation, self.now)
        for family in f.values():
            if family.samples:
                yield family.metric()
        if self.health is not None:
            yield from _self_families(self.health)


def _families() -> dict[str, _Family]:
    certificate = "expressed as a Unix Epoch Time, per certificate the server presented"
    verified = "expressed as a Unix Epoch Time, per certificate of the verified chain"
    families = [
        _Family(
            "tlsdoctor_target_info",
            "A target under watch (1), with its labels",
            ("target", "labels"),
        ),
        _Family(
            "ssl_probe_success",
            "If the probe was a success: connected and the chain verified (ssl_exporter)",
            ("target",),
        ),
        _Family(
            "ssl_tls_connect_success",
            "The same as ssl_probe_success, under its name before ssl_exporter 2.0",
            ("target",),
        ),
        _Family("ssl_tls_version_info", "The TLS version used", ("target", "version")),
        _Family("ssl_cert_not_after", f"NotAfter {certificate}", _CERT_LABELS),
        _Family("ssl_cert_not_before", f"NotBefore {certificate}", _CERT_LABELS),
        _Family(
            "ssl_verified_cert_not_after",
            f"NotAfter {verified}",
            (*_CERT_LABELS[:1], "chain_no", *_CERT_LABELS[1:]),
        ),
        _Family(
            "ssl_verified_cert_not_before",
            f"NotBefore {verified}",
            (*_CERT_LABELS[:1], "chain_no", *_CERT_LABELS[1:]),
        ),
        _Family(
            "probe_success",
            "Displays whether or not the probe was a success (blackbox_exporter)",
            ("target",),
        ),
        _Family(
            "probe_duration_seconds",
            "Returns how long the probe took to complete in seconds",
            ("target",),
        ),
        _Family(
            "probe_ssl_earliest_cert_expiry",
            "Returns earliest SSL cert expiry date (of the presented chain) in unixtime",
            ("target",),
        ),
        _Family(
            "probe_ssl_last_chain_expiry_timestamp_seconds",
            "Returns last SSL chain expiry in unixtime (earliest notAfter of the verified chain)",
            ("target",),
        ),
        _Family(
            "probe_ssl_last_chain_info",
            "Contains SSL leaf certificate information",
            (
                "target",
                "fingerprint_sha256",
                "subject",
                "issuer",
                "subjectalternative",
                "serialnumber",
            ),
        ),
        _Family("probe_tls_version_info", "Returns the TLS version used", ("target", "version")),
        _Family(
            "tlsdoctor_verdict",
            "1 for the verdict of the last check (trusted, untrusted, error), 0 for the others",
            ("target", "verdict"),
        ),
        _Family(
            "tlsdoctor_finding",
            "1 per finding of the last check, by code of tlsdoctor's spec/findings.md",
            ("target", "code", "severity"),
        ),
        _Family("tlsdoctor_check_duration_seconds", "How long the last check took", ("target",)),
        _Family(
            "tlsdoctor_last_check_timestamp_seconds",
            "When the last check ran, in unixtime",
            ("target",),
        ),
        _Family(
            "tlsdoctor_cert_days_left",
            "Days until the first certificate of the presented chain expires (negative: expired)",
            ("target",),
        ),
    ]
    return {family.name.removeprefix("tlsdoctor_"): family for family in families}


def _observe(
    f: dict[str, _Family], target: str, observation: Observation, now: dt.datetime
) -> None:
    report = observation.report
    success = 1.0 if observation.verdict is Verdict.TRUSTED else 0.0
    for name in ("ssl_probe_success", "ssl_tls_connect_success", "probe_success"):
        f[name].set(success, target)
    for verdict in Verdict:
        f["verdict"].set(1.0 if observation.verdict is verdict else 0.0, target, verdict.value)
    f["last_check_timestamp_seconds"].set(observation.checked_at.timestamp(), target)
    if observation.seconds is not None:
        f["check_duration_seconds"].set(observation.seconds, target)
        f["probe_duration_seconds"].set(observation.seconds, target)

    findings = _certificates(report, "findings")
    if findings:
        for finding in findings:
            f["finding"].set(1, target, str(finding.get("code")), str(finding.get("severity")))
    else:  # an observation kept without its report still knows its codes
        for code in observation.codes:
            f["finding"].set(1, target, code.value, default_severity(code).value)

    version = _tls_version(report)
    if version is not None:
        f["ssl_tls_version_info"].set(1, target, version)
        f["probe_tls_version_info"].set(1, target, version)

    for entry in _presented(report):
        labels = _cert_labels(target, entry)
        not_after, not_before = _time(entry.get("not_after")), _time(entry.get("not_before"))
        if not_after is not None:
            f["ssl_cert_not_after"].set(not_after.timestamp(), *labels)
        if not_before is not None:
            f["ssl_cert_not_before"].set(not_before.timestamp(), *labels)

    # Go's TLS stack only has a verified chain when verification succeeded.
    if observation.verdict is Verdict.TRUSTED:
        path = _certificates(report, "path")
        ends = [t for t in (_time(c.get("not_after")) for c in path) if t is not None]
        if ends:
            f["probe_ssl_last_chain_expiry_timestamp_seconds"].set(min(ends).timestamp(), target)
        for entry in path:
            labels = _cert_labels(target, entry)
            verified = (labels[0], "0", *labels[1:])
            not_after, not_before = _time(entry.get("not_after")), _time(entry.get("not_before"))
            if not_after is not None:
                f["ssl_verified_cert_not_after"].set(not_after.timestamp(), *verified)
            if not_before is not None:
                f["ssl_verified_cert_not_before"].set(not_before.timestamp(), *verified)

    expires_at = observation.expires_at or observation.leaf_not_after
    if expires_at is not None:
        f["probe_ssl_earliest_cert_expiry"].set(expires_at.timestamp(), target)
        f["cert_days_left"].set((expires_at - now).total_seconds() / 86400, target)

    if observation.leaf_sha256 is not None:
        leaf = next(
            (c for c in _presented(report) if c.get("sha256") == observation.leaf_sha256), {}
        )
        dns, _ = _split_san(leaf)
        f["probe_ssl_last_chain_info"].set(
            1,
            target,
            observation.leaf_sha256,
            observation.leaf_subject or str(leaf.get("subject") or ""),
            str(leaf.get("issuer") or ""),
            ",".join(dns),
            str(leaf.get("serial") or ""),
        )


def exposition(
    entries: Iterable[tuple[WatchTarget, Observation | None]],
    now: dt.datetime,
    health: WatchHealth | None = None,
) -> bytes:
    """The Prometheus text exposition (format 0.0.4) of the last observation per target.

    A target with None (not checked yet) only appears in ``tlsdoctor_target_info``.
    ``now`` is what ``tlsdoctor_cert_days_left`` counts from. Samples carry no
    timestamps: the textfile collector refuses them, and ``..._last_check_timestamp_
    seconds`` says how old each value is.
    """
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_WatchCollector(tuple(entries), now, health))
    return generate_latest(registry)


def history_exposition(history: History, now: dt.datetime) -> bytes:
    """The metrics of every watched target's latest check and of the watch itself: the
    one source of both ``watch metrics`` (the textfile route) and the dashboard's
    ``/metrics``, so the two never differ in families or labels. The reports are read
    because the certificate families and ``probe_ssl_last_chain_info``'s labels come
    from them."""
    return exposition(history.latest_all(with_reports=True), now, history.health(now))


def _self_families(health: WatchHealth) -> Iterator[Metric]:
    """The watch's own state (``tlsdoctor_watch_*``): alert on these to know the watch
    itself is running and telling people."""

    def gauge(name: str, documentation: str, value: float | None) -> Iterator[Metric]:
        if value is not None:
            family = GaugeMetricFamily(f"tlsdoctor_watch_{name}", documentation)
            family.add_metric([], value)
            yield family

    started, finished = health.last_sweep_started, health.last_sweep_finished
    yield from gauge("targets", "Targets under watch", health.targets)
    yield from gauge(
        "overdue_targets",
        "Targets not checked for two of their intervals (no sweep is running)",
        health.overdue,
    )
    yield from gauge(
        "last_sweep_timestamp_seconds",
        "When the last sweep finished, in unixtime",
        None if finished is None else finished.timestamp(),
    )
    yield from gauge(
        "last_sweep_duration_seconds",
        "How long the last sweep took",
        None if started is None or finished is None else (finished - started).total_seconds(),
    )
    yield from gauge("last_sweep_checks", "Checks of the last sweep", health.last_sweep_checked)
    yield from gauge(
        "outbox_pending",
        "Notifications not delivered yet (pending or to retry)",
        health.outbox_pending,
    )
    yield from gauge(
        "outbox_oldest_pending_timestamp_seconds",
        "When the oldest undelivered alert was raised, in unixtime",
        None if health.oldest_pending is None else health.oldest_pending.timestamp(),
    )


def write_textfile(path: str | os.PathLike[str], data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically, as node_exporter's textfile collector
    requires: it must never read a half-written file. The project's one atomic writer
    does it: a temporary ``.NAME.*.tmp`` (not ``*.prom``, so the collector skips it) in
    the same directory, mode 0644 for the collector's user, renamed over ``path``.
    """
    from tlsdoctor.remedy.files import PUBLIC_MODE, write_atomically

    try:
        write_atomically(Path(path), data, force=True, mode=PUBLIC_MODE)
    except InputError as exc:
        raise InputError(f"cannot write the metrics file: {exc}") from exc
