"""POSTing an alert's JSON to a webhook (httpx)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import httpx

from tlsdoctor.monitor.notify.base import NotifyError, redact_url, scrub, tls_context
from tlsdoctor.monitor.notify.config import WebhookConfig
from tlsdoctor.monitor.notify.formats import webhook_payload
from tlsdoctor.watch_model import Alert

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WebhookNotifier:
    """POSTs alerts as JSON (httpx), shaped for ``config.format``."""

    config: WebhookConfig

    @property
    def name(self) -> str:
        return self.config.name

    def send(self, alert: Alert) -> None:
        post_json(self.config, "", webhook_payload(alert, self.config.format))
        log.debug("%s: posted %s (%s)", self.config.name, alert.key, alert.target)


def post_json(config: WebhookConfig, path: str, payload: object, what: str = "webhook URL") -> None:
    """POST ``payload`` as JSON to ``config``'s URL (with ``path`` appended): the one HTTP
    sender of the webhooks and of Alertmanager. Raises NotifyError naming only the
    scheme and host; 4xx other than 408/429 is permanent."""
    url = config.url.resolve(config.name, what)
    if not url.lower().startswith(("http://", "https://")):
        raise NotifyError(
            config.name, f"the {what} {redact_url(url)} is not http(s)", permanent=True
        )
    url = url.rstrip("/") + path if path else url
    headers = {key: value.resolve(config.name, f"{key} header") for key, value in config.headers}
    headers.setdefault("User-Agent", "tlsdoctor-watch")
    secrets = [url, *headers.values()]
    shown = redact_url(url)
    try:
        with httpx.Client(
            timeout=config.timeout,
            verify=tls_context(config.ca_file, config.name),
            follow_redirects=False,
        ) as client:
            response = client.post(url, json=payload, headers=headers)
    except httpx.TimeoutException:
        raise NotifyError(
            config.name, f"no answer from {shown} within {config.timeout:g} s"
        ) from None
    except httpx.ConnectError as exc:
        reason = scrub(str(exc), secrets) or "connection failed"
        raise NotifyError(config.name, f"cannot connect to {shown}: {reason}") from None
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        reason = scrub(str(exc), secrets) or type(exc).__name__
        raise NotifyError(config.name, f"posting to {shown} failed: {reason}") from None
    if response.is_success:
        return
    # Receivers say why in a short body (Slack: "invalid_payload", "no_service").
    detail = scrub(response.text.strip(), secrets)[:200]
    status = response.status_code
    # 408 and 429 ask to come back later; any other 4xx will fail the same way again.
    permanent = 400 <= status < 500 and status not in (408, 429)
    raise NotifyError(
        config.name,
        f"HTTP {status} from {shown}" + (f": {detail}" if detail else ""),
        permanent=permanent,
    )
