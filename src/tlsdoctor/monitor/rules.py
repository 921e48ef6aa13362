"""Alert rules: from what the watch saw last time and now, what to tell people.

Pure: ``(previous, current, policy, keys already raised) -> alerts``. Each alert carries a
key naming the state it is about; the history raises a key once (across restarts too)
and the rules name the keys to forget when a state ends, so the same trouble coming back
later is told again, while a state that lasts is told once.

Keys:
- ``expiry:<leaf sha256>:<window>``: per certificate, so a renewal starts afresh;
- ``broken`` / ``recovered``: each forgets the other;
- ``finding:<code>``: forgotten when the finding goes away;
- ``certificate:<leaf sha256>``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass

from tlsdoctor.codes import COULD_NOT_CHECK, FindingCode, Verdict
from tlsdoctor.watch_model import Alert, AlertKind, AlertSeverity, Observation

DAY = dt.timedelta(days=1)
LIFETIME_WINDOW_CAP = 30 * DAY  # the spec's expiring_soon rule: min(30 days, a third)
# Findings that other alerts already tell: expiry, and the verdict change itself.
_TOLD_ELSEWHERE = frozenset({FindingCode.EXPIRING_SOON, *COULD_NOT_CHECK})


@dataclass(frozen=True)
class AlertPolicy:
    """When expiry alerts start: the lifetime-relative window, then fixed ones."""

    lifetime_relative: bool = True
    expiry_windows: tuple[dt.timedelta, ...] = (7 * DAY, DAY)
    new_findings: bool = True
    certificate_changes: bool = True
    # Checks in a row that could not connect before it counts as broken: one timeout is
    # often the network, and a flapping endpoint must not alert at every flap.
    confirm_errors: int = 2
    # Finding codes a target ignores (its watch-list ``ignore``): no new-finding alert.
    ignore: frozenset[FindingCode] = frozenset()


@dataclass(frozen=True)
class Outcome:
    alerts: tuple[Alert, ...]
    forget: tuple[str, ...]  # keys whose state ended


def evaluate(
    previous: Observation | None,
    current: Observation,
    policy: AlertPolicy,
    raised: Set[str],
    previous_checks: int = 1,
    previous_since: dt.datetime | None = None,
) -> Outcome:
    """The alerts ``current`` calls for, given ``previous`` (seen ``previous_checks``
    times in a row, the first of them at ``previous_since``) and the keys ``raised`` so
    far."""
    alerts: list[Alert] = []
    forget: list[str] = []
    was_trusted = previous is None or previous.verdict is Verdict.TRUSTED
    now_trusted = current.verdict is Verdict.TRUSTED
    if not now_trusted:
        in_a_row = _failures_in_a_row(previous, current, previous_checks)
        if "broken" not in raised and (
            current.verdict is not Verdict.ERROR or in_a_row >= policy.confirm_errors
        ):
            forget.append("recovered")
            alerts.append(_broken(previous, current, in_a_row, previous_since))
    else:
        forget.append("broken")
        # Recovered pairs with broken: an unconfirmed failure recovers silently.
        if previous is not None and "broken" in raised and "recovered" not in raised:
            alerts.append(_recovered(previous, current))
    if policy.certificate_changes:
        changed = _certificate_changed(previous, current, raised)
        if changed is not None:
            alerts.append(changed)
    expiry = _expiry(current, policy, raised)
    if expiry is not None:
        alerts.append(expiry)
    before = set() if previous is None else set(previous.codes)
    for code in sorted(before - set(current.codes), key=str):
        forget.append(f"finding:{code}")
    # A verdict change is told by the broken or recovered alert, which lists the findings.
    verdict_changed = was_trusted != now_trusted
    if policy.new_findings and previous is not None and not verdict_changed:
        for code in current.codes:
            if code in before or code in _TOLD_ELSEWHERE or code in policy.ignore:
                continue
            if f"finding:{code}" in raised:
                continue
            alerts.append(_new_finding(current, code))
    # Only keys that are held need forgetting: the common case costs the history nothing.
    return Outcome(tuple(alerts), tuple(key for key in forget if key in raised))


def _failures_in_a_row(previous: Observation | None, current: Observation, checks: int) -> int:
    """How many checks in a row, ``current`` included, could not connect: a failure to
    connect is told after ``policy.confirm_errors`` of them (a certificate problem at
    once), since one timeout is often the network."""
    if current.verdict is not Verdict.ERROR:
        return 0
    if previous is None or previous.verdict is not Verdict.ERROR:
        return 1
    return 1 + (checks if previous.state == current.state else 1)


def expiry_windows(current: Observation, policy: AlertPolicy) -> list[tuple[str, dt.timedelta]]:
    """(label, how long before expiry) from the widest window to the narrowest."""
    windows: list[tuple[str, dt.timedelta]] = []
    widest = None
    if (
        policy.lifetime_relative
        and current.leaf_not_before is not None
        and current.leaf_not_after is not None
    ):
        lifetime = current.leaf_not_after - current.leaf_not_before
        widest = min(LIFETIME_WINDOW_CAP, lifetime / 3)
        windows.append(("lifetime", widest))
    for window in policy.expiry_windows:
        # The fixed windows come after the lifetime one: a 6-day certificate is not in
        # alarm from its first hour because 7 days is wider than its whole life.
        if widest is None or window < widest:
            windows.append((f"{_days(window)}d", window))
    return sorted(windows, key=lambda item: item[1], reverse=True)


def _expiry(current: Observation, policy: AlertPolicy, raised: Set[str]) -> Alert | None:
    """One alert for the narrowest window entered that no narrower alert has covered: a
    certificate first seen 5 days before its end gets the 7-day alert, not three."""
    expires, leaf = current.expires_at, current.leaf_sha256
    if expires is None or leaf is None or current.checked_at >= expires:
        return None  # nothing seen, or already expired: the broken alert says so
    left = expires - current.checked_at
    windows = expiry_windows(current, policy)
    entered = [index for index, (_, window) in enumerate(windows) if left <= window]
    if not entered:
        return None
    narrowest = entered[-1]
    if any(f"expiry:{leaf}:{label}" in raised for label, _ in windows[narrowest:]):
        return None
    label, _ = windows[narrowest]
    severity = AlertSeverity.CRITICAL if left <= DAY else AlertSeverity.WARNING
    return Alert(
        target=current.target,
        kind=AlertKind.EXPIRY,
        severity=severity,
        key=f"expiry:{leaf}:{label}",
        raised_at=current.checked_at,
        title=f"{current.target}: certificate expires in {_left(left)} ({expires:%Y-%m-%d})",
        body=_lines(
            f"The certificate served by {current.target} ({current.leaf_subject}) "
            f"ends on {expires:%Y-%m-%d %H:%M} UTC, in {_left(left)}.",
            f"SHA-256: {leaf}",
            *_fixes(current, FindingCode.EXPIRING_SOON),
        ),
        facts=_facts(current, days_left=int(left / DAY), window=label),
    )


def _broken(
    previous: Observation | None,
    current: Observation,
    in_a_row: int,
    previous_since: dt.datetime | None,
) -> Alert:
    first = _primary(current)
    could_not_check = current.verdict is Verdict.ERROR
    # A confirmed failure to connect started with the first failed check, not with the
    # one that confirmed it; and "(was error)" would tell nothing.
    outage_began = (
        (previous_since or previous.checked_at)
        if could_not_check and previous is not None and previous.verdict is Verdict.ERROR
        else None
    )
    since = current.checked_at if outage_began is None else outage_began
    if outage_began is not None:
        was = f" ({in_a_row} checks in a row)"
    else:
        was = "" if previous is None else f" (was {previous.verdict})"
    title = (
        f"{current.target}: could not be checked: {first[0] if first else current.error}"
        if could_not_check
        else f"{current.target}: {current.verdict}: {first[0] if first else 'see the report'}"
    )
    return Alert(
        target=current.target,
        kind=AlertKind.BROKEN,
        severity=AlertSeverity.CRITICAL,
        key="broken",
        raised_at=current.checked_at,
        title=_one_line(title),
        body=_lines(
            (
                f"{current.target} could not be checked since {since:%Y-%m-%d %H:%M} UTC{was}."
                if could_not_check
                else f"{current.target} is {current.verdict}{was} since {since:%Y-%m-%d %H:%M} UTC."
            ),
            f"Findings: {', '.join(map(str, current.codes)) or 'none'}",
            *(f"- {message}" for message, _ in _messages(current)),
            *_fixes(current, None),
        ),
        facts=_facts(
            current,
            was=None if previous is None or outage_began else previous.verdict.value,
            since=since.isoformat(),
            code=_primary_code(current),
        ),
    )


def _recovered(previous: Observation, current: Observation) -> Alert:
    return Alert(
        target=current.target,
        kind=AlertKind.RECOVERED,
        severity=AlertSeverity.INFO,
        key="recovered",
        raised_at=current.checked_at,
        title=f"{current.target}: trusted again",
        body=_lines(
            f"{current.target} is trusted again at {current.checked_at:%Y-%m-%d %H:%M} UTC "
            f"(was {previous.verdict}: {', '.join(map(str, previous.codes)) or 'no findings'}).",
            f"Findings now: {', '.join(map(str, current.codes)) or 'none'}",
            *(
                [f"Certificate ends on {current.expires_at:%Y-%m-%d}."]
                if current.expires_at
                else []
            ),
        ),
        facts=_facts(current, was=previous.verdict.value),
    )


def _certificate_changed(
    previous: Observation | None, current: Observation, raised: Set[str]
) -> Alert | None:
    if previous is None or previous.leaf_sha256 is None or current.leaf_sha256 is None:
        return None  # a first sight, or a connection failure, is not a change
    if previous.serves_several_leaves or current.serves_several_leaves:
        return None  # which backend answered is chance, not a change
    if previous.leaf_sha256 == current.leaf_sha256:
        return None
    key = f"certificate:{current.leaf_sha256}"
    if key in raised:
        return None
    renewed = (
        previous.leaf_not_after is not None
        and current.leaf_not_after is not None
        and current.leaf_not_after > previous.leaf_not_after
    )
    what = "renewed" if renewed else "replaced"
    old_end = f"{previous.leaf_not_after:%Y-%m-%d}" if previous.leaf_not_after else "?"
    new_end = f"{current.leaf_not_after:%Y-%m-%d}" if current.leaf_not_after else "?"
    return Alert(
        target=current.target,
        kind=AlertKind.CERTIFICATE_CHANGED,
        severity=AlertSeverity.INFO,
        key=key,
        raised_at=current.checked_at,
        title=f"{current.target}: certificate {what} (now ends {new_end}, was {old_end})",
        body=_lines(
            f"{current.target} serves a new certificate: {current.leaf_subject}.",
            f"Ends {new_end} (the previous one ended {old_end}).",
            f"SHA-256 now {current.leaf_sha256}, was {previous.leaf_sha256}.",
            f"Verdict: {current.verdict}.",
        ),
        facts=_facts(current, previous_sha256=previous.leaf_sha256, renewed=int(renewed)),
    )


def _new_finding(current: Observation, code: FindingCode) -> Alert:
    message = next((m for m, c in _messages(current) if c == code.value), str(code))
    severity = (
        AlertSeverity.WARNING if current.verdict is Verdict.TRUSTED else AlertSeverity.CRITICAL
    )
    return Alert(
        target=current.target,
        kind=AlertKind.NEW_FINDING,
        severity=severity,
        key=f"finding:{code}",
        raised_at=current.checked_at,
        title=f"{current.target}: new finding {code}",
        body=_lines(message, *_fixes(current, code)),
        facts=_facts(current, code=code.value),
    )


# The report is the spec's JSON: findings carry message, code and fix lines.
def _findings(current: Observation) -> Sequence[Mapping[str, object]]:
    findings = current.report.get("findings")
    if not isinstance(findings, list):
        return []
    return [finding for finding in findings if isinstance(finding, Mapping)]


def _messages(current: Observation) -> list[tuple[str, str]]:
    return [(str(f.get("message", "")), str(f.get("code", ""))) for f in _findings(current)]


def _primary(current: Observation) -> tuple[str, str] | None:
    messages = _messages(current)
    return messages[0] if messages else None


def _primary_code(current: Observation) -> str:
    """The code the trouble is known by (Alertmanager's ``code`` label): the first
    finding's, else the first code, else the verdict."""
    first = _primary(current)
    if first is not None and first[1]:
        return first[1]
    return current.codes[0].value if current.codes else current.verdict.value


def _fixes(current: Observation, code: FindingCode | None) -> list[str]:
    for finding in _findings(current):
        if code is not None and finding.get("code") != code.value:
            continue
        fix = finding.get("fix")
        if isinstance(fix, list) and fix:
            return ["Fix:", *(f"  {line}" for line in fix)]
    return []


def _facts(current: Observation, **extra: str | int | None) -> dict[str, str | int | float | None]:
    return {
        "verdict": current.verdict.value,
        "codes": ",".join(map(str, current.codes)),
        "leaf_sha256": current.leaf_sha256,
        "expires_at": None if current.expires_at is None else current.expires_at.isoformat(),
        **extra,
    }


def _one_line(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _lines(*lines: str) -> str:
    return "\n".join(line for line in lines if line)


def _days(window: dt.timedelta) -> int:
    return int(window / DAY)


def _left(left: dt.timedelta) -> str:
    if left >= 2 * DAY:
        return f"{int(left / DAY)} days"
    hours = int(left / dt.timedelta(hours=1))
    return f"{hours} hours" if hours != 1 else "1 hour"
