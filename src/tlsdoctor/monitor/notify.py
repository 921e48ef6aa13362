"""Telling people: e-mail, webhooks (generic JSON, Slack, Teams, Discord) and a command hook.

What each channel sends is built by pure functions (:func:`email_message`,
:func:`webhook_payload`, :func:`command_env`), so every byte of a notification can be
tested without a server; the ``send`` methods only move those bytes and translate what
goes wrong into one exception::

    TlsDoctorError
    └── NotifyError(notifier)   a notification did not get through; ``permanent`` says
                                whether trying again can help (an HTTP 400 cannot)

Secrets (an SMTP password, a webhook URL that embeds its token, a header value) are
configured as *references*, an environment variable or a file, and read only when a
notification is sent: a rotated secret is picked up without a restart, and a config
object can be printed, logged or put in an error message without leaking anything.
Webhook URLs appear in messages as ``scheme://host`` only.

Delivery never blocks the watch: :func:`deliver` runs a send in a worker thread with an
overall deadline, and :func:`next_attempt` says when a failed delivery is tried again
(the persistent outbox that calls it lives in the history database).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import enum
import hashlib
import json
import logging
import os
import signal
import smtplib
import socket
import ssl
import subprocess
import threading
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any, Protocol, Union

import httpx

from tlsdoctor.errors import InputError, TlsDoctorError
from tlsdoctor.models import rfc3339
from tlsdoctor.watch_model import Alert, AlertKind, AlertSeverity

__all__ = [
    "DEFAULT_TIMEOUT",
    "MAX_ATTEMPTS",
    "CommandConfig",
    "CommandNotifier",
    "EmailConfig",
    "EmailNotifier",
    "EmailSecurity",
    "Notifier",
    "NotifyError",
    "Secret",
    "WebhookConfig",
    "WebhookFormat",
    "WebhookNotifier",
    "alert_to_dict",
    "command_env",
    "deliver",
    "email_message",
    "next_attempt",
    "notifier_from_config",
    "notifiers_from_config",
    "redact_url",
    "sample_alert",
    "webhook_payload",
]

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 30.0  # seconds, per network operation of one send

# Backoff: 30 s, 1 min, 2 min, ... doubling up to an hour between tries; after
# MAX_ATTEMPTS failures (about a day of trying) the delivery is given up.
FIRST_RETRY = dt.timedelta(seconds=30)
MAX_RETRY = dt.timedelta(hours=1)
MAX_ATTEMPTS = 30


# Errors --------------------------------------------------------------------------------


class NotifyError(TlsDoctorError):
    """A notification did not get through. The message never holds a secret."""

    def __init__(self, notifier: str, message: str, *, permanent: bool = False) -> None:
        super().__init__(f"{notifier}: {message}")
        self.notifier = notifier
        self.message = message
        # True when repeating the same send cannot succeed (HTTP 4xx, refused
        # recipients): the outbox may give up at once instead of retrying for a day.
        self.permanent = permanent


# Secrets -------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class Secret:
    """Where a secret is found: an environment variable, a file, or (for values that are
    allowed inline, such as a webhook URL) the config itself. Never prints its value."""

    env: str | None = None
    file: str | None = None
    literal: str | None = None
    shown: str = "<secret>"  # what repr and messages say instead of an inline value

    def resolve(self, notifier: str, what: str) -> str:
        """The secret's value, read now; NotifyError (naming only the reference) if absent."""
        if self.env is not None:
            value = os.environ.get(self.env)
            if not value:
                state = "not set" if value is None else "empty"
                raise NotifyError(
                    notifier, f"the {what} is read from ${self.env}, which is {state}"
                )
            return value
        if self.file is not None:
            try:
                with open(self.file, encoding="utf-8") as handle:
                    value = handle.read().strip("\r\n")
            except OSError as exc:
                reason = exc.strerror or type(exc).__name__
                raise NotifyError(
                    notifier, f"cannot read the {what} from {self.file}: {reason}"
                ) from None
            if not value:
                raise NotifyError(notifier, f"the {what} file {self.file} is empty")
            return value
        if self.literal is not None:
            return self.literal
        raise NotifyError(notifier, f"no {what} is configured")

    def __repr__(self) -> str:
        if self.env is not None:
            return f"Secret(env={self.env!r})"
        if self.file is not None:
            return f"Secret(file={self.file!r})"
        return f"Secret({self.shown})"

    __str__ = __repr__


def redact_url(url: str) -> str:
    """``scheme://host[:port]`` of ``url``: what may be shown of a URL that embeds a token
    in its path, query or user info (Slack, Discord and Teams webhook URLs all do)."""
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "<unparsable URL>"
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port is not None else "")


# Configuration -------------------------------------------------------------------------


class EmailSecurity(str, enum.Enum):
    """How the SMTP connection is protected."""

    STARTTLS = "starttls"  # plain connect, then STARTTLS (submission, port 587)
    TLS = "tls"  # TLS from the first byte (SMTPS, port 465)
    NONE = "none"  # a local relay on a trusted network; no password allowed

    def __str__(self) -> str:
        return self.value


_DEFAULT_PORTS = {EmailSecurity.STARTTLS: 587, EmailSecurity.TLS: 465, EmailSecurity.NONE: 25}


class WebhookFormat(str, enum.Enum):
    """The JSON a webhook receives."""

    JSON = "json"  # every field of the alert
    SLACK = "slack"  # Slack incoming webhook (text + Block Kit)
    TEAMS = "teams"  # Teams Workflows "post when a webhook request is received"
    DISCORD = "discord"  # Discord channel webhook (content + embed)

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class EmailConfig:
    """An SMTP relay and who gets the mail."""

    name: str
    host: str
    sender: str
    recipients: tuple[str, ...]
    port: int | None = None  # None: 587, 465 or 25 after ``security``
    security: EmailSecurity = EmailSecurity.STARTTLS
    username: str | None = None
    password: Secret | None = None
    ca_file: str | None = None  # trust anchors for a relay with a private CA
    helo: str | None = None  # the name we greet with; None: the local FQDN
    timeout: float = DEFAULT_TIMEOUT

    @property
    def effective_port(self) -> int:
        return self.port if self.port is not None else _DEFAULT_PORTS[self.security]


@dataclass(frozen=True)
class WebhookConfig:
    """An HTTP(S) endpoint that receives each alert as a JSON POST."""

    name: str
    url: Secret
    format: WebhookFormat = WebhookFormat.JSON
    headers: tuple[tuple[str, Secret], ...] = ()
    ca_file: str | None = None
    timeout: float = DEFAULT_TIMEOUT


@dataclass(frozen=True)
class CommandConfig:
    """A program run per alert: the alert as JSON on stdin, its fields in the environment.

    Exactly one of ``argv`` (run directly) and ``shell`` (run by ``/bin/sh -c``) is set.
    """

    name: str
    argv: tuple[str, ...] | None = None
    shell: str | None = None
    timeout: float = DEFAULT_TIMEOUT


NotifierConfig = Union[EmailConfig, WebhookConfig, CommandConfig]  # noqa: UP007 - run time


class Notifier(Protocol):
    """Something that can tell people about an alert."""

    @property
    def name(self) -> str:
        """Unique among the configured notifiers: the outbox keys deliveries on it."""
        ...

    def send(self, alert: Alert) -> None:
        """Deliver ``alert`` or raise NotifyError."""
        ...


# Pure builders -------------------------------------------------------------------------


def sample_alert(now: dt.datetime, target: str = "www.example.com") -> Alert:
    """The alert ``watch test-notify`` sends: harmless, and obviously a test."""
    return Alert(
        target=target,
        kind=AlertKind.EXPIRY,
        severity=AlertSeverity.INFO,
        key=f"test:{rfc3339(now)}",
        raised_at=now,
        title=f"tlsdoctor test notification for {target}",
        body=(
            "This is a test of the notification settings of tlsdoctor watch.\n"
            "Nothing is wrong; if you can read this, alerts will reach you here.\n"
            "Fix: none needed."
        ),
        facts={"test": True},
    )


def alert_to_dict(alert: Alert) -> dict[str, Any]:
    """Every field of the alert, JSON-ready (times in RFC 3339 UTC)."""
    return {
        "target": alert.target,
        "kind": alert.kind.value,
        "severity": alert.severity.value,
        "key": alert.key,
        "raised_at": rfc3339(alert.raised_at),
        "title": alert.title,
        "body": alert.body,
        "facts": dict(alert.facts),
    }


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"


def _fact_text(value: str | int | float | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _one_line(text: str) -> str:
    # A header may not hold a line break (the email package refuses it, rightly: it
    # would be header injection); a title built from a certificate name might.
    return " ".join(text.split())


def _message_id(alert: Alert) -> str:
    # Derived from the alert, not random: when a retry re-sends a mail whose first copy
    # did arrive (the connection broke after DATA), mail clients fold the two into one.
    # The moment it was raised is part of it: a second outage of the same kind is
    # another incident, and a mail client must not hide it as a duplicate of the first.
    incident = f"{alert.target}\n{alert.key}\n{rfc3339(alert.raised_at)}"
    digest = hashlib.sha256(incident.encode()).hexdigest()[:32]
    return f"<{digest}@tlsdoctor>"


def email_message(alert: Alert, sender: str, recipients: Sequence[str]) -> EmailMessage:
    """The mail for ``alert``: subject = title; a plain-text body with the facts."""
    message = EmailMessage()
    message["Subject"] = _one_line(alert.title)
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = format_datetime(alert.raised_at.astimezone(dt.timezone.utc))
    message["Message-ID"] = _message_id(alert)
    # For mail filters and procmail rules.
    message["X-TLSDoctor-Target"] = _one_line(alert.target)
    message["X-TLSDoctor-Kind"] = alert.kind.value
    message["X-TLSDoctor-Severity"] = alert.severity.value
    lines = [alert.body.rstrip(), ""]
    if alert.facts:
        width = max(len(key) for key in alert.facts)
        lines += [f"{key.ljust(width)}  {_fact_text(value)}" for key, value in alert.facts.items()]
        lines.append("")
    lines += [
        "--",
        f"tlsdoctor watch: {alert.kind.value} ({alert.severity.value}) for {alert.target},"
        f" raised {rfc3339(alert.raised_at)}",
    ]
    message.set_content("\n".join(lines) + "\n")
    return message


_SEVERITY_COLOR = {  # Discord embed colours (RGB as an integer)
    AlertSeverity.CRITICAL: 0xD93F0B,
    AlertSeverity.WARNING: 0xE4A400,
    AlertSeverity.INFO: 0x2E8B57,
}
_SEVERITY_EMOJI = {
    AlertSeverity.CRITICAL: ":red_circle:",
    AlertSeverity.WARNING: ":warning:",
    AlertSeverity.INFO: ":information_source:",
}
_TEAMS_COLOR = {
    AlertSeverity.CRITICAL: "Attention",
    AlertSeverity.WARNING: "Warning",
    AlertSeverity.INFO: "Good",
}

# Platform limits (characters). Longer values make the platform reject the whole message.
SLACK_HEADER_LIMIT = 150
SLACK_TEXT_LIMIT = 3000
SLACK_FIELDS_LIMIT = 10
DISCORD_CONTENT_LIMIT = 2000
DISCORD_TITLE_LIMIT = 256
DISCORD_DESCRIPTION_LIMIT = 4096
DISCORD_EMBED_TOTAL_LIMIT = 6000
DISCORD_FIELDS_LIMIT = 25
DISCORD_FIELD_NAME_LIMIT = 256
DISCORD_FIELD_VALUE_LIMIT = 1024
DISCORD_FOOTER_LIMIT = 2048
TEAMS_TEXT_LIMIT = 10000  # the whole card must stay under Teams' ~28 KB


def _slack_escape(text: str) -> str:
    # Slack's mrkdwn treats <...> as links and mentions: a certificate subject must not
    # turn into <!channel>.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _context_line(alert: Alert) -> str:
    return (
        f"{alert.severity.value} · {alert.kind.value} · {alert.target} · {rfc3339(alert.raised_at)}"
    )


def _slack_payload(alert: Alert) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {
                "type": "plain_text",
                "text": _truncate(alert.title, SLACK_HEADER_LIMIT),
                "emoji": True,
            },
        },
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": _truncate(_slack_escape(alert.body), SLACK_TEXT_LIMIT),
            },
        },
    ]
    if alert.facts:
        fields = [
            {
                "type": "mrkdwn",
                "text": _truncate(f"*{_slack_escape(k)}*\n{_slack_escape(_fact_text(v))}", 2000),
            }
            for k, v in list(alert.facts.items())[:SLACK_FIELDS_LIMIT]
        ]
        blocks.append({"type": "section", "fields": fields})
    blocks.append(
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": _slack_escape(_context_line(alert))}],
        }
    )
    # "text" is what notifications and screen readers show; Slack wants it with blocks.
    return {
        "text": _truncate(
            f"{_SEVERITY_EMOJI[alert.severity]} {_slack_escape(alert.title)}", SLACK_TEXT_LIMIT
        ),
        "blocks": blocks,
    }


def _teams_payload(alert: Alert) -> dict[str, Any]:
    # The Workflows webhook ("When a Teams webhook request is received") takes a message
    # with Adaptive Card attachments; the old Office 365 connector MessageCard is retired.
    facts = [
        {"title": "Target", "value": alert.target},
        {"title": "Kind", "value": alert.kind.value},
        {"title": "Severity", "value": alert.severity.value},
        {"title": "Raised", "value": rfc3339(alert.raised_at)},
    ] + [{"title": key, "value": _fact_text(value)} for key, value in alert.facts.items()]
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "msteams": {"width": "Full"},
        "body": [
            {
                "type": "TextBlock",
                "text": _truncate(alert.title, 500),
                "size": "Medium",
                "weight": "Bolder",
                "color": _TEAMS_COLOR[alert.severity],
                "wrap": True,
            },
            {"type": "TextBlock", "text": _truncate(alert.body, TEAMS_TEXT_LIMIT), "wrap": True},
            {"type": "FactSet", "facts": facts},
        ],
    }
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": card,
            }
        ],
    }


def _discord_payload(alert: Alert) -> dict[str, Any]:
    title = _truncate(alert.title, DISCORD_TITLE_LIMIT)
    footer = _truncate(f"tlsdoctor watch · {alert.kind.value} · {alert.target}", 256)
    named = [
        (_truncate(key, 64), _truncate(_fact_text(value), 256) or "-")
        for key, value in list(alert.facts.items())[:10]
    ]
    fields = [{"name": key, "value": value, "inline": True} for key, value in named]
    # The embed as a whole (title, description, fields, footer) is capped too.
    used = len(title) + len(footer) + sum(len(key) + len(value) for key, value in named)
    description = _truncate(
        alert.body, min(DISCORD_DESCRIPTION_LIMIT, DISCORD_EMBED_TOTAL_LIMIT - used)
    )
    embed: dict[str, Any] = {
        "title": title,
        "description": description,
        "color": _SEVERITY_COLOR[alert.severity],
        "timestamp": rfc3339(alert.raised_at),
        "footer": {"text": footer},
    }
    if fields:
        embed["fields"] = fields
    return {
        "content": _truncate(alert.title, DISCORD_CONTENT_LIMIT),
        "embeds": [embed],
        # A name in a certificate must never ping @everyone.
        "allowed_mentions": {"parse": []},
    }


def webhook_payload(alert: Alert, format: WebhookFormat) -> dict[str, Any]:
    """The JSON body a webhook of ``format`` receives for ``alert``."""
    if format is WebhookFormat.SLACK:
        return _slack_payload(alert)
    if format is WebhookFormat.TEAMS:
        return _teams_payload(alert)
    if format is WebhookFormat.DISCORD:
        return _discord_payload(alert)
    return alert_to_dict(alert)


def command_env(alert: Alert) -> dict[str, str]:
    """The environment variables a command hook gets (added to the watch's own)."""
    return {
        "TLSDOCTOR_ALERT_KIND": alert.kind.value,
        "TLSDOCTOR_ALERT_SEVERITY": alert.severity.value,
        "TLSDOCTOR_ALERT_TARGET": alert.target,
        "TLSDOCTOR_ALERT_TITLE": alert.title,
        "TLSDOCTOR_ALERT_BODY": alert.body,
        "TLSDOCTOR_ALERT_KEY": alert.key,
        "TLSDOCTOR_ALERT_RAISED_AT": rfc3339(alert.raised_at),
    }


def next_attempt(
    attempts: int,
    now: dt.datetime,
    *,
    first: dt.timedelta = FIRST_RETRY,
    cap: dt.timedelta = MAX_RETRY,
    max_attempts: int = MAX_ATTEMPTS,
) -> dt.datetime | None:
    """When to try a delivery again after ``attempts`` failed tries, or None to give up.

    ``attempts`` = 0 means not tried yet: now. Then ``first``, doubling per failure up to
    ``cap`` (30 s, 1 min, 2 min, ... 32 min, 1 h, 1 h, ...); after ``max_attempts``
    failures (by default about a day of trying) None.
    """
    if attempts <= 0:
        return now
    if attempts >= max_attempts:
        return None
    # Bounded exponent: 2**attempts of a large count would be a huge integer for nothing.
    delay = first * (1 << min(attempts - 1, 32))
    return now + min(delay, cap)


# Senders -------------------------------------------------------------------------------


def _tls_context(ca_file: str | None, notifier: str) -> ssl.SSLContext:
    """A verifying client context: the system's roots, or only ``ca_file``'s."""
    try:
        return ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise NotifyError(notifier, f"cannot use ca_file {ca_file}: {exc}") from None


def _scrub(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def _smtp_reply(exc: smtplib.SMTPResponseException) -> str:
    reply = exc.smtp_error
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return f"{exc.smtp_code} {text}".strip()


def _timed_out(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, (TimeoutError, socket.timeout)):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _smtp_problem(exc: Exception, config: EmailConfig) -> tuple[str, bool]:
    """One plain sentence (and whether it is permanent) for what smtplib/ssl raised."""
    where = f"{config.host}:{config.effective_port}"
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return f"authentication failed for user {config.username!r} ({_smtp_reply(exc)})", False
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        # smtplib raises it from login() when the server does not offer AUTH here.
        return f"{where} offers no authentication (AUTH) on this connection", False
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        refused = ", ".join(
            f"{rcpt} ({code} {msg.decode('utf-8', 'replace')})"
            for rcpt, (code, msg) in exc.recipients.items()
        )
        return f"all recipients refused: {refused}", True
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return f"sender {config.sender} refused ({_smtp_reply(exc)})", True
    if isinstance(exc, smtplib.SMTPResponseException):
        # 5xx is the server's final word; 4xx asks to come back later.
        return f"{where} answered {_smtp_reply(exc)}", 500 <= exc.smtp_code < 600
    if _timed_out(exc):
        return f"no answer from {where} within {config.timeout:g} s", False
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return f"{where} closed the connection", False
    if isinstance(exc, ssl.SSLCertVerificationError):
        hint = "" if config.ca_file else " (set ca_file for a relay with a private CA)"
        return f"the certificate of {where} is not trusted: {exc.verify_message}{hint}", False
    if isinstance(exc, ssl.SSLError):
        return f"TLS with {where} failed: {exc.reason or exc}", False
    if isinstance(exc, ConnectionRefusedError):
        return f"connection refused by {where}", False
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve {config.host}", False
    if isinstance(exc, OSError):
        return f"cannot talk to {where}: {exc.strerror or exc}", False
    return f"{type(exc).__name__}: {exc}", False


@dataclass(frozen=True)
class EmailNotifier:
    """Sends alerts as mail through an SMTP relay (smtplib)."""

    config: EmailConfig

    @property
    def name(self) -> str:
        return self.config.name

    def send(self, alert: Alert) -> None:
        config = self.config
        password = (
            config.password.resolve(config.name, "SMTP password")
            if config.password is not None
            else None
        )
        message = email_message(alert, config.sender, config.recipients)
        context = (
            None
            if config.security is EmailSecurity.NONE
            else _tls_context(config.ca_file, config.name)
        )
        smtp: smtplib.SMTP | None = None
        try:
            if config.security is EmailSecurity.TLS:
                smtp = smtplib.SMTP_SSL(
                    config.host,
                    config.effective_port,
                    local_hostname=config.helo,
                    timeout=config.timeout,
                    context=context,
                )
            else:
                smtp = smtplib.SMTP(
                    config.host,
                    config.effective_port,
                    local_hostname=config.helo,
                    timeout=config.timeout,
                )
            smtp.ehlo()
            if config.security is EmailSecurity.STARTTLS:
                if not smtp.has_extn("starttls"):
                    # Never fall back to plain text: the password would travel in clear.
                    raise NotifyError(
                        config.name,
                        f"{config.host}:{config.effective_port} does not offer STARTTLS",
                    )
                smtp.starttls(context=context)
                smtp.ehlo()
            if config.username is not None and password is not None:
                smtp.login(config.username, password)
            refused = smtp.send_message(message, config.sender, list(config.recipients))
        except NotifyError:
            _close(smtp)
            raise
        except (smtplib.SMTPException, ssl.SSLError, OSError) as exc:
            # close(), not quit(): after a timeout, QUIT would wait as long again.
            _close(smtp)
            text, permanent = _smtp_problem(exc, config)
            raise NotifyError(
                config.name, _scrub(text, [password or ""]), permanent=permanent
            ) from None
        # The server has taken the message: a QUIT that fails must not make it count as
        # lost, or the retry would mail everyone twice.
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()
        if refused:
            # Some recipients got it: sending again would duplicate theirs.
            names = ", ".join(sorted(refused))
            raise NotifyError(config.name, f"refused for {names}", permanent=True)
        log.debug("%s: mailed %s (%s)", config.name, alert.key, alert.target)


def _close(smtp: smtplib.SMTP | None) -> None:
    if smtp is not None:
        smtp.close()


@dataclass(frozen=True)
class WebhookNotifier:
    """POSTs alerts as JSON (httpx), shaped for ``config.format``."""

    config: WebhookConfig

    @property
    def name(self) -> str:
        return self.config.name

    def send(self, alert: Alert) -> None:
        config = self.config
        url = config.url.resolve(config.name, "webhook URL")
        if not url.lower().startswith(("http://", "https://")):
            raise NotifyError(
                config.name, f"the webhook URL {redact_url(url)} is not http(s)", permanent=True
            )
        headers = {
            key: value.resolve(config.name, f"{key} header") for key, value in config.headers
        }
        headers.setdefault("User-Agent", "tlsdoctor-watch")
        secrets = [url, *headers.values()]
        shown = redact_url(url)
        payload = webhook_payload(alert, config.format)
        try:
            with httpx.Client(
                timeout=config.timeout,
                verify=_tls_context(config.ca_file, config.name),
                follow_redirects=False,
            ) as client:
                response = client.post(url, json=payload, headers=headers)
        except httpx.TimeoutException:
            raise NotifyError(
                config.name, f"no answer from {shown} within {config.timeout:g} s"
            ) from None
        except httpx.ConnectError as exc:
            reason = _scrub(str(exc), secrets) or "connection failed"
            raise NotifyError(config.name, f"cannot connect to {shown}: {reason}") from None
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            reason = _scrub(str(exc), secrets) or type(exc).__name__
            raise NotifyError(config.name, f"posting to {shown} failed: {reason}") from None
        if response.is_success:
            log.debug("%s: posted %s (%s)", config.name, alert.key, alert.target)
            return
        # Receivers say why in a short body (Slack: "invalid_payload", "no_service").
        detail = _scrub(response.text.strip(), secrets)[:200]
        status = response.status_code
        # 408 and 429 ask to come back later; any other 4xx will fail the same way again.
        permanent = 400 <= status < 500 and status not in (408, 429)
        raise NotifyError(
            config.name,
            f"HTTP {status} from {shown}" + (f": {detail}" if detail else ""),
            permanent=permanent,
        )


@dataclass(frozen=True)
class CommandNotifier:
    """Runs a program per alert; exit status 0 means delivered."""

    config: CommandConfig

    @property
    def name(self) -> str:
        return self.config.name

    def send(self, alert: Alert) -> None:
        config = self.config
        if config.argv is not None:
            args: list[str] = list(config.argv)
            program = args[0]
        elif config.shell is not None:
            args = ["/bin/sh", "-c", config.shell]
            program = "/bin/sh"
        else:
            raise NotifyError(config.name, "no command is configured", permanent=True)
        stdin = json.dumps(alert_to_dict(alert), ensure_ascii=False).encode()
        env = {**os.environ, **command_env(alert)}
        try:
            # A session of its own, so that a timeout kills the whole group: a shell's
            # children would otherwise keep the pipes open and communicate() waiting.
            process = subprocess.Popen(
                args,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                start_new_session=True,
            )
        except FileNotFoundError:
            raise NotifyError(config.name, f"command not found: {program}") from None
        except PermissionError:
            raise NotifyError(config.name, f"command not executable: {program}") from None
        except OSError as exc:
            raise NotifyError(config.name, f"cannot run {program}: {exc.strerror}") from None
        try:
            _, stderr = process.communicate(stdin, timeout=config.timeout)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            raise NotifyError(
                config.name, f"{program} did not finish within {config.timeout:g} s; killed"
            ) from None
        if process.returncode != 0:
            lines = stderr.decode("utf-8", "replace").strip().splitlines()
            detail = f": {lines[-1][:200]}" if lines else ""
            raise NotifyError(
                config.name, f"{program} exited with status {process.returncode}{detail}"
            )
        log.debug("%s: ran for %s (%s)", config.name, alert.key, alert.target)


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    try:
        if hasattr(os, "killpg"):
            os.killpg(process.pid, signal.SIGKILL)
        else:  # pragma: no cover - Windows has no process groups of this kind
            process.kill()
    except ProcessLookupError:
        pass
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.communicate(timeout=5)


def deliver(notifier: Notifier, alert: Alert, timeout: float) -> None:
    """``notifier.send(alert)`` with an overall deadline of ``timeout`` seconds.

    The send runs in a daemon thread: a server that trickles bytes can keep a socket
    alive far beyond its per-operation timeout, and a check must never wait for that. On
    the deadline this raises NotifyError and leaves the thread to end on its own socket
    timeout. Anything but NotifyError that escapes a sender becomes a NotifyError too, so
    one broken channel cannot stop the others.
    """
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            notifier.send(alert)
        except BaseException as exc:  # handed over to the caller's thread below
            outcome.append(exc)
        else:
            outcome.append(None)

    worker = threading.Thread(target=run, name=f"tlsdoctor-notify-{notifier.name}", daemon=True)
    worker.start()
    worker.join(timeout)
    if not outcome:
        raise NotifyError(notifier.name, f"gave up waiting after {timeout:g} s")
    error = outcome[0]
    if error is None:
        return
    if isinstance(error, NotifyError):
        raise error
    if not isinstance(error, Exception):
        raise error  # KeyboardInterrupt and SystemExit are not notification failures
    # The message of an unexpected exception might quote a secret: name the type only.
    raise NotifyError(notifier.name, f"unexpected {type(error).__name__} while sending") from None


# Parsing the configuration ---------------------------------------------------------------

_COMMON_KEYS = frozenset({"name", "kind", "timeout"})
_EMAIL_KEYS = _COMMON_KEYS | {
    "host",
    "port",
    "security",
    "username",
    "password_env",
    "password_file",
    "sender",
    "recipients",
    "ca_file",
    "helo",
}
_WEBHOOK_KEYS = _COMMON_KEYS | {"url", "url_env", "url_file", "format", "headers", "ca_file"}
_COMMAND_KEYS = _COMMON_KEYS | {"command"}
_KINDS = {"email": _EMAIL_KEYS, "webhook": _WEBHOOK_KEYS, "command": _COMMAND_KEYS}


class _Section:
    """One ``[[notify]]`` table, with errors that say where they are."""

    def __init__(self, where: str, data: Mapping[str, object]) -> None:
        self.where = where
        self.data = data

    def fail(self, message: str) -> InputError:
        return InputError(f"{self.where}: {message}")

    def text(self, key: str, default: str | None = None, *, required: bool = False) -> str | None:
        value = self.data.get(key)
        if value is None:
            if required:
                raise self.fail(f"'{key}' is required")
            return default
        if not isinstance(value, str) or not value.strip():
            raise self.fail(f"'{key}' must be a non-empty string")
        return value.strip()

    def required_text(self, key: str) -> str:
        value = self.text(key, required=True)
        assert value is not None
        return value

    def number(self, key: str, default: float) -> float:
        value = self.data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise self.fail(f"'{key}' must be a positive number of seconds")
        return float(value)

    def secret(self, key: str, what: str, *, inline: bool) -> Secret | None:
        """``key_env`` or ``key_file`` (or ``key`` itself when ``inline``), at most one."""
        env = self.text(f"{key}_env")
        file = self.text(f"{key}_file")
        literal = self.data.get(key) if inline else None
        given = [
            name
            for name, value in ((key, literal), (f"{key}_env", env), (f"{key}_file", file))
            if value is not None
        ]
        if len(given) > 1:
            raise self.fail(f"give the {what} once: {' and '.join(given)} are both set")
        if env is not None:
            return Secret(env=env)
        if file is not None:
            return Secret(file=file)
        if literal is None:
            return None
        if not isinstance(literal, str) or not literal.strip():
            raise self.fail(f"'{key}' must be a non-empty string")
        return Secret(literal=literal.strip())


def _check_keys(section: _Section, known: frozenset[str]) -> None:
    unknown = sorted(set(section.data) - known)
    if not unknown:
        return
    if "password" in unknown:
        raise section.fail(
            'a password is not written in the config: use password_env = "VAR" or'
            ' password_file = "/path"'
        )
    raise section.fail(
        f"unknown key {', '.join(repr(k) for k in unknown)}; known: {', '.join(sorted(known))}"
    )


def _email(section: _Section, name: str) -> EmailConfig:
    security_text = section.text("security", EmailSecurity.STARTTLS.value)
    try:
        security = EmailSecurity(security_text)
    except ValueError:
        raise section.fail(
            f"security must be one of {', '.join(s.value for s in EmailSecurity)},"
            f" not {security_text!r}"
        ) from None
    port = section.data.get("port")
    if port is not None and (
        isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536
    ):
        raise section.fail("'port' must be a number from 1 to 65535")
    recipients_value = section.data.get("recipients")
    if isinstance(recipients_value, str):
        recipients_value = [recipients_value]
    if (
        not isinstance(recipients_value, list)
        or not recipients_value
        or not all(isinstance(r, str) and "@" in r for r in recipients_value)
    ):
        raise section.fail("'recipients' must be a list of mail addresses")
    sender = section.required_text("sender")
    if "@" not in sender:
        raise section.fail("'sender' must be a mail address")
    username = section.text("username")
    password = section.secret("password", "password", inline=False)
    if (username is None) != (password is None):
        raise section.fail("'username' and password_env/password_file go together")
    if password is not None and security is EmailSecurity.NONE:
        raise section.fail(
            'a password would be sent unencrypted: use security = "starttls" or "tls"'
        )
    return EmailConfig(
        name=name,
        host=section.required_text("host"),
        sender=sender,
        recipients=tuple(r.strip() for r in recipients_value),
        port=port,
        security=security,
        username=username,
        password=password,
        ca_file=section.text("ca_file"),
        helo=section.text("helo"),
        timeout=section.number("timeout", DEFAULT_TIMEOUT),
    )


def _webhook(section: _Section, name: str) -> WebhookConfig:
    url = section.secret("url", "URL", inline=True)
    if url is None:
        raise section.fail("one of 'url', 'url_env' or 'url_file' is required")
    if url.literal is not None:
        if not url.literal.lower().startswith(("http://", "https://")):
            raise section.fail("'url' must start with http:// or https://")
        url = dataclasses.replace(url, shown=repr(redact_url(url.literal) + "/…"))
    format_text = section.text("format", WebhookFormat.JSON.value)
    try:
        format = WebhookFormat(format_text)
    except ValueError:
        raise section.fail(
            f"format must be one of {', '.join(f.value for f in WebhookFormat)},"
            f" not {format_text!r}"
        ) from None
    headers_value = section.data.get("headers", {})
    if not isinstance(headers_value, Mapping):
        raise section.fail("'headers' must be a table of header = value")
    headers: list[tuple[str, Secret]] = []
    for key, value in headers_value.items():
        if isinstance(value, str):
            headers.append((str(key), Secret(literal=value)))
            continue
        header = (
            _Section(f"{section.where}.headers.{key}", value)
            if isinstance(value, Mapping)
            else None
        )
        if header is None or set(header.data) - {"env", "file"} or len(header.data) != 1:
            raise section.fail(
                f'header {key!r} must be a string or {{env = "VAR"}} or {{file = "/path"}}'
            )
        env, file = header.text("env"), header.text("file")
        headers.append((str(key), Secret(env=env, file=file)))
    return WebhookConfig(
        name=name,
        url=url,
        format=format,
        headers=tuple(headers),
        ca_file=section.text("ca_file"),
        timeout=section.number("timeout", DEFAULT_TIMEOUT),
    )


def _command(section: _Section, name: str) -> CommandConfig:
    command = section.data.get("command")
    timeout = section.number("timeout", DEFAULT_TIMEOUT)
    if isinstance(command, str) and command.strip():
        return CommandConfig(name=name, shell=command, timeout=timeout)
    if (
        isinstance(command, list)
        and command
        and all(isinstance(part, str) for part in command)
        and command[0]
    ):
        return CommandConfig(name=name, argv=tuple(command), timeout=timeout)
    raise section.fail(
        '\'command\' must be a shell command string or a list like ["/path/to/program", "arg"]'
    )


def notifier_from_config(config: NotifierConfig) -> Notifier:
    """The notifier that sends through ``config``."""
    if isinstance(config, EmailConfig):
        return EmailNotifier(config)
    if isinstance(config, WebhookConfig):
        return WebhookNotifier(config)
    return CommandNotifier(config)


def notifiers_from_config(data: Mapping[str, object]) -> list[Notifier]:
    """The notifiers of a TOML-shaped config: ``{"notify": [{"kind": "email", ...}, ...]}``.

    Raises InputError naming the table and key at fault. No secret is read here.
    """
    sections = data.get("notify", [])
    if isinstance(sections, Mapping):
        sections = [sections]  # a single [notify] table
    if not isinstance(sections, list):
        raise InputError("notify: must be a list of tables ([[notify]])")
    notifiers: list[Notifier] = []
    seen: set[str] = set()
    for index, raw in enumerate(sections):
        where = f"notify[{index}]"
        if not isinstance(raw, Mapping):
            raise InputError(f"{where}: must be a table")
        section = _Section(where, raw)
        kind = section.text("kind", required=True)
        if kind not in _KINDS:
            raise section.fail(f"kind must be one of {', '.join(_KINDS)}, not {kind!r}")
        name = section.text("name") or f"{kind}-{index + 1}"
        section.where = f"{where} ({name})"
        _check_keys(section, _KINDS[kind])
        if name in seen:
            raise section.fail(f"the name {name!r} is used twice; each notifier needs its own")
        seen.add(name)
        config: NotifierConfig
        if kind == "email":
            config = _email(section, name)
        elif kind == "webhook":
            config = _webhook(section, name)
        else:
            config = _command(section, name)
        notifiers.append(notifier_from_config(config))
    return notifiers
