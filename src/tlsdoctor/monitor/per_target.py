"""What a target's own settings change in a sweep: whose roots it is checked against,
when its expiry alerts start, which findings it ignores, and who hears of its alerts.

Trust: the public roots (Mozilla's and the system's, as ``check`` uses) plus the
settings' ``[check] ca_files`` plus the target's own ``ca_files``, so that public and
private endpoints share one watch list. ``[check] public_roots = false`` trusts only
the files (the lab, an air-gapped PKI).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Collection, Mapping, Sequence

from tlsdoctor.anchors import TrustAnchors, anchors_from_files, mozilla_source, system_source
from tlsdoctor.codes import FindingCode, Verdict
from tlsdoctor.monitor.config import WatchSettings
from tlsdoctor.monitor.notify.routing import Route
from tlsdoctor.monitor.rules import AlertPolicy
from tlsdoctor.watch_model import Alert, Observation, WatchTarget

DAY = dt.timedelta(days=1)
_ANY = Route()


@functools.lru_cache(maxsize=64)
def trust_for(ca_files: tuple[str, ...], public_roots: bool) -> TrustAnchors | None:
    """The roots to check against; None means the defaults (public roots alone)."""
    if not ca_files:
        return None
    if not public_roots:
        return anchors_from_files(ca_files)
    sources = [mozilla_source()]
    system = system_source()
    if system is not None:
        sources.append(system)
    for path in ca_files:  # one file at a time: each keeps its own name in the report
        files = anchors_from_files([path])
        certificates = tuple(anchor.facts.cert for anchor in files.anchors.values())
        sources.append((files.sources[0], certificates))
    return TrustAnchors(sources)


def anchors_key(target: WatchTarget, settings: WatchSettings) -> tuple[str, ...]:
    """The CA files a target is checked with (the settings' and its own), in one order."""
    return tuple(dict.fromkeys((*settings.ca_files, *target.ca_files)))


def policy_for(target: WatchTarget, policy: AlertPolicy) -> AlertPolicy:
    """The settings' alert policy, with the target's warning window and ignored codes."""
    if target.ignore:
        ignored = frozenset(FindingCode(code) for code in target.ignore)
        policy = dataclasses.replace(policy, ignore=policy.ignore | ignored)
    if target.warn_days is not None:
        window = target.warn_days * DAY
        narrower = tuple(w for w in policy.expiry_windows if w < window)
        policy = dataclasses.replace(
            policy, lifetime_relative=False, expiry_windows=(window, *narrower)
        )
    return policy


def with_ignored(target: WatchTarget, observation: Observation) -> Observation:
    """A trusted check whose every finding is ignored here exits 0, as one without them:
    the list, ``watch once``'s exit code and the metrics then agree with the user's
    decision. The codes stay (the dashboard shows them as ignored, with the reason)."""
    if not target.ignore or observation.verdict is not Verdict.TRUSTED:
        return observation
    if observation.exit_code == 1 and {c.value for c in observation.codes} <= set(target.ignore):
        return dataclasses.replace(observation, exit_code=0)
    return observation


def recipients(
    alert: Alert,
    target: WatchTarget,
    notifiers: Sequence[str],
    routes: Mapping[str, Route],
) -> list[str]:
    """The notifiers that hear of ``alert``: none while the target is muted, else those
    whose route accepts it."""
    if target.muted(alert.raised_at):
        return []
    labels: Collection[str] = target.labels
    return [name for name in notifiers if routes.get(name, _ANY).accepts(alert, labels)]
