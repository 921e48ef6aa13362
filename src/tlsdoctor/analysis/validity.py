"""Dates: expired, not yet valid, expiring soon, and validity periods browsers refuse."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from tlsdoctor.analysis.facts import CertFacts
from tlsdoctor.analysis.roles import cert_evidence, role, sentence_label
from tlsdoctor.codes import FindingCode, Severity
from tlsdoctor.models import Finding, rfc3339
from tlsdoctor.wording import plural

DAY = dt.timedelta(days=1)
# The default warning window: min(30 days, a third of the lifetime), so a 47-day
# certificate is not in permanent alarm and a one-year certificate warns a month ahead.
DEFAULT_WINDOW_CAP = dt.timedelta(days=30)

# CA/Browser Forum maximum validity for publicly trusted TLS leaves, by issue date
# (Baseline Requirements 6.3.2, ballot SC-081v3): newest rule first.
MAX_VALIDITY: tuple[tuple[dt.datetime, int], ...] = (
    (dt.datetime(2029, 3, 15, tzinfo=dt.timezone.utc), 47),
    (dt.datetime(2027, 3, 15, tzinfo=dt.timezone.utc), 100),
    (dt.datetime(2026, 3, 15, tzinfo=dt.timezone.utc), 200),
    (dt.datetime(2020, 9, 1, tzinfo=dt.timezone.utc), 398),
)


def warning_window(facts: CertFacts, warn_days: int | None) -> dt.timedelta:
    """How long before expiry ``expiring_soon`` starts for this certificate."""
    if warn_days is not None:
        return dt.timedelta(days=warn_days)
    return min(DEFAULT_WINDOW_CAP, facts.lifetime / 3)


def max_validity_days(issued: dt.datetime) -> int | None:
    """The longest validity allowed for a public leaf issued at ``issued`` (None: no rule)."""
    for start, days in MAX_VALIDITY:
        if issued >= start:
            return days
    return None


def _days(delta: dt.timedelta) -> int:
    return int(delta / DAY)


def _fmt(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def validity_findings(
    path: Sequence[CertFacts], at: dt.datetime, warn_days: int | None
) -> list[Finding]:
    """expired / not_yet_valid / expiring_soon for every certificate of the path."""
    findings: list[Finding] = []
    for facts in path:
        remaining = facts.not_after - at
        valid_now = facts.not_before <= at <= facts.not_after
        if valid_now and remaining > warning_window(facts, warn_days):
            continue
        what = sentence_label(facts, path)
        evidence = cert_evidence(facts, path)
        evidence["not_before"] = rfc3339(facts.not_before)
        evidence["not_after"] = rfc3339(facts.not_after)
        evidence["evaluated_at"] = rfc3339(at)
        if at > facts.not_after:
            ago = _days(at - facts.not_after)
            evidence["days_expired"] = ago
            findings.append(
                Finding(
                    FindingCode.EXPIRED,
                    Severity.ERROR,
                    f"{what} expired on {_fmt(facts.not_after)} ({plural(ago, 'day')} ago).",
                    evidence,
                    _expired_fix(facts, path),
                )
            )
        elif at < facts.not_before:
            ahead = at - facts.not_before
            evidence["days_until_valid"] = _days(-ahead) if -ahead >= DAY else 0
            findings.append(
                Finding(
                    FindingCode.NOT_YET_VALID,
                    Severity.ERROR,
                    f"{what} is not valid until {_fmt(facts.not_before)}.",
                    evidence,
                    (
                        "If the certificate was issued moments ago, wait or back-date "
                        "notBefore a little when issuing (CAs back-date by an hour).",
                        "Otherwise check this machine's clock: `date -u` must show the "
                        "current UTC time (enable NTP: `timedatectl set-ntp true`).",
                    ),
                )
            )
        else:
            window = warning_window(facts, warn_days)
            evidence["days_left"] = _days(remaining)
            evidence["warning_window_days"] = round(window / DAY, 1)
            evidence["lifetime_days"] = round(facts.lifetime / DAY, 1)
            findings.append(
                Finding(
                    FindingCode.EXPIRING_SOON,
                    Severity.WARNING,
                    f"{what} expires on {_fmt(facts.not_after)}, "
                    f"in {plural(_days(remaining), 'day')}.",
                    evidence,
                    _renew_fix(facts, path),
                )
            )
    return findings


def validity_period_finding(leaf: CertFacts, publicly_trusted: bool) -> Finding | None:
    """validity_too_long for a publicly trusted leaf issued for longer than allowed."""
    if not publicly_trusted:
        return None
    allowed = max_validity_days(leaf.not_before)
    # As Chrome measures it (notAfter - notBefore): a certificate Chrome accepts is not
    # reported, even where the Baseline Requirements' inclusive count is one second more.
    duration = leaf.not_after - leaf.not_before
    if allowed is None or duration <= allowed * DAY:
        return None
    days = round(duration / DAY, 1)
    return Finding(
        FindingCode.VALIDITY_TOO_LONG,
        Severity.ERROR,
        f"The leaf certificate '{leaf.display_name}' is valid for {days:g} days; publicly "
        f"trusted certificates issued on {leaf.not_before.date()} may be valid for at most "
        f"{allowed} days, so browsers refuse it.",
        {
            "certificate": "leaf",
            "subject": leaf.subject_text,
            "sha256": leaf.sha256,
            "validity_days": days,
            "max_validity_days": allowed,
            "issued": rfc3339(leaf.not_before),
        },
        (
            f"Have the CA reissue the certificate with a validity of at most {allowed} days.",
            "Automate renewal (ACME: certbot, acme.sh, Caddy) instead of buying long-lived "
            "certificates: the limit keeps shrinking (200 days from 2026-03-15, 100 from "
            "2027-03-15, 47 from 2029-03-15).",
        ),
    )


def _expired_fix(facts: CertFacts, path: Sequence[CertFacts]) -> tuple[str, ...]:
    kind = role(facts, path)
    if kind == "leaf":
        return (
            f"Renew the certificate for {_names(facts)} and install it with its chain "
            "(certbot: `certbot renew`, then reload the server; another CA: a new key and CSR, "
            "`openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "
            "key.pem -out req.csr` with the same names, and the CA's renewal form).",
            "Automate renewal so this cannot recur (certbot's timer, `systemctl list-timers "
            "certbot`), and monitor expiry: `tlsdoctor watch` warns before it.",
            "If the date looks wrong rather than the certificate, check this machine's clock.",
        )
    if kind == "intermediate":
        return (
            f"The server sends an expired intermediate ('{facts.display_name}'): download the "
            "current intermediate from your CA and replace it in the chain file.",
            "If your CA cross-signs, remove the expired cross-certificate from the chain.",
        )
    return (
        f"The root '{facts.display_name}' has expired: move to a chain that ends in a "
        "current root (ask your CA for the current chain) and update the trust store.",
    )


def _renew_fix(facts: CertFacts, path: Sequence[CertFacts]) -> tuple[str, ...]:
    if role(facts, path) == "leaf":
        return (
            f"Renew the certificate for {_names(facts)} now and reload the server.",
            "Automate renewal (certbot renews when a third of the lifetime remains).",
        )
    return (
        f"Get the replacement for '{facts.display_name}' from your CA before it expires and "
        "update the chain the server sends.",
    )


def _names(facts: CertFacts) -> str:
    names = facts.dns_names or facts.common_names
    if not names:
        return f"'{facts.display_name}'"
    shown = ", ".join(names[:3])
    return shown + (f" and {len(names) - 3} more names" if len(names) > 3 else "")
