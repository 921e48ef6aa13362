"""Telling people: e-mail, webhooks (generic JSON, Slack, Teams, Discord), a command
hook, Prometheus Alertmanager, every chat and push service apprise knows, and a log
file; one module each, assembled here.

What each channel sends is built by pure functions (:func:`email_message`,
:func:`webhook_payload`, :func:`command_env`, :func:`alertmanager_payload`), so every byte
of a notification can be tested without a server; the ``send`` methods only move those
bytes and translate what goes wrong into one exception::

    TlsDoctorError
    └── NotifyError(notifier)   a notification did not get through; ``permanent`` says
                                whether trying again can help (an HTTP 400 cannot)
"""

from __future__ import annotations

from collections.abc import Mapping

from tlsdoctor.monitor.notify.alertmanager import AlertmanagerNotifier, alertmanager_payload
from tlsdoctor.monitor.notify.base import (
    DEFAULT_TIMEOUT,
    Notifier,
    NotifyError,
    Secret,
    alert_to_dict,
    redact_url,
    sample_alert,
)
from tlsdoctor.monitor.notify.chat import AppriseNotifier
from tlsdoctor.monitor.notify.command import CommandNotifier, command_env
from tlsdoctor.monitor.notify.config import (
    AlertmanagerConfig,
    AppriseConfig,
    CommandConfig,
    EmailConfig,
    EmailSecurity,
    LogConfig,
    NotifierConfig,
    WebhookConfig,
    WebhookFormat,
    notifier_configs,
)
from tlsdoctor.monitor.notify.formats import webhook_payload
from tlsdoctor.monitor.notify.log import LogNotifier
from tlsdoctor.monitor.notify.mail import EmailNotifier, email_message
from tlsdoctor.monitor.notify.outbox import MAX_ATTEMPTS, deliver, next_attempt
from tlsdoctor.monitor.notify.routing import Route, bundle
from tlsdoctor.monitor.notify.webhook import WebhookNotifier

__all__ = [
    "DEFAULT_TIMEOUT",
    "MAX_ATTEMPTS",
    "AlertmanagerConfig",
    "AlertmanagerNotifier",
    "AppriseConfig",
    "AppriseNotifier",
    "CommandConfig",
    "CommandNotifier",
    "EmailConfig",
    "EmailNotifier",
    "EmailSecurity",
    "LogConfig",
    "LogNotifier",
    "Notifier",
    "NotifyError",
    "Route",
    "Secret",
    "WebhookConfig",
    "WebhookFormat",
    "WebhookNotifier",
    "alert_to_dict",
    "alertmanager_payload",
    "bundle",
    "command_env",
    "deliver",
    "email_message",
    "next_attempt",
    "notifier_from_config",
    "notifiers_from_config",
    "redact_url",
    "routes_from_config",
    "sample_alert",
    "webhook_payload",
]


def notifier_from_config(config: NotifierConfig) -> Notifier:
    """The notifier that sends through ``config``."""
    if isinstance(config, EmailConfig):
        return EmailNotifier(config)
    if isinstance(config, WebhookConfig):
        return WebhookNotifier(config)
    if isinstance(config, AlertmanagerConfig):
        return AlertmanagerNotifier(config)
    if isinstance(config, LogConfig):
        return LogNotifier(config)
    if isinstance(config, AppriseConfig):
        return AppriseNotifier(config)
    return CommandNotifier(config)


def notifiers_from_config(data: Mapping[str, object]) -> list[Notifier]:
    """The notifiers of a TOML-shaped config: ``{"notify": [{"kind": "email", ...}, ...]}``.

    Raises InputError naming the table and key at fault. No secret is read here.
    """
    return [notifier_from_config(config) for config, _ in notifier_configs(data)]


def routes_from_config(data: Mapping[str, object]) -> dict[str, Route]:
    """Each notifier's :class:`Route`, by name (the same config as
    :func:`notifiers_from_config`)."""
    return {config.name: route for config, route in notifier_configs(data)}
