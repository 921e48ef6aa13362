"""The server's clock: read from its HTTP Date header, and what it may excuse.

The chain is judged at this machine's time. The server's Date is evidence about the
server's clock only: it may show that this machine's clock is behind (``client_clock``),
never make an expired certificate valid; an absurd or unparseable Date is set aside with
a note (docs/live-checks.md, "Whose clock").
"""

from __future__ import annotations

import datetime as dt

from tlsdoctor.analysis.facts import CertFacts
from tlsdoctor.analysis.handshake import CLOCK_TOLERANCE, absurd_server_time, clock_finding
from tlsdoctor.analysis.names import HostName
from tlsdoctor.analysis.path import ChainPath
from tlsdoctor.anchors import TrustAnchors, mozilla_anchors
from tlsdoctor.check import diagnose
from tlsdoctor.codes import FindingCode
from tlsdoctor.models import Finding, ServerClock, rfc3339
from tlsdoctor.probe.targets import Endpoint
from tlsdoctor.probe.tls import Handshake

REVOCATION_CODES = frozenset({FindingCode.REVOKED, FindingCode.REVOCATION_UNKNOWN})


def server_clock_of(
    handshake: Handshake, checked_at: dt.datetime, endpoint: Endpoint
) -> tuple[ServerClock | None, tuple[str, ...]]:
    """The server's clock from its Date header, or None with a note when the header is
    no date or an absurd one (year 9999): such a clock is ignored, never judged by."""
    http = handshake.http
    if http is None or http.date_text is None:
        return None, ()
    date = http.date
    if date is None or absurd_server_time(date):
        return None, (
            f"The server's Date header '{http.date_text}' is not a usable time; "
            "it was ignored (the chain is judged by this machine's clock).",
        )
    clock = ServerClock(
        date=date,
        offset_seconds=(checked_at - date).total_seconds(),
        source=f"HTTP Date header of https://{endpoint}/",
    )
    return clock, ()


def judge_clock(
    findings: list[Finding],
    path: ChainPath,
    presented: list[CertFacts],
    fetched: tuple[CertFacts, ...],
    anchors: TrustAnchors,
    server_clock: ServerClock,
    local_now: dt.datetime,
    host_name: HostName,
    warn_days: int | None,
) -> tuple[list[Finding], ChainPath, dt.datetime, tuple[str, ...]]:
    """Re-judge the chain at the server's time when the clocks differ and a date finding
    could be the clock's fault: client_clock first when this machine's clock explains it
    (:func:`clock_finding`); otherwise the findings stand, with a note when the server's
    clock would have excused them."""
    dates = {FindingCode.EXPIRED, FindingCode.NOT_YET_VALID, FindingCode.EXPIRING_SOON}
    if abs(server_clock.offset_seconds) < CLOCK_TOLERANCE.total_seconds() or not any(
        f.code in dates for f in findings
    ):
        return findings, path, local_now, ()
    at_server, server_path = diagnose(
        presented, anchors, mozilla_anchors(), server_clock.date, host_name, warn_days, fetched
    )
    local_codes = [f.code for f in findings]
    server_codes = [f.code for f in at_server]
    clock = clock_finding(
        local_now, server_clock.date, server_clock.source, local_codes, server_codes
    )
    if clock is None:
        excused = sorted({c.value for c in local_codes if c in dates} - set(server_codes))
        if not excused:
            return findings, path, local_now, ()
        days = server_clock.offset_seconds / 86400
        note = (
            f"The server's clock ({rfc3339(server_clock.date)}, {abs(days):.1f} days "
            f"{'behind' if days > 0 else 'ahead of'} this machine) would not show "
            f"{', '.join(excused)}; the server's clock does not decide validity, this "
            "machine's does (check `date -u` if it is the one that is wrong)."
        )
        return findings, path, local_now, (note,)
    revocation = [f for f in findings if f.code in REVOCATION_CODES]
    return [clock, *at_server, *revocation], server_path, server_clock.date, ()
