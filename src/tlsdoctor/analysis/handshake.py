"""Findings about the handshake itself: versions, ciphers, client certificates, clocks.

Pure functions of what the probe saw (:class:`tlsdoctor.probe.tls.Handshake`) and of the
times given; nothing here touches the network or reads the clock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from tlsdoctor.codes import FindingCode, Severity
from tlsdoctor.errors import ProbeError
from tlsdoctor.models import Finding, JsonValue, rfc3339
from tlsdoctor.probe.tls import Handshake

# Versions no current client accepts (browsers dropped TLS 1.0/1.1 in 2020; OpenSSL 3 at
# its default security level, Java 17+ and current .NET refuse them too).
LEGACY_VERSIONS = {"SSLv2": "SSL 2.0", "SSLv3": "SSL 3.0", "TLSv1": "TLS 1.0", "TLSv1.1": "TLS 1.1"}
PROTOCOL_REASONS = frozenset(
    {
        "TLSV1_ALERT_PROTOCOL_VERSION",
        "UNSUPPORTED_PROTOCOL",
        "NO_PROTOCOLS_AVAILABLE",
        "WRONG_SSL_VERSION",
        "VERSION_TOO_LOW",
        "VERSION_TOO_HIGH",
    }
)
CIPHER_REASONS = frozenset(
    {
        "SSLV3_ALERT_HANDSHAKE_FAILURE",
        "NO_SHARED_CIPHER",
        "NO_CIPHERS_AVAILABLE",
        "TLSV1_ALERT_INSUFFICIENT_SECURITY",
        "NO_SUITABLE_SIGNATURE_ALGORITHM",
    }
)
CLIENT_CERTIFICATE_REASONS = frozenset(
    {
        "TLSV13_ALERT_CERTIFICATE_REQUIRED",
        "SSLV3_ALERT_BAD_CERTIFICATE",
        "PEER_DID_NOT_RETURN_A_CERTIFICATE",
    }
)
# Less than this between the clocks is ordinary drift, never a diagnosis.
CLOCK_TOLERANCE = dt.timedelta(minutes=5)
_ENABLE_MODERN = (
    "Enable TLS 1.2 and 1.3 on the server: nginx `ssl_protocols TLSv1.2 TLSv1.3;`, Apache "
    "`SSLProtocol -all +TLSv1.2 +TLSv1.3`, IIS/Windows: enable TLS 1.2 under "
    "SCHANNEL\\Protocols (IIS Crypto 'Best Practices'), Java: `jdk.tls.server.protocols`.",
)


def client_certificate_state(handshake: Handshake) -> str | None:
    """'required', 'requested' or None."""
    if not handshake.certificate_requested:
        return None
    refused = (
        handshake.error is not None
        or handshake.aborted_after_handshake
        or handshake.alert in CLIENT_CERTIFICATE_REASONS
    )
    return "required" if refused else "requested"


def handshake_findings(
    handshake: Handshake,
    modern: Handshake | None,
    legacy_accepted: Sequence[str],
) -> list[Finding]:
    """protocol_mismatch, cipher_mismatch, client_cert_required, deprecated_protocol.

    ``modern`` is a handshake made as a current client (when one was needed);
    ``legacy_accepted`` the legacy versions a per-version probe found accepted.
    """
    findings: list[Finding] = []
    if client_certificate_state(handshake) == "required":
        findings.append(_client_certificate(handshake))
    if not handshake.completed:
        reason = handshake.error or ""
        if reason in PROTOCOL_REASONS:
            findings.append(
                Finding(
                    FindingCode.PROTOCOL_MISMATCH,
                    Severity.ERROR,
                    "The server refused every protocol version from TLS 1.0 to TLS 1.3 "
                    f"({reason}): it speaks only SSL 3.0 or older, which no client supports.",
                    {"tls_error": reason, "alert": handshake.alert, "server_versions": []},
                    _ENABLE_MODERN,
                )
            )
        elif reason in CIPHER_REASONS and not findings:
            findings.append(_cipher_mismatch(reason, handshake.alert, None))
        return findings
    version = handshake.version or ""
    if version in LEGACY_VERSIONS:
        shown = LEGACY_VERSIONS[version]
        findings.append(
            Finding(
                FindingCode.PROTOCOL_MISMATCH,
                Severity.ERROR,
                f"The server speaks at most {shown}; every current client refuses it (browsers "
                "since 2020, curl and Python with OpenSSL 3, Java 17+, .NET: 'Could not create "
                "SSL/TLS secure channel').",
                {"server_max_version": version, "cipher": handshake.cipher},
                _ENABLE_MODERN,
            )
        )
    elif modern is not None and not modern.completed:
        findings.append(_cipher_mismatch(modern.error or "", modern.alert, handshake.cipher))
    if legacy_accepted:
        shown = " and ".join(LEGACY_VERSIONS.get(v, v) for v in legacy_accepted)
        findings.append(
            Finding(
                FindingCode.DEPRECATED_PROTOCOL,
                Severity.WARNING,
                f"The server still accepts {shown}, which are deprecated (RFC 8996) and "
                "fail compliance scans; current clients use its TLS 1.2/1.3.",
                {"legacy_versions": list(legacy_accepted), "best_version": version},
                (
                    "Disable the old versions: nginx `ssl_protocols TLSv1.2 TLSv1.3;`, Apache "
                    "`SSLProtocol -all +TLSv1.2 +TLSv1.3`, IIS Crypto 'Best Practices'.",
                ),
            )
        )
    return findings


def _client_certificate(handshake: Handshake) -> Finding:
    return Finding(
        FindingCode.CLIENT_CERT_REQUIRED,
        Severity.ERROR,
        "The server demands a client certificate (mutual TLS) and aborts the connection "
        "without one.",
        {
            "certificate_request": True,
            "alert": handshake.alert,
            "tls_error": handshake.error,
            "tls_version": handshake.version,
        },
        (
            "Give the client its certificate and key: curl `--cert client.pem --key "
            "client.key`, Python requests `cert=(...)`, Java `-Djavax.net.ssl.keyStore=...`.",
            "If the certificate should be optional, configure the server so (nginx "
            "`ssl_verify_client optional;`).",
        ),
    )


def _cipher_mismatch(reason: str, alert: str | None, offered: str | None) -> Finding:
    detail = f" (it chose {offered}, which current clients no longer offer)" if offered else ""
    return Finding(
        FindingCode.CIPHER_MISMATCH,
        Severity.ERROR,
        "Client and server share a protocol version but no cipher suite that current clients "
        f"accept{detail}.",
        {"tls_error": reason or None, "alert": alert, "server_cipher": offered},
        (
            "Enable modern cipher suites on the server (ECDHE with AES-GCM or ChaCha20): see "
            "Mozilla's SSL Configuration Generator, 'intermediate' profile.",
        ),
    )


def probe_error_finding(error: ProbeError) -> Finding:
    """The could-not-check finding for a probe that failed."""
    return Finding(
        error.code,
        Severity.ERROR,
        error.message[:1].upper() + error.message[1:] + ".",
        dict(error.evidence),
        _COULD_NOT_CHECK_FIX[error.code],
    )


_COULD_NOT_CHECK_FIX: Mapping[FindingCode, tuple[str, ...]] = {
    FindingCode.DNS_FAILURE: (
        "Check the spelling; `dig NAME` / `nslookup NAME` shows what DNS answers; for a name "
        "only this network knows, check /etc/resolv.conf or the VPN.",
        "To check a server before DNS points at it: --connect ADDRESS.",
    ),
    FindingCode.CONNECTION_REFUSED: (
        "Nothing accepts connections on this port: check the port number, that the service "
        "runs (`ss -ltnp` on the server) and that a firewall allows it.",
    ),
    FindingCode.TIMEOUT: (
        "The server or a firewall swallows the connection: check the port, security groups "
        "and firewalls; raise --timeout for a slow link.",
    ),
    FindingCode.CONNECTION_RESET: (
        "Something closed the connection mid-handshake: a load balancer or firewall without "
        "this name configured, or a server that needs SNI (try --servername) or a client "
        "certificate.",
    ),
    FindingCode.NOT_TLS: (
        "Point tlsdoctor at the TLS port, or use --starttls for protocols that upgrade "
        "a plaintext connection.",
    ),
}


def clock_finding(
    local_time: dt.datetime,
    server_time: dt.datetime,
    source: str,
    local_codes: Sequence[FindingCode],
    server_codes: Sequence[FindingCode],
) -> Finding | None:
    """client_clock when the clocks differ enough to explain a validity failure: some
    date finding at the local time is gone at the server's time."""
    offset = local_time - server_time
    if abs(offset) < CLOCK_TOLERANCE:
        return None
    dates = {FindingCode.EXPIRED, FindingCode.NOT_YET_VALID, FindingCode.EXPIRING_SOON}
    explained = sorted(
        {c.value for c in local_codes if c in dates} - {c.value for c in server_codes}
    )
    if not explained:
        return None
    days = abs(offset) / dt.timedelta(days=1)
    direction = "ahead of" if offset > dt.timedelta(0) else "behind"
    amount = f"{days:.1f} days" if days >= 1 else f"{abs(offset).total_seconds() / 60:.0f} minutes"
    evidence: dict[str, JsonValue] = {
        "local_time": rfc3339(local_time),
        "server_time": rfc3339(server_time),
        "offset_seconds": round(offset.total_seconds(), 1),
        "measured_via": source,
        "explains": list(explained),
    }
    return Finding(
        FindingCode.CLIENT_CLOCK,
        Severity.ERROR,
        f"This machine's clock is {amount} {direction} the server's ({rfc3339(local_time)} "
        f"here, {rfc3339(server_time)} there): the certificate only looks "
        f"{' / '.join(e.replace('_', ' ') for e in explained)} because of the local clock.",
        evidence,
        (
            "Set the clock right: `timedatectl set-ntp true` (Linux), `w32tm /resync` "
            "(Windows, as administrator), `sudo sntp -sS time.apple.com` or System Settings > "
            "General > Date & Time > Set automatically (macOS), or the hypervisor's time sync "
            "on a virtual machine.",
            "A dead CMOS battery resets the clock at every boot: replace it.",
        ),
    )
