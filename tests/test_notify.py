"""Notifiers against real receivers on loopback: an aiosmtpd server (plain, STARTTLS and
implicit TLS, AUTH LOGIN and PLAIN, with a certificate made here), an HTTP receiver for
each webhook format, and shell commands. Each success has a twin that fails for the
right reason, and every failure is bounded in time and keeps secrets out of its message.
"""

from __future__ import annotations

import datetime as dt
import json
import shlex
import socket
import ssl
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from loopback import Inbox, receiver, smtp_server
from pki import DAY, Issued, make_root
from servers import free_port
from tlsdoctor.errors import InputError
from tlsdoctor.monitor.notify import (
    MAX_ATTEMPTS,
    CommandConfig,
    CommandNotifier,
    EmailConfig,
    EmailNotifier,
    EmailSecurity,
    Notifier,
    NotifyError,
    Secret,
    WebhookConfig,
    WebhookFormat,
    WebhookNotifier,
    alert_to_dict,
    deliver,
    next_attempt,
    notifiers_from_config,
    redact_url,
    sample_alert,
    webhook_payload,
)
from tlsdoctor.watch_model import Alert, AlertKind, AlertSeverity

# TLS on loopback is judged by the real clock, not the test PKI's fixed NOW.
REAL_NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
RAISED = dt.datetime(2026, 11, 27, 10, 0, tzinfo=dt.timezone.utc)
FIX = "Fix: renew it and reload the server: certbot renew && systemctl reload nginx"
ALERT = Alert(
    target="www.example.test",
    kind=AlertKind.EXPIRY,
    severity=AlertSeverity.WARNING,
    key="expiry:3fff02c6:7d",
    raised_at=RAISED,
    title="Certificate of www.example.test expires in 7 days",
    body=f"The leaf certificate 'www.example.test' expires on 2026-12-04 10:00 UTC.\n{FIX}",
    facts={"days_left": 7, "leaf_sha256": "3fff02c6", "not_after": "2026-12-04T10:00:00Z"},
)
USER = "watch@example.test"
PASSWORD = "c0rrect-h0rse-battery"
BOUNDED = 3.0  # seconds: every failure below must be reported within this


# An SMTP server on loopback --------------------------------------------------------------


@dataclass(frozen=True)
class MailPki:
    root: Issued
    ca_file: Path
    server_context: ssl.SSLContext


@pytest.fixture(scope="module")
def mail_pki(tmp_path_factory: pytest.TempPathFactory) -> MailPki:
    folder = tmp_path_factory.mktemp("mail-pki")
    root = make_root("tlsdoctor Mail Test Root")
    leaf = root.issue_leaf(
        ["localhost"],
        ips=("127.0.0.1",),
        not_before=REAL_NOW - DAY,
        not_after=REAL_NOW + 30 * DAY,
    )
    (folder / "root.pem").write_bytes(root.pem())
    (folder / "leaf.pem").write_bytes(leaf.pem())
    (folder / "leaf.key").write_bytes(leaf.key_pem())
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(folder / "leaf.pem", folder / "leaf.key")
    return MailPki(root, folder / "root.pem", context)


@contextmanager
def silent_port() -> Iterator[int]:
    """A port whose kernel completes the TCP handshake but nobody ever says a word."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    try:
        yield int(listener.getsockname()[1])
    finally:
        listener.close()  # resets the queued connections, ending any client still waiting


def mailer(port: int, **overrides: Any) -> EmailNotifier:
    settings: dict[str, Any] = {
        "name": "ops-mail",
        "host": "127.0.0.1",
        "port": port,
        "sender": "tlsdoctor@example.test",
        "recipients": ("ops@example.test", "oncall@example.test"),
        "helo": "watch.example.test",
        "timeout": 5.0,
    }
    settings.update(overrides)
    return EmailNotifier(EmailConfig(**settings))


def timed_failure(notifier: Notifier, alert: Alert = ALERT) -> tuple[NotifyError, float]:
    start = time.monotonic()
    with pytest.raises(NotifyError) as caught:
        notifier.send(alert)
    return caught.value, time.monotonic() - start


# E-mail -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("excluded", "mechanism"), [("PLAIN", "LOGIN"), ("LOGIN", "PLAIN")])
def test_email_starttls_with_auth_delivers_exactly_the_alert(
    mail_pki: MailPki, monkeypatch: pytest.MonkeyPatch, excluded: str, mechanism: str
) -> None:
    monkeypatch.setenv("TLSDOCTOR_TEST_SMTP_PASSWORD", PASSWORD)
    inbox = Inbox(USER, PASSWORD)
    with smtp_server(
        inbox, starttls=mail_pki.server_context, auth=True, exclude=[excluded]
    ) as port:
        (notifier,) = notifiers_from_config(
            {
                "notify": [
                    {
                        "name": "ops-mail",
                        "kind": "email",
                        "host": "127.0.0.1",
                        "port": port,
                        "username": USER,
                        "password_env": "TLSDOCTOR_TEST_SMTP_PASSWORD",
                        "sender": "tlsdoctor@example.test",
                        "recipients": ["ops@example.test", "oncall@example.test"],
                        "ca_file": str(mail_pki.ca_file),
                        "helo": "watch.example.test",
                    }
                ]
            }
        )
        notifier.send(ALERT)
    assert inbox.auth == [(mechanism, USER, True)]
    (mail,) = inbox.received
    assert mail.mail_from == "tlsdoctor@example.test"
    assert mail.rcpt_tos == ["ops@example.test", "oncall@example.test"]
    assert mail.tls is True
    assert mail.login == USER
    message = mail.message
    assert message["Subject"] == ALERT.title
    assert message["To"] == "ops@example.test, oncall@example.test"
    assert message["X-TLSDoctor-Kind"] == "expiry"
    assert message["X-TLSDoctor-Severity"] == "warning"
    assert message["Message-ID"].endswith("@tlsdoctor>")
    body = message.get_content()
    assert message.get_content_type() == "text/plain"
    assert FIX in body
    assert "days_left" in body and "7" in body


def test_email_implicit_tls_with_a_password_file(mail_pki: MailPki, tmp_path: Path) -> None:
    secret = tmp_path / "smtp-password"
    secret.write_text(PASSWORD + "\n")  # as `echo secret > file` leaves it
    inbox = Inbox(USER, PASSWORD)
    with smtp_server(inbox, implicit=mail_pki.server_context, auth=True) as port:
        notifier = mailer(
            port,
            security=EmailSecurity.TLS,
            username=USER,
            password=Secret(file=str(secret)),
            ca_file=str(mail_pki.ca_file),
        )
        notifier.send(sample_alert(REAL_NOW, "mail.example.test"))
    (mail,) = inbox.received
    assert mail.tls is True
    assert mail.login == USER
    assert mail.message["Subject"] == "tlsdoctor test notification for mail.example.test"


def test_email_to_a_plain_local_relay() -> None:
    inbox = Inbox(USER, PASSWORD)
    with smtp_server(inbox) as port:
        mailer(port, security=EmailSecurity.NONE).send(ALERT)
    (mail,) = inbox.received
    assert (mail.tls, mail.login, mail.message["Subject"]) == (False, None, ALERT.title)


def test_email_wrong_password_fails_without_showing_it(
    mail_pki: MailPki, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = "wr0ng-and-secret"
    monkeypatch.setenv("TLSDOCTOR_TEST_SMTP_PASSWORD", wrong)
    inbox = Inbox(USER, PASSWORD)
    with smtp_server(inbox, starttls=mail_pki.server_context, auth=True) as port:
        notifier = mailer(
            port,
            username=USER,
            password=Secret(env="TLSDOCTOR_TEST_SMTP_PASSWORD"),
            ca_file=str(mail_pki.ca_file),
        )
        error, seconds = timed_failure(notifier)
    assert "authentication failed" in error.message
    assert error.notifier == "ops-mail"
    assert wrong not in str(error) and wrong not in repr(notifier)
    assert "TLSDOCTOR_TEST_SMTP_PASSWORD" in repr(notifier)
    assert inbox.received == []
    assert seconds < BOUNDED


def test_email_refuses_a_relay_it_cannot_verify(mail_pki: MailPki) -> None:
    # The twin of the STARTTLS test: the same server without ca_file, so the system's
    # roots judge a certificate from a private CA.
    inbox = Inbox(USER, PASSWORD)
    with smtp_server(inbox, starttls=mail_pki.server_context, auth=True) as port:
        notifier = mailer(port, username=USER, password=Secret(literal=PASSWORD))
        error, _ = timed_failure(notifier)
    assert "is not trusted" in error.message and "ca_file" in error.message
    assert inbox.auth == [] and inbox.received == []  # the password never left


def test_email_never_falls_back_to_plain_text() -> None:
    inbox = Inbox(USER, PASSWORD)
    with smtp_server(inbox) as port:  # offers no STARTTLS
        notifier = mailer(port, username=USER, password=Secret(literal=PASSWORD))
        error, _ = timed_failure(notifier)
    assert "does not offer STARTTLS" in error.message
    assert inbox.auth == [] and inbox.received == []


def test_email_to_a_closed_port_fails_fast() -> None:
    port = free_port()
    error, seconds = timed_failure(mailer(port))
    assert error.message == f"connection refused by 127.0.0.1:{port}"
    assert seconds < BOUNDED


def test_email_to_a_server_that_never_answers_times_out() -> None:
    with silent_port() as port:
        error, seconds = timed_failure(mailer(port, timeout=0.5))
    assert error.message == f"no answer from 127.0.0.1:{port} within 0.5 s"
    assert seconds < BOUNDED


def test_deliver_does_not_wait_for_a_hanging_server() -> None:
    with silent_port() as port:
        notifier = mailer(port, timeout=60.0)  # its own timeout would take a minute
        start = time.monotonic()
        with pytest.raises(NotifyError, match=r"gave up waiting after 0\.5 s"):
            deliver(notifier, ALERT, timeout=0.5)
        assert time.monotonic() - start < 1.5


# Webhooks ---------------------------------------------------------------------------------


def hook(
    address: str, format: WebhookFormat = WebhookFormat.JSON, **overrides: Any
) -> WebhookNotifier:
    settings: dict[str, Any] = {"name": "chat", "url": Secret(literal=address), "format": format}
    settings.update(overrides)
    return WebhookNotifier(WebhookConfig(**settings))


def test_webhook_generic_json_carries_every_field() -> None:
    with receiver() as (base, requests):
        hook(f"{base}/alerts").send(ALERT)
    (request,) = requests
    assert request.path == "/alerts"
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {
        "target": "www.example.test",
        "kind": "expiry",
        "severity": "warning",
        "key": "expiry:3fff02c6:7d",
        "raised_at": "2026-11-27T10:00:00Z",
        "title": ALERT.title,
        "body": ALERT.body,
        "facts": {"days_left": 7, "leaf_sha256": "3fff02c6", "not_after": "2026-12-04T10:00:00Z"},
    }


def test_webhook_slack() -> None:
    with receiver() as (base, requests):
        hook(f"{base}/services/T0/B0/x", WebhookFormat.SLACK).send(ALERT)
    payload = requests[0].json()
    assert payload["text"] == f":warning: {ALERT.title}"
    header, section, facts, context = payload["blocks"]
    assert header == {
        "type": "header",
        "text": {"type": "plain_text", "text": ALERT.title, "emoji": True},
    }
    assert section["type"] == "section" and section["text"]["type"] == "mrkdwn"
    assert "certbot renew &amp;&amp; systemctl reload nginx" in section["text"]["text"]
    assert facts["fields"][0]["text"] == "*days_left*\n7"
    assert context["type"] == "context"
    assert "www.example.test" in context["elements"][0]["text"]


def test_webhook_teams_workflows_adaptive_card() -> None:
    with receiver() as (base, requests):
        hook(f"{base}/workflows/x", WebhookFormat.TEAMS).send(ALERT)
    payload = requests[0].json()
    assert payload["type"] == "message"
    (attachment,) = payload["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert (card["type"], card["version"]) == ("AdaptiveCard", "1.4")
    title, body, facts = card["body"]
    assert (title["type"], title["text"], title["color"]) == ("TextBlock", ALERT.title, "Warning")
    assert FIX in body["text"]
    assert {"title": "Target", "value": "www.example.test"} in facts["facts"]
    assert {"title": "days_left", "value": "7"} in facts["facts"]


def test_webhook_discord() -> None:
    with receiver(status=204, reply=b"") as (base, requests):
        hook(f"{base}/api/webhooks/1/t", WebhookFormat.DISCORD).send(ALERT)
    payload = requests[0].json()
    assert payload["content"] == ALERT.title
    (embed,) = payload["embeds"]
    assert (embed["title"], embed["description"]) == (ALERT.title, ALERT.body)
    assert isinstance(embed["color"], int)
    assert payload["allowed_mentions"] == {"parse": []}


def test_discord_and_slack_limits_and_escaping() -> None:
    huge = Alert(
        target="x.example.test",
        kind=AlertKind.BROKEN,
        severity=AlertSeverity.CRITICAL,
        key="broken:1",
        raised_at=RAISED,
        title="T" * 3000 + " <!channel>",
        body="B" * 10000,
        facts={f"fact{i}": "v" * 2000 for i in range(30)},
    )
    discord = webhook_payload(huge, WebhookFormat.DISCORD)
    embed = discord["embeds"][0]
    assert len(discord["content"]) <= 2000 and discord["content"].endswith("…")
    assert len(embed["title"]) <= 256 and len(embed["description"]) <= 4096
    assert len(embed["fields"]) <= 25
    total = len(embed["title"]) + len(embed["description"]) + len(embed["footer"]["text"])
    total += sum(len(f["name"]) + len(f["value"]) for f in embed["fields"])
    assert total <= 6000
    slack = webhook_payload(huge, WebhookFormat.SLACK)
    assert len(slack["blocks"][0]["text"]["text"]) <= 150
    assert len(slack["blocks"][1]["text"]["text"]) <= 3000
    assert len(slack["blocks"][2]["fields"]) <= 10
    assert "<!channel>" not in json.dumps(slack)


def test_webhook_http_error_names_only_scheme_and_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TLSDOCTOR_TEST_HOOK", "")
    with receiver(status=500, reply=b"boom") as (base, requests):
        url = f"{base}/services/T000/B000/s3cr3tT0ken"
        monkeypatch.setenv("TLSDOCTOR_TEST_HOOK", url)
        (notifier,) = notifiers_from_config(
            {"notify": [{"kind": "webhook", "format": "slack", "url_env": "TLSDOCTOR_TEST_HOOK"}]}
        )
        error, seconds = timed_failure(notifier)
    assert len(requests) == 1
    assert error.message == f"HTTP 500 from {base}: boom"
    assert error.notifier == "webhook-1"
    assert error.permanent is False
    assert "s3cr3tT0ken" not in str(error) and "s3cr3tT0ken" not in repr(notifier)
    assert seconds < BOUNDED


def test_webhook_client_error_is_permanent() -> None:
    with receiver(status=400, reply=b"invalid_payload") as (base, _):
        error, _ = timed_failure(hook(f"{base}/x"))
    assert error.message == f"HTTP 400 from {base}: invalid_payload"
    assert error.permanent is True


def test_webhook_slow_receiver_times_out() -> None:
    with receiver(delay=10.0) as (base, requests):
        error, seconds = timed_failure(hook(f"{base}/slow", timeout=0.5))
    assert error.message == f"no answer from {base} within 0.5 s"
    assert len(requests) == 1
    assert seconds < BOUNDED


def test_webhook_closed_port() -> None:
    port = free_port()
    error, seconds = timed_failure(hook(f"http://127.0.0.1:{port}/token-in-path"))
    assert error.message.startswith(f"cannot connect to http://127.0.0.1:{port}")
    assert "token-in-path" not in error.message
    assert seconds < BOUNDED


def test_webhook_header_secret_from_a_file(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("Bearer hdr-s3cret\n")
    with receiver() as (base, requests):
        (notifier,) = notifiers_from_config(
            {
                "notify": [
                    {
                        "name": "hook",
                        "kind": "webhook",
                        "url": f"{base}/in",
                        "headers": {"Authorization": {"file": str(token)}, "X-Env": "prod"},
                    }
                ]
            }
        )
        notifier.send(ALERT)
    assert requests[0].headers["authorization"] == "Bearer hdr-s3cret"
    assert requests[0].headers["x-env"] == "prod"
    assert "hdr-s3cret" not in repr(notifier) and "prod" not in repr(notifier)


# Command hook -----------------------------------------------------------------------------


def test_command_gets_the_alert_on_stdin_and_in_its_environment(tmp_path: Path) -> None:
    out, env = tmp_path / "alert.json", tmp_path / "env.txt"
    script = (
        f"cat > {shlex.quote(str(out))};"
        f' printf "%s|%s|%s" "$TLSDOCTOR_ALERT_KIND" "$TLSDOCTOR_ALERT_TARGET"'
        f' "$TLSDOCTOR_ALERT_TITLE" > {shlex.quote(str(env))}'
    )
    (notifier,) = notifiers_from_config({"notify": [{"kind": "command", "command": script}]})
    notifier.send(ALERT)
    assert json.loads(out.read_text()) == alert_to_dict(ALERT)
    assert env.read_text() == f"expiry|www.example.test|{ALERT.title}"


def test_command_as_argv(tmp_path: Path) -> None:
    out = tmp_path / "severity"
    code = "import os, sys; open(sys.argv[1], 'w').write(os.environ['TLSDOCTOR_ALERT_SEVERITY'])"
    CommandNotifier(CommandConfig("py", argv=(sys.executable, "-c", code, str(out)))).send(ALERT)
    assert out.read_text() == "warning"


def test_command_failure_says_how() -> None:
    notifier = CommandNotifier(
        CommandConfig("hook", shell="cat >/dev/null; echo no route >&2; exit 3")
    )
    error, _ = timed_failure(notifier)
    assert error.message == "/bin/sh exited with status 3: no route"
    missing = CommandNotifier(CommandConfig("hook", argv=("/nonexistent/notify-send",)))
    error, _ = timed_failure(missing)
    assert error.message == "command not found: /nonexistent/notify-send"


def test_command_that_hangs_is_killed_with_its_children() -> None:
    notifier = CommandNotifier(CommandConfig("hook", shell="sleep 30; true", timeout=0.5))
    error, seconds = timed_failure(notifier)
    assert error.message == "/bin/sh did not finish within 0.5 s; killed"
    assert seconds < BOUNDED


# Delivery ---------------------------------------------------------------------------------


def test_backoff_doubles_to_an_hour_and_gives_up_after_about_a_day() -> None:
    now = RAISED
    delays = [next_attempt(n, now) for n in range(MAX_ATTEMPTS + 1)]
    seconds = [(d - now).total_seconds() if d is not None else None for d in delays]
    assert seconds[:11] == [0, 30, 60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]
    assert seconds[MAX_ATTEMPTS - 1] == 3600
    assert seconds[MAX_ATTEMPTS] is None
    assert next_attempt(10_000, now) is None
    total = sum(s for s in seconds if s is not None)
    assert dt.timedelta(hours=20) < dt.timedelta(seconds=total) < dt.timedelta(hours=26)


@dataclass(frozen=True)
class Fake:
    name: str
    error: BaseException | None = None
    block: threading.Event | None = None
    sent: list[Alert] = field(default_factory=list)

    def send(self, alert: Alert) -> None:
        if self.block is not None:
            self.block.wait(10)
        if self.error is not None:
            raise self.error
        self.sent.append(alert)


def test_deliver_passes_results_and_translates_surprises() -> None:
    ok = Fake("ok")
    deliver(ok, ALERT, timeout=5)
    assert ok.sent == [ALERT]
    with pytest.raises(NotifyError, match="HTTP 503") as caught:
        deliver(Fake("x", NotifyError("x", "HTTP 503 from https://h")), ALERT, timeout=5)
    assert caught.value.notifier == "x"
    with pytest.raises(NotifyError) as caught:
        deliver(Fake("bug", RuntimeError("token=abc")), ALERT, timeout=5)
    assert caught.value.message == "unexpected RuntimeError while sending"


def test_deliver_returns_on_its_deadline() -> None:
    release = threading.Event()
    try:
        start = time.monotonic()
        with pytest.raises(NotifyError, match=r"gave up waiting after 0\.2 s"):
            deliver(Fake("stuck", block=release), ALERT, timeout=0.2)
        assert time.monotonic() - start < 1.0
    finally:
        release.set()


# Configuration ----------------------------------------------------------------------------


def test_config_builds_each_kind_with_unique_names() -> None:
    notifiers = notifiers_from_config(
        {
            "notify": [
                {
                    "name": "ops-mail",
                    "kind": "email",
                    "host": "smtp.example.com",
                    "sender": "tls@example.com",
                    "recipients": "ops@example.com",
                    "username": "tls",
                    "password_env": "SMTP_PASSWORD",
                },
                {
                    "kind": "email",
                    "host": "mx",
                    "security": "tls",
                    "sender": "a@b",
                    "recipients": ["c@d"],
                },
                {"kind": "webhook", "format": "discord", "url_file": "/run/secrets/discord"},
                {"kind": "command", "command": ["/usr/local/bin/page", "--urgent"], "timeout": 5},
            ]
        }
    )
    assert [n.name for n in notifiers] == ["ops-mail", "email-2", "webhook-3", "command-4"]
    mail, smtps, discord, command = notifiers
    assert isinstance(mail, EmailNotifier) and isinstance(smtps, EmailNotifier)
    assert (mail.config.effective_port, mail.config.security) == (587, EmailSecurity.STARTTLS)
    assert (smtps.config.effective_port, smtps.config.security) == (465, EmailSecurity.TLS)
    assert mail.config.recipients == ("ops@example.com",)
    assert isinstance(discord, WebhookNotifier) and discord.config.format is WebhookFormat.DISCORD
    assert isinstance(command, CommandNotifier)
    assert command.config.argv == ("/usr/local/bin/page", "--urgent")
    assert notifiers_from_config({}) == []


def test_a_literal_url_is_shown_as_scheme_and_host_only() -> None:
    url = "https://hooks.slack.com/services/T0001/B0001/XXXXsecretXXXX"
    (notifier,) = notifiers_from_config({"notify": [{"kind": "webhook", "url": url}]})
    assert "XXXXsecretXXXX" not in repr(notifier) and "XXXXsecretXXXX" not in str(notifier)
    assert "https://hooks.slack.com" in repr(notifier)
    assert redact_url("https://user:pw@hooks.example.com:8443/a?token=t") == (
        "https://hooks.example.com:8443"
    )


def test_a_missing_secret_names_the_reference_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TLSDOCTOR_TEST_UNSET", raising=False)
    notifier = hook("unused", url=Secret(env="TLSDOCTOR_TEST_UNSET"))
    error, _ = timed_failure(notifier)
    assert error.message == "the webhook URL is read from $TLSDOCTOR_TEST_UNSET, which is not set"
    notifier = hook("unused", url=Secret(file="/nonexistent/tlsdoctor-url"))
    error, _ = timed_failure(notifier)
    assert error.message.startswith("cannot read the webhook URL from /nonexistent/tlsdoctor-url")


BASE_MAIL = {"kind": "email", "host": "mx", "sender": "a@b", "recipients": ["c@d"]}


@pytest.mark.parametrize(
    ("section", "message"),
    [
        (
            {"kind": "pager"},
            "notify[0]: kind must be one of email, webhook, command, alertmanager, log,"
            " apprise, not 'pager'",
        ),
        ({**BASE_MAIL, "pasword_env": "X"}, "unknown key 'pasword_env'"),
        (
            {**BASE_MAIL, "username": "u", "password": "hunter2"},
            "a password is not written in the config: use password_env",
        ),
        ({**BASE_MAIL, "host": None}, "notify[0] (email-1): 'host' is required"),
        ({**BASE_MAIL, "recipients": []}, "'recipients' must be a list of mail addresses"),
        ({**BASE_MAIL, "port": 70000}, "'port' must be a number from 1 to 65535"),
        ({**BASE_MAIL, "security": "ssl"}, "security must be one of starttls, tls, none"),
        ({**BASE_MAIL, "username": "u"}, "'username' and password_env/password_file go together"),
        (
            {**BASE_MAIL, "security": "none", "username": "u", "password_env": "P"},
            "a password would be sent unencrypted",
        ),
        (
            {**BASE_MAIL, "username": "u", "password_env": "P", "password_file": "/f"},
            "give the password once: password_env and password_file are both set",
        ),
        ({"kind": "webhook"}, "one of 'url', 'url_env' or 'url_file' is required"),
        ({"kind": "webhook", "url": "ftp://x/tok"}, "'url' must start with http:// or https://"),
        (
            {"kind": "webhook", "url": "https://h/t", "format": "mattermost"},
            "format must be one of",
        ),
        ({"kind": "webhook", "url_env": "A", "url": "https://h/tok"}, "give the URL once"),
        ({"kind": "webhook", "url": "https://h", "headers": {"A": 1}}, "header 'A' must be"),
        ({"kind": "command", "command": []}, "'command' must be a shell command string or a list"),
        ({"kind": "command", "command": "x", "timeout": 0}, "'timeout' must be a positive number"),
    ],
)
def test_config_errors_say_where_and_what(section: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError) as caught:
        notifiers_from_config({"notify": [section]})
    assert message in str(caught.value)
    assert "hunter2" not in str(caught.value) and "tok" not in str(caught.value)


def test_config_names_must_be_unique() -> None:
    with pytest.raises(InputError, match="the name 'ops' is used twice"):
        notifiers_from_config(
            {
                "notify": [
                    {**BASE_MAIL, "name": "ops"},
                    {"kind": "command", "command": "x", "name": "ops"},
                ]
            }
        )
