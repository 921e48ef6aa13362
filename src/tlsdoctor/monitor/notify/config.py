"""The ``[[notify]]`` tables of the settings: one frozen config per notifier, with
errors that name the table and the key. No secret is read here."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar, Union

from tlsdoctor.codes import FindingCode
from tlsdoctor.errors import InputError
from tlsdoctor.monitor.notify.base import DEFAULT_TIMEOUT, Secret, redact_url
from tlsdoctor.monitor.notify.routing import ROUTE_KEYS, Route
from tlsdoctor.watch_model import AlertSeverity


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


DEFAULT_HOLD = dt.timedelta(days=7)
# The labels tlsdoctor sets on every Alertmanager alert; a user label may not replace them.
ALERTMANAGER_LABELS = frozenset({"alertname", "target", "code", "severity"})
_LABEL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class AlertmanagerConfig:
    """Prometheus Alertmanager: alerts POSTed to ``<url>/api/v2/alerts``.

    ``endpoint`` carries the base URL (which may hold credentials, so it is a secret),
    headers (e.g. ``Authorization``), ``ca_file`` and timeout. An alert that tlsdoctor
    does not resolve itself ends after ``hold`` (Alertmanager needs an end time; an
    expiry alert ends when the certificate does).
    """

    name: str
    endpoint: WebhookConfig
    labels: tuple[tuple[str, str], ...] = ()
    dashboard_url: str | None = None  # links: <dashboard_url>/target/<target>
    hold: dt.timedelta = DEFAULT_HOLD


@dataclass(frozen=True)
class AppriseConfig:
    """A chat or push service by its apprise URL (a secret: it holds the credentials)."""

    name: str
    url: Secret


@dataclass(frozen=True)
class LogConfig:
    """Alerts appended to a file as JSON Lines (where info-level alerts can go alone)."""

    name: str
    path: str


NotifierConfig = Union[  # noqa: UP007 - used at run time
    EmailConfig, WebhookConfig, CommandConfig, AlertmanagerConfig, LogConfig, AppriseConfig
]


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
_ALERTMANAGER_KEYS = (_WEBHOOK_KEYS - {"format"}) | {"labels", "dashboard_url", "hold"}
_LOG_KEYS = frozenset({"name", "kind", "path"})
_APPRISE_KEYS = frozenset({"name", "kind", "url", "url_env", "url_file"})
_KINDS = {
    kind: keys | ROUTE_KEYS
    for kind, keys in {
        "email": _EMAIL_KEYS,
        "webhook": _WEBHOOK_KEYS,
        "command": _COMMAND_KEYS,
        "alertmanager": _ALERTMANAGER_KEYS,
        "log": _LOG_KEYS,
        "apprise": _APPRISE_KEYS,
    }.items()
}


_Choice = TypeVar("_Choice", bound=enum.Enum)


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

    def choice(self, key: str, kind: type[_Choice], default: _Choice) -> _Choice:
        """One of an enum's values, by its text; the error lists them."""
        text = self.text(key, default.value)
        try:
            return kind(text)
        except ValueError:
            raise self.fail(
                f"{key} must be one of {', '.join(c.value for c in kind)}, not {text!r}"
            ) from None

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
    security = section.choice("security", EmailSecurity, EmailSecurity.STARTTLS)
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
    format = section.choice("format", WebhookFormat, WebhookFormat.JSON)
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


def _alertmanager(section: _Section, name: str) -> AlertmanagerConfig:
    from tlsdoctor.monitor.config import parse_duration

    labels_value = section.data.get("labels", {})
    if not isinstance(labels_value, Mapping) or not all(
        isinstance(v, str) for v in labels_value.values()
    ):
        raise section.fail("'labels' must be a table of name = \"value\"")
    for key in labels_value:
        if not _LABEL_NAME.fullmatch(str(key)) or str(key).startswith("__"):
            raise section.fail(f"label name {key!r} is not a Prometheus label name")
        if key in ALERTMANAGER_LABELS:
            raise section.fail(f"label {key!r} is set by tlsdoctor and cannot be replaced")
    dashboard = section.text("dashboard_url")
    if dashboard is not None and not dashboard.lower().startswith(("http://", "https://")):
        raise section.fail("'dashboard_url' must start with http:// or https://")
    hold = parse_duration(section.text("hold") or "7d")
    if hold < dt.timedelta(minutes=5):
        raise section.fail("'hold' must be at least 5m")
    return AlertmanagerConfig(
        name=name,
        endpoint=_webhook(section, name),
        labels=tuple(sorted((str(k), str(v)) for k, v in labels_value.items())),
        dashboard_url=dashboard.rstrip("/") if dashboard else None,
        hold=hold,
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


def _route(section: _Section) -> Route:
    severity = section.choice("min_severity", AlertSeverity, AlertSeverity.INFO)
    known = FindingCode._value2member_map_
    lists: dict[str, frozenset[str]] = {}
    for key in ("codes", "exclude_codes", "target_labels"):
        value = section.data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise section.fail(f"'{key}' must be a list of strings")
        if key != "target_labels":
            unknown = sorted(set(value) - set(known))
            if unknown:
                raise section.fail(
                    f"'{key}': {', '.join(unknown)} is not a finding code (see docs/findings.md)"
                )
        lists[key] = frozenset(value)
    return Route(severity, lists["codes"], lists["exclude_codes"], lists["target_labels"])


def _apprise(section: _Section, name: str) -> AppriseConfig:
    from tlsdoctor.monitor.notify.chat import known_service, url_scheme

    url = section.secret("url", "service URL", inline=True)
    if url is None:
        raise section.fail("one of 'url_env', 'url_file' or 'url' (an apprise URL) is required")
    if url.literal is not None:
        shown = url_scheme(url.literal)
        if not known_service(url.literal):
            raise section.fail(
                f"apprise does not know this {shown} URL (a service it has, well formed?)"
            )
        url = dataclasses.replace(url, shown=repr(shown + "…"))
    return AppriseConfig(name=name, url=url)


def _log(section: _Section, name: str) -> LogConfig:
    return LogConfig(name=name, path=section.required_text("path"))


def notifier_configs(data: Mapping[str, object]) -> list[tuple[NotifierConfig, Route]]:
    """The notifiers of a TOML-shaped config: ``{"notify": [{"kind": "email", ...}, ...]}``.

    Raises InputError naming the table and key at fault. No secret is read here.
    """
    sections = data.get("notify", [])
    if isinstance(sections, Mapping):
        sections = [sections]  # a single [notify] table
    if not isinstance(sections, list):
        raise InputError("notify: must be a list of tables ([[notify]])")
    configs: list[tuple[NotifierConfig, Route]] = []
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
        elif kind == "alertmanager":
            config = _alertmanager(section, name)
        elif kind == "log":
            config = _log(section, name)
        elif kind == "apprise":
            config = _apprise(section, name)
        else:
            config = _command(section, name)
        configs.append((config, _route(section)))
    return configs
