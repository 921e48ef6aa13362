"""``inspect`` output: certificate details as a viewer shows them, and as JSON."""

from __future__ import annotations

import dataclasses
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tlsdoctor.describe import CertificateDetails, validation_name
from tlsdoctor.models import rfc3339
from tlsdoctor.render.safe import safe_dn, safe_host, safe_text, safe_url
from tlsdoctor.wording import plural

MAX_NAMES_SHOWN = 20
MAX_FIELD = 1000  # characters of one field shown; the JSON has it all
MAX_URLS_SHOWN = 5


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
    # A look-alike name (a Cyrillic а in аpple.com) is shown with its A-label, flagged.
    shown = ", ".join(safe_host(name) for name in names[:MAX_NAMES_SHOWN])
    if len(names) > MAX_NAMES_SHOWN:
        shown += f" (+{len(names) - MAX_NAMES_SHOWN} more, {len(names)} in all)"
    if details.status == "expired":  # the status says "expired": say it once
        left = f"{plural(-details.days_left, 'day')} ago"
    elif details.status == "not yet valid":
        left = f"{plural(details.days_left, 'day')} left after that"
    else:
        left = f"{plural(details.days_left, 'day')} left"
    rows: list[tuple[str, str]] = [
        ("Subject", escape(safe_dn(details.subject, MAX_FIELD) or "(empty)")),
        ("Issuer", escape(safe_dn(details.issuer, MAX_FIELD) or "(empty)")),
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
            ("OCSP", escape(_urls(details.ocsp_urls))),
            ("CA issuers", escape(_urls(details.ca_issuer_urls))),
            ("CRL", escape(_urls(details.crl_urls))),
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
        rows.append(("[red]Problem[/]", escape(safe_text(problem, MAX_FIELD))))
    for field, value in rows:
        table.add_row(field, value)
    console.print(table)


def _urls(urls: tuple[str, ...]) -> str:
    shown = ", ".join(safe_url(url) for url in urls[:MAX_URLS_SHOWN])
    more = f" (+{len(urls) - MAX_URLS_SHOWN} more)" if len(urls) > MAX_URLS_SHOWN else ""
    return shown + more or "(none)"
