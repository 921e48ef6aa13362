"""Host names against certificates, by RFC 6125 as browsers apply it."""

from __future__ import annotations

import pytest

from pki import Issued
from tlsdoctor.analysis.facts import CertFacts
from tlsdoctor.analysis.names import dns_name_matches, hostname_finding, matches, parse_host
from tlsdoctor.errors import InputError


@pytest.mark.parametrize(
    ("pattern", "host", "expected"),
    [
        ("www.example.com", "www.example.com", True),
        ("WWW.Example.COM", "www.example.com", True),
        ("www.example.com.", "www.example.com", True),
        ("*.example.com", "www.example.com", True),
        ("*.example.com", "example.com", False),  # never the apex
        ("*.example.com", "a.b.example.com", False),  # one label only
        ("*.com", "example.com", False),  # no wildcard over a TLD
        ("f*.example.com", "foo.example.com", False),  # partial wildcards: browsers refuse
        ("*.*.example.com", "a.b.example.com", False),
        ("example.com", "www.example.com", False),
    ],
)
def test_dns_name_rules(pattern: str, host: str, expected: bool) -> None:
    assert dns_name_matches(pattern, host) is expected


def leaf_for(intermediate: Issued, dns: list[str], ips: tuple[str, ...] = ()) -> CertFacts:
    return CertFacts(intermediate.issue_leaf(dns, ips=ips).cert)


def test_idn_host_matches_its_a_label(intermediate: Issued) -> None:
    leaf = leaf_for(intermediate, ["xn--bcher-kva.example"])
    assert matches(leaf, parse_host("bücher.example"))
    assert matches(leaf, parse_host("XN--BCHER-KVA.example."))
    assert not matches(leaf, parse_host("bucher.example"))


def test_ip_matches_only_ip_sans(intermediate: Issued) -> None:
    leaf = leaf_for(intermediate, ["10.0.0.1", "host.test"], ips=("127.0.0.1", "::1"))
    assert matches(leaf, parse_host("127.0.0.1"))
    assert matches(leaf, parse_host("[::1]"))
    assert matches(leaf, parse_host("0:0:0:0:0:0:0:1"))
    assert not matches(leaf, parse_host("10.0.0.1"))  # a DNS SAN that looks like an IP
    finding = hostname_finding(leaf, parse_host("10.0.0.1"))
    assert finding is not None
    assert "IP address matches only an IP SAN" in finding.message


def test_wildcard_hints(intermediate: Issued) -> None:
    leaf = leaf_for(intermediate, ["*.example.test"])
    apex = hostname_finding(leaf, parse_host("example.test"))
    assert apex is not None and "does not cover the bare domain example.test" in apex.message
    deep = hostname_finding(leaf, parse_host("a.b.example.test"))
    assert deep is not None and "covers one label only" in deep.message
    assert hostname_finding(leaf, parse_host("www.example.test")) is None


def test_sibling_hint(intermediate: Issued) -> None:
    leaf = leaf_for(intermediate, ["api.example.test", "cdn.example.test"])
    finding = hostname_finding(leaf, parse_host("www.example.test"))
    assert finding is not None
    assert (
        "sibling names under example.test (api.example.test, cdn.example.test)" in finding.message
    )


def test_huge_san_list_is_summarised(intermediate: Issued) -> None:
    names = [f"host{i}.example.test" for i in range(3000)]
    leaf = leaf_for(intermediate, names)
    finding = hostname_finding(leaf, parse_host("other.test"))
    assert finding is not None
    assert finding.evidence["valid_for_count"] == 3000
    assert len(finding.evidence["valid_for"]) == 50  # type: ignore[arg-type]
    assert "and 2995 more" in finding.message


@pytest.mark.parametrize("bad", ["", "   ", "exa mple.com", "http://x/y", "a..b" * 100])
def test_bad_host_names_are_input_errors(bad: str) -> None:
    with pytest.raises(InputError):
        parse_host(bad)
