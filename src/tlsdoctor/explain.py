"""``tlsdoctor explain``: what an error message means, its likely causes, what to run next.

Three readings of the pasted text, all pure and linear in its length (RE2, ``textmatch``):

1. The catalogue (``knowledge/messages.json``): whitespace is collapsed so stack traces and
   wrapped logs match, every entry's patterns are searched in one pass, and the longest match
   wins (the most specific message: "self-signed certificate in certificate chain" beats
   "self-signed certificate"). An outer message ("see inner exception", a browser page
   title) loses to any inner one, and of two equally long matches the later one wins:
   the innermost cause of a Java "Caused by" chain or a .NET inner exception comes last.
2. What the text carries (``explain_words.carried``): a proxy's name, a known-bad root, a
   loopback address, OpenSSL's depth, the chain s_client shows re-rank an ambiguous entry.
3. When no entry matches, the TLS words (``explain_words.read_words``) rank causes with a
   lower confidence; text with no TLS word at all is not recognised.

With a host, the live check says which of the ranked causes it really is.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, replace

from tlsdoctor.explain_words import Carried, carried, read_words, reorder
from tlsdoctor.knowledge import KnownMessage, MessageCause, message_catalogue
from tlsdoctor.models import Finding, Report
from tlsdoctor.textmatch import Hit, PatternSet, encode

MAX_TEXT = 1024 * 1024  # a pasted log larger than this is cut: the error is near its end
MAX_MATCHED = 400  # characters of the matched text kept for display

# Where messages name the host they failed on; the first that matches is used.
_HOST_HINTS = PatternSet(
    (
        r"host='([^'\s]{1,253})'",
        r"Could not resolve host: ([^\s;,]{1,253})",
        r"https?://([A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,24}|\d{1,3}(?:\.\d{1,3}){3}|localhost)",
        r"not valid for '([^'\s]{1,253})'",
        r"Host: ([A-Za-z0-9.-]{1,253})\. is not in the cert's altnames",
        r"certificate of [‘'`]([^’'`\s]{1,253})[’'`]",
        r"Hostname ([A-Za-z0-9.-]{1,253}) not verified",
        r"No subject alternative (?:DNS )?names? matching (?:IP address )?"
        r"([A-Za-z0-9.:-]{1,253}) found",
        r"with authority '([^'\s]{1,253})'",
        r"(?:Failed to connect to|Connecting to|Connect to|connect to|Connection to) "
        r"([A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){1,10})[: ]",
        r"valid for [^\n]{0,1000}?, not ([A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){1,10})\b",
        r"(?:^|[\s(\[/@])([A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){1,10}):\d{1,5}\b",
    )
)
_PORT_HINTS = PatternSet(
    (
        r"port=(\d{1,5})\b",
        r"https?://[^\s/:'\"]{1,253}:(\d{1,5})\b",
        r" port (\d{1,5})\b",
        r"[A-Za-z0-9-]\.[A-Za-z]{2,24}:(\d{1,5})\b",
    )
)


@dataclass(frozen=True)
class Explanation:
    """What a message means. ``entry`` is the catalogue message it is; without one,
    ``causes`` may still come from the TLS words in it (``confidence`` "low")."""

    text: str
    entry: KnownMessage | None
    matched: str | None  # the part of the text that matched (the words, for the word layer)
    host: str | None  # from the user, or found in the message
    report: Report | None = None  # the live check, with a host
    diagnosis: Finding | None = None  # the finding of the check among the causes
    causes: tuple[MessageCause, ...] = ()  # ranked, most likely first
    confidence: str | None = None  # "high" (a known message), "medium"/"low" (its words)
    notes: tuple[str, ...] = ()  # what the text carries that ranked the causes
    word_tell_apart: str | None = None  # the deciding checks, for the word layer
    port: int | None = None

    @property
    def recognised(self) -> bool:
        return bool(self.causes)

    @property
    def tell_apart(self) -> str | None:
        text = self.entry.tell_apart if self.entry else self.word_tell_apart
        if text is None or self.host is None:
            return text
        return text.replace("tlsdoctor check HOST", f"tlsdoctor check {self.target}")

    @property
    def target(self) -> str:
        if self.host is None:
            return "HOST"
        # An IPv6 literal gets brackets; "--host name:port" from the user is kept as given.
        ipv6 = self.host.count(":") > 1 and not self.host.startswith("[")
        host = f"[{self.host}]" if ipv6 else self.host
        return f"{host}:{self.port}" if self.port and self.port != 443 else host

    @property
    def next_step(self) -> str:
        template = self.entry.next if self.entry else "tlsdoctor check {host}"
        return template.replace("{host}", self.target)


def normalise(text: str) -> str:
    """One line, single spaces: how patterns see the text."""
    return " ".join(text[-MAX_TEXT:].split())


@functools.lru_cache(maxsize=4)
def _index(catalogue: tuple[KnownMessage, ...]) -> tuple[PatternSet, tuple[KnownMessage, ...]]:
    """One pattern set over every entry's patterns, and the entry of each pattern."""
    owners = tuple(entry for entry in catalogue for _ in entry.patterns)
    return PatternSet([p for entry in catalogue for p in entry.patterns]), owners


def _best(hits: list[Hit], owners: tuple[KnownMessage, ...]) -> Hit | None:
    """Inner messages before wrappers, then the longest, then the latest."""
    return max(
        hits,
        key=lambda hit: (not owners[hit.index].wrapper, hit.length, hit.start),
        default=None,
    )


def match(
    text: str, catalogue: Sequence[KnownMessage] | None = None
) -> tuple[KnownMessage, str] | None:
    """The catalogue entry the text is, and the matched part."""
    return _match_data(encode(normalise(text)), catalogue)


def _match_data(
    data: bytes, catalogue: Sequence[KnownMessage] | None
) -> tuple[KnownMessage, str] | None:
    patterns, owners = _index(tuple(message_catalogue() if catalogue is None else catalogue))
    best = _best(patterns.hits(data), owners)
    return None if best is None else (owners[best.index], best.text)


def host_in(text: str) -> str | None:
    """A host name the message itself names, if any."""
    return _host_in(encode(normalise(text)))


def _host_in(data: bytes) -> str | None:
    found = _HOST_HINTS.hits(data)  # in the hints' order: the first that matched is used
    if not found:
        return None
    return (found[0].groups[0] or "").strip(".") or None


def port_in(text: str) -> int | None:
    """The port the message names, if any."""
    return _port_in(encode(normalise(text)))


def _port_in(data: bytes) -> int | None:
    ports = (int(hit.groups[0] or 0) for hit in _PORT_HINTS.hits(data))
    return next((port for port in ports if 0 < port < 65536), None)


def explain_text(
    text: str, host: str | None = None, catalogue: Sequence[KnownMessage] | None = None
) -> Explanation:
    """Recognise ``text`` (pure: no network)."""
    data = encode(normalise(text))
    found = _match_data(data, catalogue)
    if found is None and b"_" in data:
        # OpenSSL's reason mnemonics pasted on their own (WRONG_VERSION_NUMBER,
        # DH_KEY_TOO_SMALL, UNSAFE_LEGACY_RENEGOTIATION_DISABLED) are the words of its
        # messages ("wrong version number"): read them spelled out. Only when the text as
        # pasted matched nothing, so no match of the original is ever displaced.
        spelled = data.replace(b"_", b" ")
        found = _match_data(spelled, catalogue)
        if found is not None or read_words(data) is None:
            data = spelled
    port = None if host else _port_in(data)
    host = host or _host_in(data)
    facts = carried(data, host)
    if found is not None:
        entry, matched = found
        return Explanation(
            text,
            entry,
            matched[:MAX_MATCHED],
            host,
            causes=reorder(entry.causes, facts),
            confidence="high",
            notes=facts.notes(),
            port=port,
        )
    return _from_words(text, data, host, port, facts)


def _from_words(
    text: str, data: bytes, host: str | None, port: int | None, facts: Carried
) -> Explanation:
    reading = read_words(data)
    if reading is None:
        return Explanation(text, None, None, host, port=port)
    return Explanation(
        text,
        None,
        ", ".join(dict.fromkeys(reading.words))[:MAX_MATCHED],
        host,
        causes=reorder(reading.causes, facts),
        confidence="medium" if reading.specific else "low",
        notes=facts.notes(),
        word_tell_apart=reading.tell_apart,
        port=port,
    )


def with_check(explanation: Explanation, report: Report) -> Explanation:
    """The explanation, with the live check's verdict: which of the causes it is."""
    causes = {cause.code for cause in explanation.causes}
    diagnosis = next((f for f in report.findings if f.code.value in causes), None)
    return replace(explanation, report=report, diagnosis=diagnosis)
