"""What to connect to: ``HOST``, ``HOST:PORT``, ``[v6]:PORT`` or a URL, and target files."""

from __future__ import annotations

import enum
import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from tlsdoctor.errors import InputError


class Starttls(str, enum.Enum):
    """Protocols whose plaintext preamble upgrades the connection to TLS."""

    SMTP = "smtp"
    IMAP = "imap"
    POP3 = "pop3"
    FTP = "ftp"
    XMPP = "xmpp"
    LDAP = "ldap"
    POSTGRES = "postgres"
    MYSQL = "mysql"

    def __str__(self) -> str:
        return self.value


# Ports whose service starts in plaintext and upgrades with STARTTLS.
STARTTLS_PORTS = {
    25: Starttls.SMTP,
    587: Starttls.SMTP,
    143: Starttls.IMAP,
    110: Starttls.POP3,
    21: Starttls.FTP,
    5222: Starttls.XMPP,
    389: Starttls.LDAP,
    5432: Starttls.POSTGRES,
    3306: Starttls.MYSQL,
}
# Implicit-TLS ports that do not speak HTTP: no HTTP request is sent to them.
NON_HTTP_TLS_PORTS = frozenset({465, 636, 853, 989, 990, 993, 995, 5223, 5671, 6697, 8883})
SCHEME_PORTS = {"https": 443, "smtps": 465, "imaps": 993, "pop3s": 995, "ldaps": 636, "ftps": 990}
SCHEME_STARTTLS = {
    "smtp": Starttls.SMTP,
    "imap": Starttls.IMAP,
    "pop3": Starttls.POP3,
    "ftp": Starttls.FTP,
    "xmpp": Starttls.XMPP,
    "ldap": Starttls.LDAP,
    "postgres": Starttls.POSTGRES,
    "postgresql": Starttls.POSTGRES,
    "mysql": Starttls.MYSQL,
}
DEFAULT_PORT = 443


@dataclass(frozen=True)
class Endpoint:
    """One TLS endpoint to check."""

    host: str  # the name (or IP literal) used for SNI and verification
    port: int
    connect: str | None = None  # dial this address instead of resolving ``host``
    starttls: Starttls | None = None
    http: bool = True  # send one HTTP request for the server's Date header

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def _port(text: str, where: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise InputError(f"{where}: '{text}' is not a port number (1-65535)")
    return int(text)


def split_host_port(text: str, default_port: int | None) -> tuple[str, int | None]:
    """``host``, ``host:port``, ``[v6]``, ``[v6]:port`` or a bare IPv6 address."""
    value = text.strip()
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            raise InputError(f"'{text}': missing ']' after the IPv6 address")
        host, rest = value[1:end], value[end + 1 :]
        if rest and not rest.startswith(":"):
            raise InputError(f"'{text}': expected ':PORT' after ']'")
        return host, _port(rest[1:], text) if rest else default_port
    if value.count(":") > 1:  # a bare IPv6 address
        ipaddress.ip_address(value)
        return value, default_port
    if ":" in value:
        host, port = value.rsplit(":", 1)
        return host, _port(port, text)
    return value, default_port


def parse_target(
    text: str,
    *,
    connect: str | None = None,
    starttls: Starttls | None = None,
) -> Endpoint:
    """An :class:`Endpoint` from what a user typed: a host, ``host:port`` or a URL."""
    value = text.strip()
    if not value:
        raise InputError("an empty target")
    scheme = None
    if "://" in value:
        try:
            parts = urlsplit(value)
        except ValueError as exc:  # "https://[::1": an unclosed IPv6 bracket
            raise InputError(f"'{text}' is not a valid URL ({exc})") from None
        scheme = parts.scheme.lower()
        if scheme == "http":
            raise InputError(f"'{text}' is plain HTTP: there is no TLS to check (use https://)")
        if scheme not in SCHEME_PORTS and scheme not in SCHEME_STARTTLS:
            raise InputError(f"'{text}': tlsdoctor does not know the scheme '{scheme}://'")
        value = parts.netloc.rsplit("@", 1)[-1]
    host, port = split_host_port(value, _default_port(scheme))
    if not host:
        raise InputError(f"'{text}' has no host name")
    from tlsdoctor.analysis.names import parse_host  # validates; imported when checking

    parse_host(host)
    if port is None:
        port = DEFAULT_PORT
    chosen = (
        starttls
        or SCHEME_STARTTLS.get(scheme or "")
        or (STARTTLS_PORTS.get(port) if scheme is None else None)
    )
    dial = None
    if connect:
        address, connect_port = split_host_port(connect, port)
        dial = address
        port = connect_port or port
    http = chosen is None and port not in NON_HTTP_TLS_PORTS and scheme in (None, "https")
    return Endpoint(host=host, port=port, connect=dial, starttls=chosen, http=http)


def _default_port(scheme: str | None) -> int:
    if scheme is None:
        return DEFAULT_PORT
    if scheme in SCHEME_PORTS:
        return SCHEME_PORTS[scheme]
    protocol = SCHEME_STARTTLS[scheme]
    return min(port for port, uses in STARTTLS_PORTS.items() if uses is protocol)


def read_targets(path: str | Path, starttls: Starttls | None = None) -> Iterator[Endpoint]:
    """Targets from a file: ``HOST[:PORT] [ADDR]`` a line, ``#`` comments, blank lines.

    A generator: a file of a million lines is never held in memory at once.
    """
    try:
        handle = open(path, encoding="utf-8")  # noqa: SIM115 - closed by the generator
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror})") from exc
    with handle:
        for number, raw in enumerate(handle, start=1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            fields = line.split()
            if len(fields) > 2:
                raise InputError(f"{path}:{number}: expected 'HOST[:PORT] [ADDR]', got '{line}'")
            try:
                yield parse_target(
                    fields[0], connect=fields[1] if len(fields) == 2 else None, starttls=starttls
                )
            except InputError as exc:
                raise InputError(f"{path}:{number}: {exc}") from exc
