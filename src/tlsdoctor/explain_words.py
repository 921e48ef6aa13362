"""What a TLS error message carries beyond its wording, and the words that name a cause.

Two readings of pasted text for ``tlsdoctor explain`` (pure, linear time: ``textmatch``):

- ``carried``: facts the text states that decide between the causes of an ambiguous message
  (a loopback or private address, the name of an inspecting product or of a known-bad root,
  OpenSSL's verify depth, how many certificates ``openssl s_client`` shows the server sent).
- ``read_words``: when no catalogue message matches, the TLS vocabulary (alert names and
  numbers, Windows status codes by name and by hex, "expired", "hostname", "self signed",
  "EOF" ...) ranks the causes the words point to (``knowledge/tls_words.json``).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass

from tlsdoctor.knowledge import (
    MessageCause,
    interception_products,
    known_bad_roots,
    tls_vocabulary,
)
from tlsdoctor.textmatch import PatternSet, compile_pattern, encode

# Causes of a refused chain: where the message alone cannot say which one it is.
TRUST_CAUSES = frozenset(
    {"untrusted_root", "missing_intermediate", "self_signed", "interception_proxy"}
)
# A tie in weight keeps this order: the more common cause first.
_ORDER = (
    "untrusted_root",
    "missing_intermediate",
    "self_signed",
    "interception_proxy",
    "hostname_mismatch",
    "expired",
    "not_yet_valid",
    "client_clock",
    "protocol_mismatch",
    "cipher_mismatch",
    "client_cert_required",
    "not_tls",
    "connection_reset",
    "revoked",
    "revocation_unknown",
    "weak_signature",
    "weak_key",
    "invalid_chain",
    "known_bad_root",
    "validity_too_long",
    "timeout",
    "dns_failure",
    "connection_refused",
)
# Words that say "this is TLS" without pointing at a cause.
_GENERIC = frozenset({"handshake", "certificate-verify", "windows-code-family", "certificate"})
# Words that are not TLS's alone ("session expired", "hostname not found", "proxy error"):
# they count only beside a TLS word.
_NEEDS_TLS_CONTEXT = frozenset(
    {
        "expired",
        "not-yet-valid",
        "clock",
        "hostname",
        "revoked",
        "eof",
        "timeout",
        "dns",
        "refused",
        "purpose",
        "proxy",
    }
)

_LOCAL_HOST = compile_pattern(
    r"(?:^|[^\w.-])(localhost|127\.\d+\.\d+\.\d+|\[?::1\]?|10\.\d+\.\d+\.\d+|192\.168\.\d+\.\d+"
    r"|172\.(?:1[6-9]|2\d|3[01])\.\d+\.\d+|[\w-]+\.(?:local|internal|lan|corp|home\.arpa))"
    r"(?:[^\w.-]|$)"
)
# OpenSSL prints "depth=N <subject>" before each certificate's verify result; the error's
# depth is that of the last "depth=" before the first "verify error:num=".
_DEPTH = compile_pattern(r"depth=(\d{1,2}) ")
_VERIFY_ERROR = compile_pattern(r"verify error:num=\d")
_CHAIN_ENTRY = compile_pattern(r"(?:^| )(\d{1,2}) s:")
# The text itself says a proxy inspects TLS (Azure CLI's hint, a support note pasted along).
_INSPECTION_SAID = compile_pattern(
    r"proxy that intercepts|intercepting proxy|(?:TLS|SSL|HTTPS) (?:inspection|interception)"
)


@dataclass(frozen=True)
class Carried:
    """What the text says beyond the message: each one moves a cause up."""

    local_address: str | None = None  # localhost, 127.x, a private address or .local name
    product: str | None = None  # an inspecting product named in the text
    inspection_said: bool = False  # the text says a proxy inspects TLS
    bad_root: str | None = None  # a known-bad root named in the text
    depth: int | None = None  # OpenSSL's verify depth of the error (0: the server's cert)
    certificates_sent: int | None = None  # s_client's "Certificate chain" entries

    def notes(self) -> tuple[str, ...]:
        said = []
        if self.product:
            said.append(f"the text names {self.product}, a TLS-inspecting product")
        elif self.inspection_said:
            said.append("the text says a proxy inspects TLS")
        if self.bad_root:
            said.append(f"the text names {self.bad_root}, a root whose private key is public")
        if self.local_address:
            said.append(
                f"the server is {self.local_address}: local and private servers mostly "
                "use self-signed or private-CA certificates"
            )
        if self.depth is not None:
            said.append(f"OpenSSL reports the error at depth {self.depth}")
        if self.certificates_sent is not None:
            said.append(f"the server sent {self.certificates_sent} certificate(s)")
        return tuple(said)


@functools.lru_cache(maxsize=1)
def _products() -> tuple[PatternSet, tuple[str, ...]]:
    products = interception_products().products
    patterns = [f"(?:{'|'.join(product.patterns)})" for product in products]
    return PatternSet(patterns), tuple(product.product for product in products)


@functools.lru_cache(maxsize=1)
def _bad_roots() -> tuple[PatternSet, tuple[str, ...]]:
    names = tuple(root.name for root in known_bad_roots().roots)
    # The distinctive first word of each name ("Superfish", "eDellRoot", "DSDTestProvider").
    words = [name.split()[0].rstrip(",") for name in names]
    return PatternSet([rf"\b{_literal(word)}\b" for word in words]), names


def _literal(word: str) -> str:
    return "".join(c if c.isalnum() else f"\\{c}" for c in word)


def carried(data: bytes, host: str | None = None) -> Carried:
    """The facts ``data`` (whitespace-folded text, encoded) carries; ``host`` is the server the
    message is about (an address elsewhere in a log, e.g. what a name resolved to, says
    nothing about the server's certificate)."""
    product_set, product_names = _products()
    products = product_set.hits(data)
    bad_set, bad_names = _bad_roots()
    bad = bad_set.hits(data)
    local = _LOCAL_HOST.search(encode(f" {host} ")) if host else None
    error = _VERIFY_ERROR.search(data)
    depths = list(_DEPTH.finditer(data[: error.start])) if error else []
    entries = (
        [int(m.groups[0] or 0) for m in _CHAIN_ENTRY.finditer(data)]
        if b"Certificate chain" in data
        else []
    )
    return Carried(
        local_address=local.groups[0] if local else None,
        product=product_names[products[0].index] if products else None,
        inspection_said=_INSPECTION_SAID.search(data) is not None,
        bad_root=bad_names[bad[0].index] if bad else None,
        depth=int(depths[-1].groups[0] or 0) if depths else None,
        certificates_sent=max(entries) + 1 if entries else None,
    )


def reorder(causes: tuple[MessageCause, ...], facts: Carried) -> tuple[MessageCause, ...]:
    """The causes re-ranked by what the text carries; a chain failure gains the cause the
    text names (an inspecting product, a known-bad root). What the text carries decides
    between the causes of a refused chain only: they move ahead of the other chain causes,
    never ahead of a cause of another kind that ranks higher (a refused connection on a
    loopback address is still a refused connection)."""
    codes = [cause.code for cause in causes]
    if not TRUST_CAUSES & set(codes):
        return causes
    ranked = list(causes)
    place = next(i for i, cause in enumerate(ranked) if cause.code in TRUST_CAUSES)

    def first(code: str, why: str) -> None:
        present = next((c for c in ranked if c.code == code), None)
        if present is not None:
            ranked.remove(present)
        ranked.insert(place, present or MessageCause(code, why))

    if facts.certificates_sent is not None and {"untrusted_root", "missing_intermediate"} <= set(
        codes
    ):
        # One certificate sent (not self-signed): its issuer is missing; several: the chain
        # is there and its root is what the client lacks.
        first("missing_intermediate" if facts.certificates_sent == 1 else "untrusted_root", "")
    elif facts.depth is not None and {"untrusted_root", "missing_intermediate"} <= set(codes):
        first("missing_intermediate" if facts.depth == 0 else "untrusted_root", "")
    if facts.local_address and "self_signed" in codes:
        first("self_signed", "")
    if facts.inspection_said and not facts.product:
        first("interception_proxy", "the text says a proxy inspects TLS on this network")
    if facts.product:
        first(
            "interception_proxy",
            f"the text names {facts.product}: its CA re-signs the connection and this client "
            "does not trust it",
        )
    if facts.bad_root:
        first(
            "known_bad_root",
            f"the text names {facts.bad_root}, a root whose private key is public: the "
            "software that installed it intercepts TLS",
        )
    return tuple(ranked)


# ---------------------------------------------------------------------------------------
# The vocabulary layer


@dataclass(frozen=True)
class WordReading:
    """What the words of a text point to: causes ranked, and the words that said so."""

    causes: tuple[MessageCause, ...]
    words: tuple[str, ...]  # the matched text of each word, in the order found
    specific: bool  # at least one word names a cause (not only "TLS" or "certificate")
    tell_apart: str


@functools.lru_cache(maxsize=1)
def _vocabulary() -> tuple[PatternSet, tuple[dict[str, object], ...], dict[str, str]]:
    data = tls_vocabulary()
    words = tuple(data["words"])
    return PatternSet([str(w["pattern"]) for w in words]), words, dict(data["checks"])


def read_words(data: bytes) -> WordReading | None:
    """The causes the TLS words of ``data`` (encoded text) point to, None if it has none."""
    patterns, words, checks = _vocabulary()
    hits = patterns.hits(data)
    if all(str(words[hit.index]["id"]) in _NEEDS_TLS_CONTEXT for hit in hits):
        return None
    scores: dict[str, int] = {}
    reasons: dict[str, list[str]] = {}
    for hit in hits:
        word = words[hit.index]
        weights = word["causes"]
        assert isinstance(weights, dict)
        for code, weight in weights.items():
            scores[code] = scores.get(code, 0) + int(weight)
            reasons.setdefault(code, []).append(f"{word['says']} ({json.dumps(hit.text)})")
    if not scores:
        return None
    ranked = sorted(scores, key=lambda code: (-scores[code], _rank(code)))
    causes = tuple(
        MessageCause(code, "the message mentions " + "; ".join(reasons[code][:3]))
        for code in ranked
    )
    specific = any(str(words[hit.index]["id"]) not in _GENERIC for hit in hits)
    deciding = "; ".join(f"{code}: {checks[code]}" for code in ranked[:3] if code in checks)
    found = tuple(hit.text for hit in sorted(hits, key=lambda h: h.start))
    return WordReading(causes, found, specific, deciding)


def _rank(code: str) -> int:
    return _ORDER.index(code) if code in _ORDER else len(_ORDER)
