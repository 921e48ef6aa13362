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

The text format is written here, one line per sample, because ten thousand targets make
a quarter of a million samples and prometheus_client's ``generate_latest`` takes seconds
over them; its float formatting is used, and a test checks the output byte for byte
against ``generate_latest`` of the same families. Each check's lines are kept between
scrapes (:class:`MetricsCache`), so a scrape reads and renders only the checks made
since the last one. :func:`write_textfile` puts the text where node_exporter's textfile
collector reads it, atomically.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import ipaddress
import os
import threading
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import NameOID
from prometheus_client.utils import floatToGoString

from tlsdoctor.codes import Verdict, default_severity
from tlsdoctor.errors import InputError
from tlsdoctor.history.health import WatchHealth
from tlsdoctor.history.store import History
from tlsdoctor.watch_model import Observation, WatchTarget

__all__ = ["MetricsCache", "exposition", "history_exposition", "write_textfile"]

_CERT_LABELS = ("target", "serial_no", "issuer_cn", "cn", "dnsnames", "ips", "emails", "ou")


class _Family:
    """One gauge family; a repeated label set keeps its last value instead of being
    exported twice (Prometheus rejects a scrape with duplicate series)."""

    def __init__(self, name: str, documentation: str, labels: Sequence[str]) -> None:
        self.name = name
        self.documentation = documentation
        self.labels = tuple(labels)
        # Label names in the order the text format writes them (sorted, as
        # prometheus_client does), with each one's place among the values.
        self._order = sorted(range(len(self.labels)), key=lambda i: self.labels[i])
        self.samples: dict[tuple[str, ...], float] = {}

    def set(self, value: float, *label_values: str) -> None:
        self.samples[label_values] = float(value)

    def header(self) -> str:
        doc = self.documentation.replace("\\", r"\\").replace("\n", r"\n")
        return f"# HELP {self.name} {doc}\n# TYPE {self.name} gauge\n"

    def lines(self) -> list[str]:
        """The samples in the text format (0.0.4), byte for byte what prometheus_client's
        generate_latest writes (tests compare the two)."""
        out = []
        for values, value in self.samples.items():
            labels = ",".join(f'{self.labels[i]}="{_escape_label(values[i])}"' for i in self._order)
            braced = f"{{{labels}}}" if labels else ""
            out.append(f"{self.name}{braced} {_go_float(value)}\n")
        return out


def _go_float(value: float) -> str:
    """A value as Go (and prometheus_client) writes it: 1.0, +Inf, NaN, 1.7e+09."""
    text: str = floatToGoString(value)  # type: ignore[no-untyped-call]
    return text


def _escape_label(value: str) -> str:
    # The text format's three escapes in a label value (prometheus_client's too).
    if "\\" not in value and '"' not in value and "\n" not in value:
        return value
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


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


_SHORT_NAMES = {NameOID.COMMON_NAME: "CN", NameOID.ORGANIZATIONAL_UNIT_NAME: "OU"}


def _name_values(text: object, oid: x509.ObjectIdentifier) -> list[str]:
    """The values of ``oid`` in an RFC 4514 name, in the certificate's (ASN.1) order."""
    if not isinstance(text, str) or not text:
        return []
    if not any(c in text for c in '\\#"<>;'):
        # The common case, no escapes: split it here (ten thousand leaves a scrape make
        # the library's full parser the slowest part); RFC 4514 lists RDNs last first.
        short = _SHORT_NAMES[oid]
        found = [
            value
            for part in text.replace("+", ",").split(",")
            for key, sep, value in [part.partition("=")]
            if sep and key.strip().upper() == short
        ]
        return found[::-1]
    return list(_parsed_name_values(text, oid))


@functools.lru_cache(maxsize=1024)
def _parsed_name_values(text: str, oid: x509.ObjectIdentifier) -> tuple[str, ...]:
    try:
        name = x509.Name.from_rfc4514_string(text)
    except ValueError:
        return ()
    return tuple(str(attribute.value) for attribute in name.get_attributes_for_oid(oid))


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


# Families whose samples are made afresh on every exposition; the others come from a
# target's check and are kept per (target, check) in a MetricsCache.
_PER_SCRAPE = ("target_info", "cert_days_left")
_Lines = dict[str, list[str]]


class MetricsCache:
    """The text of each target's check-derived samples, kept between scrapes: a check is
    rendered (and its report read) once, not at every scrape. Keyed by target and the
    time of its check, so a new check always replaces it; targets no longer watched
    drop out at the next exposition."""

    def __init__(self) -> None:
        self._lines: dict[str, tuple[dt.datetime, _Lines]] = {}
        self._lock = threading.Lock()

    def missing(self, entries: Sequence[tuple[WatchTarget, Observation | None]]) -> list[str]:
        """Names whose latest check is not rendered yet."""
        with self._lock:
            return [
                target.name
                for target, observation in entries
                if observation is not None
                and self._lines.get(target.name, (None,))[0] != observation.checked_at
            ]

    def lines(self, observation: Observation, now: dt.datetime) -> _Lines:
        with self._lock:
            kept = self._lines.get(observation.target)
        if kept is not None and kept[0] == observation.checked_at:
            return kept[1]
        made = _check_lines(observation, now)
        with self._lock:
            self._lines[observation.target] = (observation.checked_at, made)
        return made

    def keep_only(self, names: Collection[str]) -> None:
        with self._lock:
            for name in set(self._lines) - set(names):
                del self._lines[name]


def _check_lines(observation: Observation, now: dt.datetime) -> _Lines:
    families = _families()
    _observe(families, observation.target, observation, now)
    return {name: family.lines() for name, family in families.items() if family.samples}


def _assemble(
    entries: Sequence[tuple[WatchTarget, Observation | None]],
    now: dt.datetime,
    cache: MetricsCache,
) -> str:
    fresh = _families()
    by_family: dict[str, list[str]] = {name: [] for name in fresh}
    for target, observation in entries:
        fresh["target_info"].set(1, target.name, _joined(list(target.labels)))
        if observation is None:
            continue
        for name, lines in cache.lines(observation, now).items():
            by_family[name].extend(lines)
        expires_at = observation.expires_at or observation.leaf_not_after
        if expires_at is not None:
            left = (expires_at - now).total_seconds() / 86400
            fresh["cert_days_left"].set(left, target.name)
    for name in _PER_SCRAPE:
        by_family[name] = fresh[name].lines()
    cache.keep_only([target.name for target, _ in entries])
    return "".join(
        fresh[name].header() + "".join(lines) for name, lines in by_family.items() if lines
    )


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
    cache: MetricsCache | None = None,
) -> bytes:
    """The Prometheus text exposition (format 0.0.4) of the last observation per target.

    A target with None (not checked yet) only appears in ``tlsdoctor_target_info``.
    ``now`` is what ``tlsdoctor_cert_days_left`` counts from. Samples carry no
    timestamps: the textfile collector refuses them, and ``..._last_check_timestamp_
    seconds`` says how old each value is. ``cache`` keeps each check's text for the next
    call (the dashboard's); without one everything is rendered now.
    """
    text = _assemble(tuple(entries), now, cache or MetricsCache())
    if health is not None:
        text += "".join(family.header() + "".join(family.lines()) for family in _self(health))
    return text.encode()


def history_exposition(
    history: History, now: dt.datetime, cache: MetricsCache | None = None
) -> bytes:
    """The metrics of every watched target's latest check and of the watch itself: the
    one source of both ``watch metrics`` (the textfile route) and the dashboard's
    ``/metrics``, so the two never differ in families or labels.

    The certificate families and ``probe_ssl_last_chain_info``'s labels come from the
    stored reports; only the reports of checks ``cache`` has not rendered yet are read
    (decompressing ten thousand of them is most of a cold exposition's time).
    """
    entries = history.latest_all()
    cache = cache or MetricsCache()
    wanted = set(cache.missing(entries))
    if wanted:
        reports = history.latest_reports(wanted)
        entries = [
            (
                target,
                None
                if o is None
                else dataclasses.replace(o, report=reports.get(o.target, o.report)),
            )
            if target.name in wanted
            else (target, o)
            for target, o in entries
        ]
    return exposition(entries, now, history.health(now), cache)


def _with_report(
    observation: Observation | None, reports: Mapping[str, Mapping[str, object]]
) -> Observation | None:
    if observation is None or observation.target not in reports:
        return observation
    return dataclasses.replace(observation, report=reports[observation.target])


def _self(health: WatchHealth) -> list[_Family]:
    """The watch's own state (``tlsdoctor_watch_*``): alert on these to know the watch
    itself is running and telling people."""
    started, finished = health.last_sweep_started, health.last_sweep_finished
    values = [
        ("targets", "Targets under watch", health.targets),
        (
            "overdue_targets",
            "Targets not checked for two of their intervals (no sweep is running)",
            health.overdue,
        ),
        (
            "last_sweep_timestamp_seconds",
            "When the last sweep finished, in unixtime",
            None if finished is None else finished.timestamp(),
        ),
        (
            "last_sweep_duration_seconds",
            "How long the last sweep took",
            None if started is None or finished is None else (finished - started).total_seconds(),
        ),
        ("last_sweep_checks", "Checks of the last sweep", health.last_sweep_checked),
        (
            "outbox_pending",
            "Notifications not delivered yet (pending or to retry)",
            health.outbox_pending,
        ),
        (
            "outbox_oldest_pending_timestamp_seconds",
            "When the oldest undelivered alert was raised, in unixtime",
            None if health.oldest_pending is None else health.oldest_pending.timestamp(),
        ),
    ]
    families = []
    for name, documentation, value in values:
        if value is not None:
            family = _Family(f"tlsdoctor_watch_{name}", documentation, ())
            family.set(value)
            families.append(family)
    return families


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
