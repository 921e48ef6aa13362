"""The exact configuration that makes a server send a chain, per server software.

The software is read from the HTTP ``Server`` header (``nginx/1.25.3``, ``Apache/2.4.57
(Debian)``, ``Microsoft-IIS/10.0``, ...). Each one's text is one row of ``SNIPPETS`` with
placeholders for the written files, so adding a server is adding a row. Placeholders:
``$fullchain $chain $cert $key $combined $site``; a line holding ``$intermediate`` is
repeated once per intermediate file.
"""

from __future__ import annotations

import enum
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.oid import NameOID

from tlsdoctor.remedy.files import ChainFiles, FileRole


class ServerSoftware(str, enum.Enum):
    NGINX = "nginx"
    APACHE = "apache"
    IIS = "iis"
    HAPROXY = "haproxy"
    LITESPEED = "litespeed"
    CADDY = "caddy"
    ENVOY = "envoy"
    CLOUDFLARE = "cloudflare"
    UNKNOWN = "unknown"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class ServerHeader:
    """What a ``Server`` header says: the software and, when given, its version."""

    software: ServerSoftware
    version: tuple[int, ...] | None
    header: str | None


# First match wins. Product tokens per RFC 9110: "name/version (comment)". Tomcat says
# "Apache-Coyote/1.1" and is not Apache httpd: the word boundary keeps it out.
_HEADERS: tuple[tuple[re.Pattern[str], ServerSoftware], ...] = (
    (re.compile(r"^(?:nginx|openresty|tengine)(?![\w-])", re.I), ServerSoftware.NGINX),
    (re.compile(r"^apache(?![\w-])", re.I), ServerSoftware.APACHE),
    # http.sys answers as Microsoft-HTTPAPI; like IIS it sends what Windows' store holds.
    (re.compile(r"^microsoft-(?:iis|httpapi)(?![\w-])", re.I), ServerSoftware.IIS),
    (re.compile(r"^haproxy(?![\w-])", re.I), ServerSoftware.HAPROXY),
    (re.compile(r"^(?:open)?litespeed(?![\w-])", re.I), ServerSoftware.LITESPEED),
    (re.compile(r"^caddy(?![\w-])", re.I), ServerSoftware.CADDY),
    (re.compile(r"^(?:istio-)?envoy(?![\w-])", re.I), ServerSoftware.ENVOY),
    (re.compile(r"^cloudflare(?![\w-])", re.I), ServerSoftware.CLOUDFLARE),
)
_VERSION = re.compile(r"^[^/\s]+/(\d+(?:\.\d+)*)")


def parse_server_header(value: str | None) -> ServerHeader:
    """The software and version a ``Server`` header names (UNKNOWN when it names none
    this module knows, or is absent)."""
    text = (value or "").strip()
    software = next(
        (known for pattern, known in _HEADERS if pattern.search(text)), ServerSoftware.UNKNOWN
    )
    match = _VERSION.match(text)
    version = tuple(int(part) for part in match.group(1).split(".")) if match else None
    return ServerHeader(software, version, value)


def detect_server(value: str | None) -> ServerSoftware:
    """The server software a ``Server`` header value names."""
    return parse_server_header(value).software


def issued_by_lets_encrypt(certificate: x509.Certificate) -> bool:
    """Whether Let's Encrypt issued the certificate: then certbot (or another ACME client)
    most likely manages it, and already writes the right chain file."""
    return any(
        str(attribute.value) == "Let's Encrypt"
        for attribute in certificate.issuer.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    )


@dataclass(frozen=True)
class Snippet:
    """One row: how one server software is told to send the chain."""

    software: ServerSoftware
    title: str
    config: str  # where it goes is its first comment line
    apply: str  # check the configuration, then reload
    notes: tuple[str, ...]
    uses: frozenset[FileRole]  # the files the configuration names
    before: tuple[int, ...] | None = None  # applies only to versions older than this


SNIPPETS: tuple[Snippet, ...] = (
    Snippet(
        ServerSoftware.NGINX,
        "nginx",
        "# in the server { listen 443 ssl; ... } block of $site\n"
        "ssl_certificate     $fullchain;\n"
        "ssl_certificate_key $key;",
        "nginx -t && systemctl reload nginx",
        (
            "nginx sends the ssl_certificate file as it is: the certificate first, then each "
            "intermediate; it has no separate chain directive.",
        ),
        frozenset({FileRole.FULLCHAIN, FileRole.KEY}),
    ),
    Snippet(
        ServerSoftware.APACHE,
        "Apache httpd before 2.4.8",
        "# in the <VirtualHost *:443> block of $site\n"
        "SSLCertificateFile      $cert\n"
        "SSLCertificateChainFile $chain\n"
        "SSLCertificateKeyFile   $key",
        "apachectl configtest && apachectl graceful",
        (
            "Apache before 2.4.8 sends intermediates only from SSLCertificateChainFile; from "
            "2.4.8 on, point SSLCertificateFile at $fullchain and drop SSLCertificateChainFile.",
        ),
        frozenset({FileRole.CERT, FileRole.CHAIN, FileRole.KEY}),
        before=(2, 4, 8),
    ),
    Snippet(
        ServerSoftware.APACHE,
        "Apache httpd 2.4.8 or later",
        "# in the <VirtualHost *:443> block of $site\n"
        "SSLCertificateFile    $fullchain\n"
        "SSLCertificateKeyFile $key",
        "apachectl configtest && apachectl graceful",
        (
            "SSLCertificateChainFile is deprecated since Apache 2.4.8: the chain goes in the "
            "SSLCertificateFile file after the certificate; remove any SSLCertificateChainFile "
            "line, which would otherwise still add its (possibly stale) certificates.",
        ),
        frozenset({FileRole.FULLCHAIN, FileRole.KEY}),
    ),
    Snippet(
        ServerSoftware.HAPROXY,
        "HAProxy",
        "# haproxy.cfg: one PEM holding the certificate, its intermediates, then the key\n"
        "frontend https\n"
        "    bind :443 ssl crt $combined",
        "haproxy -c -f /etc/haproxy/haproxy.cfg && systemctl reload haproxy",
        (
            "HAProxy reads the chain and the key from the one crt file, in that order; to "
            "build it yourself: cat $fullchain $key > $combined (and chmod 600 it).",
        ),
        frozenset({FileRole.COMBINED}),
    ),
    Snippet(
        ServerSoftware.IIS,
        "IIS (Windows)",
        "# an administrator's prompt on the server, once per intermediate:\n"
        "certutil -addstore CA $intermediate\n"
        "# or in PowerShell:\n"
        "Import-Certificate -FilePath $intermediate -CertStoreLocation Cert:\\LocalMachine\\CA",
        "iisreset",
        (
            "Windows builds the chain it sends from the machine's Intermediate Certification "
            "Authorities store, not from a file: import each intermediate there.",
            "Delete expired copies of these intermediates from that store (certlm.msc), or "
            "Windows may keep sending them.",
        ),
        frozenset({FileRole.INTERMEDIATE}),
    ),
    Snippet(
        ServerSoftware.LITESPEED,
        "LiteSpeed / OpenLiteSpeed",
        "# httpd_config.conf, the SSL listener (WebAdmin: Listeners > SSL)\n"
        "keyFile   $key\n"
        "certFile  $fullchain\n"
        "certChain 1",
        "/usr/local/lsws/bin/lswsctrl restart",
        (
            "certChain 1 ('Chained Certificate: Yes') makes LiteSpeed send the intermediates "
            "in certFile; LiteSpeed Enterprise reading Apache's configuration takes "
            "SSLCertificateFile $fullchain instead.",
        ),
        frozenset({FileRole.FULLCHAIN, FileRole.KEY}),
    ),
    Snippet(
        ServerSoftware.CADDY,
        "Caddy",
        "# Caddyfile\n$site {\n    tls $fullchain $key\n}",
        "caddy validate --config /etc/caddy/Caddyfile && systemctl reload caddy",
        (
            "Caddy sends the whole file given to tls; certificates Caddy obtains itself "
            "(automatic HTTPS) already come with their chain.",
        ),
        frozenset({FileRole.FULLCHAIN, FileRole.KEY}),
    ),
    Snippet(
        ServerSoftware.ENVOY,
        "Envoy",
        "# the listener's DownstreamTlsContext\n"
        "common_tls_context:\n"
        "  tls_certificates:\n"
        '    - certificate_chain: { filename: "$fullchain" }\n'
        '      private_key: { filename: "$key" }',
        "envoy --mode validate -c /etc/envoy/envoy.yaml, then restart Envoy",
        (
            "certificate_chain is the certificate followed by its intermediates; with SDS, "
            "push the same file as the secret's certificate_chain.",
        ),
        frozenset({FileRole.FULLCHAIN, FileRole.KEY}),
    ),
    Snippet(
        ServerSoftware.CLOUDFLARE,
        "Cloudflare (the edge answers, not your server)",
        "# Dashboard: SSL/TLS > Edge Certificates > your custom certificate > Replace\n"
        "# certificate: the contents of $fullchain\n"
        "# bundle method: User Defined (sent as given) or Compatible (Cloudflare completes it)",
        "Cloudflare deploys it within minutes; check again afterwards",
        (
            "Clients talk to Cloudflare's edge: only a custom certificate uploaded there can "
            "lack intermediates; the origin's chain matters only for Full (strict) mode.",
        ),
        frozenset({FileRole.FULLCHAIN}),
    ),
    Snippet(
        ServerSoftware.UNKNOWN,
        "any server",
        "# give the server the full chain and the key:\n"
        "#   certificate (with chain): $fullchain\n"
        "#   private key:              $key\n"
        "# a server with separate settings takes $cert and $chain (intermediates only)",
        "reload the server, then check again: $check",
        (
            "The certificate comes first, then each intermediate in issuing order; the root "
            "is not needed.",
        ),
        frozenset({FileRole.FULLCHAIN, FileRole.KEY}),
    ),
)

CERTBOT_NOTE = (
    "certbot users: point the server at /etc/letsencrypt/live/$site/fullchain.pem, not "
    "cert.pem; certbot renews that file, while $fullchain written here is a snapshot that "
    "expires with this certificate."
)
_MISSING = {
    FileRole.KEY: "<your private key file>",
    FileRole.COMBINED: "<one PEM: certificate, intermediates, key>",
}


@dataclass(frozen=True)
class Instructions:
    """The configuration for one server, with the written files' paths filled in."""

    software: ServerSoftware
    title: str
    config: str
    apply: str
    notes: tuple[str, ...]


def snippet_for(software: ServerSoftware, version: tuple[int, ...] | None = None) -> Snippet:
    """The row for ``software`` at ``version`` (unknown version: the current release's)."""
    for snippet in SNIPPETS:
        if snippet.software is not software:
            continue
        if snippet.before is None or (version is not None and version < snippet.before):
            return snippet
    return snippet_for(ServerSoftware.UNKNOWN)


def server_instructions(
    software: ServerSoftware,
    files: ChainFiles,
    *,
    version: tuple[int, ...] | None = None,
    site: str | None = None,
    certbot: bool = False,
    check_command: str | None = None,
) -> Instructions:
    """The exact configuration making ``software`` send the chain in ``files``.

    ``site`` is the host name (for the snippets that name it); ``certbot`` adds the
    certbot advice (see :func:`issued_by_lets_encrypt`); ``check_command`` is the
    ``tlsdoctor check`` line to run afterwards (default: ``tlsdoctor check SITE``), with
    the port, ``--connect`` and ``--ca-file`` the user gave.
    """
    snippet = snippet_for(software, version)
    values = dict(_values(files, site))
    values["check"] = check_command or f"tlsdoctor check {values['site']}"
    notes = [_fill(note, values, files) for note in snippet.notes]
    if certbot:
        notes.append(_fill(CERTBOT_NOTE, values, files))
    return Instructions(
        software=snippet.software,
        title=snippet.title,
        config=_fill(snippet.config, values, files),
        apply=_fill(snippet.apply, values, files),
        notes=tuple(notes),
    )


def instructions_for_header(
    header: str | None,
    files: ChainFiles,
    *,
    site: str | None = None,
    certbot: bool = False,
    check_command: str | None = None,
) -> Instructions:
    """:func:`server_instructions` for the software a ``Server`` header names."""
    parsed = parse_server_header(header)
    return server_instructions(
        parsed.software,
        files,
        version=parsed.version,
        site=site,
        certbot=certbot,
        check_command=check_command,
    )


def _values(files: ChainFiles, site: str | None) -> Mapping[str, str]:
    return {
        "fullchain": str(files.fullchain),
        "chain": str(files.chain),
        "cert": str(files.cert),
        "key": str(files.key) if files.key is not None else _MISSING[FileRole.KEY],
        "combined": (
            str(files.combined) if files.combined is not None else _MISSING[FileRole.COMBINED]
        ),
        "site": site or "example.com",
    }


def _fill(template: str, values: Mapping[str, str], files: ChainFiles) -> str:
    lines: list[str] = []
    for line in template.splitlines():
        if "$intermediate" in line:
            lines.extend(
                string.Template(line).substitute(values, intermediate=str(path))
                for path in files.intermediates
            )
        else:
            lines.append(string.Template(line).substitute(values))
    return "\n".join(lines)
