"""Linear-time matching of many patterns against pasted text (RE2).

Pasted text is hostile input: a backtracking engine (Python's ``re``) can take minutes on a
crafted paste (``[^']*'`` after every quote of 200 KB is quadratic). RE2 guarantees time
linear in the text for every pattern it accepts, and refuses the constructs that cannot be
linear (lookarounds, backreferences). All patterns are searched in one pass with an RE2 set;
only those that matched are searched again, one by one, for the matched span.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import re2

# RE2's own memory budget per pattern set; a catalogue of a few hundred patterns needs a
# fraction of it. Past it, RE2 fails the search instead of slowing down.
_MAX_MEMORY = 64 << 20


class PatternError(ValueError):
    """A pattern RE2 refuses: not linear-time (lookaround, backreference) or malformed."""


@dataclass(frozen=True)
class Hit:
    index: int  # which pattern (its position in the sequence given)
    start: int
    end: int
    text: str

    @property
    def length(self) -> int:
        return self.end - self.start


def _options() -> Any:
    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False
    options.max_mem = _MAX_MEMORY
    return options


def compile_pattern(pattern: str) -> Any:
    """One pattern, case-insensitive; PatternError if RE2 cannot run it in linear time."""
    try:
        return re2.compile(pattern, options=_options())
    except re2.error as exc:
        raise PatternError(f"{pattern!r}: {exc}") from None


class PatternSet:
    """Many patterns, searched in one linear pass; ``hits`` says where each matched."""

    def __init__(self, patterns: Sequence[str]) -> None:
        self.patterns = tuple(patterns)
        self._compiled = tuple(compile_pattern(pattern) for pattern in self.patterns)
        self._set: Any = None
        if self.patterns:
            self._set = re2.Set.SearchSet(_options())
            for pattern in self.patterns:
                self._set.Add(pattern)
            self._set.Compile()

    def hits(self, text: str) -> list[Hit]:
        """The first match of every pattern that occurs in ``text``, in pattern order."""
        if self._set is None:
            return []
        found: list[Hit] = []
        for index in sorted(self._set.Match(text) or ()):
            match = self._compiled[index].search(text)
            if match is not None:
                start, end = match.span()
                found.append(Hit(index, start, end, match.group(0)))
        return found
