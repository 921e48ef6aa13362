"""Knowledge as data: files in this package with stable ids, loaded once per process.

- ``known_bad_roots.json`` + ``.pem``: roots whose private keys are public.
- ``interception_products.json``: how TLS-inspecting products name their CAs.
- ``clients.json``: how each client judges a chain, which store it reads, what it prints.
- ``messages.json``: error messages of every client, matched by ``tlsdoctor explain``.
- ``tls_words.json``: the words of TLS errors, read by ``explain`` when no message matches.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tlsdoctor.analysis.facts import CertFacts
from tlsdoctor.models import ClientVerdict

_HERE = Path(__file__).resolve().parent


def _read(name: str) -> bytes:
    # The data files sit beside this module in every install (wheel or editable).
    return (_HERE / name).read_bytes()


def _json(name: str) -> Any:
    return json.loads(_read(name))


@dataclass(frozen=True)
class KnownBadRoot:
    """A root whose private key is public or that is otherwise compromised."""

    id: str
    name: str
    why: str
    facts: CertFacts


@dataclass(frozen=True)
class KnownBadRoots:
    roots: tuple[KnownBadRoot, ...]

    def matching(self, facts: CertFacts) -> KnownBadRoot | None:
        """The known-bad root this certificate is (same certificate or same key)."""
        for root in self.roots:
            if facts.sha256 == root.facts.sha256:
                return root
        # The same key under another certificate (a re-issued copy of the root); the
        # subject is compared first because extracting a key costs more than a lookup.
        for root in self.roots:
            if facts.subject_key == root.facts.subject_key and facts.spki == root.facts.spki:
                return root
        return None

    def issuer_of(self, facts: CertFacts) -> KnownBadRoot | None:
        """The known-bad root that signed this certificate, if any."""
        from tlsdoctor.analysis.facts import signed_by

        for root in self.roots:
            if facts.issuer_key == root.facts.subject_key and signed_by(facts, root.facts):
                return root
        return None


@functools.lru_cache(maxsize=1)
def known_bad_roots() -> KnownBadRoots:
    from tlsdoctor.anchors import parse_bundle

    certificates, _ = parse_bundle(_read("known_bad_roots.pem"))
    facts_by_sha = {facts.sha256: facts for facts in map(CertFacts.of, certificates)}
    roots = tuple(
        KnownBadRoot(entry["id"], entry["name"], entry["why"], facts_by_sha[entry["sha256"]])
        for entry in _json("known_bad_roots.json")["roots"]
    )
    return KnownBadRoots(roots)


@dataclass(frozen=True)
class InterceptionProduct:
    """A TLS-inspecting product and the names its CAs carry."""

    id: str
    product: str
    kind: str
    patterns: tuple[str, ...]


class InterceptionCatalogue:
    """Recognises a product from a CA name: one combined pattern, answers cached by name
    (a scan sees the same few issuer names over and over)."""

    def __init__(self, products: tuple[InterceptionProduct, ...]) -> None:
        self.products = products
        alternatives = (
            f"(?P<p{index}>{'|'.join(product.patterns)})" for index, product in enumerate(products)
        )
        self._pattern = re.compile("|".join(alternatives), re.IGNORECASE)
        self._cache: dict[str, InterceptionProduct | None] = {}

    def product_for(self, name: str) -> InterceptionProduct | None:
        """The product whose CA this name (an RFC 4514 string) belongs to, if any."""
        if name in self._cache:
            return self._cache[name]
        match = self._pattern.search(name)
        product = self.products[int(match.lastgroup[1:])] if match and match.lastgroup else None
        if len(self._cache) < 4096:
            self._cache[name] = product
        return product


@functools.lru_cache(maxsize=1)
def interception_products() -> InterceptionCatalogue:
    return InterceptionCatalogue(
        tuple(
            InterceptionProduct(
                entry["id"], entry["product"], entry["kind"], tuple(entry["patterns"])
            )
            for entry in _json("interception_products.json")["products"]
        )
    )


@dataclass(frozen=True)
class ClientProfile:
    """How one client judges a chain and what it prints when it refuses one."""

    id: str
    name: str
    store: str  # "mozilla" or "system": the anchor set it reads by default
    fetches_aia: bool  # repairs a missing intermediate by downloading it
    preloads_intermediates: bool  # ships the public intermediates (Firefox)
    enforces_max_validity: bool  # refuses public leaves valid longer than allowed
    min_rsa_bits: int
    errors: dict[str, str]
    accepts_cn_only: bool = False  # falls back to the subject CN when there is no SAN
    checks_revocation: bool = False  # refuses a revoked certificate by default
    sha1_public_roots_only: bool = False  # refuses SHA-1 only under its own public roots
    min_protocol: str = "TLSv1.2"  # the oldest version it still speaks
    rsa_minimum_public_roots_only: bool = False  # min_rsa_bits only under public roots
    engine: str = ""  # its certificate verifier ("openssl", "go", "nss", ...)

    def error_for(self, key: str, variant: str | None, values: dict[str, str]) -> str:
        """The message this client prints for finding ``key`` (and its variant)."""
        template = (
            (variant and self.errors.get(f"{key}:{variant}"))
            or self.errors.get(key)
            or self.errors["default"]
        )
        return template.format(**values)


@dataclass(frozen=True)
class ClientCatalogue:
    clients: tuple[ClientProfile, ...]
    openssl_reasons: dict[str, str]
    # Per engine, the extension OIDs it processes (a critical one it lacks is refused).
    critical_extensions_handled: dict[str, frozenset[str]] = field(default_factory=dict)

    @functools.cached_property
    def stores(self) -> frozenset[str]:
        """The anchor sets the clients read between them."""
        return frozenset(profile.store for profile in self.clients)

    @functools.cached_property
    def all_trusted(self) -> tuple[ClientVerdict, ...]:
        """The verdicts when nothing is wrong: every client connects."""
        return tuple(
            ClientVerdict(profile.id, True, (), None, profile.store) for profile in self.clients
        )

    @functools.cached_property
    def all_trusted_custom(self) -> tuple[ClientVerdict, ...]:
        """The same, when every client was given the user's anchors."""
        return tuple(ClientVerdict(p.id, True, (), None, "custom") for p in self.clients)

    def openssl_reason(self, key: str, variant: str | None) -> str:
        reasons = self.openssl_reasons
        return (
            (variant and reasons.get(f"{key}:{variant}")) or reasons.get(key) or reasons["default"]
        )


@functools.lru_cache(maxsize=1)
def client_catalogue() -> ClientCatalogue:
    data = _json("clients.json")
    clients = tuple(
        ClientProfile(
            entry["id"],
            entry["name"],
            entry["store"],
            entry["fetches_aia"],
            entry["preloads_intermediates"],
            entry["enforces_max_validity"],
            entry["min_rsa_bits"],
            dict(entry["errors"]),
            entry["accepts_cn_only"],
            entry["checks_revocation"],
            entry["sha1_public_roots_only"],
            entry["min_protocol"],
            entry["rsa_minimum_public_roots_only"],
            entry.get("engine", ""),
        )
        for entry in data["clients"]
    )
    handled = {
        engine: frozenset(oids)
        for engine, oids in data.get("critical_extensions_handled", {}).items()
        if engine != "about"
    }
    return ClientCatalogue(clients, dict(data["openssl_reasons"]), handled)


@dataclass(frozen=True)
class MessageCause:
    code: str  # a FindingCode value, or "not_a_tls_problem"
    why: str


@dataclass(frozen=True)
class KnownMessage:
    """One error message of one client: how to recognise it and what it means."""

    id: str
    client: str
    patterns: tuple[str, ...]  # RE2 syntax (linear time), searched case-insensitively
    examples: tuple[str, ...]
    meaning: str
    causes: tuple[MessageCause, ...]
    tell_apart: str | None
    next: str
    source: str = ""  # where the wording comes from: a client run here, or its source
    wrapper: bool = False  # an outer message ("see inner exception"): an inner one wins


def load_messages(data: dict[str, Any]) -> tuple[KnownMessage, ...]:
    """The catalogue from its JSON (patterns are compiled by ``tlsdoctor.textmatch``)."""
    return tuple(
        KnownMessage(
            id=entry["id"],
            client=entry["client"],
            patterns=tuple(entry["patterns"]),
            examples=tuple(entry.get("examples", ())),
            meaning=entry["meaning"],
            causes=tuple(MessageCause(c["code"], c["why"]) for c in entry["causes"]),
            tell_apart=entry.get("tell_apart"),
            next=entry.get("next") or "tlsdoctor check {host}",
            source=entry.get("source", ""),
            wrapper=bool(entry.get("wrapper", False)),
        )
        for entry in data["messages"]
    )


@functools.lru_cache(maxsize=1)
def message_catalogue() -> tuple[KnownMessage, ...]:
    return load_messages(_json("messages.json"))


@functools.lru_cache(maxsize=1)
def tls_vocabulary() -> dict[str, Any]:
    """The words of TLS errors and the causes they point to (``tls_words.json``)."""
    data: dict[str, Any] = _json("tls_words.json")
    return data
