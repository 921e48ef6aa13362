"""tlsdoctor watch -> a real Prometheus Alertmanager (the Debian package) on loopback.

The test starts its own Alertmanager (own config, own storage folder, no cluster), whose
one receiver is a webhook on loopback that records what Alertmanager notifies. Three
`openssl s_server` endpoints go down and come back; `watch once` posts to Alertmanager;
the test reads back Alertmanager's own API and notifications: alerts fire, are grouped,
a silence suppresses one, and a recovery resolves one.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from loopback import Request, receiver
from pki import Issued, make_root
from servers import free_port, running
from tlsdoctor.check import utc_now
from tlsdoctor.cli.main import main
from tlsdoctor.monitor.notify import AlertmanagerConfig, alertmanager_payload, notifiers_from_config
from tlsdoctor.watch_model import Alert, AlertKind, AlertSeverity
from watchsites import DAY, Endpoint

ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
AMTOOL = shutil.which("amtool")
pytestmark = pytest.mark.skipif(
    ALERTMANAGER is None or AMTOOL is None, reason="prometheus-alertmanager is not installed"
)
BOUND = 20.0  # seconds any one step may take


def alertmanager_config(hook: str) -> str:
    # Group by alertname, notify a group 3 s after its first alert (time for the second
    # to arrive on a loaded machine) and then at most every second: short enough for a
    # test, the same machinery as in production.
    return f"""
route:
  receiver: hook
  group_by: ['alertname']
  group_wait: 3s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: {hook}/alertmanager
        send_resolved: true
"""


def wait_for(what: str, probe: Callable[[], Any]) -> Any:
    deadline = time.monotonic() + BOUND
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"{what}: not within {BOUND:g} s")


def notified(hooks: list[Request], status: str, target: str) -> list[dict[str, Any]]:
    """The notifications Alertmanager sent in which ``target``'s alert has ``status``."""
    return [
        body
        for body in (request.json() for request in list(hooks))
        if any(
            a["status"] == status and a["labels"].get("target") == target for a in body["alerts"]
        )
    ]


@pytest.fixture
def root(tmp_path: Path) -> Issued:
    issued = make_root("tlsdoctor Alertmanager Test Root", not_before=utc_now() - 400 * DAY)
    (tmp_path / "root.pem").write_bytes(issued.pem())
    return issued


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[tuple[str, list[Request]]]:
    assert ALERTMANAGER is not None
    with receiver() as (hook, hooks):
        config = tmp_path / "alertmanager.yml"
        config.write_text(alertmanager_config(hook))
        (tmp_path / "am-data").mkdir()
        port = free_port()
        argv = [
            ALERTMANAGER,
            f"--config.file={config}",
            f"--storage.path={tmp_path / 'am-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",  # no gossip: one instance, nothing leaves loopback
            "--log.level=warn",
        ]
        with running(argv, "127.0.0.1", port):
            url = f"http://127.0.0.1:{port}"
            wait_for("Alertmanager ready", lambda: _ready(url))
            yield url, hooks


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/-/ready", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def am_alerts(url: str, target: str) -> list[dict[str, Any]]:
    """Alertmanager's own view (API v2) of ``target``'s alerts, silenced ones included."""
    response = httpx.get(f"{url}/api/v2/alerts", params={"filter": f'target="{target}"'}, timeout=5)
    response.raise_for_status()
    found: list[dict[str, Any]] = response.json()
    return found


def test_alerts_fire_group_silence_and_resolve_in_a_real_alertmanager(
    tmp_path: Path,
    root: Issued,
    alertmanager: tuple[str, list[Request]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, hooks = alertmanager
    sites = [
        Endpoint(tmp_path, root, not_after=utc_now() + 60 * DAY, name=f"{n}.example.test")
        for n in ("a", "b", "c")
    ]
    a, b, c = (site.target for site in sites)
    settings = tmp_path / "watch.toml"
    settings.write_text(
        f"""[check]
timeout = 5
ca_files = ["root.pem"]
[alerts]
confirm_errors = 1
[[notify]]
name = "am"
kind = "alertmanager"
url = "{url}"
dashboard_url = "http://watch.example.test:8765"
labels = {{ team = "web", env = "test" }}
timeout = 5
"""
    )
    db = str(tmp_path / "watch.db")

    def watch(*argv: str) -> int:
        return main(["watch", "--db", db, "--config", str(settings), *argv])

    (tmp_path / "list.txt").write_text("".join(f"{t} 127.0.0.1\n" for t in (a, b, c)))
    assert watch("import", str(tmp_path / "list.txt")) == 0
    timeline: dict[str, float] = {}
    start = time.monotonic()
    with ExitStack() as up_a, ExitStack() as up_b, ExitStack() as up_c:
        for stack, site in zip((up_a, up_b, up_c), sites, strict=True):
            stack.enter_context(site.up())
        assert watch("once", "--all") in (0, 1)  # all trusted: nothing for Alertmanager
        assert wait_for("no alert", lambda: httpx.get(f"{url}/api/v2/alerts").json() == [])

        # a and b go down: two alerts, one notification for their group.
        up_a.close()
        up_b.close()
        assert watch("once", "--all") == 3
        timeline["posted a, b"] = time.monotonic() - start
        group = wait_for(
            "a grouped notification",
            lambda: [
                body
                for body in (r.json() for r in list(hooks))
                if {x["labels"]["target"] for x in body["alerts"]} == {a, b}
            ],
        )[0]
        timeline["notified group (a, b)"] = time.monotonic() - start
        assert group["status"] == "firing"
        assert group["groupLabels"] == {"alertname": "TLSEndpointBroken"}
        first = group["alerts"][0]
        assert first["labels"]["severity"] == "critical"
        assert first["labels"]["team"] == "web" and first["labels"]["env"] == "test"
        assert first["labels"]["code"]  # the finding code of the failure
        assert first["annotations"]["summary"].startswith(first["labels"]["target"])
        assert first["annotations"]["dashboard"].startswith(
            "http://watch.example.test:8765/target/"
        )
        assert first["generatorURL"] == first["annotations"]["dashboard"]
        assert len([r for r in hooks if r.path == "/alertmanager"]) == 1  # grouped: one

        # A silence for c (made with Alertmanager's own amtool), then c goes down.
        assert AMTOOL is not None
        amtool = [AMTOOL, "--alertmanager.url", url, "silence", "add", f"target={c}"]
        silence = subprocess.run(
            [*amtool, "--author=t", "--comment=maintenance", "--duration=1h"],
            capture_output=True,
            text=True,
            timeout=BOUND,
            check=True,
        ).stdout.strip()
        timeline["silence added"] = time.monotonic() - start
        up_c.close()
        assert watch("once", "--all") == 3
        seen = wait_for("c in Alertmanager", lambda: am_alerts(url, c))
        assert seen[0]["status"]["state"] == "suppressed"
        assert seen[0]["status"]["silencedBy"] == [silence]
        timeline["c suppressed"] = time.monotonic() - start
        # The twin: a, not silenced, is active.
        assert am_alerts(url, a)[0]["status"]["state"] == "active"

        # a comes back: tlsdoctor resolves it; Alertmanager notifies the resolution.
        with sites[0].up():
            assert watch("once", "--all") == 3  # b and c still down
            resolved = wait_for("a resolved", lambda: notified(hooks, "resolved", a))
            timeline["notified a resolved"] = time.monotonic() - start
        assert am_alerts(url, a) == []  # resolved alerts leave the active list
        assert am_alerts(url, b)[0]["status"]["state"] == "active"
        # Wait two group intervals: c, silenced, was never notified.
        time.sleep(2.5)
        assert notified(hooks, "firing", c) == []
        assert resolved[0]["alerts"]

    capsys.readouterr()
    print("alertmanager timeline (s):", json.dumps({k: round(v, 2) for k, v in timeline.items()}))


def payload_alert(kind: AlertKind, **facts: Any) -> Alert:
    return Alert(
        target="shop.example.test:443",
        kind=kind,
        severity=AlertSeverity.CRITICAL if kind is AlertKind.BROKEN else AlertSeverity.INFO,
        key=kind.value,
        raised_at=dt.datetime(2026, 3, 1, 12, tzinfo=dt.timezone.utc),
        title="shop.example.test:443: untrusted: unknown issuer",
        body="It broke.\nFix:\n  install the intermediate\n  reload nginx",
        facts=facts,
    )


def am_config(**settings: Any) -> AlertmanagerConfig:
    section = {"kind": "alertmanager", "name": "am", "url": "http://127.0.0.1:9", **settings}
    notifier = notifiers_from_config({"notify": [section]})[0]
    config = notifier.config  # type: ignore[attr-defined]
    assert isinstance(config, AlertmanagerConfig)
    return config


def test_payload_labels_annotations_and_resolution() -> None:
    config = am_config(labels={"team": "web"})
    broken = alertmanager_payload(
        payload_alert(AlertKind.BROKEN, code="unknown_issuer", since="2026-03-01T11:00:00+00:00"),
        config,
    )
    assert broken == [
        {
            "labels": {
                "team": "web",
                "alertname": "TLSEndpointBroken",
                "target": "shop.example.test:443",
                "code": "unknown_issuer",
                "severity": "critical",
            },
            "annotations": {
                "summary": "shop.example.test:443: untrusted: unknown issuer",
                "description": "It broke.\nFix:\n  install the intermediate\n  reload nginx",
                "fix": "install the intermediate\nreload nginx",
            },
            "startsAt": "2026-03-01T11:00:00Z",  # the outage's start, not the alert's
            "endsAt": "2026-03-08T12:00:00Z",  # the hold: 7 days unless resolved
        }
    ]
    # A recovery carries the same labels (the code of the outage) and an end: resolved.
    recovered = alertmanager_payload(
        payload_alert(AlertKind.RECOVERED, code="unknown_issuer"), config
    )
    assert recovered[0]["labels"] == broken[0]["labels"]
    assert recovered[0]["endsAt"] == "2026-03-01T12:00:00Z"


@pytest.mark.parametrize(
    ("settings", "said"),
    [
        ({"labels": {"alertname": "x"}}, "set by tlsdoctor"),
        ({"labels": {"bad-name": "x"}}, "not a Prometheus label name"),
        ({"labels": {"team": 1}}, "table of name"),
        ({"dashboard_url": "watch.example"}, "http:// or https://"),
        ({"hold": "1m"}, "at least 5m"),
        ({"format": "slack"}, "unknown key 'format'"),
    ],
)
def test_alertmanager_settings_mistakes_are_named(settings: dict[str, Any], said: str) -> None:
    from tlsdoctor.errors import InputError

    with pytest.raises(InputError, match=said):
        am_config(**settings)
