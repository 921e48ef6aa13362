"""What every notifier shares: the error it raises, secrets that never print, the
notifier protocol, and the alert as plain data.

Secrets (an SMTP password, a webhook URL that embeds its token, a header value) are
configured as *references*, an environment variable or a file, and read only when a
notification is sent: a rotated secret is picked up without a restart, and a config
object can be printed, logged or put in an error message without leaking anything.
URLs appear in messages as ``scheme://host`` only.
"""

from __future__ import annotations

import datetime as dt
import os
import ssl
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from tlsdoctor.errors import TlsDoctorError
from tlsdoctor.models import rfc3339
from tlsdoctor.watch_model import Alert, AlertKind, AlertSeverity

DEFAULT_TIMEOUT = 30.0  # seconds, per network operation of one send


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


class Notifier(Protocol):
    """Something that can tell people about an alert."""

    @property
    def name(self) -> str:
        """Unique among the configured notifiers: the outbox keys deliveries on it."""
        ...

    def send(self, alert: Alert) -> None:
        """Deliver ``alert`` or raise NotifyError."""
        ...


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


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"


def fact_text(value: str | int | float | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def one_line(text: str) -> str:
    # A header may not hold a line break (the email package refuses it, rightly: it
    # would be header injection); a title built from a certificate name might.
    return " ".join(text.split())


def tls_context(ca_file: str | None, notifier: str) -> ssl.SSLContext:
    """A verifying client context: the system's roots, or only ``ca_file``'s."""
    try:
        return ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise NotifyError(notifier, f"cannot use ca_file {ca_file}: {exc}") from None


def scrub(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text
