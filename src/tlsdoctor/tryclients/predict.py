"""What tlsdoctor predicts each local client does, from the report and the client's build.

Pure: a report's per-client verdict (``Report.clients``, from knowledge/clients.json,
which describes upstream builds) adjusted where this machine's build differs, as read by
``builds.py``:

- protocol: a server that speaks at most TLS 1.0/1.1 fails a client whose minimum is
  above it with a protocol-version error; a client whose minimum allows it but that runs on
  OpenSSL 3 at security level >= 1 fails instead on the server's SHA-1/MD5+SHA-1 signature
  with "legacy sigalg disallowed or unsupported" (OpenSSL CHANGES.md 3.0, commit aba03ae;
  the reason string from OpenSSL's ssl_err.c, SSL_R_LEGACY_SIGALG_DISALLOWED_OR_UNSUPPORTED,
  0x0A00014D); at level 0 it connects.
- CN-only certificates: a Python context matches the CN when there is no SAN only if its
  ``hostname_checks_common_name`` is true (``ssl.create_default_context()``: yes, so httpx
  connects; urllib3 2's context: no, so requests refuses).
- key size: OpenSSL's security level sets the smallest RSA key it accepts (level 1: 1024
  bits, 2: 2048, 3: 3072; SSL_CTX_set_security_level(3)).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from tlsdoctor.analysis.names import dns_name_matches
from tlsdoctor.codes import FindingCode, Severity
from tlsdoctor.models import Finding, Report
from tlsdoctor.tryclients.builds import PROTOCOLS, TlsBuild

LEGACY_SIGALG = "legacy sigalg disallowed or unsupported"
_RSA_BITS_AT_LEVEL = {0: 0, 1: 1024, 2: 2048, 3: 3072, 4: 7680, 5: 15360}
_PYTHON_FAMILY = ("python", "python-requests", "python-httpx")
# Could-not-check codes: every client fails the same way, for the same reason.
_UNREACHABLE = frozenset(
    {
        FindingCode.DNS_FAILURE,
        FindingCode.CONNECTION_REFUSED,
        FindingCode.TIMEOUT,
        FindingCode.CONNECTION_RESET,
        FindingCode.NOT_TLS,
    }
)


@dataclass(frozen=True)
class Prediction:
    """tlsdoctor's prediction for one local client.

    ``trusted`` is None when the report gives no verdict to compare with; ``local`` says
    how this machine's build changed the profile's prediction (None: it did not).
    """

    client: str
    profile: str
    trusted: bool | None
    codes: tuple[FindingCode, ...]
    expected_error: str | None
    local: str | None = None


def predict(client: str, profile: str, report: Report, build: TlsBuild | None) -> Prediction:
    """The prediction for ``client`` (judged by the ``profile`` of clients.json)."""
    unreachable = [f for f in report.findings if f.code in _UNREACHABLE]
    if unreachable:
        return Prediction(client, profile, False, (unreachable[0].code,), None)
    verdict = next((v for v in report.clients if v.client == profile), None)
    if verdict is None:
        return Prediction(client, profile, None, (), None)
    codes = list(verdict.codes)
    expected = verdict.expected_error
    notes: list[str] = []
    if build is not None:
        for finding in report.findings:
            if finding.severity is not Severity.ERROR:
                continue
            judged = _local_judgement(client, finding, build)
            if judged is None:
                continue
            fails, message, note = judged
            had = finding.code in codes
            if fails and not had:
                codes.append(finding.code)
            elif not fails and had:
                if codes[0] is finding.code:
                    expected = None  # the profile's words were for this code
                codes.remove(finding.code)
            if note and (fails != had or (fails and message and codes[0] is finding.code)):
                notes.append(note)
            if fails and message and codes[0] is finding.code:
                expected = message
    if profile != client and expected == verdict.expected_error:
        expected = None  # another client's wording (s_client judged by curl's profile)
    if not codes:
        expected = None
    return Prediction(client, profile, not codes, tuple(codes), expected, "; ".join(notes) or None)


def _local_judgement(
    client: str, finding: Finding, build: TlsBuild
) -> tuple[bool, str | None, str | None] | None:
    """(fails, its message, why) where the local build decides; None where it does not."""
    if finding.code is FindingCode.PROTOCOL_MISMATCH:
        return _protocol(client, finding, build)
    if (
        finding.code is FindingCode.HOSTNAME_MISMATCH
        and finding.evidence.get("has_san") is False
        and build.checks_common_name is not None
    ):
        cn, requested = finding.evidence.get("common_name"), finding.evidence.get("requested")
        matches = (
            isinstance(cn, str)
            and isinstance(requested, str)
            and dns_name_matches(cn, requested.lower().rstrip("."))
        )
        falls_back = "falls back" if build.checks_common_name else "does not fall back"
        note = f"{build.version}: its context {falls_back} to the CN when there is no SAN"
        return not (build.checks_common_name and matches), None, note
    if finding.code is FindingCode.WEAK_KEY and build.openssl_version is not None:
        bits, key = finding.evidence.get("bits"), str(finding.evidence.get("key", ""))
        level = build.security_level
        if level is None or not isinstance(bits, int) or not key.startswith("RSA"):
            return None
        minimum = _RSA_BITS_AT_LEVEL.get(level, 0)
        note = f"{build.library} at security level {level} accepts RSA keys from {minimum} bits"
        return bits < minimum, None, note
    return None


def _protocol(
    client: str, finding: Finding, build: TlsBuild
) -> tuple[bool, str | None, str | None] | None:
    server = str(finding.evidence.get("server_max_version"))
    judged = legacy_server_outcome(build, server)
    if judged is None:
        return None
    outcome, note = judged
    if outcome is LegacyOutcome.CONNECTS:
        return False, None, note
    return True, legacy_message(client, build, outcome), note


class LegacyOutcome(enum.Enum):
    """What a client does against a server whose newest version is an old one."""

    CONNECTS = "connects"
    PROTOCOL_VERSION = "protocol_version"  # no shared version: the server alerts
    SIGALG = "legacy_sigalg"  # shared version, refused SHA-1 handshake signature


def legacy_server_outcome(build: TlsBuild, server: str) -> tuple[LegacyOutcome, str] | None:
    """Against a server speaking at most ``server``: what ``build`` does, and why (None:
    the build's minimum is unknown)."""
    if server not in PROTOCOLS or build.min_protocol not in PROTOCOLS:
        return None
    if PROTOCOLS.index(server) < PROTOCOLS.index(build.min_protocol):
        note = f"{build.version} offers {build.min_protocol} at least; the server {server} at most"
        return LegacyOutcome.PROTOCOL_VERSION, note
    openssl = build.openssl_version
    level = build.security_level
    if (
        server in ("SSLv3", "TLSv1", "TLSv1.1")
        and openssl is not None
        and openssl >= (3, 0, 0)
        and level is not None
        and level >= 1
    ):
        note = (
            f"{build.version} still offers {server} (minimum {build.min_protocol}), but "
            f"{build.library} at security level {level} refuses its SHA-1 handshake signature"
        )
        return LegacyOutcome.SIGALG, note
    return LegacyOutcome.CONNECTS, f"{build.version} still speaks {server}"


# OpenSSL's reason strings (ssl_err.c): SSL_R_LEGACY_SIGALG_DISALLOWED_OR_UNSUPPORTED and
# SSL_R_TLSV1_ALERT_PROTOCOL_VERSION, as error:0A00014D / error:0A00042E in OpenSSL 3.
_OPENSSL_REASONS = {
    "legacy_sigalg": ("0A00014D", "LEGACY_SIGALG_DISALLOWED_OR_UNSUPPORTED", LEGACY_SIGALG),
    "protocol_version": (
        "0A00042E",
        "TLSV1_ALERT_PROTOCOL_VERSION",
        "tlsv1 alert protocol version",
    ),
}


def legacy_message(client: str, build: TlsBuild, outcome: LegacyOutcome) -> str | None:
    """How an OpenSSL-based ``client`` prints that refusal, with its usual wrapping (None:
    not an OpenSSL client tlsdoctor knows the wrapping of; the profile's message stands)."""
    code, mnemonic, reason = _OPENSSL_REASONS[outcome.value]
    if build.openssl_version is None:
        return None
    if client in _PYTHON_FAMILY:
        # Python 3.11 on OpenSSL 3.0 prints "[SSL] legacy sigalg ..." (no mnemonic), others
        # "[SSL: LEGACY_SIGALG_...] ...": the '...' covers both.
        wrapper = "ssl.SSLError: " if client == "python" else ""
        if outcome is LegacyOutcome.SIGALG:
            return f"{wrapper}[SSL...] {reason} ..."
        return f"{wrapper}[SSL: {mnemonic}] {reason} ..."
    if client == "curl":
        library = build.library.replace(" ", "/", 1)
        return f"curl: (35) {library}: error:{code}:SSL routines::{reason}"
    if client == "openssl-s_client":
        return f"error:{code}:SSL routines:...{reason}"
    return None


def agrees(ok: bool, prediction: Prediction) -> bool | None:
    """Whether the real client did what was predicted (None: nothing was predicted)."""
    return None if prediction.trusted is None else ok == prediction.trusted


def fits(real: str, expected: str | None) -> bool:
    """Loosely: every piece of the expected message between '...' elisions appears in the
    real one, in order (wording, informational)."""
    if expected is None:
        return real == ""
    text = " ".join(real.split())
    position = 0
    for piece in (" ".join(part.split()) for part in expected.split("...")):
        if not piece:
            continue
        found = text.find(piece, position)
        if found < 0:
            return False
        position = found + len(piece)
    return True
