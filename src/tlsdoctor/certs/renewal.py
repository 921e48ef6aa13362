"""When a certificate is due for renewal: a pure decision, explained."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography import x509

RENEW_AT_FRACTION_LEFT = 1 / 3  # certbot's rule too: 30 days before a 90-day certificate ends


@dataclass(frozen=True)
class RenewalDecision:
    due: bool
    reason: str  # one sentence, for the user and the log
    renew_at: dt.datetime  # when it is (or was) due


def renewal_decision(
    certificate: x509.Certificate,
    now: dt.datetime,
    *,
    renew_before: dt.timedelta | None = None,
    suggested: dt.datetime | None = None,
) -> RenewalDecision:
    """Due when a third of the lifetime remains, or ``renew_before`` the end when given.

    ``suggested`` is the CA's ACME Renewal Information (RFC 9773) start of window: a CA
    says "renew now" that way when it is about to revoke, so it wins when it is earlier.
    """
    not_before = certificate.not_valid_before_utc
    not_after = certificate.not_valid_after_utc
    if renew_before is not None:
        renew_at = not_after - renew_before
        rule = f"{_days(renew_before)} before it ends"
    else:
        renew_at = not_after - (not_after - not_before) * RENEW_AT_FRACTION_LEFT
        rule = "when a third of its lifetime remains"
    if suggested is not None and suggested < renew_at:
        renew_at = suggested
        rule = "at the time the CA's renewal information suggests"
    left = not_after - now
    if now >= not_after:
        return RenewalDecision(True, f"it expired {_days(-left)} ago", renew_at)
    if now >= renew_at:
        return RenewalDecision(True, f"it ends in {_days(left)}; renewal is due {rule}", renew_at)
    return RenewalDecision(
        False,
        f"it ends in {_days(left)}; renewal is due {rule}, on {renew_at:%Y-%m-%d %H:%M} UTC",
        renew_at,
    )


def _days(delta: dt.timedelta) -> str:
    days = delta.total_seconds() / 86400
    if days >= 2:
        return f"{int(days)} days"
    hours = delta.total_seconds() / 3600
    return f"{hours:.0f} hours" if hours >= 1 else "less than an hour"
