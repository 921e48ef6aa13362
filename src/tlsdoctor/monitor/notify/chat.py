"""Every chat and push service through apprise (Slack, Teams, Discord, Telegram, Matrix,
ntfy, Pushover, PagerDuty, Opsgenie, e-mail ... one URL each), the library built for
that, behind tlsdoctor's own outbox, backoff and one-message-per-check.

The URL holds the service's credentials, so it is a secret: ``url_env`` or ``url_file``
(a literal ``url`` works but is discouraged), and only its scheme (``slack://``) ever
appears in a message. What went wrong comes from apprise's own log of the attempt,
scrubbed of every piece of the URL.
"""

from __future__ import annotations

import contextlib
import logging
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from tlsdoctor.monitor.notify.base import NotifyError, scrub
from tlsdoctor.monitor.notify.config import AppriseConfig
from tlsdoctor.watch_model import Alert, AlertSeverity

_PIECES = re.compile(r"[/:@?&=,#;+ ]+")


def url_scheme(url: str) -> str:
    """``slack://`` of a service URL: all of it that may be shown."""
    scheme = url.split("://", 1)[0] if "://" in url else "?"
    return f"{scheme.lower()}://" if scheme.isalnum() else "<service>://"


@contextlib.contextmanager
def _apprise() -> Iterator[ModuleType]:
    """apprise, imported on first use (it loads its plugins lazily). Its e-mail plugin
    imports the stdlib's imghdr, deprecated since 3.11: a warning of apprise's, not the
    user's, so it is not shown while apprise runs."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*imghdr", category=DeprecationWarning)
        import apprise

        yield apprise


def known_service(url: str) -> bool:
    """Whether apprise can send to ``url`` (its scheme is a service it has, well formed)."""
    with _apprise() as apprise:
        return apprise.Apprise.instantiate(url) is not None


def _secrets_of(url: str) -> list[str]:
    """The URL and each piece of it long enough to be a token, longest first."""
    pieces = [piece for piece in _PIECES.split(url) if len(piece) >= 4]
    return sorted({url, *pieces}, key=len, reverse=True)


def _notify_type(apprise: ModuleType, severity: AlertSeverity) -> Any:
    return {
        AlertSeverity.CRITICAL: apprise.NotifyType.FAILURE,
        AlertSeverity.WARNING: apprise.NotifyType.WARNING,
        AlertSeverity.INFO: apprise.NotifyType.INFO,
    }[severity]


@dataclass(frozen=True)
class AppriseNotifier:
    """Sends an alert's title and body through one apprise URL."""

    config: AppriseConfig

    @property
    def name(self) -> str:
        return self.config.name

    def send(self, alert: Alert) -> None:
        url = self.config.url.resolve(self.name, "service URL")
        shown = url_scheme(url)
        with _apprise() as apprise:
            box = apprise.Apprise()
            with apprise.LogCapture(level=logging.INFO) as captured:
                if not box.add(url):
                    raise NotifyError(
                        self.name, f"apprise cannot use this {shown} URL", permanent=True
                    )
                kind = _notify_type(apprise, alert.severity)
                sent = box.notify(title=alert.title, body=alert.body, notify_type=kind)
                said = captured.getvalue()
        if sent:
            return
        lines = [line.split(" - ", 2)[-1] for line in said.splitlines() if line.strip()]
        reason = scrub(lines[-1], _secrets_of(url))[:200] if lines else "no reason given"
        raise NotifyError(self.name, f"{shown} did not take the notification: {reason}")
