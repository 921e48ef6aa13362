"""What the dashboard and the API show, computed from the history's types.

Pure functions of their inputs (``now`` included), shared by the HTML pages and the JSON
API so that the two never disagree about a verdict, an order or a number of days.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias
from urllib.parse import quote

from tlsdoctor.codes import Verdict
from tlsdoctor.history.store import AlertRecord, Delivery, StateRun
from tlsdoctor.models import rfc3339
from tlsdoctor.watch_model import Observation, WatchTarget, days_left

Entry: TypeAlias = tuple[WatchTarget, Observation | None]

# Worst first, in the order a monitoring plugin ranks its states (CRITICAL, UNKNOWN,
# WARNING, OK): a chain clients refuse beats one that could not be checked, which beats
# one that works with warnings. A target never checked yet is unknown too.
_RANK_UNTRUSTED = 0
_RANK_ERROR = 1
_RANK_UNCHECKED = 2
_RANK_WARNINGS = 3
_RANK_TRUSTED = 4
_NEVER = dt.datetime.max.replace(tzinfo=dt.timezone.utc)


def when(moment: dt.datetime | None) -> str | None:
    """A time as the JSON of the spec writes it (RFC 3339, UTC, Z), or None."""
    return None if moment is None else rfc3339(moment)


def rank(observation: Observation | None) -> int:
    """Sort key of a target's state: lower is worse."""
    if observation is None:
        return _RANK_UNCHECKED
    if observation.verdict is Verdict.UNTRUSTED:
        return _RANK_UNTRUSTED
    if observation.verdict is Verdict.ERROR:
        return _RANK_ERROR
    return _RANK_WARNINGS if observation.exit_code != 0 else _RANK_TRUSTED


def state(observation: Observation | None) -> str:
    """The CSS class of a state: the verdict, or ``warnings`` for trusted with warnings."""
    if observation is None:
        return "unchecked"
    if observation.verdict is Verdict.TRUSTED and observation.exit_code != 0:
        return "warnings"
    return observation.verdict.value


def expires_at(observation: Observation | None) -> dt.datetime | None:
    """When something in the presented chain expires first (the leaf, without a chain)."""
    if observation is None:
        return None
    return observation.expires_at or observation.leaf_not_after


def worst_first(entries: Iterable[Entry], now: dt.datetime) -> list[Entry]:
    """Worst state first; then the soonest expiry (none last); then by name."""

    def key(entry: Entry) -> tuple[int, dt.datetime, str]:
        target, observation = entry
        moment = expires_at(observation)
        return (rank(observation), moment or _NEVER, target.name)

    return sorted(entries, key=key)


@dataclass(frozen=True)
class Expiry:
    """One line of the expiry timeline."""

    target: WatchTarget
    observation: Observation
    at: dt.datetime
    days: int  # days_left
    expired: bool


STATES = ("untrusted", "error", "unchecked", "warnings", "trusted")
PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


@dataclass(frozen=True)
class Selection:
    """Which targets a page or an API answer shows: a search in the names, a state, a
    label, and one page of the result (a fleet of thousands is never one page)."""

    search: str = ""  # part of the name, case-insensitive
    state: str | None = None  # one of STATES
    label: str | None = None
    page: int = 1  # from 1
    per_page: int = PAGE_SIZE

    def matches(self, entry: Entry) -> bool:
        target, observation = entry
        if self.search and self.search.lower() not in target.name:
            return False
        if self.state is not None and state(observation) != self.state:
            return False
        return self.label is None or self.label in target.labels

    def pick(self, ordered: Sequence[Entry]) -> tuple[list[Entry], int]:
        """This page of the matching entries, and how many match in all."""
        matching = [entry for entry in ordered if self.matches(entry)]
        start = (self.page - 1) * self.per_page
        return matching[start : start + self.per_page], len(matching)

    @property
    def filtered(self) -> bool:
        return bool(self.search or self.state or self.label)


def upcoming(entries: Iterable[Entry], now: dt.datetime) -> list[Expiry]:
    """Every target with a known expiry, soonest first; those already expired lead."""
    found = []
    for target, observation in entries:
        moment = expires_at(observation)
        if observation is not None and moment is not None:
            found.append(
                Expiry(target, observation, moment, days_left(moment, now) or 0, moment <= now)
            )
    return sorted(found, key=lambda item: (item.at, item.target.name))


def quoted(name: str) -> str:
    """A target name as one path segment: ``host:port`` stays readable, anything else
    (``/``, ``?``, ``#``, brackets, spaces, markup) is percent-encoded."""
    return quote(name, safe=":@")


def page_path(name: str, root: str = "") -> str:
    return f"{root}/target/{quoted(name)}"


def api_path(name: str, root: str = "") -> str:
    return f"{root}/api/targets/{quoted(name)}"


def target_json(
    target: WatchTarget, observation: Observation | None, now: dt.datetime, root: str = ""
) -> dict[str, Any]:
    """A target and its latest check, without the report: one row of ``/api/targets``."""
    moment = expires_at(observation)
    latest: dict[str, Any] = {
        "verdict": None,
        "exit_code": None,
        "codes": [],
        "checked_at": None,
        "expires_at": None,
        "days_left": None,
        "leaf_subject": None,
        "leaf_sha256": None,
        "leaf_not_after": None,
        "seconds": None,
        "error": None,
    }
    if observation is not None:
        latest = {
            "verdict": observation.verdict.value,
            "exit_code": observation.exit_code,
            "codes": [code.value for code in observation.codes],
            "checked_at": when(observation.checked_at),
            "expires_at": when(moment),
            "days_left": days_left(moment, now),
            "expired": None if moment is None else moment <= now,
            "leaf_subject": observation.leaf_subject,
            "leaf_sha256": observation.leaf_sha256,
            "leaf_not_after": when(observation.leaf_not_after),
            "seconds": observation.seconds,
            "error": observation.error,
        }
    return {
        "name": target.name,
        "every_seconds": round(target.every.total_seconds()),
        "starttls": target.starttls,
        "servername": target.servername,
        "labels": list(target.labels),
        **latest,
        "links": {"self": api_path(target.name, root), "html": page_path(target.name, root)},
    }


def detail_json(
    target: WatchTarget, observation: Observation | None, now: dt.datetime, root: str = ""
) -> dict[str, Any]:
    """``target_json`` plus the spec JSON report of the latest check (null before one)."""
    data = target_json(target, observation, now, root)
    data["report"] = dict(observation.report) if observation and observation.report else None
    data["links"]["history"] = f"{api_path(target.name, root)}/history"
    return data


def run_json(run: StateRun, with_report: bool = False) -> dict[str, Any]:
    """One state run: consecutive checks that saw the same state."""
    data: dict[str, Any] = {
        "first_seen": when(run.first_seen),
        "last_seen": when(run.last_seen),
        "checks": run.seen_count,
        "verdict": run.verdict.value,
        "exit_code": run.exit_code,
        "codes": [code.value for code in run.codes],
        "leaf_sha256": run.leaf_sha256,
        "leaf_subject": run.leaf_subject,
        "leaf_not_before": when(run.leaf_not_before),
        "leaf_not_after": when(run.leaf_not_after),
        "expires_at": when(run.expires_at),
        "error": run.error,
        "seconds": run.seconds,
        "seconds_min": run.seconds_min,
        "seconds_max": run.seconds_max,
        "seconds_mean": run.seconds_mean,
    }
    if with_report:
        data["report"] = dict(run.report) if run.report else None
    return data


def delivery_json(delivery: Delivery) -> dict[str, Any]:
    return {
        "notifier": delivery.notifier,
        "status": delivery.status.value,
        "attempts": delivery.attempts,
        "next_attempt": when(delivery.next_attempt),
        "last_error": delivery.last_error,
        "delivered_at": when(delivery.delivered_at),
    }


def alert_json(record: AlertRecord) -> dict[str, Any]:
    alert = record.alert
    return {
        "id": record.id,
        "target": alert.target,
        "kind": alert.kind.value,
        "severity": alert.severity.value,
        "key": alert.key,
        "raised_at": when(alert.raised_at),
        "title": alert.title,
        "body": alert.body,
        "facts": dict(alert.facts),
        "active": record.active,
        "deliveries": [delivery_json(delivery) for delivery in record.deliveries],
    }


def mappings(value: object) -> list[Mapping[str, Any]]:
    """The objects of a report's list (findings, chain, clients), skipping anything else:
    a report from a newer or older tlsdoctor must not break a page."""
    if not isinstance(value, Sequence) or isinstance(value, str):
        return []
    return [item for item in value if isinstance(item, Mapping)]
