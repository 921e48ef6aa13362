"""A minimal, bounded DER reader: just enough to look at a PKCS#12 file's password
stretching before handing the file to a library that would run it.

PKCS#12 (RFC 7292) names its PBKDF2 round counts in three places, each a SEQUENCE whose
OCTET STRING salt is followed by an INTEGER count: the MacData (after the DigestInfo),
the PKCS#12 PBE parameters and the PBKDF2 parameters of PBES2 (RFC 8018). The walk
below finds every such pair, descending into constructed values and into OCTET STRINGs
that hold DER themselves (the authenticated safe), with bounds on depth and on the
number of elements, so that a crafted file costs microseconds, never a hang.
"""

from __future__ import annotations

from collections.abc import Iterator

MAX_DEPTH = 24
MAX_ELEMENTS = 20_000

_OCTET_STRING = 0x04
_INTEGER = 0x02


class _Budget:
    def __init__(self) -> None:
        self.left = MAX_ELEMENTS


def _elements(data: bytes, budget: _Budget) -> Iterator[tuple[int, bytes]] | None:
    """The (tag, content) pairs of ``data`` if it is a run of well-formed DER elements."""
    found: list[tuple[int, bytes]] = []
    offset = 0
    while offset < len(data):
        budget.left -= 1
        if budget.left < 0 or offset + 2 > len(data):
            return None
        tag = data[offset]
        if tag & 0x1F == 0x1F:  # multi-byte tags: not used by PKCS#12's structures
            return None
        length = data[offset + 1]
        offset += 2
        if length & 0x80:
            count = length & 0x7F
            if count == 0 or count > 4 or offset + count > len(data):
                return None
            length = int.from_bytes(data[offset : offset + count], "big")
            offset += count
        if offset + length > len(data):
            return None
        found.append((tag, data[offset : offset + length]))
        offset += length
    return iter(found)


def _counts(data: bytes, depth: int, budget: _Budget) -> Iterator[int]:
    if depth > MAX_DEPTH:
        return
    elements = _elements(data, budget)
    if elements is None:
        return
    previous = -1
    for tag, content in elements:
        if tag == _INTEGER and previous == _OCTET_STRING and 0 < len(content) <= 16:
            yield int.from_bytes(content, "big", signed=True)
        # Constructed values (SEQUENCE, SET, [n] explicit) and OCTET STRINGs that wrap DER.
        nested = tag & 0x20 or (tag == _OCTET_STRING and content[:1] in (b"\x30", b"\x31"))
        if nested:
            yield from _counts(content, depth + 1, budget)
        previous = tag


def iteration_counts(data: bytes) -> list[int]:
    """Every salt-then-count INTEGER in ``data`` (the PBKDF2 round counts of a PKCS#12
    file); empty when ``data`` is not DER."""
    return list(_counts(data, 0, _Budget()))
