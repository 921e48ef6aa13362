"""The dashboard (`watch serve`) over a history filled by a real sweep of the lab.

A module fixture runs the lab, sweeps every endpoint into an SQLite file with the lab CA
as the only trust anchor (so ``good`` is trusted and the rest fail as the lab says), and
adds one hostile target whose name, finding, client and alert hold markup. The app is
then driven through Starlette's TestClient (API, OpenAPI, metrics, calendar, token and
host rules, escaping) and, as a user sees it, through a real ``tlsdoctor watch serve``
process and headless Chromium.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import queue
import re
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import threading
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin

import httpx
import icalendar
import jsonschema
import pytest
from openapi_spec_validator import validate as validate_openapi
from prometheus_client.parser import text_string_to_metric_families

from tlsdoctor.anchors import anchors_from_files
from tlsdoctor.check import utc_now
from tlsdoctor.codes import COULD_NOT_CHECK, WARNINGS, FindingCode, Verdict
from tlsdoctor.errors import InputError
from tlsdoctor.history.store import History, HistoryError
from tlsdoctor.lab import Lab
from tlsdoctor.monitor.config import WatchSettings, watch_target
from tlsdoctor.monitor.sweep import Sweeper
from tlsdoctor.watch_model import Alert, AlertKind, AlertSeverity, Observation, WatchTarget
from tlsdoctor.web import create_app, serve
from tlsdoctor.web.app import COOKIE
from tlsdoctor.web.serve import is_loopback

with warnings.catch_warnings():
    # Starlette 1.x asks for httpx2 and warns (an error under filterwarnings) when it
    # falls back to httpx, which it still supports.
    warnings.filterwarnings("ignore", message=".*httpx2")
    from starlette.testclient import TestClient

CHROMIUM = Path("/usr/bin/chromium")
TOKEN = "correct-horse-battery-staple-7f3a"
HOSTILE = '<script>alert("name")</script>/x?y#z:443'
HOSTILE_MESSAGE = "<script>alert('message')</script> the leaf expired"
HOSTILE_FIX = "Run `<img src=x onerror=alert(1)>` & reload"


@dataclass(frozen=True)
class Watched:
    url: str  # the history database
    expect: Mapping[str, tuple[str, ...]]  # watched name -> the lab's expected codes
    lab_names: Mapping[str, str]  # lab endpoint name -> watched name

    def verdict(self, name: str) -> str:
        return expected_verdict(self.expect[name])


def expected_verdict(codes: tuple[str, ...]) -> str:
    """The verdict the lab's expected primary finding implies (spec/findings.md)."""
    if not codes:
        return Verdict.TRUSTED.value
    primary = FindingCode(codes[0])
    if primary in COULD_NOT_CHECK:
        return Verdict.ERROR.value
    return Verdict.TRUSTED.value if primary in WARNINGS else Verdict.UNTRUSTED.value


def _hostile_observation(now: dt.datetime) -> Observation:
    expires = now + dt.timedelta(days=3)
    return Observation(
        target=HOSTILE,
        checked_at=now,
        verdict=Verdict.UNTRUSTED,
        exit_code=2,
        codes=(FindingCode.EXPIRED,),
        leaf_sha256="ab" * 32,
        leaf_subject="CN=<b>bold</b>",
        leaf_not_before=now - dt.timedelta(days=10),
        leaf_not_after=expires,
        expires_at=expires,
        seconds=0.01,
        report={
            "verdict": "untrusted",
            "findings": [
                {
                    "code": "expired",
                    "severity": "error",
                    "message": HOSTILE_MESSAGE,
                    "evidence": {"note": "</pre><script>alert('evidence')</script>"},
                    "fix": [HOSTILE_FIX],
                }
            ],
            "chain": [{"subject": "CN=<b>bold</b>", "issuer": "CN=<i>x</i>", "role": "leaf"}],
            "clients": [
                {
                    "client": "<u>client</u>",
                    "trusted": False,
                    "codes": ["expired"],
                    "expected_error": "<script>alert('client')</script>",
                    "store": "custom",
                }
            ],
        },
    )


@pytest.fixture(scope="module")
def watched(tmp_path_factory: pytest.TempPathFactory) -> Watched:
    url = f"sqlite:///{tmp_path_factory.mktemp('web') / 'watch.db'}"
    with Lab() as lab, History.open(url) as history:
        targets = [watch_target(f"{e.host}:{e.port}", connect=e.address) for e in lab.endpoints]
        history.add_targets(targets, utc_now())
        sweeper = Sweeper(
            history, WatchSettings(timeout=10), [], anchors=anchors_from_files([lab.ca_file])
        )
        result = asyncio.run(sweeper.sweep(history.targets()))
        assert len(result.observations) == len(targets)
        expect = {
            t.name: tuple(str(c) for c in e.expect)
            for t, e in zip(targets, lab.endpoints, strict=True)
        }
        lab_names = {e.name: t.name for t, e in zip(targets, lab.endpoints, strict=True)}

        now = utc_now()
        history.add_targets([WatchTarget(name=HOSTILE, labels=("<em>label</em>",))], now)
        history.record(_hostile_observation(now), now + dt.timedelta(hours=6))
        alert = Alert(
            target=HOSTILE,
            kind=AlertKind.EXPIRY,
            severity=AlertSeverity.CRITICAL,
            key="expiry:test:7d",
            raised_at=now,
            title="<script>alert('alert')</script> expires in 3 days",
            body="Renew it.\n<b>now</b>",
        )
        assert history.raise_alert(alert, ["email", "webhook"])
        for delivery in history.due_deliveries(now):
            if delivery.notifier == "email":
                history.delivered(delivery.id, now)
            else:
                retry = now + dt.timedelta(hours=1)
                history.delivery_failed(delivery.id, now, "HTTP 503 <html>", retry)
    return Watched(url, expect, lab_names)


@pytest.fixture(scope="module")
def history(watched: Watched) -> Iterator[History]:
    with History.open(watched.url) as opened:
        yield opened


@pytest.fixture
def client(history: History) -> Iterator[TestClient]:
    with TestClient(create_app(history, token=None)) as test_client:
        yield test_client


class _Page(HTMLParser):
    """The rows of the endpoint table (name, verdict attribute, text) and every link."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: dict[str, tuple[str, str]] = {}
        self.links: list[str] = []
        self.scripts = 0
        self._row: dict[str, str | None] | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "script":
            self.scripts += 1
        if tag == "a" and found.get("href"):
            self.links.append(str(found["href"]))
        if tag == "tr" and "data-target" in found:
            self._row, self._text = found, []

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr" and self._row is not None:
            text = " ".join(" ".join(self._text).split())
            self.rows[str(self._row["data-target"])] = (str(self._row["data-verdict"]), text)
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._row is not None:
            self._text.append(data)


def parse_page(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    page.close()
    return page


def assert_lists_the_lab(page: _Page, watched: Watched) -> None:
    for name in watched.expect:
        assert name in page.rows, name
        verdict, text = page.rows[name]
        assert verdict == watched.verdict(name), (name, text)
        # The verdict is shown in words, not only as a colour or an attribute.
        assert text.split()[1] == watched.verdict(name), (name, text)
        for code in watched.expect[name]:
            assert code in text, (name, code, text)


# -- the stored sweep --------------------------------------------------------------------


def test_the_sweep_stored_each_lab_endpoint_as_the_lab_expects(
    history: History, watched: Watched
) -> None:
    """The premise of every test below, and its negative control: only the endpoints the
    lab means to work are stored as trusted."""
    stored = {t.name: o for t, o in history.latest_all() if t.name != HOSTILE}
    assert set(stored) == set(watched.expect)
    trusted = set()
    for name, observation in stored.items():
        assert observation is not None
        assert observation.verdict.value == watched.verdict(name), name
        assert [c.value for c in observation.codes[:1]] == list(watched.expect[name][:1])
        if observation.verdict is Verdict.TRUSTED:
            trusted.add(name.split(".")[0])
    assert trusted == {"good", "expiring-soon", "chain-order"}


# -- HTML --------------------------------------------------------------------------------


def test_overview_lists_every_endpoint_with_its_verdict_worst_first(
    client: TestClient, watched: Watched
) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    page = parse_page(response.text)
    assert_lists_the_lab(page, watched)
    order = [watched.verdict(name) for name in page.rows if name in watched.expect]
    rank = {"untrusted": 0, "error": 1, "trusted": 3}
    assert order == sorted(order, key=rank.__getitem__)
    expired = watched.lab_names["expired"]
    assert re.search(r"expired \d+ days ago", page.rows[expired][1])
    # The expiry timeline: soonest first, the expired certificate leads.
    timeline = response.text.split('id="expiries"', 1)[1]
    entries = re.findall(r'<li data-target="([^"]+)"', timeline)
    assert entries[0] == expired
    assert watched.lab_names["expiring-soon"] in entries[:3]
    assert watched.lab_names["plain-http"] not in entries  # no certificate, no expiry


def test_overview_pages_filters_and_searches(client: TestClient, history: History) -> None:
    everything = parse_page(client.get("/?per_page=1000").text).rows
    assert len(everything) == len(history.targets()) > 6
    first = parse_page(client.get("/?per_page=5").text)
    second = parse_page(client.get("/?per_page=5&page=2").text)
    assert len(first.rows) == len(second.rows) == 5
    assert not set(first.rows) & set(second.rows)
    assert list(first.rows) == list(everything)[:5]  # worst first, page by page
    assert "/?page=2&per_page=5" in first.links and "/?per_page=5" in second.links
    # Filters: a state, a part of the name; and both together with the API.
    untrusted = parse_page(client.get("/?state=untrusted").text).rows
    assert untrusted and {v for v, _ in untrusted.values()} == {"untrusted"}
    assert set(untrusted) == {n for n, (v, _) in everything.items() if v == "untrusted"}
    some = sorted(everything)[0]
    part = some.split(".")[0][-6:]
    found = parse_page(client.get("/", params={"q": part.upper()}).text).rows
    assert some in found and all(part in name for name in found)
    api = client.get("/api/targets", params={"state": "untrusted", "per_page": 2})
    assert len(api.json()) == min(2, len(untrusted))
    assert api.headers["x-total-count"] == str(len(untrusted))
    # Mistakes are a 400 with the reason, not an empty page.
    assert "state must be one of" in client.get("/?state=broken").text
    assert client.get("/?page=0").status_code == 400
    nothing = client.get("/", params={"q": "no-such-name-anywhere"}).text
    assert "No target matches" in nothing and not parse_page(nothing).rows


def test_endpoint_page_shows_findings_fixes_chain_clients_and_history(
    client: TestClient, watched: Watched
) -> None:
    index = parse_page(client.get("/").text)
    name = watched.lab_names["expired"]
    link = next(href for href in index.links if href == f"/target/{quote(name, safe=':@')}")
    response = client.get(link)
    assert response.status_code == 200
    text = response.text
    assert '<article class="finding sev-error" data-code="expired">' in text
    assert "expired on" in text  # the finding's message
    assert "Renew the certificate for" in text  # its fix lines, as an ordered list
    assert '<ol class="fix">' in text
    assert '<table id="chain">' in text and "CN=tlsdoctor lab Issuing CA" in text
    assert '<tr data-client="chrome">' in text and "NET::ERR_CERT_DATE_INVALID" in text
    assert '<table id="history">' in text
    assert "The JSON report of the latest check" in text


def test_unknown_endpoint_and_unknown_path_are_404_pages(client: TestClient) -> None:
    for path in ("/target/nobody.example:443", "/nope"):
        response = client.get(path)
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("text/html")
        assert "404" in response.text
    response = client.get("/api/targets/nobody.example:443")
    assert response.status_code == 404
    assert response.json() == {"error": "nobody.example:443 is not watched"}
    assert client.get("/api/nothing").json()["error"].startswith("Not Found")


def test_the_dashboard_is_read_only(client: TestClient) -> None:
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        assert client.request(method, "/api/targets").status_code == 405
        assert client.request(method, "/").status_code == 405
    assert client.head("/").status_code == 200


def test_markup_in_names_messages_and_alerts_is_escaped(client: TestClient) -> None:
    index = client.get("/")
    assert index.headers["content-security-policy"].startswith("default-src 'none'")
    assert "<script" not in index.text
    assert "&lt;script&gt;alert(&quot;name&quot;)&lt;/script&gt;" in index.text
    assert "<em>" not in index.text

    page_path = f"/target/{quote(HOSTILE, safe=':@')}"
    assert page_path in index.text  # the link keeps "/", "?" and "#" inside the name
    page = client.get(page_path)
    assert page.status_code == 200
    text = page.text
    assert "<script" not in text and "<img" not in text and "<b>" not in text
    assert "<u>" not in text and "<i>" not in text
    assert "&lt;script&gt;alert(&#x27;message&#x27;)&lt;/script&gt; the leaf expired" in text
    # Backticks still become code, around escaped text.
    assert "<code>&lt;img src=x onerror=alert(1)&gt;</code> &amp; reload" in text
    assert "&lt;script&gt;alert(&#x27;alert&#x27;)&lt;/script&gt;" in text
    assert "&lt;/pre&gt;&lt;script&gt;" in text  # evidence JSON cannot end its <pre>
    assert "HTTP 503 &lt;html&gt;" in text  # a delivery error
    parsed = parse_page(text)
    assert parsed.scripts == 0


def test_alerts_show_their_delivery_status(client: TestClient) -> None:
    text = client.get(f"/target/{quote(HOSTILE, safe=':@')}").text
    alerts = text.split('<table id="alerts">', 1)[1].split("</table>", 1)[0]
    assert "critical" in alerts and "expiry" in alerts and "active" in alerts
    assert "email: delivered" in alerts
    assert "webhook: failed after 1 attempt: HTTP 503 &lt;html&gt;" in alerts


# -- JSON API ----------------------------------------------------------------------------


def test_api_targets(client: TestClient, watched: Watched) -> None:
    response = client.get("/api/targets")
    assert response.status_code == 200
    rows = {row["name"]: row for row in response.json()}
    for name, codes in watched.expect.items():
        row = rows[name]
        assert row["verdict"] == watched.verdict(name)
        assert row["codes"][:1] == list(codes[:1])
        assert row["links"]["html"] == f"/target/{quote(name, safe=':@')}"
    expired = rows[watched.lab_names["expired"]]
    assert expired["expired"] is True and expired["days_left"] <= -29
    good = rows[watched.lab_names["good"]]
    assert good["expired"] is False and good["days_left"] > 30 and good["exit_code"] == 0
    assert rows[watched.lab_names["plain-http"]]["expires_at"] is None
    assert rows[HOSTILE]["labels"] == ["<em>label</em>"]


def test_api_target_has_the_full_report(client: TestClient, watched: Watched) -> None:
    name = watched.lab_names["expired"]
    data = client.get(f"/api/targets/{quote(name, safe=':@')}").json()
    assert data["name"] == name and data["verdict"] == "untrusted"
    findings = data["report"]["findings"]
    assert findings[0]["code"] == "expired" and findings[0]["fix"]
    assert data["report"]["clients"][0]["client"] == "chrome"
    hostile = client.get(f"/api/targets/{quote(HOSTILE, safe='')}").json()
    assert hostile["name"] == HOSTILE  # "/" in a name, sent as %2F, reaches the route


def test_api_history_and_its_limits(client: TestClient, watched: Watched) -> None:
    name = quote(watched.lab_names["good"], safe=":@")
    runs = client.get(f"/api/targets/{name}/history").json()
    assert len(runs) == 1
    assert runs[0]["verdict"] == "trusted" and runs[0]["checks"] == 1 and "report" not in runs[0]
    with_reports = client.get(f"/api/targets/{name}/history?reports=true&limit=1").json()
    assert with_reports[0]["report"]["verdict"] == "trusted"
    for bad in ("0", "1001", "x"):
        response = client.get(f"/api/targets/{name}/history?limit={bad}")
        assert response.status_code == 400
        assert "limit" in response.json()["error"]
    assert client.get("/api/targets/nobody:1/history").status_code == 404


def test_api_alerts(client: TestClient) -> None:
    alerts = client.get("/api/alerts", params={"target": HOSTILE}).json()
    assert len(alerts) == 1
    alert = alerts[0]
    assert alert["kind"] == "expiry" and alert["active"] is True
    statuses = {d["notifier"]: d["status"] for d in alert["deliveries"]}
    assert statuses == {"email": "delivered", "webhook": "failed"}
    assert client.get("/api/alerts", params={"target": "nobody:1"}).json() == []
    assert client.get("/api/alerts?limit=1").status_code == 200


def test_openapi_document_is_valid_and_matches_the_routes(history: History) -> None:
    app = create_app(history, token=None)
    with TestClient(app) as client:
        document = client.get("/openapi.json").json()
    validate_openapi(document)
    assert document["openapi"] == "3.1.0"
    paths = {getattr(route, "path", "") for route in app.routes}
    routes = {
        re.sub(r"\{(\w+):path\}", r"{\1}", path)
        for path in paths
        if path not in ("/", "/target/{name:path}")
    }
    assert routes == set(document["paths"])
    assert "security" not in document  # this server was started without a token


def test_api_answers_match_the_openapi_schemas(client: TestClient, watched: Watched) -> None:
    document = client.get("/openapi.json").json()

    def check(value: Any, schema: str) -> None:
        root = {"components": document["components"], "$ref": f"#/components/schemas/{schema}"}
        jsonschema.Draft202012Validator(root).validate(value)

    for row in client.get("/api/targets").json():
        check(row, "Target")
    name = quote(watched.lab_names["expired"], safe=":@")
    check(client.get(f"/api/targets/{name}").json(), "TargetDetail")
    for run in client.get(f"/api/targets/{name}/history?reports=1").json():
        check(run, "StateRun")
    for alert in client.get("/api/alerts").json():
        check(alert, "Alert")
    with pytest.raises(jsonschema.ValidationError):
        check({"name": "x"}, "Target")  # negative control: the schemas do check


def test_metrics(client: TestClient, watched: Watched) -> None:
    response = client.get("/metrics")
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value

    def value(name: str, **labels: str) -> float:
        return samples[(name, tuple(sorted(labels.items())))]

    for target in watched.expect:
        verdict = watched.verdict(target)
        assert value("tlsdoctor_verdict", target=target, verdict=verdict) == 1
        assert value("probe_success", target=target) == (1 if verdict == "trusted" else 0)
    good = watched.lab_names["good"]
    assert value("tlsdoctor_cert_days_left", target=good) > 30
    # The reports are read too: certificate metrics need the chain.
    assert any(name == "ssl_cert_not_after" for name, _ in samples)


def test_calendar(client: TestClient, watched: Watched) -> None:
    response = client.get("/calendar.ics")
    assert response.headers["content-type"] == "text/calendar; charset=utf-8"
    calendar = icalendar.Calendar.from_ical(response.content)
    summaries = {str(event["SUMMARY"]) for event in calendar.walk("VEVENT")}
    assert f"TLS certificate of {watched.lab_names['good']} expires" in summaries
    assert not any(watched.lab_names["plain-http"] in s for s in summaries)


def test_healthz(client: TestClient, history: History, watched: Watched) -> None:
    health = client.get("/healthz")
    assert health.status_code == 200
    body = health.json()
    assert body["status"] == "ok" and body["overdue_targets"] == 0
    assert body["targets"] == len(history.targets()) and body["last_sweep"] is not None
    # Two intervals (6 h each) and a bit later, with no sweep since: unhealthy.
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=12, minutes=30)
    with TestClient(create_app(history, token=None, clock=lambda: later)) as stale:
        answer = stale.get("/healthz")
    assert answer.status_code == 503
    assert answer.json()["status"] == "unhealthy"
    assert answer.json()["overdue_targets"] == body["targets"]


# -- access ------------------------------------------------------------------------------


def test_a_token_is_required_everywhere_but_healthz(history: History) -> None:
    with TestClient(create_app(history, token=TOKEN)) as client:
        for path in ("/", "/api/targets", "/metrics", "/calendar.ics", "/openapi.json"):
            refused = client.get(path)
            assert refused.status_code == 401, path
            assert refused.headers["www-authenticate"].startswith("Bearer")
        assert client.get("/api/targets").json()["error"].startswith("This dashboard needs")
        assert client.get("/healthz").status_code == 200
        bearer = {"Authorization": f"Bearer {TOKEN}"}
        assert client.get("/api/targets", headers=bearer).status_code == 200
        assert client.get("/metrics", headers=bearer).status_code == 200
        for wrong in (TOKEN[:-1], TOKEN + "x", "", TOKEN.upper()):
            headers = {"Authorization": f"Bearer {wrong}"}
            assert client.get("/api/targets", headers=headers).status_code == 401
        assert client.get("/", headers={"Authorization": f"Basic {TOKEN}"}).status_code == 401
        document = client.get("/openapi.json", headers=bearer).json()
        assert document["security"] == [{"bearer": []}]


def test_a_browser_trades_the_token_in_the_address_for_a_cookie(history: History) -> None:
    with TestClient(create_app(history, token=TOKEN)) as client:
        assert client.get(f"/?token={TOKEN}x", follow_redirects=False).status_code == 401
        assert COOKIE not in client.cookies
        response = client.get(f"/api/alerts?limit=5&token={TOKEN}", follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"] == "/api/alerts?limit=5"  # the token is gone
        cookie = response.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
        assert TOKEN not in cookie  # the cookie holds an HMAC of the token
        assert client.get("/").status_code == 200  # the client kept the cookie
    with TestClient(create_app(history, token=TOKEN)) as client:
        forged = {"Cookie": f"{COOKIE}=forged"}
        assert client.get("/", headers=forged).status_code == 401
        # A name holding "/", "?" and "#" survives the redirect.
        page = f"/target/{quote(HOSTILE, safe=':@')}"
        response = client.get(f"{page}?token={TOKEN}", follow_redirects=False)
        assert response.headers["location"] == f"/target/{quote(HOSTILE, safe='/:@')}"
        assert client.get(response.headers["location"]).status_code == 200


def test_without_a_token_only_loopback_host_names_are_answered(history: History) -> None:
    """A page on another site that rebinds its own name to 127.0.0.1 sends its own name
    as Host: it is refused."""
    app = create_app(history, token=None, allowed_hosts={"127.0.0.1", "localhost", "[::1]"})
    with TestClient(app, base_url="http://127.0.0.1:8765") as client:
        assert client.get("/").status_code == 200
        assert client.get("/", headers={"Host": "localhost:8765"}).status_code == 200
        assert client.get("/", headers={"Host": "[::1]:8765"}).status_code == 200
        refused = client.get("/api/targets", headers={"Host": "attacker.example:8765"})
        assert refused.status_code == 421
        assert "attacker.example" in refused.json()["error"]


def test_serve_refuses_a_public_address_without_a_token(
    watched: Watched, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(InputError, match="without a token"):
        serve(watched.url, host="0.0.0.0", port=0, token_env=None)
    monkeypatch.setenv("TLSDOCTOR_TEST_TOKEN", "")
    with pytest.raises(InputError, match=r"\$TLSDOCTOR_TEST_TOKEN is not set or is empty"):
        serve(watched.url, host="0.0.0.0", port=0, token_env="TLSDOCTOR_TEST_TOKEN")
    monkeypatch.delenv("TLSDOCTOR_TEST_TOKEN")
    with pytest.raises(InputError, match="is not set"):
        serve(watched.url, host="127.0.0.1", port=0, token_env="TLSDOCTOR_TEST_TOKEN")


def test_serve_beyond_loopback_wants_a_long_token(
    watched: Watched, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TLSDOCTOR_TEST_TOKEN", "hunter2-hunter2")  # 15 characters
    with pytest.raises(InputError, match=r"too easy to guess .* at least 24"):
        serve(watched.url, host="0.0.0.0", port=0, token_env="TLSDOCTOR_TEST_TOKEN")
    with pytest.raises(InputError, match="--tls-cert and --tls-key go together"):
        serve(watched.url, host="127.0.0.1", port=0, token_env=None, tls_cert="x.pem")


def test_the_dashboard_over_https(watched: Watched, tmp_path: Path) -> None:
    from pki import make_root

    root = make_root("tlsdoctor Dashboard Test Root", not_before=utc_now() - dt.timedelta(days=1))
    leaf = root.issue_leaf(
        ["localhost"],
        ips=["127.0.0.1"],
        not_before=utc_now() - dt.timedelta(days=1),
        not_after=utc_now() + dt.timedelta(days=30),
    )
    (tmp_path / "ca.pem").write_bytes(root.pem())
    (tmp_path / "cert.pem").write_bytes(leaf.pem())
    (tmp_path / "key.pem").write_bytes(leaf.key_pem())
    tls = ["--tls-cert", str(tmp_path / "cert.pem"), "--tls-key", str(tmp_path / "key.pem")]
    # On loopback a short token is fine (only beyond loopback is a length required).
    server = _start_server(watched.url, *tls, "--token-env", "T", env={"T": "short"})
    try:
        assert server.url.startswith("https://127.0.0.1:")
        trust = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
        with httpx.Client(verify=trust, timeout=10) as client:
            assert client.get(urljoin(server.url, "/healthz")).status_code == 200
            page = client.get(urljoin(server.url, "/?token=short"), follow_redirects=False)
            assert page.status_code == 303
            assert "secure" in page.headers["set-cookie"].lower()
        # Plain HTTP to the same port gets no dashboard.
        with pytest.raises(httpx.HTTPError):
            httpx.get(server.url.replace("https://", "http://") + "healthz", timeout=5)
    finally:
        assert _stop(server) == 0
    with pytest.raises(InputError, match="cannot be used"):
        serve(
            watched.url,
            host="127.0.0.1",
            port=0,
            token_env=None,
            tls_cert=str(tmp_path / "key.pem"),
            tls_key=str(tmp_path / "cert.pem"),
        )


def test_serve_says_when_the_port_is_taken(watched: Watched) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        with pytest.raises(InputError, match=f"cannot listen on 127.0.0.1:{port}"):
            serve(watched.url, host="127.0.0.1", port=port, token_env=None)


def test_loopback_addresses() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("127.8.9.10") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("::") and not is_loopback("10.0.0.1")
    assert not is_loopback("localhost.attacker.example")


def test_a_history_factory_is_opened_once_and_closed_with_the_app(watched: Watched) -> None:
    opened: list[History] = []
    closed: list[History] = []

    def factory() -> History:
        history = History.open(watched.url)
        close = history.close

        def closing() -> None:
            closed.append(history)
            close()

        history.close = closing  # type: ignore[method-assign]
        opened.append(history)
        return history

    app = create_app(factory, token=None)
    assert not opened  # nothing is opened before a request needs it
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        assert client.get("/api/targets").status_code == 200
        assert not closed
    assert len(opened) == 1 and closed == opened


def test_an_unusable_history_is_a_503_not_a_traceback() -> None:
    def broken() -> History:
        raise HistoryError("/nowhere/watch.db: cannot open the watch history (disk I/O)")

    with TestClient(create_app(broken, token=None)) as client:
        page = client.get("/")
        assert page.status_code == 503 and "disk I/O" in page.text
        assert client.get("/healthz").status_code == 503
        assert "disk I/O" in client.get("/api/targets").json()["error"]


# -- the real server and a real browser ---------------------------------------------------


@dataclass
class Server:
    process: subprocess.Popen[str]
    url: str
    stderr: list[str]
    pump: threading.Thread


def _start_server(url: str, *extra: str, env: Mapping[str, str] | None = None) -> Server:
    process = subprocess.Popen(
        [sys.executable, "-m", "tlsdoctor", "watch", "--db", url, "serve", "--port", "0", *extra],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    lines: queue.Queue[str] = queue.Queue()
    seen: list[str] = []

    def pump() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.put(line)
        lines.put("")

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    while True:
        try:
            line = lines.get(timeout=30)
        except queue.Empty:
            _stop(Server(process, "", seen, reader), signal.SIGKILL)
            raise AssertionError(f"watch serve said nothing in 30 s: {seen}") from None
        seen.append(line)
        found = re.search(r"https?://127\.0\.0\.1:\d+/", line)
        if found:
            return Server(process, found.group(0), seen, reader)
        if not line:
            process.wait(timeout=10)
            reader.join(timeout=10)
            assert process.stderr is not None
            process.stderr.close()
            raise AssertionError(f"watch serve exited {process.returncode}: {seen}")


def _stop(server: Server, signum: int = signal.SIGTERM) -> int:
    if server.process.poll() is None:
        server.process.send_signal(signum)
    try:
        return server.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(timeout=10)
        raise
    finally:
        server.pump.join(timeout=10)  # it reads to the end of stderr, then stops
        assert server.process.stderr is not None
        server.process.stderr.close()


@pytest.fixture(scope="module")
def server(watched: Watched) -> Iterator[Server]:
    running = _start_server(watched.url)
    try:
        yield running
    finally:
        _stop(running)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_watch_serve_answers_then_stops_cleanly(watched: Watched, signum: int) -> None:
    running = _start_server(watched.url)
    try:
        response = httpx.get(running.url + "api/targets", timeout=10)
        assert response.status_code == 200
        assert len(response.json()) == len(watched.expect) + 1
        # Without a token, names other than loopback ones are refused.
        evil = httpx.get(running.url, headers={"Host": "rebound.example"}, timeout=10)
        assert evil.status_code == 421
    finally:
        code = _stop(running, signum)
    assert code == 0, running.stderr


def _chromium(folder: Path, *arguments: str) -> str:
    """Run headless Chromium once, bounded in time; its stdout."""
    folder.mkdir(parents=True, exist_ok=True)
    argv = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={folder / 'profile'}",
        *arguments,
    ]
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["HOME"] = str(folder)
    # A session of its own, so that a timeout ends Chromium's helper processes too.
    process = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate(timeout=10)
        raise
    assert process.returncode == 0, err[-2000:]
    return out


needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium (CI installs it)"
)


@needs_chromium
def test_chromium_shows_every_lab_endpoint_with_its_verdict(
    server: Server, watched: Watched, tmp_path: Path
) -> None:
    dom = _chromium(tmp_path, "--dump-dom", server.url)
    page = parse_page(dom)
    assert_lists_the_lab(page, watched)
    assert page.scripts == 0  # the hostile name was shown as text, not run
    assert HOSTILE in page.rows


@needs_chromium
def test_chromium_opens_an_endpoint_page_from_its_link(
    server: Server, watched: Watched, tmp_path: Path
) -> None:
    index = parse_page(_chromium(tmp_path / "index", "--dump-dom", server.url))
    name = watched.lab_names["expired"]
    href = next(link for link in index.links if link.startswith(f"/target/{name.split(':')[0]}"))
    dom = _chromium(tmp_path / "page", "--dump-dom", urljoin(server.url, href))
    assert f"<h1>{name} " in dom
    assert 'data-code="expired"' in dom
    assert "expired on" in dom and "Renew the certificate for" in dom
    assert '<ol class="fix">' in dom
    assert "NET::ERR_CERT_DATE_INVALID" in dom  # the who-fails table


@needs_chromium
def test_chromium_trades_the_token_for_a_cookie(watched: Watched, tmp_path: Path) -> None:
    running = _start_server(
        watched.url, "--token-env", "TLSDOCTOR_WEB_TOKEN", env={"TLSDOCTOR_WEB_TOKEN": TOKEN}
    )
    try:
        refused = _chromium(tmp_path / "refused", "--dump-dom", running.url)
        assert "401 Unauthorized" in refused and watched.lab_names["good"] not in refused
        dom = _chromium(tmp_path / "allowed", "--dump-dom", f"{running.url}?token={TOKEN}")
        assert_lists_the_lab(parse_page(dom), watched)
    finally:
        assert _stop(running) == 0


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@needs_chromium
def test_chromium_screenshot_of_the_overview(server: Server, tmp_path: Path) -> None:
    shot = tmp_path / "dash.png"
    _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,900", server.url)
    assert _png_size(shot) == (1280, 900)
    assert shot.stat().st_size > 20_000  # a rendered page, not a blank one
    keep = os.environ.get("TLSDOCTOR_SCREENSHOT_DIR")
    if keep:  # to look at it: TLSDOCTOR_SCREENSHOT_DIR=/tmp pytest tests/test_web.py
        shutil.copy(shot, Path(keep) / "dash.png")
