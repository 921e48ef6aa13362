"""`watch calendar` and the Prometheus exposition, read back by the libraries that consume
them: icalendar parses the .ics, prometheus_client's parser reads /metrics."""

from __future__ import annotations

import datetime as dt
import os
import stat
from pathlib import Path
from typing import Any

import icalendar
import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import Check
from pki import DAY, NOW, Issued
from tlsdoctor.codes import FindingCode, Verdict
from tlsdoctor.errors import InputError
from tlsdoctor.models import Report
from tlsdoctor.monitor.calendar import event_uid, expiry_calendar
from tlsdoctor.monitor.metrics import exposition, write_textfile
from tlsdoctor.render.json_report import report_to_dict
from tlsdoctor.watch_model import Observation, WatchTarget

WWW = WatchTarget("www.example.test")
API = WatchTarget("api.example.test:8443", labels=("team-a",))


def observe(report: Report, target: WatchTarget, checked_at: dt.datetime = NOW) -> Observation:
    """What the watch keeps of a check's report (as the history module will)."""
    leaf = report.chain[0] if report.chain else None
    return Observation(
        target=target.name,
        checked_at=checked_at,
        verdict=report.verdict,
        exit_code=report.exit_code,
        codes=report.codes,
        leaf_sha256=leaf.sha256 if leaf else None,
        leaf_subject=leaf.subject if leaf else None,
        leaf_not_before=leaf.not_before if leaf else None,
        leaf_not_after=leaf.not_after if leaf else None,
        expires_at=min(c.not_after for c in report.chain) if report.chain else None,
        seconds=0.25,
        report=report_to_dict(report),
    )


def unreachable(target: WatchTarget) -> Observation:
    return Observation(
        target=target.name,
        checked_at=NOW,
        verdict=Verdict.ERROR,
        exit_code=3,
        codes=(FindingCode.CONNECTION_REFUSED,),
        leaf_sha256=None,
        leaf_subject=None,
        leaf_not_before=None,
        leaf_not_after=None,
        expires_at=None,
        seconds=0.01,
        error="connection refused",
    )


def events(ics: bytes) -> list[Any]:
    return list(icalendar.Calendar.from_ical(ics).walk("VEVENT"))


def triggers(event: Any) -> list[bytes]:
    return [alarm["TRIGGER"].to_ical() for alarm in event.walk("VALARM")]


# Calendar ------------------------------------------------------------------------------


def test_calendar_has_one_event_per_leaf_with_alarms(check: Check, intermediate: Issued) -> None:
    www = intermediate.issue_leaf(not_after=NOW + 45 * DAY)
    api = intermediate.issue_leaf(["api.example.test"], not_after=NOW + 200 * DAY)
    entries = [
        (WWW, observe(check(www, intermediate), WWW)),
        (API, observe(check(api, intermediate, host="api.example.test"), API)),
        (WatchTarget("down.example.test"), unreachable(WatchTarget("down.example.test"))),
    ]
    ics = expiry_calendar(entries, now=NOW)

    calendar = icalendar.Calendar.from_ical(ics)
    assert b"X-PUBLISHED-TTL:PT12H" in ics
    assert str(calendar["PRODID"]) == "-//tlsdoctor//watch calendar//EN"
    assert str(calendar["VERSION"]) == "2.0"
    assert str(calendar["X-WR-CALNAME"]) == "TLS certificate expiry"
    found = events(ics)
    assert [str(e["SUMMARY"]) for e in found] == [  # by expiry date; no event without a leaf
        "TLS certificate of www.example.test expires",
        "TLS certificate of api.example.test:8443 expires",
    ]
    first = found[0]
    assert first["DTSTART"].dt == (NOW + 45 * DAY).date()  # all-day, on the expiry date
    assert first["DTEND"].dt == (NOW + 46 * DAY).date()
    assert str(first["UID"]) == event_uid("www.example.test", www_sha(www))
    assert str(first["UID"]).endswith("@tlsdoctor")
    assert str(first["STATUS"]) == "CONFIRMED"
    assert triggers(first) == [b"-P30D", b"-P7D"]
    assert {str(a["ACTION"]) for a in first.walk("VALARM")} == {"DISPLAY"}
    description = str(first["DESCRIPTION"])
    assert "Subject: CN=www.example.test" in description
    assert "Issuer: CN=tlsdoctor Test Issuing CA 1,O=tlsdoctor tests" in description
    assert f"SHA-256 fingerprint: {www_sha(www)}" in description
    assert "tlsdoctor check www.example.test" in description
    assert "team-a" in [str(c) for c in found[1]["CATEGORIES"].cats]


def www_sha(issued: Issued) -> str:
    from cryptography.hazmat.primitives import hashes

    return issued.cert.fingerprint(hashes.SHA256()).hex()


def test_uids_and_content_are_stable_across_generations(check: Check, intermediate: Issued) -> None:
    leaf = intermediate.issue_leaf()
    report = check(leaf, intermediate)
    # The same certificate, seen again by a later check, in a later generation.
    first = events(expiry_calendar([(WWW, observe(report, WWW))], now=NOW))
    later = events(expiry_calendar([(WWW, observe(report, WWW, NOW + DAY))], now=NOW + 3 * DAY))
    assert [str(e["UID"]) for e in first] == [str(e["UID"]) for e in later]
    assert first[0]["DTSTAMP"].dt != later[0]["DTSTAMP"].dt
    for event in (*first, *later):
        del event["DTSTAMP"]
    assert [e.to_ical() for e in first] == [e.to_ical() for e in later]
    assert first[0]["SEQUENCE"] == later[0]["SEQUENCE"] == 0


def test_same_certificate_on_two_targets_is_two_events(check: Check, intermediate: Issued) -> None:
    leaf = intermediate.issue_leaf(["www.example.test", "api.example.test"])
    report = check(leaf, intermediate)
    found = events(
        expiry_calendar([(WWW, observe(report, WWW)), (API, observe(report, API))], now=NOW)
    )
    assert len({str(e["UID"]) for e in found}) == 2


def test_renewed_certificate_cancels_the_old_reminder(check: Check, intermediate: Issued) -> None:
    old = intermediate.issue_leaf(not_after=NOW + 10 * DAY)
    new = intermediate.issue_leaf(not_after=NOW + 90 * DAY)
    entries = [
        (WWW, observe(check(new, intermediate), WWW, NOW + DAY)),
        (WWW, observe(check(old, intermediate), WWW, NOW)),
        (WWW, observe(check(old, intermediate), WWW, NOW - DAY)),  # the same leaf twice
    ]
    found = {str(e["UID"]): e for e in events(expiry_calendar(entries, now=NOW))}
    assert set(found) == {event_uid(WWW.name, www_sha(old)), event_uid(WWW.name, www_sha(new))}
    replaced = found[event_uid(WWW.name, www_sha(old))]
    current = found[event_uid(WWW.name, www_sha(new))]
    assert (str(replaced["STATUS"]), replaced["SEQUENCE"], triggers(replaced)) == (
        "CANCELLED",
        1,
        [],
    )
    assert str(replaced["SUMMARY"]).endswith("(replaced)")
    assert (str(current["STATUS"]), current["SEQUENCE"]) == ("CONFIRMED", 0)
    assert triggers(current) == [b"-P30D", b"-P7D"]


def test_alarms_can_be_chosen_and_must_be_ahead(check: Check, intermediate: Issued) -> None:
    entries = [(WWW, observe(check(intermediate.issue_leaf(), intermediate), WWW))]
    ics = expiry_calendar(entries, [dt.timedelta(days=14), dt.timedelta(hours=36)], now=NOW)
    assert triggers(events(ics)[0]) == [b"-P14D", b"-P1DT12H"]
    with pytest.raises(InputError, match="positive"):
        expiry_calendar(entries, [dt.timedelta(days=-1)], now=NOW)


def test_an_empty_watch_is_a_valid_empty_calendar() -> None:
    ics = expiry_calendar([], now=NOW)
    assert icalendar.Calendar.from_ical(ics).walk("VEVENT") == []


# Metrics -------------------------------------------------------------------------------

Samples = dict[str, list[tuple[dict[str, str], float]]]


def parse(text: bytes) -> Samples:
    samples: Samples = {}
    for family in text_string_to_metric_families(text.decode()):
        assert family.type == "gauge", family.name
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    found = [
        v for sample_labels, v in samples.get(name, []) if labels.items() <= sample_labels.items()
    ]
    assert len(found) == 1, (name, labels, samples.get(name))
    return found[0]


def test_exposition_has_the_exporters_names_labels_and_values(
    check: Check, root: Issued, intermediate: Issued
) -> None:
    leaf = intermediate.issue_leaf(not_before=NOW - 60 * DAY, not_after=NOW + 20 * DAY)
    report = check(leaf, intermediate)
    observation = observe(report, WWW)
    samples = parse(exposition([(WWW, observation)], now=NOW))

    for name in ("ssl_probe_success", "ssl_tls_connect_success", "probe_success"):
        assert value(samples, name, target="www.example.test") == 1
    # ssl_exporter: one series per presented certificate, labelled as it labels them.
    not_after = {s[0]["cn"]: s for s in samples["ssl_cert_not_after"]}
    assert set(not_after) == {"www.example.test", "tlsdoctor Test Issuing CA 1"}
    labels, seconds = not_after["www.example.test"]
    assert labels == {
        "target": "www.example.test",
        "serial_no": str(leaf.cert.serial_number),
        "issuer_cn": "tlsdoctor Test Issuing CA 1",
        "cn": "www.example.test",
        "dnsnames": ",www.example.test,example.test,",
        "ips": "",
        "emails": "",
        "ou": "",
    }
    assert seconds == leaf.cert.not_valid_after_utc.timestamp()
    assert observation.leaf_not_after is not None
    assert seconds == observation.leaf_not_after.timestamp()
    assert value(samples, "ssl_cert_not_before", cn="www.example.test") == (
        leaf.cert.not_valid_before_utc.timestamp()
    )
    # The verified path adds the root the server did not send.
    verified = {s[0]["cn"]: s[0]["chain_no"] for s in samples["ssl_verified_cert_not_after"]}
    assert verified == {
        "www.example.test": "0",
        "tlsdoctor Test Issuing CA 1": "0",
        "tlsdoctor Test Root CA": "0",
    }
    # blackbox_exporter.
    assert observation.expires_at is not None
    assert value(samples, "probe_ssl_earliest_cert_expiry") == observation.expires_at.timestamp()
    assert value(samples, "probe_ssl_last_chain_expiry_timestamp_seconds") == (
        observation.expires_at.timestamp()
    )
    info = samples["probe_ssl_last_chain_info"][0][0]
    assert info["fingerprint_sha256"] == www_sha(leaf)
    assert info["subject"] == "CN=www.example.test"
    assert info["subjectalternative"] == "www.example.test,example.test"
    assert value(samples, "probe_duration_seconds") == 0.25
    # tlsdoctor's own.
    assert {s[0]["verdict"]: s[1] for s in samples["tlsdoctor_verdict"]} == {
        "trusted": 1,
        "untrusted": 0,
        "error": 0,
    }
    assert value(samples, "tlsdoctor_finding", code="expiring_soon", severity="warning") == 1
    assert value(samples, "tlsdoctor_cert_days_left") == pytest.approx(20.0)
    assert value(samples, "tlsdoctor_last_check_timestamp_seconds") == NOW.timestamp()
    assert value(samples, "tlsdoctor_check_duration_seconds") == 0.25
    assert value(samples, "tlsdoctor_target_info", target="www.example.test") == 1


def test_an_untrusted_chain_fails_the_probe_but_keeps_its_dates(
    check: Check, intermediate: Issued
) -> None:
    leaf = intermediate.issue_leaf(not_before=NOW - 100 * DAY, not_after=NOW - 3 * DAY)
    samples = parse(exposition([(WWW, observe(check(leaf, intermediate), WWW))], now=NOW))
    assert value(samples, "ssl_probe_success") == 0
    assert value(samples, "probe_success") == 0
    assert value(samples, "tlsdoctor_verdict", verdict="untrusted") == 1
    assert value(samples, "tlsdoctor_finding", code="expired", severity="error") == 1
    assert value(samples, "ssl_cert_not_after", cn="www.example.test") == (
        leaf.cert.not_valid_after_utc.timestamp()
    )
    assert value(samples, "tlsdoctor_cert_days_left") == pytest.approx(-3.0)
    # As with Go's TLS stack: no verified chain, so nothing from it.
    assert "ssl_verified_cert_not_after" not in samples
    assert "probe_ssl_last_chain_expiry_timestamp_seconds" not in samples


def test_unreachable_and_unchecked_targets(check: Check, intermediate: Issued) -> None:
    down = WatchTarget("down.example.test")
    new = WatchTarget("new.example.test", labels=("a", "b"))
    ok = observe(check(intermediate.issue_leaf(), intermediate), WWW)
    samples = parse(exposition([(WWW, ok), (down, unreachable(down)), (new, None)], now=NOW))
    assert value(samples, "ssl_probe_success", target="down.example.test") == 0
    assert value(samples, "tlsdoctor_verdict", target="down.example.test", verdict="error") == 1
    assert value(samples, "tlsdoctor_finding", target="down.example.test") == 1
    assert samples["tlsdoctor_finding"][-1][0]["code"] == "connection_refused"
    assert {s[0]["target"] for s in samples["ssl_cert_not_after"]} == {"www.example.test"}
    assert value(samples, "tlsdoctor_target_info", target="new.example.test") == 1
    assert [s[0]["labels"] for s in samples["tlsdoctor_target_info"]] == ["", "", ",a,b,"]
    assert all(s[0]["target"] != "new.example.test" for s in samples["ssl_probe_success"])


def test_label_values_are_escaped_by_the_library(check: Check, intermediate: Issued) -> None:
    odd = WatchTarget('odd "name" \\ with\nnewline')
    report = check(intermediate.issue_leaf(), intermediate)
    samples = parse(exposition([(odd, observe(report, odd))], now=NOW))
    assert value(samples, "probe_success", target=odd.name) == 1


def test_the_text_is_byte_for_byte_what_prometheus_client_writes(
    check: Check, intermediate: Issued
) -> None:
    """The exposition is written by hand for speed; prometheus_client is the oracle: the
    families read back by its parser and written by its generate_latest are the same
    bytes, escapes of odd label values and the self-metrics included."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.registry import Collector

    from tlsdoctor.history.health import WatchHealth

    odd = WatchTarget('odd "name" \\ with\nnewline', labels=("a,b", 'q"uote'))
    plain = WatchTarget("www.example.test:443", labels=("prod",))
    good = check(intermediate.issue_leaf(), intermediate)
    health = WatchHealth(2, 0, NOW, NOW + dt.timedelta(seconds=3), 2, 1, NOW)
    unchecked = (WatchTarget("new:443"), None)
    entries = [(odd, observe(good, odd)), (plain, observe(good, plain)), unchecked]
    ours = exposition(entries, NOW, health)

    class Parsed(Collector):
        def collect(self):  # type: ignore[no-untyped-def]
            yield from text_string_to_metric_families(ours.decode())

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Parsed())
    theirs = generate_latest(registry)
    assert ours == theirs
    assert b'target="odd \\"name\\" \\\\ with\\nnewline"' in ours
    assert b"tlsdoctor_watch_outbox_pending 1.0" in ours


def test_textfile_is_replaced_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "tlsdoctor.prom"
    path.write_bytes(b"old\n")
    seen: list[tuple[str, bytes, bytes]] = []
    real_replace = os.replace

    def spy(source: Any, destination: Any) -> None:
        # At the moment of the rename the new data is complete and the old file intact.
        seen.append((str(source), Path(source).read_bytes(), Path(destination).read_bytes()))
        real_replace(source, destination)

    monkeypatch.setattr(os, "replace", spy)
    write_textfile(path, b"new 1\n")
    ((source, data, before),) = seen
    assert Path(source).parent == tmp_path and not source.endswith(".prom")
    assert (data, before) == (b"new 1\n", b"old\n")
    assert path.read_bytes() == b"new 1\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tlsdoctor.prom"]


def test_textfile_failure_leaves_nothing_behind(tmp_path: Path) -> None:
    target = tmp_path / "is-a-dir.prom"
    target.mkdir()
    with pytest.raises(InputError, match="cannot write"):
        write_textfile(target, b"x 1\n")
    assert [p.name for p in tmp_path.iterdir()] == ["is-a-dir.prom"]
    with pytest.raises(InputError, match="cannot write"):
        write_textfile(tmp_path / "missing" / "x.prom", b"x 1\n")
