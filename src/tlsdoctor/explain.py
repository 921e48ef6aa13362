"""``tlsdoctor explain``: what an error message means, its likely causes, what to run next.

The message is matched against the catalogue (``knowledge/messages.json``): whitespace is
collapsed so stack traces and wrapped logs match, every entry's patterns are searched, and
the longest match wins (the most specific message: "self-signed certificate in certificate
chain" beats "self-signed certificate"). With a host, the live check says which of the
ranked causes it really is.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from tlsdoctor.knowledge import KnownMessage, MessageCause, message_catalogue
from tlsdoctor.models import Finding, Report

MAX_TEXT = 1024 * 1024  # a pasted log larger than this is cut: the error is near its end
# Where messages name the host they failed on; the first that matches is used.
_HOST_HINTS = (
    re.compile(r"host='([^']+)'"),
    re.compile(r"Could not resolve host: (\S+)"),
    re.compile(r"https://([A-Za-z0-9.-]+\.[A-Za-z]{2,})"),
    re.compile(r"not valid for '([^']+)'"),
    re.compile(r"Host: ([A-Za-z0-9.-]+)\. is not in the cert's altnames"),
    re.compile(r"certificate of '([^']+)'"),
)


@dataclass(frozen=True)
class Explanation:
    """What a message means; ``entry`` is None when it is not recognised."""

    text: str
    entry: KnownMessage | None
    matched: str | None  # the part of the text that matched
    host: str | None  # from the user, or found in the message
    report: Report | None = None  # the live check, with a host
    diagnosis: Finding | None = None  # the finding of the check among the causes

    @property
    def recognised(self) -> bool:
        return self.entry is not None

    @property
    def causes(self) -> tuple[MessageCause, ...]:
        return () if self.entry is None else self.entry.causes

    @property
    def next_step(self) -> str:
        template = self.entry.next if self.entry else "tlsdoctor check {host}"
        return template.replace("{host}", self.host or "HOST")


def normalise(text: str) -> str:
    """One line, single spaces: how patterns see the text."""
    return " ".join(text[-MAX_TEXT:].split())


def match(
    text: str, catalogue: Sequence[KnownMessage] | None = None
) -> tuple[KnownMessage, str] | None:
    """The catalogue entry the text is, and the matched part: the longest match wins."""
    flat = normalise(text)
    best: tuple[int, KnownMessage, str] | None = None
    for entry in message_catalogue() if catalogue is None else catalogue:
        for pattern in entry.patterns:
            found = pattern.search(flat)
            if found and (best is None or len(found.group(0)) > best[0]):
                best = (len(found.group(0)), entry, found.group(0))
    return None if best is None else (best[1], best[2])


def host_in(text: str) -> str | None:
    """A host name the message itself names, if any."""
    for hint in _HOST_HINTS:
        found = hint.search(text)
        if found:
            return found.group(1)
    return None


def explain_text(
    text: str, host: str | None = None, catalogue: Sequence[KnownMessage] | None = None
) -> Explanation:
    """Recognise ``text`` (pure: no network)."""
    found = match(text, catalogue)
    entry, matched = found if found is not None else (None, None)
    return Explanation(text, entry, matched, host or host_in(text))


def with_check(explanation: Explanation, report: Report) -> Explanation:
    """The explanation, with the live check's verdict: which of the causes it is."""
    causes = {cause.code for cause in explanation.causes}
    diagnosis = next((f for f in report.findings if f.code.value in causes), None)
    return Explanation(
        explanation.text,
        explanation.entry,
        explanation.matched,
        explanation.host,
        report,
        diagnosis,
    )
