"""The JSON a webhook receives: every field (json), or shaped for Slack, Teams or
Discord within each platform's limits. Pure."""

from __future__ import annotations

from typing import Any

from tlsdoctor.models import rfc3339
from tlsdoctor.monitor.notify.base import alert_to_dict, fact_text, truncate
from tlsdoctor.monitor.notify.config import WebhookFormat
from tlsdoctor.watch_model import Alert, AlertSeverity

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
                "text": truncate(alert.title, SLACK_HEADER_LIMIT),
                "emoji": True,
            },
        },
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": truncate(_slack_escape(alert.body), SLACK_TEXT_LIMIT),
            },
        },
    ]
    if alert.facts:
        fields = [
            {
                "type": "mrkdwn",
                "text": truncate(f"*{_slack_escape(k)}*\n{_slack_escape(fact_text(v))}", 2000),
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
        "text": truncate(
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
    ] + [{"title": key, "value": fact_text(value)} for key, value in alert.facts.items()]
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "msteams": {"width": "Full"},
        "body": [
            {
                "type": "TextBlock",
                "text": truncate(alert.title, 500),
                "size": "Medium",
                "weight": "Bolder",
                "color": _TEAMS_COLOR[alert.severity],
                "wrap": True,
            },
            {"type": "TextBlock", "text": truncate(alert.body, TEAMS_TEXT_LIMIT), "wrap": True},
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
    title = truncate(alert.title, DISCORD_TITLE_LIMIT)
    footer = truncate(f"tlsdoctor watch · {alert.kind.value} · {alert.target}", 256)
    named = [
        (truncate(key, 64), truncate(fact_text(value), 256) or "-")
        for key, value in list(alert.facts.items())[:10]
    ]
    fields = [{"name": key, "value": value, "inline": True} for key, value in named]
    # The embed as a whole (title, description, fields, footer) is capped too.
    used = len(title) + len(footer) + sum(len(key) + len(value) for key, value in named)
    description = truncate(
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
        "content": truncate(alert.title, DISCORD_CONTENT_LIMIT),
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
