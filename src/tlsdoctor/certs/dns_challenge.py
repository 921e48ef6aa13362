"""DNS-01 (RFC 8555 section 8.4): the answer is a TXT record at ``_acme-challenge.NAME``.

The only challenge for wildcards, and for hosts without a public port 80. Three ways to
set the record:

- RFC 2136 dynamic updates (``dnspython``), signed with a TSIG key: BIND, Knot, PowerDNS
  and Windows DNS accept them;
- ``dns-lexicon``: one interface to the APIs of many DNS providers (Cloudflare, Route 53,
  OVH, Gandi, ...), credentials from its ``LEXICON_<PROVIDER>_<OPTION>`` variables;
- a hook, the owner's own command (certbot's manual-auth-hook contract: the name in
  ``CERTBOT_DOMAIN``, the value in ``CERTBOT_VALIDATION``; here also
  ``TLSDOCTOR_DNS_ACTION`` = ``present`` or ``cleanup`` and ``TLSDOCTOR_DNS_RECORD``).

Before the CA is told to look, every authoritative server of the zone is asked directly
until each serves the value (``settle``): a CA asking a secondary that has not caught up
fails the order, and a failed validation counts against rate limits.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from tlsdoctor.certs.renew_run import run_hook
from tlsdoctor.errors import InputError

TXT_TTL = 60  # seconds: resolvers forget a stale challenge quickly
MAX_KEY_FILE_BYTES = 16 * 1024
POLL_SECONDS = 1.0


def record_name(name: str) -> str:
    """Where the CA looks for ``name``'s answer (a wildcard's base name's record)."""
    return "_acme-challenge." + name.removeprefix("*.").rstrip(".")


@dataclass(frozen=True)
class Nameserver:
    host: str  # an address
    port: int = 53

    @classmethod
    def parse(cls, text: str) -> Nameserver:
        """``192.0.2.53``, ``192.0.2.53:5353``, ``[2001:db8::53]:53``, ``::1``."""
        import ipaddress

        value = text.strip()
        host, port = value, 53
        if value.startswith("["):
            host, _, rest = value[1:].partition("]")
            port = int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else 53
        elif value.count(":") == 1:
            host, _, port_text = value.partition(":")
            if not port_text.isdigit():
                raise InputError(f"'{text}': a DNS server is ADDRESS or ADDRESS:PORT")
            port = int(port_text)
        try:
            ipaddress.ip_address(host)
        except ValueError as exc:
            raise InputError(f"'{text}': a DNS server is given by its IP address") from exc
        if not 0 < port < 65536:
            raise InputError(f"'{text}': the port must be 1 to 65535")
        return cls(host, port)


@dataclass(frozen=True)
class TsigKey:
    name: str
    algorithm: str
    secret: str  # base64

    @classmethod
    def from_file(cls, path: str) -> TsigKey:
        """A BIND key file as ``tsig-keygen`` writes it:
        ``key "name" { algorithm hmac-sha256; secret "base64"; };``"""
        from tlsdoctor.certs.inputs import read_bounded

        data = read_bounded(path, MAX_KEY_FILE_BYTES, "a TSIG key file")
        text = data.decode("utf-8", errors="replace")
        found = re.search(
            r'key\s+"?([^"\s{]+)"?\s*\{[^}]*?algorithm\s+([\w-]+)\s*;[^}]*?secret\s+"([^"]+)"',
            text,
            re.S,
        )
        if found is None:
            raise InputError(
                f'{path}: not a TSIG key file (tsig-keygen\'s format: key "NAME" '
                '{ algorithm hmac-sha256; secret "..."; };)'
            )
        return cls(found.group(1), found.group(2).lower(), found.group(3))


def zone_of(name: str, server: Nameserver, timeout: float) -> str:
    """The zone ``name`` belongs to on ``server``: the closest enclosing name with an SOA."""
    import dns.exception
    import dns.message
    import dns.query
    import dns.rdatatype

    labels = name.rstrip(".").split(".")
    for start in range(len(labels) - 1):
        candidate = ".".join(labels[start:])
        query = dns.message.make_query(candidate + ".", dns.rdatatype.SOA)
        try:
            answer = dns.query.udp(query, server.host, port=server.port, timeout=timeout)
        except (dns.exception.DNSException, OSError) as exc:
            raise InputError(
                f"the DNS server {server.host}:{server.port} does not answer ({exc})"
            ) from exc
        if any(rrset.rdtype == dns.rdatatype.SOA for rrset in answer.answer):
            return candidate
    raise InputError(f"{server.host}:{server.port} serves no zone above {name}")


def wait_for_txt(
    record: str, values: Sequence[str], servers: Sequence[Nameserver], timeout: float
) -> None:
    """Return once every server answers ``record`` with all ``values``; bounded."""
    import dns.exception
    import dns.message
    import dns.query
    import dns.rdatatype

    deadline = time.monotonic() + timeout
    pending = list(servers)
    while pending:
        server = pending[0]
        query = dns.message.make_query(record + ".", dns.rdatatype.TXT)
        seen: set[str] = set()
        with contextlib.suppress(dns.exception.DNSException, OSError):
            answer = dns.query.udp(query, server.host, port=server.port, timeout=3)
            for rrset in answer.answer:
                for rdata in rrset:
                    seen.add(b"".join(getattr(rdata, "strings", ())).decode(errors="replace"))
        if set(values) <= seen:
            pending.pop(0)
            continue
        if time.monotonic() >= deadline:
            raise InputError(
                f"the TXT record {record} is not served by {server.host}:{server.port} after "
                f"{timeout:.0f} s, so the CA was not asked to look (--dns-timeout to wait longer)"
            )
        time.sleep(POLL_SECONDS)


def authoritative_servers(zone: str, timeout: float) -> list[Nameserver]:
    """The zone's NS, by address, asked through this machine's resolver."""
    import dns.exception
    import dns.resolver

    resolver = dns.resolver.Resolver()
    resolver.lifetime = timeout
    servers: list[Nameserver] = []
    try:
        for ns in resolver.resolve(zone, "NS"):
            for kind in ("A", "AAAA"):
                with contextlib.suppress(dns.exception.DNSException):
                    servers += [Nameserver(a.to_text()) for a in resolver.resolve(str(ns), kind)]
    except dns.exception.DNSException as exc:
        raise InputError(f"the name servers of {zone} cannot be found ({exc})") from exc
    return servers


class _PublishedValues:
    """What was published, by record, to wait for and to remove exactly."""

    def __init__(self) -> None:
        self.values: dict[str, list[str]] = {}

    def add(self, name: str, validation: str) -> str:
        record = record_name(name)
        self.values.setdefault(record, []).append(validation)
        return record


class Rfc2136Responder:
    """TXT records by RFC 2136 dynamic update to the zone's primary, TSIG-signed."""

    kind = "dns-01"

    def __init__(self, server: Nameserver, key: TsigKey | None, timeout: float) -> None:
        self.server = server
        self.key = key
        self.timeout = timeout
        self.published = _PublishedValues()
        self._zones: dict[str, str] = {}

    def _update(self, record: str, value: str, add: bool) -> None:
        import dns.exception
        import dns.query
        import dns.rcode
        import dns.tsig
        import dns.tsigkeyring
        import dns.update

        zone = self._zones.get(record) or zone_of(record, self.server, self.timeout)
        self._zones[record] = zone
        keyring = (
            None
            if self.key is None
            else dns.tsigkeyring.from_text({self.key.name: self.key.secret})
        )
        update = dns.update.UpdateMessage(
            zone + ".",
            keyring=keyring,
            keyalgorithm=dns.tsig.default_algorithm if self.key is None else self.key.algorithm,
        )
        if add:
            update.add(record + ".", TXT_TTL, "TXT", f'"{value}"')
        else:
            update.delete(record + ".", "TXT", f'"{value}"')
        try:
            answer = dns.query.tcp(
                update, self.server.host, port=self.server.port, timeout=self.timeout
            )
        except (dns.exception.DNSException, OSError) as exc:
            raise InputError(
                f"the DNS update to {self.server.host}:{self.server.port} failed ({exc})"
            ) from exc
        if answer.rcode() != dns.rcode.NOERROR:
            raise InputError(
                f"the DNS server {self.server.host}:{self.server.port} refused the update of "
                f"{record} in zone {zone} ({dns.rcode.to_text(answer.rcode())}): check the "
                "TSIG key and the zone's update-policy / allow-update"
            )

    def publish(self, name: str, token: str, validation: str) -> None:
        self._update(self.published.add(name, validation), validation, add=True)

    def settle(self) -> None:
        for record, values in self.published.values.items():
            wait_for_txt(record, values, [self.server], self.timeout)

    def withdraw(self, name: str, token: str) -> None:
        record = record_name(name)
        for value in self.published.values.pop(record, []):
            with contextlib.suppress(InputError):  # best effort: a stale TXT is harmless
                self._update(record, value, add=False)

    def describe(self) -> str:
        return f"RFC 2136 updates to {self.server.host}:{self.server.port}"


class LexiconResponder:
    """TXT records through dns-lexicon's provider ``provider`` (credentials from its
    environment variables), then waited for at the zone's authoritative servers."""

    kind = "dns-01"

    def __init__(
        self, provider: str, timeout: float, servers: Sequence[Nameserver] | None = None
    ) -> None:
        self.provider = provider
        self.timeout = timeout
        self.servers = servers  # None: the zone's NS, looked up
        self.published = _PublishedValues()

    def _run(self, action: str, name: str, record: str, value: str) -> None:
        from lexicon.client import Client
        from lexicon.config import ConfigResolver

        from tlsdoctor.certs.publicsuffix import registrable_domain

        zone = registrable_domain(name.removeprefix("*.")) or name.removeprefix("*.")
        config = (
            ConfigResolver()  # type: ignore[no-untyped-call]
            .with_env()
            .with_dict(
                {
                    "provider_name": self.provider,
                    "domain": zone,
                    "delegated": zone,
                    "ttl": TXT_TTL,
                }
            )
        )
        try:
            with _quiet("tldextract"), Client(config) as operations:
                if action == "create":
                    operations.create_record("TXT", record, value)
                else:
                    operations.delete_record(None, "TXT", record, value)
        except Exception as exc:  # a provider's own errors, of many kinds
            raise InputError(
                f"dns-lexicon ({self.provider}) could not {action} {record}: "
                f"{type(exc).__name__}: {str(exc)[:300]}"
            ) from exc

    def publish(self, name: str, token: str, validation: str) -> None:
        self._run("create", name, self.published.add(name, validation), validation)

    def settle(self) -> None:
        for record, values in self.published.values.items():
            zone = record.split(".", 1)[1]
            servers = self.servers or authoritative_servers(zone, self.timeout)
            wait_for_txt(record, values, servers, self.timeout)

    def withdraw(self, name: str, token: str) -> None:
        record = record_name(name)
        for value in self.published.values.pop(record, []):
            with contextlib.suppress(InputError):
                self._run("delete", name, record, value)

    def describe(self) -> str:
        return f"dns-lexicon's {self.provider} provider"


class HookDnsResponder:
    """TXT records set and removed by the owner's command."""

    kind = "dns-01"

    def __init__(self, command: str, timeout: float) -> None:
        self.command = command
        self.timeout = timeout
        self.published = _PublishedValues()

    def _run(self, action: str, name: str, token: str, validation: str) -> None:
        environment = {
            "TLSDOCTOR_DNS_ACTION": action,
            "TLSDOCTOR_DNS_RECORD": record_name(name),
            "CERTBOT_DOMAIN": name,
            "CERTBOT_VALIDATION": validation,
            "CERTBOT_TOKEN": token,
        }
        run_hook(self.command, f"DNS ({action})", self.timeout, environment)

    def publish(self, name: str, token: str, validation: str) -> None:
        self.published.add(name, validation)
        self._run("present", name, token, validation)

    def settle(self) -> None:
        pass  # the hook returns once the record is served (certbot's contract too)

    def withdraw(self, name: str, token: str) -> None:
        for value in self.published.values.pop(record_name(name), []):
            with contextlib.suppress(InputError):  # best effort: a stale TXT is harmless
                self._run("cleanup", name, token, value)

    def describe(self) -> str:
        return f"the DNS hook '{self.command}'"


@contextlib.contextmanager
def _quiet(logger: str) -> Iterator[None]:
    """Silence a library's warnings for a moment: lexicon's tldextract logs a traceback
    when it cannot download the public suffix list, then uses its bundled copy."""
    import logging

    log = logging.getLogger(logger)
    before = log.level
    log.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        log.setLevel(before)


def read_tsig(path: str | None) -> TsigKey | None:
    return None if path is None else TsigKey.from_file(str(Path(path)))
