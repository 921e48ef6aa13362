"""The finding codes, severities and verdicts of ``spec/findings.md``.

Codes are stable API: scripts, monitoring and tests key on their string values, so the
values here are exactly the spec's and are never renamed.
"""

from __future__ import annotations

import enum


class FindingCode(str, enum.Enum):
    """Every cause tlsdoctor can diagnose; the value is the code of the spec."""

    # Trust failures: the evaluated client would refuse the connection.
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    SELF_SIGNED = "self_signed"
    UNTRUSTED_ROOT = "untrusted_root"
    MISSING_INTERMEDIATE = "missing_intermediate"
    HOSTNAME_MISMATCH = "hostname_mismatch"
    REVOKED = "revoked"
    WEAK_SIGNATURE = "weak_signature"
    WEAK_KEY = "weak_key"
    VALIDITY_TOO_LONG = "validity_too_long"
    INVALID_CHAIN = "invalid_chain"
    KNOWN_BAD_ROOT = "known_bad_root"
    INTERCEPTION_PROXY = "interception_proxy"
    PROTOCOL_MISMATCH = "protocol_mismatch"
    CIPHER_MISMATCH = "cipher_mismatch"
    CLIENT_CERT_REQUIRED = "client_cert_required"
    CLIENT_CLOCK = "client_clock"
    # Could not check.
    DNS_FAILURE = "dns_failure"
    CONNECTION_REFUSED = "connection_refused"
    TIMEOUT = "timeout"
    CONNECTION_RESET = "connection_reset"
    NOT_TLS = "not_tls"
    # Warnings: works today, will break or is fragile.
    EXPIRING_SOON = "expiring_soon"
    CHAIN_ORDER = "chain_order"
    DEPRECATED_PROTOCOL = "deprecated_protocol"
    REVOCATION_UNKNOWN = "revocation_unknown"
    STANDARDS_VIOLATION = "standards_violation"
    INCONSISTENT_BACKENDS = "inconsistent_backends"

    def __str__(self) -> str:
        return self.value


class Severity(str, enum.Enum):
    """How bad a finding is: ``error`` breaks the connection, ``warning`` will or may."""

    ERROR = "error"
    WARNING = "warning"

    def __str__(self) -> str:
        return self.value


class Verdict(str, enum.Enum):
    """The one-word answer of a report."""

    TRUSTED = "trusted"
    UNTRUSTED = "untrusted"
    ERROR = "error"

    def __str__(self) -> str:
        return self.value


COULD_NOT_CHECK: frozenset[FindingCode] = frozenset(
    {
        FindingCode.DNS_FAILURE,
        FindingCode.CONNECTION_REFUSED,
        FindingCode.TIMEOUT,
        FindingCode.CONNECTION_RESET,
        FindingCode.NOT_TLS,
    }
)

WARNINGS: frozenset[FindingCode] = frozenset(
    {
        FindingCode.EXPIRING_SOON,
        FindingCode.CHAIN_ORDER,
        FindingCode.DEPRECATED_PROTOCOL,
        FindingCode.REVOCATION_UNKNOWN,
        FindingCode.STANDARDS_VIOLATION,
        FindingCode.INCONSISTENT_BACKENDS,
    }
)


def default_severity(code: FindingCode) -> Severity:
    """The severity the spec gives ``code`` (a finding may be downgraded, never upgraded)."""
    return Severity.WARNING if code in WARNINGS else Severity.ERROR


# The order in which findings are listed: the cause a user must fix first comes first.
# Could-not-check codes lead (nothing else was seen); then what decides whether the
# chain reaches a trusted root at all, then what is wrong with a certificate on it.
PRIORITY: tuple[FindingCode, ...] = (
    FindingCode.DNS_FAILURE,
    FindingCode.CONNECTION_REFUSED,
    FindingCode.TIMEOUT,
    FindingCode.NOT_TLS,
    FindingCode.CONNECTION_RESET,
    FindingCode.PROTOCOL_MISMATCH,
    FindingCode.CIPHER_MISMATCH,
    FindingCode.CLIENT_CERT_REQUIRED,
    FindingCode.CLIENT_CLOCK,
    FindingCode.KNOWN_BAD_ROOT,
    FindingCode.INTERCEPTION_PROXY,
    FindingCode.SELF_SIGNED,
    FindingCode.MISSING_INTERMEDIATE,
    FindingCode.UNTRUSTED_ROOT,
    FindingCode.REVOKED,
    FindingCode.EXPIRED,
    FindingCode.NOT_YET_VALID,
    FindingCode.HOSTNAME_MISMATCH,
    FindingCode.INVALID_CHAIN,
    FindingCode.WEAK_SIGNATURE,
    FindingCode.WEAK_KEY,
    FindingCode.VALIDITY_TOO_LONG,
    FindingCode.EXPIRING_SOON,
    FindingCode.CHAIN_ORDER,
    FindingCode.INCONSISTENT_BACKENDS,
    FindingCode.DEPRECATED_PROTOCOL,
    FindingCode.REVOCATION_UNKNOWN,
    FindingCode.STANDARDS_VIOLATION,
)
_RANK = {code: rank for rank, code in enumerate(PRIORITY)}


def priority(code: FindingCode) -> int:
    """Sort key: lower comes first in a report."""
    return _RANK[code]


def exit_code(verdict: Verdict, has_warnings: bool) -> int:
    """The monitoring-plugin exit code of the spec."""
    if verdict is Verdict.ERROR:
        return 3
    if verdict is Verdict.UNTRUSTED:
        return 2
    return 1 if has_warnings else 0
