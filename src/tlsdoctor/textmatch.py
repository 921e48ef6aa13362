"""Linear-time matching of many patterns against pasted text (RE2).

Pasted text is hostile input: a backtracking engine (Python's ``re``) can take minutes on a
crafted paste (``[^']*'`` after every quote of 200 KB is quadratic). RE2 guarantees time
linear in the text for every pattern it accepts, and refuses the constructs that cannot be
linear (lookarounds, backreferences).

The text is searched as UTF-8 bytes, encoded once by the caller (``encode``): the binding's
``str`` interface encodes the whole text and maps offsets back on every call, which made a
1 MB paste that matches hundreds of patterns take seconds. All patterns of a set are searched
in one pass per window of the text; only the patterns that matched in a window are searched
again, in that window only, for the matched span. Offsets are byte offsets.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import re2

# RE2's own memory budget per pattern; past it RE2 fails the search instead of slowing down.
_MAX_MEMORY = 64 << 20
# A set is searched window by window, so that the patterns that matched are searched again in
# one window instead of the whole text. Windows overlap by more than any message is long.
WINDOW = 64 * 1024
OVERLAP = 8 * 1024


class PatternError(ValueError):
    """A pattern RE2 refuses: not linear-time (lookaround, backreference) or malformed."""


@dataclass(frozen=True)
class Hit:
    index: int  # which pattern (its position in the sequence given)
    start: int  # byte offsets in the searched text
    end: int
    text: str
    groups: tuple[str | None, ...] = ()

    @property
    def length(self) -> int:
        return self.end - self.start


def encode(text: str) -> bytes:
    """The text as the patterns search it (UTF-8; unpaired surrogates replaced)."""
    return text.encode("utf-8", "replace")


def _options() -> Any:
    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False
    options.max_mem = _MAX_MEMORY
    return options


def _compiled(pattern: str) -> Any:
    try:
        return re2.compile(pattern.encode(), options=_options())
    except re2.error as exc:
        raise PatternError(f"{pattern!r}: {exc}") from None


def _hit(index: int, match: Any, offset: int = 0) -> Hit:
    start, end = match.span()
    groups = tuple(None if g is None else g.decode("utf-8", "replace") for g in match.groups())
    return Hit(
        index, offset + start, offset + end, match.group(0).decode("utf-8", "replace"), groups
    )


class Pattern:
    """One pattern, case-insensitive, over bytes."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self._re = _compiled(pattern)

    def search(self, data: bytes) -> Hit | None:
        match = self._re.search(data)
        return None if match is None else _hit(0, match)

    def finditer(self, data: bytes) -> Iterator[Hit]:
        return (_hit(0, match) for match in self._re.finditer(data))


def compile_pattern(pattern: str) -> Pattern:
    """One pattern; PatternError if RE2 cannot run it in linear time."""
    return Pattern(pattern)


class PatternSet:
    """Many patterns, searched together; ``hits`` says where each first matched."""

    def __init__(self, patterns: Sequence[str]) -> None:
        self.patterns = tuple(patterns)
        self._compiled = tuple(_compiled(pattern) for pattern in self.patterns)
        self._set: Any = None
        if self.patterns:
            self._set = re2.Set.SearchSet(_options())
            for pattern in self.patterns:
                self._set.Add(pattern.encode())
            self._set.Compile()

    def hits(self, data: bytes) -> list[Hit]:
        """The first match of every pattern that occurs in ``data``, in pattern order."""
        if self._set is None:
            return []
        found: dict[int, Hit] = {}
        for offset in range(0, max(len(data) - OVERLAP, 1), WINDOW - OVERLAP):
            window = data[offset : offset + WINDOW]
            for index in self._set.Match(window) or ():
                if index not in found:
                    match = self._compiled[index].search(window)
                    if match is not None:
                        found[index] = _hit(index, match, offset)
        return [found[index] for index in sorted(found)]
