"""Alert rules over a scripted timeline: each state is told once, a state that ends and
comes back is told again, a renewal starts expiry alerts afresh."""

from __future__ import annotations

import datetime as dt

from tlsdoctor.codes import FindingCode, Verdict
from tlsdoctor.monitor.rules import AlertPolicy, evaluate
from tlsdoctor.watch_model import AlertKind, AlertSeverity, Observation

DAY = dt.timedelta(days=1)
START = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
OLD, NEW = "a" * 64, "b" * 64


def seen(
    at: dt.datetime,
    *,
    leaf: str | None = OLD,
    issued: dt.datetime = START,
    days: int = 90,
    verdict: Verdict = Verdict.TRUSTED,
    codes: tuple[FindingCode, ...] = (),
) -> Observation:
    end = issued + days * DAY
    findings = [{"code": c.value, "message": f"{c.value} explained", "fix": [f"fix {c.value}"]}
                for c in codes]  # fmt: skip
    return Observation(
        target="shop.example.com:443",
        checked_at=at,
        verdict=verdict,
        exit_code={Verdict.TRUSTED: 0, Verdict.UNTRUSTED: 2, Verdict.ERROR: 3}[verdict],
        codes=codes,
        leaf_sha256=leaf,
        leaf_subject=None if leaf is None else "CN=shop.example.com",
        leaf_not_before=None if leaf is None else issued,
        leaf_not_after=None if leaf is None else end,
        expires_at=None if leaf is None else end,
        seconds=0.05,
        report={"findings": findings},
    )


class Watch:
    """What the history does with an outcome: raise each key once, forget ended states."""

    def __init__(self, policy: AlertPolicy | None = None) -> None:
        self.policy = policy or AlertPolicy()
        self.raised: set[str] = set()
        self.previous: Observation | None = None
        self.in_a_row = 0  # checks the previous state has lasted (the history's run)

    def check(self, observation: Observation) -> list[tuple[AlertKind, str]]:
        outcome = evaluate(
            self.previous, observation, self.policy, frozenset(self.raised), self.in_a_row
        )
        same = self.previous is not None and self.previous.state == observation.state
        self.in_a_row = self.in_a_row + 1 if same else 1
        self.raised -= set(outcome.forget)
        told = []
        for alert in outcome.alerts:
            assert alert.key not in self.raised, "the rules raised a key twice"
            self.raised.add(alert.key)
            told.append((alert.kind, alert.key))
        self.previous = observation
        return told


def test_expiry_windows_renewal_breakage_and_recovery() -> None:
    watch = Watch()
    assert watch.check(seen(START + 10 * DAY)) == []
    assert watch.check(seen(START + 59 * DAY)) == []
    # 90-day certificate: the lifetime window is min(30 days, a third) = 30 days.
    assert watch.check(seen(START + 61 * DAY)) == [(AlertKind.EXPIRY, f"expiry:{OLD}:lifetime")]
    assert watch.check(seen(START + 62 * DAY)) == []
    assert watch.check(seen(START + 84 * DAY)) == [(AlertKind.EXPIRY, f"expiry:{OLD}:7d")]
    assert watch.check(seen(START + 85 * DAY)) == []
    assert watch.check(seen(START + 89 * DAY + dt.timedelta(hours=1))) == [
        (AlertKind.EXPIRY, f"expiry:{OLD}:1d")
    ]
    # Expired: one broken alert, however long it lasts.
    expired = seen(START + 91 * DAY, verdict=Verdict.UNTRUSTED, codes=(FindingCode.EXPIRED,))
    assert watch.check(expired) == [(AlertKind.BROKEN, "broken")]
    for later in (92, 93, 94):
        assert watch.check(seen(START + later * DAY, verdict=Verdict.UNTRUSTED,
                                codes=(FindingCode.EXPIRED,))) == []  # fmt: skip
    # Renewed: recovered, certificate changed; the new certificate's windows start afresh.
    renewed = START + 95 * DAY
    assert watch.check(seen(renewed, leaf=NEW, issued=renewed)) == [
        (AlertKind.RECOVERED, "recovered"),
        (AlertKind.CERTIFICATE_CHANGED, f"certificate:{NEW}"),
    ]
    assert watch.check(seen(renewed + DAY, leaf=NEW, issued=renewed)) == []
    assert watch.check(seen(renewed + 61 * DAY, leaf=NEW, issued=renewed)) == [
        (AlertKind.EXPIRY, f"expiry:{NEW}:lifetime")
    ]

    # Broken again later: told again (the recovery ended the broken state); a failure
    # to connect once it has lasted two checks.
    def timeout(days: float) -> Observation:
        return seen(renewed + days * DAY, leaf=None, verdict=Verdict.ERROR,
                    codes=(FindingCode.TIMEOUT,))  # fmt: skip

    assert watch.check(timeout(62)) == []
    assert watch.check(timeout(62.25)) == [(AlertKind.BROKEN, "broken")]
    assert watch.check(timeout(62.5)) == []
    assert watch.check(seen(renewed + 63 * DAY, leaf=NEW, issued=renewed)) == [
        (AlertKind.RECOVERED, "recovered")
    ]


def test_a_flapping_endpoint_does_not_storm() -> None:
    watch = Watch()
    down = (FindingCode.TIMEOUT,)
    told = []
    for hour in range(48):  # every other check times out
        if hour % 2:
            observation = seen(START + hour * dt.timedelta(hours=1), leaf=None,
                               verdict=Verdict.ERROR, codes=down)  # fmt: skip
        else:
            observation = seen(START + hour * dt.timedelta(hours=1))
        told += watch.check(observation)
    assert told == []
    # Told at once when asked to: confirm_errors = 1.
    eager = Watch(AlertPolicy(confirm_errors=1))
    eager.check(seen(START))
    assert eager.check(seen(START + DAY, leaf=None, verdict=Verdict.ERROR, codes=down)) == [
        (AlertKind.BROKEN, "broken")
    ]
    # A different failure right after another still counts as two in a row.
    other = Watch()
    assert other.check(seen(START, leaf=None, verdict=Verdict.ERROR, codes=down)) == []
    refused = (FindingCode.CONNECTION_REFUSED,)
    assert other.check(seen(START + DAY, leaf=None, verdict=Verdict.ERROR, codes=refused)) == [
        (AlertKind.BROKEN, "broken")
    ]


def test_a_certificate_first_seen_close_to_its_end_gets_one_alert() -> None:
    watch = Watch()
    assert watch.check(seen(START + 85 * DAY)) == [(AlertKind.EXPIRY, f"expiry:{OLD}:7d")]
    assert watch.check(seen(START + 86 * DAY)) == []  # not the wider lifetime window later


def test_short_lived_certificates_are_not_in_permanent_alarm() -> None:
    watch = Watch()
    # A 6-day certificate: a third of its lifetime is 2 days. The 7-day window would alarm
    # from its first hour at every renewal, so it does not apply; 2 days, then 1 day, do.
    told = {
        hours: watch.check(seen(START + hours * dt.timedelta(hours=1), days=6))
        for hours in range(1, 6 * 24, 6)
    }
    raised = {hours: alerts for hours, alerts in told.items() if alerts}
    assert raised == {
        97: [(AlertKind.EXPIRY, f"expiry:{OLD}:lifetime")],
        121: [(AlertKind.EXPIRY, f"expiry:{OLD}:1d")],
    }


def test_an_endpoint_broken_from_the_start_and_new_findings() -> None:
    watch = Watch()
    untrusted = (FindingCode.MISSING_INTERMEDIATE,)
    assert watch.check(seen(START, verdict=Verdict.UNTRUSTED, codes=untrusted)) == [
        (AlertKind.BROKEN, "broken")
    ]
    assert watch.check(seen(START + DAY)) == [(AlertKind.RECOVERED, "recovered")]
    warning = (FindingCode.CHAIN_ORDER,)
    assert watch.check(seen(START + 2 * DAY, codes=warning)) == [
        (AlertKind.NEW_FINDING, "finding:chain_order")
    ]
    assert watch.check(seen(START + 3 * DAY, codes=warning)) == []
    assert watch.check(seen(START + 4 * DAY)) == []
    assert watch.check(seen(START + 5 * DAY, codes=warning)) == [
        (AlertKind.NEW_FINDING, "finding:chain_order")
    ]
    # Breaking with more findings: one broken alert that lists them, no finding alerts.
    broken = (FindingCode.HOSTNAME_MISMATCH, FindingCode.CHAIN_ORDER, FindingCode.WEAK_KEY)
    assert watch.check(seen(START + 6 * DAY, verdict=Verdict.UNTRUSTED, codes=broken)) == [
        (AlertKind.BROKEN, "broken")
    ]
    # While broken, a further finding is news.
    worse = (*broken, FindingCode.REVOKED)
    assert watch.check(seen(START + 7 * DAY, verdict=Verdict.UNTRUSTED, codes=worse)) == [
        (AlertKind.NEW_FINDING, "finding:revoked")
    ]


def test_alert_texts_carry_the_evidence_and_the_fix() -> None:
    previous = seen(START)
    current = seen(START + DAY, verdict=Verdict.UNTRUSTED, codes=(FindingCode.EXPIRED,))
    (alert,) = evaluate(previous, current, AlertPolicy(), frozenset()).alerts
    assert alert.severity is AlertSeverity.CRITICAL
    assert alert.title == "shop.example.com:443: untrusted: expired explained"
    assert "Findings: expired" in alert.body and "fix expired" in alert.body
    assert alert.facts["was"] == "trusted"
    expiring = seen(START + 85 * DAY)
    (alert,) = evaluate(None, expiring, AlertPolicy(), frozenset()).alerts
    assert alert.title == "shop.example.com:443: certificate expires in 5 days (2026-04-01)"
    assert alert.facts["days_left"] == 5


def test_windows_are_configurable() -> None:
    policy = AlertPolicy(lifetime_relative=False, expiry_windows=(14 * DAY,))
    watch = Watch(policy)
    assert watch.check(seen(START + 60 * DAY)) == []
    assert watch.check(seen(START + 77 * DAY)) == [(AlertKind.EXPIRY, f"expiry:{OLD}:14d")]
    assert watch.check(seen(START + 89 * DAY)) == []
