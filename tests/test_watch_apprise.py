"""Chat and push services through apprise, for real: apprise's own `json://` and `ntfy://`
senders post to HTTP receivers on loopback; the outbox's backoff and the secret handling
stay tlsdoctor's."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from loopback import receiver
from servers import free_port
from tlsdoctor.errors import InputError
from tlsdoctor.history.store import History
from tlsdoctor.monitor.notify import NotifyError, deliver, notifiers_from_config
from tlsdoctor.monitor.notify.outbox import deliver_due
from tlsdoctor.watch_model import Alert, AlertKind, AlertSeverity, WatchTarget

RAISED = dt.datetime(2026, 3, 1, 12, tzinfo=dt.timezone.utc)
TOKEN = "s3cr3t-t0ken-4f9a"
ALERT = Alert(
    target="shop.example.test:443",
    kind=AlertKind.BROKEN,
    severity=AlertSeverity.CRITICAL,
    key="broken",
    raised_at=RAISED,
    title="shop.example.test:443: untrusted: unknown issuer",
    body="The chain is incomplete.\nFix:\n  serve the intermediate",
    facts={"code": "unknown_issuer"},
)


def one(section: dict[str, object]):  # type: ignore[no-untyped-def]
    return notifiers_from_config({"notify": [{"kind": "apprise", "name": "chat", **section}]})[0]


def test_json_service_gets_the_title_body_and_type() -> None:
    with receiver() as (url, requests):
        host = url.removeprefix("http://")
        deliver(one({"url": f"json://{host}/hook"}), ALERT, timeout=10)
    assert len(requests) == 1
    posted = requests[0].json()
    assert requests[0].path == "/hook"
    assert posted["title"] == ALERT.title
    assert posted["message"] == ALERT.body
    assert posted["type"] == "failure"  # critical


def test_ntfy_service_on_loopback() -> None:
    with receiver() as (url, requests):
        host = url.removeprefix("http://")
        deliver(one({"url": f"ntfy://{host}/tls-alerts"}), ALERT, timeout=10)
    # ntfy's JSON publishing: to the root, the topic in the body.
    assert len(requests) == 1
    posted = requests[0].json()
    assert posted["topic"] == "tls-alerts"
    assert posted["title"] == ALERT.title and posted["message"] == ALERT.body


def test_failures_go_through_the_outbox_backoff_and_never_show_the_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed = free_port()
    monkeypatch.setenv("TLSDOCTOR_TEST_CHAT", f"json://127.0.0.1:{closed}/{TOKEN}")
    notifier = one({"url_env": "TLSDOCTOR_TEST_CHAT"})
    assert TOKEN not in repr(notifier)
    with History.open(f"sqlite:///{tmp_path / 'w.db'}") as history:
        history.add_targets([WatchTarget(ALERT.target)], RAISED)
        assert history.raise_alert(ALERT, ["chat"])
        first = deliver_due(history, {"chat": notifier}, now=lambda: RAISED)
        assert (first.delivered, first.failed) == (0, 1)
        [record] = history.alerts()
        error = record.deliveries[0].last_error or ""
        assert error.startswith("chat: json:// did not take the notification")
        assert TOKEN not in error
        # Too early for the retry: nothing is sent.
        assert deliver_due(history, {"chat": notifier}, now=lambda: RAISED).failed == 0
        # The secret is rotated (read at each send, no restart) and the backoff has passed.
        with receiver() as (url, requests):
            monkeypatch.setenv("TLSDOCTOR_TEST_CHAT", f"json://{url.removeprefix('http://')}/x")
            later = RAISED + dt.timedelta(minutes=5)
            done = deliver_due(history, {"chat": notifier}, now=lambda: later)
        assert (done.delivered, len(requests)) == (1, 1)


def test_an_unknown_service_is_refused_without_showing_the_url() -> None:
    with pytest.raises(InputError) as caught:
        one({"url": f"nosuchservice://{TOKEN}@example.test"})
    assert "apprise does not know this nosuchservice:// URL" in str(caught.value)
    assert TOKEN not in str(caught.value)
    # The same URL from the environment is only found out when sending: permanent.
    with pytest.MonkeyPatch.context() as env:
        env.setenv("TLSDOCTOR_TEST_CHAT", f"nosuchservice://{TOKEN}@example.test")
        with pytest.raises(NotifyError) as failed:
            deliver(one({"url_env": "TLSDOCTOR_TEST_CHAT"}), ALERT, timeout=10)
    assert failed.value.permanent and TOKEN not in str(failed.value)
