"""Host names against certificates, by RFC 6125 as browsers apply it.

Only subjectAltName counts (a CN-only certificate matches nothing); a wildcard stands for
exactly one whole left-most label and never for the apex; names compare as IDNA A-labels,
case-insensitively, without a trailing dot; an IP address matches only an IP SAN.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tlsdoctor.analysis.facts import CertFacts
from tlsdoctor.codes import FindingCode, Severity
from tlsdoctor.errors import InputError
from tlsdoctor.models import Finding, JsonValue

if TYPE_CHECKING:
    from publicsuffixlist import PublicSuffixList

MAX_LISTED_NAMES = 50
# One DNS label as hosts use it (underscores appear in internal names).
_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")


@dataclass(frozen=True)
class HostName:
    """A host name normalised for matching: A-labels, lower case, or an IP address."""

    text: str  # as the user wrote it
    ascii: str  # A-label form, lower case, no trailing dot ("" for an IP)
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None

    @property
    def is_ip(self) -> bool:
        return self.ip is not None


def parse_host(text: str) -> HostName:
    """Normalise a host name or IP address given by the user."""
    raw = text.strip()
    candidate = raw[1:-1] if raw.startswith("[") and raw.endswith("]") else raw
    if ":" in candidate or candidate.replace(".", "").isdigit():
        try:
            return HostName(raw, "", ipaddress.ip_address(candidate))
        except ValueError:
            pass
    name = candidate.rstrip(".")
    if not name or any(ch.isspace() for ch in name) or "/" in name:
        raise InputError(f"'{text}' is not a host name")
    try:
        encoded = _to_ascii(name)
    except ValueError as exc:
        raise InputError(f"'{text}' is not a valid internationalised host name ({exc})") from exc
    if len(encoded) > 253 or not all(_LABEL.fullmatch(label) for label in encoded.split(".")):
        raise InputError(f"'{text}' is not a host name (empty, too long or bad characters)")
    return HostName(raw, encoded, None)


def _to_ascii(name: str) -> str:
    if name.isascii():
        return name.lower()
    import idna

    try:
        return idna.encode(name, uts46=True).decode("ascii").lower()
    except idna.IDNAError as exc:
        raise ValueError(str(exc)) from exc


def _to_unicode(name: str) -> str:
    if "xn--" not in name:
        return name
    import idna

    try:
        return str(idna.decode(name))
    except (idna.IDNAError, UnicodeError):
        return name


def dns_name_matches(pattern: str, host: str) -> bool:
    """Whether SAN dNSName ``pattern`` covers ``host`` (both A-label, lower case)."""
    pattern = pattern.lower().rstrip(".")
    if pattern == host:
        return True
    if not pattern.startswith("*."):
        return False
    suffix = pattern[1:]  # ".example.com"
    if not host.endswith(suffix):
        return False
    first = host[: -len(suffix)]
    # One whole label: not empty (the apex), no dot (two labels deep).
    return bool(first) and "." not in first and suffix.count(".") >= 2


def matches(facts: CertFacts, host: HostName) -> bool:
    """Whether the certificate is valid for ``host``."""
    if host.ip is not None:
        return any(ipaddress.ip_address(ip) == host.ip for ip in facts.ip_addresses)
    return any(dns_name_matches(name, host.ascii) for name in facts.dns_names)


@functools.lru_cache(maxsize=1)
def _icann_rules() -> tuple[str, ...]:
    """The ICANN section of the Public Suffix List shipped by ``publicsuffixlist``, as
    Chromium consults it (private suffixes such as github.io are not registries)."""
    from publicsuffixlist import PSLFILE

    with open(PSLFILE, encoding="utf-8") as handle:
        text = handle.read()
    start = text.find("// ===BEGIN ICANN DOMAINS===")
    end = text.find("// ===END ICANN DOMAINS===")
    section = text[start:end] if 0 <= start < end else ""
    return tuple(
        line.strip() for line in section.splitlines() if line.strip() and not line.startswith("//")
    )


@functools.lru_cache(maxsize=64)
def _public_suffixes(tld: str) -> tuple[PublicSuffixList, int]:
    """The list's rules for one top-level name, and the most labels a suffix under it can
    have: parsing the whole list costs ~70 ms, the rules of one TLD well under one.
    Unknown TLDs (.internal, .test) are not suffixes."""
    from publicsuffixlist import PublicSuffixList

    rules = [r for r in _icann_rules() if _rule_tld(r) == tld]
    longest = max((r.lstrip("!").count(".") + 1 for r in rules), default=0)
    return PublicSuffixList(rules, accept_unknown=False), longest


def _rule_tld(rule: str) -> str:
    label = rule.rsplit(".", 1)[-1].lstrip("!*")
    if label.isascii():
        return label
    try:
        return label.encode("idna").decode("ascii")  # the list writes IDN TLDs as U-labels
    except UnicodeError:
        return label


def is_public_suffix(name: str) -> bool:
    """Whether ``name`` (A-labels, lower case) is an ICANN public suffix: com, co.uk."""
    suffixes, longest = _public_suffixes(name.rsplit(".", 1)[-1])
    # A name longer than any rule of its TLD is no suffix: most wildcards stop here.
    return name.count(".") < longest and suffixes.is_public(name)


def wildcard_over_public_suffix(leaf: CertFacts, host: HostName) -> str | None:
    """The wildcard SAN that alone covers ``host`` when it stands directly over a public
    suffix (``*.co.uk``), which Chromium refuses (x509_certificate.cc VerifyHostname:
    no wildcards for registry-controlled domains) and OpenSSL and Go accept; else None."""
    if host.ip is not None:
        return None
    over_suffix: str | None = None
    for name in leaf.dns_names:
        if not dns_name_matches(name, host.ascii):
            continue
        pattern = name.lower().rstrip(".")
        if not pattern.startswith("*.") or not is_public_suffix(pattern[2:]):
            return None  # another name covers the host properly
        over_suffix = pattern
    return over_suffix


def hostname_finding(leaf: CertFacts, host: HostName) -> Finding | None:
    """hostname_mismatch when the leaf does not cover ``host``; None when it does."""
    if matches(leaf, host):
        pattern = (
            wildcard_over_public_suffix(leaf, host) if "*" in "".join(leaf.dns_names) else None
        )
        if pattern is None:
            return None
        return Finding(
            FindingCode.HOSTNAME_MISMATCH,
            Severity.ERROR,
            f"The certificate covers '{host.text}' only through the wildcard {pattern}, "
            f"which stands directly over the public suffix {pattern[2:]}: Chrome and Edge "
            "refuse such a wildcard (any registrant under it would match); OpenSSL-based "
            "clients and Go accept it.",
            {
                "requested": host.text,
                "valid_for": list(leaf.dns_names[:MAX_LISTED_NAMES]),
                "valid_for_count": len(leaf.dns_names) + len(leaf.ip_addresses),
                "common_name": leaf.common_names[0] if leaf.common_names else None,
                "has_san": leaf.has_san,
                "hint": "A wildcard may not cover a whole public suffix.",
                "wildcard_over_public_suffix": pattern,
                "refused_by": ["chrome"],
            },
            (f"Issue a certificate naming {host.text} itself (no CA may issue {pattern}).",),
        )
    covered = list(leaf.dns_names) + list(leaf.ip_addresses)
    evidence: dict[str, JsonValue] = {
        "requested": host.text,
        "valid_for": list(covered[:MAX_LISTED_NAMES]),
        "valid_for_count": len(covered),
        "common_name": leaf.common_names[0] if leaf.common_names else None,
        "has_san": leaf.has_san,
    }
    hint = _hint(leaf, host)
    evidence["hint"] = hint
    fix: tuple[str, ...]
    if leaf.malformed:
        message = (
            "The certificate's extensions cannot be parsed, so none of its names can be "
            f"matched, '{host.text}' included."
        )
        fix = ("Reissue the certificate; the CA produced a malformed extension.",)
    elif not leaf.has_san:
        cn = leaf.common_names[0] if leaf.common_names else None
        message = (
            f"The certificate has no subjectAltName; its name ('{cn}') is only in the "
            "Common Name, which browsers, Go and Python have ignored since 2017, so it "
            f"matches no host name, '{host.text}' included."
        )
        fix = (
            f"Reissue the certificate with a subjectAltName listing {host.text} "
            "(every CA and `tlsdoctor cert csr` do this; with openssl add "
            f"`-addext 'subjectAltName=DNS:{host.ascii or host.text}'`).",
        )
    else:
        shown = ", ".join(_to_unicode(name) for name in covered[:5])
        more = f" and {len(covered) - 5} more" if len(covered) > 5 else ""
        message = f"The certificate is not valid for '{host.text}'; it covers {shown}{more}."
        if hint:
            message += f" {hint}"
        names = _names_to_request(host, leaf)
        fix = (
            f"Issue a certificate whose subjectAltName includes {host.text}"
            + (" (and keep the names it has now)" if covered else "")
            + f": certbot `certbot certonly {' '.join('-d ' + n for n in names)}`; for another "
            "CA, a CSR with every name: `openssl req -new -newkey ec -pkeyopt "
            "ec_paramgen_curve:P-256 -nodes -keyout key.pem -out req.csr -subj "
            f"'/CN={names[0]}' -addext 'subjectAltName={','.join('DNS:' + n for n in names)}'`.",
            "Or point clients at a name the certificate covers, or, when the server hosts "
            "several sites, make sure it serves this name's certificate for this SNI.",
            "To see what a browser sees: Chrome, the icon left of the address > Connection is "
            "secure/Not secure > Certificate is valid; Safari, Show Certificate in the warning.",
        )
    return Finding(FindingCode.HOSTNAME_MISMATCH, Severity.ERROR, message, evidence, fix)


def _names_to_request(host: HostName, leaf: CertFacts) -> list[str]:
    """The names the new certificate should carry: the requested one, its www/apex twin
    (users type both), and the names the old one covered."""
    if host.is_ip:
        return [host.text, *leaf.dns_names]
    name = host.ascii
    twin = name[4:] if name.startswith("www.") else f"www.{name}"
    wanted = [name, twin, *(n.lower() for n in leaf.dns_names)]
    return list(dict.fromkeys(wanted))[:20]


def _hint(leaf: CertFacts, host: HostName) -> str | None:
    """The likely mix-up: www vs apex, a wildcard one level off, a sibling name."""
    if host.is_ip:
        if leaf.dns_names:
            return (
                "An IP address matches only an IP SAN entry; connect by one of the names "
                "above instead."
            )
        return None
    name = host.ascii
    names = [n.lower().rstrip(".") for n in leaf.dns_names]
    if name.startswith("www.") and name[4:] in names:
        return f"This certificate is for {name[4:]}; you asked for {name} (the www name)."
    if "www." + name in names:
        return f"This certificate is for www.{name}; you asked for {name} (without www)."
    if "*." + name in names:
        return f"The wildcard *.{name} does not cover the bare domain {name} itself."
    parent = name.split(".", 1)[1] if "." in name else ""
    for pattern in names:
        if pattern.startswith("*.") and name.endswith(pattern[1:]):
            return (
                f"The wildcard {pattern} covers one label only, not {name}, which is "
                "more than one level below it."
            )
    siblings = [n for n in names if parent and n.split(".", 1)[-1] == parent and n != name]
    if siblings:
        return f"It covers sibling names under {parent} ({', '.join(siblings[:3])}), not this one."
    return None
