"""Findings about the handshake itself: versions, ciphers, client certificates, clocks.

Pure functions of what the probe saw (:class:`tlsdoctor.probe.tls.Handshake`) and of the
times given; nothing here touches the network or reads the clock.
"""

from __future__ import annotations

import datetime as dt
import ssl
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
    sni: str | None = None,
) -> list[Finding]:
    """protocol_mismatch, cipher_mismatch, client_cert_required, deprecated_protocol, and
    for any other handshake that did not complete, :func:`failed_handshake_finding`.

    ``modern`` is a handshake made as a current client (when one was needed);
    ``legacy_accepted`` the legacy versions a per-version probe found accepted; ``sni``
    the name the handshake asked for.
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
        if not findings:
            # Whatever else stopped the handshake: no chain was judged, so the report
            # must never say "trusted" (an SSL error nobody listed is still a failure).
            findings.append(failed_handshake_finding(handshake, sni))
        return findings
    if handshake.aborted_after_handshake and client_certificate_state(handshake) is None:
        aborted = _aborted_after_handshake(handshake)
        if aborted is not None:
            findings.append(aborted)
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


# A server's Date outside these years is no clock at all (year 9999, 1900): it is set
# aside with a note. Years in between may be wrong, never absurd: a machine reset to 1970
# is the classic wrong clock, on either side.
SERVER_TIME_RANGE = (
    dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc),
    dt.datetime(2200, 1, 1, tzinfo=dt.timezone.utc),
)


def absurd_server_time(server_time: dt.datetime) -> bool:
    """Whether a server's Date is too far out to be any clock's (it is ignored)."""
    earliest, latest = SERVER_TIME_RANGE
    return not earliest <= server_time < latest


def clock_finding(
    local_time: dt.datetime,
    server_time: dt.datetime,
    source: str,
    local_codes: Sequence[FindingCode],
    server_codes: Sequence[FindingCode],
) -> Finding | None:
    """client_clock when this machine's clock, not the server's, explains a validity
    failure: the certificate is not yet valid here but valid at the server's time, which
    is later. Two witnesses then put this machine in the past: the CA, which signed the
    certificate (notBefore) before this machine's "now", and the server.

    Never for an expiry (the server's clock behind ours): one Date header cannot tell a
    clock of ours that is ahead from a server clock (or a cached Date) that is behind,
    and a server's clock must never hide an expired certificate.
    """
    offset = local_time - server_time
    if abs(offset) < CLOCK_TOLERANCE or offset > dt.timedelta(0):
        return None
    dates = {FindingCode.EXPIRED, FindingCode.NOT_YET_VALID, FindingCode.EXPIRING_SOON}
    explained = sorted(
        {c.value for c in local_codes if c in dates} - {c.value for c in server_codes}
    )
    if explained != [FindingCode.NOT_YET_VALID.value]:
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


# Handshake message types (RFC 8446 4, RFC 5246 7.4), to say where a handshake broke.
_MESSAGE_NAMES = {
    1: "ClientHello",
    2: "ServerHello",
    4: "NewSessionTicket",
    8: "EncryptedExtensions",
    11: "Certificate",
    12: "ServerKeyExchange",
    13: "CertificateRequest",
    14: "ServerHelloDone",
    15: "CertificateVerify",
    20: "Finished",
}
# OpenSSL's reason when a handshake message is longer than it accepts: for the server's
# Certificate message the limit is max_cert_list, 100 KiB by default (OpenSSL's
# SSL_CTX_set_max_cert_list(3)); Go 1.19 refuses any handshake message over 64 KiB
# (crypto/tls/common.go maxHandshake = 65536, "tls: handshake message of length N bytes
# exceeds maximum of 65536 bytes").
_TOO_LARGE = "EXCESSIVE_MESSAGE_SIZE"
# OpenSSL's reasons when the server's certificate list cannot be decoded.
_CERTIFICATE_LIST_REASONS = frozenset({"CERT_LENGTH_MISMATCH", "LENGTH_MISMATCH", "BAD_LENGTH"})
# ...and when a certificate in it is not DER OpenSSL can parse (tls_process_server_certificate:
# "ASN1 lib"; curl: (35) ... asn1 encoding routines::wrong tag; GnuTLS: "ASN1 parser: Error
# in TAG"), which every client meets before any verification, so all of them abort.
_UNPARSEABLE_CERTIFICATE_REASONS = frozenset({"ASN1_LIB"})
_CERTIFICATE = 11
# The server refuses the name in SNI (RFC 6066 3: "unrecognized_name").
_UNRECOGNIZED_NAME = "UNRECOGNIZED_NAME"


def alert_label(alert: str) -> str:
    """'unrecognized_name (112)' for the Recorder's 'UNRECOGNIZED_NAME'."""
    try:
        number = ssl.AlertDescription["ALERT_DESCRIPTION_" + alert].value
    except KeyError:
        return alert.lower()
    return f"{alert.lower()} ({number})"


def _where(handshake: Handshake) -> str:
    if not handshake.server_messages:
        return "before the server sent any handshake message"
    last = handshake.server_messages[-1]
    return f"after the server's {_MESSAGE_NAMES.get(last, f'handshake message {last}')}"


def failed_handshake_finding(handshake: Handshake, sni: str | None) -> Finding:
    """The finding for a handshake that did not complete for a reason without its own code.

    The mapping, from what a user must do about it:
    - the alert unrecognized_name: the server has no site for the name asked for, so
      ``hostname_mismatch`` (its fix: a virtual host or certificate for that name);
    - the server's Certificate message too large or unreadable: the chain it sends
      cannot be used by clients, so ``invalid_chain`` (reason
      ``certificate_message_too_large`` / ``unreadable_certificate_message``);
    - any other alert, or a TLS stream that broke after the server's first answer
      (close_notify, garbage records, a bad MAC): the server aborted without a cause a
      client could act on, so ``connection_reset`` (could not check: no chain was seen).
    """
    reason = handshake.error or "unknown"
    alert = handshake.alert
    where = _where(handshake)
    evidence: dict[str, JsonValue] = {
        "tls_error": reason,
        "alert": alert_label(alert) if alert else None,
        "server_messages": [
            _MESSAGE_NAMES.get(m, str(m)) for m in handshake.server_messages[:_EVIDENCE_MESSAGES]
        ],
        "sni": sni,
    }
    if alert == _UNRECOGNIZED_NAME:
        asked = f"'{sni}'" if sni else "the name asked for (no SNI was sent)"
        return Finding(
            FindingCode.HOSTNAME_MISMATCH,
            Severity.ERROR,
            f"The server refuses {asked}: it aborts the handshake with the TLS alert "
            f"{alert_label(alert)} {where}, so it has no site or certificate for this name.",
            {**evidence, "names": []},
            (
                f"Configure the server for {sni or 'this name'}: a virtual host (nginx "
                "`server_name`, Apache `ServerName`/`ServerAlias`) with a certificate "
                "covering it, or check the name you connect to.",
            ),
        )
    last = handshake.server_messages[-1] if handshake.server_messages else None
    before_certificate = last in (2, 8)  # the Certificate follows ServerHello (1.2) / EE (1.3)
    unparseable = last == _CERTIFICATE and reason in _UNPARSEABLE_CERTIFICATE_REASONS
    if alert is None and (
        reason == _TOO_LARGE or reason in _CERTIFICATE_LIST_REASONS or unparseable
    ):
        too_large = reason == _TOO_LARGE
        what = (
            "is larger than clients accept (OpenSSL: 100 KiB, Go: 64 KiB)"
            if too_large
            else "cannot be decoded"
        )
        if unparseable:
            what = "holds a certificate that cannot be parsed"
        message_name = (
            "Certificate message"
            if before_certificate or last == _CERTIFICATE
            else "next handshake message"
        )
        return Finding(
            FindingCode.INVALID_CHAIN,
            Severity.ERROR,
            f"The server's {message_name} {what} ({reason}, {where}): clients abort the "
            "handshake before they see a certificate.",
            {
                **evidence,
                "reason": "certificate_message_too_large"
                if too_large
                else "unreadable_certificate_message",
            },
            (
                "Send only the leaf and its intermediates (no roots, no unrelated or "
                "duplicated certificates): the chain file should hold a few kilobytes.",
                *(
                    (
                        "Check each certificate of the server's chain file with `openssl "
                        "x509 -noout -in FILE` (one per file): replace the one that does not "
                        "parse (a truncated copy, a key or CSR pasted in, a corrupted "
                        "download).",
                    )
                    if unparseable
                    else ()
                ),
            ),
        )
    if alert is not None:
        message = (
            f"The server aborted the handshake with the TLS alert {alert_label(alert)} "
            f"{where} ({reason}); no client can connect, and no certificate was seen."
        )
    else:
        message = (
            f"The server's TLS stream broke {where} ({reason}): no client can complete this "
            "handshake, and no certificate was seen."
        )
    return Finding(
        FindingCode.CONNECTION_RESET,
        Severity.ERROR,
        message,
        evidence,
        (
            "Look at the server's error log at the time of this check: the alert or the broken "
            "record is the server's (or a middlebox's) reaction to the handshake.",
            *_COULD_NOT_CHECK_FIX[FindingCode.CONNECTION_RESET],
        ),
    )


_EVIDENCE_MESSAGES = 16


def _aborted_after_handshake(handshake: Handshake) -> Finding | None:
    """connection_reset for a fatal alert right after a completed handshake (TLS 1.3
    servers judge the client's Finished after the client is done): no request gets
    through, whatever the chain is."""
    alert = handshake.alert_after_handshake
    if alert is None:
        return None  # a plain close: some TLS services close on an HTTP request
    return Finding(
        FindingCode.CONNECTION_RESET,
        Severity.ERROR,
        f"The handshake completed, then the server aborted the connection with the TLS "
        f"alert {alert_label(alert)} before answering: no request gets through.",
        {
            "alert": alert_label(alert),
            "tls_version": handshake.version,
            "after_handshake": True,
        },
        (
            "Look at the server's error log at the time of this check: it rejected the "
            "connection after the handshake (a TLS 1.3 post-handshake check, a middlebox).",
        ),
    )
