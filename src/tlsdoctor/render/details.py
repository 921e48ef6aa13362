"""``inspect`` output: certificate details as a viewer shows them, and as JSON."""

from __future__ import annotations

import dataclasses
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tlsdoctor.describe import CertificateDetails, validation_name
from tlsdoctor.models import rfc3339

MAX_NAMES_SHOWN = 20


def details_to_dict(details: CertificateDetails) -> dict[str, Any]:
    data = dataclasses.asdict(details)
    data["not_before"] = rfc3339(details.not_before)
    data["not_after"] = rfc3339(details.not_after)
    for key, value in data.items():
        if isinstance(value, tuple):
            data[key] = list(value)
    return data


def render_details(index: int, source: str, details: CertificateDetails, console: Console) -> None:
    status_style = {"valid": "green", "expired": "red", "not yet valid": "red"}[details.status]
    table = Table(
        title=f"Certificate {index} of {source}", title_justify="left", show_header=False, box=None
    )
    table.add_column("field", style="bold", no_wrap=True)
    table.add_column("value", overflow="fold")
    names = list(details.dns_names) + list(details.ip_addresses) + list(details.other_names)
    shown = ", ".join(names[:MAX_NAMES_SHOWN])
    if len(names) > MAX_NAMES_SHOWN:
        shown += f" (+{len(names) - MAX_NAMES_SHOWN} more, {len(names)} in all)"
    if details.days_left >= 0:
        left = f"{details.days_left} days left"
    else:
        left = f"expired {-details.days_left} days ago"
    rows: list[tuple[str, str]] = [
        ("Subject", escape(details.subject or "(empty)")),
        ("Issuer", escape(details.issuer or "(empty)")),
        ("Type", details.certificate_type + (" (self-signed)" if details.self_signed else "")),
        ("Names", escape(shown or "(none)")),
        (
            "Validity",
            f"{details.not_before:%Y-%m-%d %H:%M} to {details.not_after:%Y-%m-%d %H:%M} UTC "
            f"({details.lifetime_days:g} days): [{status_style}]{details.status}[/], {left}",
        ),
        ("Key", details.key),
        ("Signature", details.signature),
        ("SHA-256", details.sha256),
        ("SHA-1", details.sha1),
        ("Serial", details.serial),
        ("Version", str(details.version)),
    ]
    if details.is_ca:
        path = "" if details.path_length is None else f", path length {details.path_length}"
        rows.append(("CA", f"yes{path}"))
    if details.key_usage:
        rows.append(("Key usage", ", ".join(details.key_usage)))
    if details.extended_key_usage:
        rows.append(("Extended key usage", ", ".join(details.extended_key_usage)))
    if details.validation or details.policies:
        level = validation_name(details.validation) or "not stated"
        rows.append(("Validation", f"{level}; policies {', '.join(details.policies)}"))
    rows.extend(
        [
            ("OCSP", escape(", ".join(details.ocsp_urls) or "(none)")),
            ("CA issuers", escape(", ".join(details.ca_issuer_urls) or "(none)")),
            ("CRL", escape(", ".join(details.crl_urls) or "(none)")),
            ("SCTs", str(details.sct_count)),
        ]
    )
    if details.must_staple:
        rows.append(("OCSP must-staple", "yes"))
    if details.subject_key_id:
        rows.append(("Subject key ID", details.subject_key_id))
    if details.authority_key_id:
        rows.append(("Authority key ID", details.authority_key_id))
    rows.append(
        (
            "Extensions",
            ", ".join(f"{e.name}{' (critical)' if e.critical else ''}" for e in details.extensions)
            or "(none)",
        )
    )
    for problem in details.problems:
        rows.append(("[red]Problem[/]", escape(problem)))
    for field, value in rows:
        table.add_row(field, value)
    console.print(table)
