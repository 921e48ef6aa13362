"""``watch calendar``: certificate expiry dates as an iCalendar file (RFC 5545).

One all-day event per (watched target, leaf certificate), on the date the leaf expires,
with display alarms ahead of it (30 and 7 days by default).

Decisions, and why:

- **All-day, on the UTC date of notAfter.** A timed event at the exact second lands at
  03:14 in someone's night as a sliver nobody reads; an all-day event sits at the top
  of the day. The exact time (UTC) is in the description, and the alarms fire weeks
  ahead, so a date that is a day off in a far time zone changes nothing.
- **A stable UID** (a hash of target and leaf fingerprint, ``<hash>@tlsdoctor``): the
  same certificate is the same event in every generation of the file, so re-importing
  or re-subscribing updates it instead of adding a duplicate. A renewed certificate is a
  new event.
- **Replaced certificates are cancelled, not dropped.** When the entries hold an older
  leaf of a target as well as its current one, the older event is emitted with
  ``STATUS:CANCELLED`` and a higher ``SEQUENCE``: a re-import then removes the reminder
  of a certificate that was already renewed, which simply leaving it out would not.
- **Every alarm is included**, even one whose moment has passed: calendars do not fire
  past alarms, and dropping them would make the event differ from one generation to the
  next for no reason. A certificate that has already expired gets none: "expires in 30
  days" on a dead certificate is wrong, and the watch's broken alert tells it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import icalendar

from tlsdoctor.errors import InputError
from tlsdoctor.models import rfc3339
from tlsdoctor.watch_model import Observation, WatchTarget

__all__ = ["DEFAULT_ALARMS", "event_uid", "expiry_calendar"]

DEFAULT_ALARMS: tuple[dt.timedelta, ...] = (dt.timedelta(days=30), dt.timedelta(days=7))
PRODID = "-//tlsdoctor//watch calendar//EN"
CALENDAR_NAME = "TLS certificate expiry"
# How often subscribed clients should fetch the feed again (RFC 7986, and Outlook's name).
REFRESH = dt.timedelta(hours=12)

_CURRENT_SEQUENCE = 0
_CANCELLED_SEQUENCE = 1


def event_uid(target: str, leaf_sha256: str) -> str:
    """The UID of the expiry event of one leaf at one target: the same in every run."""
    digest = hashlib.sha256(f"{target}\n{leaf_sha256.lower()}".encode()).hexdigest()[:40]
    return f"{digest}@tlsdoctor"


def _leaf_entry(observation: Observation) -> Mapping[str, object] | None:
    """The leaf's entry in the report's chain, when the report has one."""
    chain = observation.report.get("chain")
    if not isinstance(chain, list):
        return None
    entries = [entry for entry in chain if isinstance(entry, Mapping)]
    for entry in entries:
        if str(entry.get("sha256", "")).lower() == (observation.leaf_sha256 or "").lower():
            return entry
    leaves = [entry for entry in entries if entry.get("role") == "leaf"]
    return leaves[0] if leaves else None


def _description(target: WatchTarget, observation: Observation, not_after: dt.datetime) -> str:
    leaf = _leaf_entry(observation) or {}
    # No "last checked" time: the description must not change from one generation of the
    # file to the next while the certificate stays the same, or every refresh of a
    # subscribed calendar would report each event as updated.
    when = not_after.strftime("%Y-%m-%d %H:%M:%S UTC")
    lines = [f"The TLS certificate of {target.name} expires on {when}."]
    subject = observation.leaf_subject or leaf.get("subject")
    if subject:
        lines.append(f"Subject: {subject}")
    issuer = leaf.get("issuer")
    if issuer:
        lines.append(f"Issuer: {issuer}")
    names = leaf.get("san")
    if isinstance(names, list) and names:
        lines.append(f"Names: {', '.join(str(name) for name in names)}")
    lines.append(f"SHA-256 fingerprint: {observation.leaf_sha256}")
    if observation.expires_at is not None and observation.expires_at < not_after:
        lines.append(
            f"Note: another certificate of the chain expires earlier, on"
            f" {rfc3339(observation.expires_at)}."
        )
    lines += [
        "",
        "Renew the certificate before this date and deploy it with its intermediate"
        " certificates; then confirm with:",
        f"  tlsdoctor check {target.name}",
    ]
    return "\n".join(lines)


@dataclass(frozen=True)
class _Leaf:
    """An observation that saw a leaf, with the leaf's facts no longer optional."""

    target: WatchTarget
    observation: Observation
    sha256: str
    not_after: dt.datetime


def _event(
    leaf: _Leaf,
    alarms: Sequence[dt.timedelta],
    now: dt.datetime,
    *,
    replaced: bool,
) -> icalendar.Event:
    target, observation = leaf.target, leaf.observation
    not_after = leaf.not_after.astimezone(dt.timezone.utc)
    day = not_after.date()
    event = icalendar.Event()
    event.add("uid", event_uid(target.name, leaf.sha256))
    event.add("dtstamp", now.astimezone(dt.timezone.utc))
    event.add("sequence", _CANCELLED_SEQUENCE if replaced else _CURRENT_SEQUENCE)
    event.add("dtstart", day)
    event.add("dtend", day + dt.timedelta(days=1))
    summary = f"TLS certificate of {target.name} expires"
    event.add("summary", f"{summary} (replaced)" if replaced else summary)
    event.add("description", _description(target, observation, not_after))
    # Free, not busy: an expiry must not block anyone's calendar for the day.
    event.add("transp", "TRANSPARENT")
    event.add("categories", ["TLS", "certificate", *target.labels])
    if replaced:
        event.add("status", "CANCELLED")
        return event
    event.add("status", "CONFIRMED")
    if not_after <= now:
        return event  # already expired: a reminder to renew weeks ahead would be a lie
    for before in alarms:
        alarm = icalendar.Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("trigger", -before)
        alarm.add("description", f"{summary} in {_span(before)}")
        event.add_component(alarm)
    return event


def _span(delta: dt.timedelta) -> str:
    if delta.days and not delta.seconds:
        return f"{delta.days} day" + ("s" if delta.days != 1 else "")
    hours = delta.total_seconds() / 3600
    return f"{hours:g} hours"


def expiry_calendar(
    entries: Iterable[tuple[WatchTarget, Observation]],
    alarms: Sequence[dt.timedelta] = DEFAULT_ALARMS,
    *,
    now: dt.datetime,
    name: str = CALENDAR_NAME,
) -> bytes:
    """An .ics with one expiry event per (target, leaf) seen in ``entries``.

    ``alarms`` are how long before the expiry date to remind (positive durations).
    Observations without a leaf (the check could not connect) are skipped. For each
    target, the leaf of its latest observation is current; the others were replaced and
    come out cancelled. ``now`` is the DTSTAMP: the output is otherwise a function of
    the entries alone.
    """
    for before in alarms:
        if before <= dt.timedelta(0):
            raise InputError(f"an alarm must be a positive time before expiry, not {before}")
    latest: dict[tuple[str, str], _Leaf] = {}  # per (target, leaf): its latest sighting
    current: dict[str, _Leaf] = {}  # per target: the leaf of its latest observation
    for target, observation in entries:
        if observation.leaf_sha256 is None or observation.leaf_not_after is None:
            continue
        sha256, not_after = observation.leaf_sha256.lower(), observation.leaf_not_after
        leaf = _Leaf(target, observation, sha256, not_after)
        seen = latest.get((target.name, leaf.sha256))
        if seen is None or observation.checked_at >= seen.observation.checked_at:
            latest[(target.name, leaf.sha256)] = leaf
        newest = current.get(target.name)
        if newest is None or observation.checked_at >= newest.observation.checked_at:
            current[target.name] = leaf

    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", name)
    calendar.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", icalendar.vDuration(REFRESH))

    for leaf in sorted(latest.values(), key=lambda x: (x.not_after, x.target.name, x.sha256)):
        replaced = current[leaf.target.name].sha256 != leaf.sha256
        calendar.add_component(_event(leaf, alarms, now, replaced=replaced))
    return bytes(calendar.to_ical())
