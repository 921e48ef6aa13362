"""Just enough DER to find an element's length and contents: for the few places where
cryptography does not expose the encoding (an OCSP KeyHash, a CRL's entries, the time types
of a certificate's validity)."""

from __future__ import annotations


def der_header(data: bytes, at: int) -> tuple[int, int]:
    """(length, offset of the contents) of the DER element at ``at``."""
    first = data[at + 1]
    if first < 0x80:
        return first, at + 2
    count = first & 0x7F
    return int.from_bytes(data[at + 2 : at + 2 + count], "big"), at + 2 + count
