"""Small files the user names (a CSR, a TSIG key, an EAB key, a renewal configuration):
read whole but bounded, every failure one sentence."""

from __future__ import annotations

from pathlib import Path

from tlsdoctor.errors import InputError


def read_bounded(path: str | Path, limit: int, what: str) -> bytes:
    """The bytes of ``path``, refusing more than ``limit`` (``what`` names the expected
    content: "a certificate request")."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    if len(data) > limit:
        raise InputError(f"{path}: far too large to be {what}")
    return data
