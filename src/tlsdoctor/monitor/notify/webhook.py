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
            log.debug("%s: posted %s (%s)", config.name, alert.key, alert.target)
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
