"""E-mail through an SMTP relay: the message (pure) and its sending (smtplib)."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import smtplib
import socket
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime

from tlsdoctor.models import rfc3339
from tlsdoctor.monitor.notify.base import NotifyError, fact_text, one_line, scrub, tls_context
from tlsdoctor.monitor.notify.config import EmailConfig, EmailSecurity
from tlsdoctor.watch_model import Alert

log = logging.getLogger(__name__)


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
    message["Subject"] = one_line(alert.title)
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = format_datetime(alert.raised_at.astimezone(dt.timezone.utc))
    message["Message-ID"] = _message_id(alert)
    # For mail filters and procmail rules.
    message["X-TLSDoctor-Target"] = one_line(alert.target)
    message["X-TLSDoctor-Kind"] = alert.kind.value
    message["X-TLSDoctor-Severity"] = alert.severity.value
    lines = [alert.body.rstrip(), ""]
    if alert.facts:
        width = max(len(key) for key in alert.facts)
        lines += [f"{key.ljust(width)}  {fact_text(value)}" for key, value in alert.facts.items()]
        lines.append("")
    lines += [
        "--",
        f"tlsdoctor watch: {alert.kind.value} ({alert.severity.value}) for {alert.target},"
        f" raised {rfc3339(alert.raised_at)}",
    ]
    message.set_content("\n".join(lines) + "\n")
    return message


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
            else tls_context(config.ca_file, config.name)
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
                config.name, scrub(text, [password or ""]), permanent=permanent
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
