"""Parsing of the option values the commands share."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

import click
from cryptography import x509

from tlsdoctor.errors import InputError
from tlsdoctor.pem import MAX_INPUT_BYTES, PasswordRequired, load_certificates, read_input

if TYPE_CHECKING:
    from tlsdoctor.online import RevocationInput


EARLIEST = dt.datetime(1950, 1, 1, tzinfo=dt.timezone.utc)
LATEST = dt.datetime(9000, 1, 1, tzinfo=dt.timezone.utc)


def parse_time(text: str) -> dt.datetime:
    """RFC 3339 (``2026-01-01T00:00:00Z``), or a date (midnight UTC); naive means UTC."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise InputError(
            f"--at '{text}' is not a time; use RFC 3339 such as 2026-01-01T00:00:00Z"
        ) from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    try:
        moment = moment.astimezone(dt.timezone.utc)
    except OverflowError as exc:  # 9999-12-31T23:59:59-23:59 is past the year 9999 in UTC
        raise InputError(
            f"--at '{text}' is out of range: {EARLIEST.year}-{LATEST.year} only"
        ) from exc
    if not EARLIEST <= moment <= LATEST:
        # Certificates hold times from 1950 on (RFC 5280); far beyond, the sums of days
        # before expiry would overflow.
        raise InputError(f"--at '{text}' is out of range: {EARLIEST.year}-{LATEST.year} only")
    return moment


def read_file(path: str, password: str | None) -> list[x509.Certificate]:
    """Certificates of ``path``; when a PKCS#12 file needs a password and none was given,
    ask for one on a terminal (never in scripts: they get the error and exit code 3)."""
    secret = password.encode() if password is not None else None
    try:
        return load_certificates(path, secret)
    except PasswordRequired as exc:
        if secret is not None or not sys.stdin.isatty():
            raise
        typed = click.prompt(f"Password for {exc.source}", hide_input=True, err=True)
        return load_certificates(path, typed.encode())


def revocation_files(crl_files: Sequence[str], ocsp_files: Sequence[str]) -> RevocationInput:
    """The CRLs and OCSP responses given on the command line, read."""
    from tlsdoctor.online import RevocationInput

    def read(path: str) -> tuple[str, bytes]:
        data = read_input(path)
        if len(data) > MAX_INPUT_BYTES:
            raise InputError(f"{path}: is larger than {MAX_INPUT_BYTES >> 20} MiB")
        return path, data

    return RevocationInput(
        crls=tuple(read(path) for path in crl_files),
        ocsp_responses=tuple(read(path) for path in ocsp_files),
    )


def served_chain(target: str) -> list[x509.Certificate]:
    """The certificates ``target`` presents, in its order (one handshake, 15 s at most)."""
    import asyncio

    from tlsdoctor.probe.endpoint import Deadline, is_ip, probe
    from tlsdoctor.probe.targets import parse_target

    endpoint = parse_target(target)
    sni = None if is_ip(endpoint.host) else endpoint.host
    # A ProbeError (refused, timeout, not TLS) reaches main(), which exits 3 with it.
    result = asyncio.run(probe(endpoint, sni, Deadline(15.0)))
    if not result.handshake.chain:
        raise InputError(f"{target}: the server presented no certificate")
    try:
        return [x509.load_der_x509_certificate(der) for der in result.handshake.chain]
    except ValueError as exc:
        raise InputError(f"{target}: a certificate it presents is unreadable") from exc


def parse_resolve(entries: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """``--resolve HOST:PORT:ADDR[,ADDR...]`` (curl's form; PORT may be ``*``; an IPv6
    address in brackets) as the resolver override of :class:`tlsdoctor.live.LiveOptions`."""
    import ipaddress

    hosts: dict[str, tuple[str, ...]] = {}
    for entry in entries:
        host, _, rest = entry.partition(":")
        port, _, listed = rest.partition(":")
        addresses = tuple(a.strip().strip("[]") for a in listed.split(",") if a.strip())
        valid = bool(host) and (port == "*" or port.isdigit()) and bool(addresses)
        try:
            for address in addresses:
                ipaddress.ip_address(address)
        except ValueError:
            valid = False
        if not valid:
            raise click.UsageError(
                f"--resolve {entry[:100]!r} is not HOST:PORT:ADDRESS[,ADDRESS...] "
                "(e.g. www.example.com:443:192.0.2.1,192.0.2.2)"
            )
        key = host.lower() if port == "*" else f"{host.lower()}:{int(port)}"
        hosts[key] = tuple(dict.fromkeys(addresses))[:MAX_RESOLVE_ADDRESSES]
    return hosts


MAX_RESOLVE_ADDRESSES = 64
