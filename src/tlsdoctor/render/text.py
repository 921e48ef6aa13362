"""Reports for people: a one-line verdict, each finding with evidence and fix, the chain."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, TextIO

from rich.console import Console
from rich.markup import escape
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from tlsdoctor.codes import Severity, Verdict
from tlsdoctor.models import CertSummary, Finding, JsonValue, Report, rfc3339
from tlsdoctor.render.safe import make_visible, safe_dn, safe_host, safe_text, safe_url

_VERDICT_STYLE = {
    Verdict.TRUSTED: ("✓ TRUSTED", "bold green"),
    Verdict.UNTRUSTED: ("✗ UNTRUSTED", "bold red"),
    Verdict.ERROR: ("? COULD NOT CHECK", "bold yellow"),
}
MAX_EVIDENCE_ITEMS = 8
MAX_MESSAGE = 1000  # characters of one message or evidence value: the rest is elided


# Piped output is read by people in files and pagers: wider than Rich's 80-column default.
PIPE_WIDTH = 120


class SafeConsole(Console):
    """A console that never lets a control, bidi or invisible character through: every
    string it renders (print arguments, table cells, padded text) is made visible first,
    whatever the caller forgot to pass through :func:`safe_text`."""

    def render_str(self, text: str, **kwargs: Any) -> Text:
        return super().render_str(make_visible(text, keep="\n\t"), **kwargs)


def make_console(stream: TextIO | None = None, color: bool | None = None) -> Console:
    """A console for data output: no syntax highlighting, width from the terminal."""
    console = SafeConsole(
        file=stream,
        highlight=False,
        no_color=color is False,
        force_terminal=color is True or None,
        soft_wrap=False,
    )
    if not console.is_terminal:
        console.width = PIPE_WIDTH
    return console


def render_report(report: Report, console: Console) -> None:
    """Print one report: verdict line, findings, chain, clients, anchors."""
    text, style = _VERDICT_STYLE[report.verdict]
    warnings = sum(1 for f in report.findings if f.severity is Severity.WARNING)
    if report.verdict is Verdict.TRUSTED and warnings:
        text, style = "✓ TRUSTED (with warnings)", "bold yellow"
    target = report.target
    what = safe_host(target.host) if target.host else "(no host name given)"
    if target.port is not None:
        what = f"[{what}]:{target.port}" if ":" in what else f"{what}:{target.port}"
    if report.target.files:
        what += f"  chain from {', '.join(safe_text(f, 200) for f in report.target.files)}"
    console.print(f"[{style}]{text}[/]  {escape(what)}")
    console.print(f"[dim]evaluated at {_when(report.evaluated_at)}[/]")
    if report.tls is not None:
        console.print(f"[dim]{escape(_connection_line(report))}[/]")
    for backend in report.backends:
        outcome = ", ".join(code.value for code in backend.codes) or "no problems"
        console.print(
            f"[dim]backend {escape(backend.address)}: {backend.verdict.value} ({outcome})[/]"
        )
    for note in report.notes:
        console.print(f"[dim]note: {escape(note)}[/]")
    if not report.findings:
        console.print("No problems found: every client would trust this chain.")
    for number, finding in enumerate(report.findings, start=1):
        console.print()
        _render_finding(number, finding, console)
    console.print()
    if report.chain:
        title = "Chain as given" if report.target.files else "Chain as sent"
        _render_chain(title, report.chain, report, console)
    if report.path and [c.sha256 for c in report.path] != [c.sha256 for c in report.chain]:
        _render_chain("Path to a trust anchor", report.path, report, console)
    if report.verdict is not Verdict.ERROR:
        _render_clients(report, console)
    if report.revocation is not None:
        where = (
            f" ({report.revocation.source}: {report.revocation.url})"
            if report.revocation.url
            else ""
        )
        console.print(
            f"[dim]Revocation: {report.revocation.state}{escape(safe_text(where))}: "
            f"{escape(safe_text(report.revocation.detail, MAX_MESSAGE))}[/]"
        )
    for fetch in report.fetches:
        outcome = fetch.error or f"HTTP {fetch.status}, {fetch.bytes} bytes"
        cached = ", cached" if fetch.cached else ""
        console.print(
            f"[dim]Fetched ({fetch.purpose}) {escape(safe_url(fetch.url))}: "
            f"{escape(safe_text(outcome))}{cached}[/]"
        )
    anchors = "; ".join(f"{s.name}, {s.count} roots" for s in report.trust_anchors)
    console.print(f"[dim]Trust anchors: {escape(anchors)}[/]")


# Evidence that identifies rather than explains: in the JSON, not in the text.
_JSON_ONLY_EVIDENCE = frozenset(
    {
        "certificate",
        "sha256",
        "root_sha256",
        "aia_urls",
        "issuer_candidate_sha256",
        "wrong_intermediate_sent",
        "issuer_is_public_ca",
        "evaluated_at",
        "violations",  # standards_violation: the "rules" line says it for people
    }
)


_NAMES = frozenset({"subject", "issuer", "leaf_subject", "root_subject"})


def _render_finding(number: int, finding: Finding, console: Console) -> None:
    colour = "red" if finding.severity is Severity.ERROR else "yellow"
    console.print(
        f"[bold {colour}]{number}. {finding.code.value}[/] [dim]({finding.severity.value})[/]"
    )
    console.print(
        Padding(escape(safe_text(finding.message, MAX_MESSAGE)), (0, 0, 0, 3), expand=False)
    )
    for key, value in finding.evidence.items():
        if key in _JSON_ONLY_EVIDENCE or value in (None, [], ""):
            continue
        shown = _value(value)
        # Names of certificates: flagged when their CN is a look-alike host name.
        shown = safe_dn(shown, MAX_MESSAGE) if key in _NAMES else safe_text(shown, MAX_MESSAGE)
        console.print(
            Padding(
                f"[dim]{escape(key)}:[/] {escape(shown)}",
                (0, 0, 0, 3),
                expand=False,
            )
        )
    for step in finding.fix:
        console.print(
            Padding(
                f"[green]fix:[/] {escape(safe_text(step, MAX_MESSAGE))}", (0, 0, 0, 3), expand=False
            )
        )


def _value(value: JsonValue) -> str:
    if isinstance(value, list):
        items = [_value(item) for item in value[:MAX_EVIDENCE_ITEMS]]
        more = (
            f" (+{len(value) - MAX_EVIDENCE_ITEMS} more)" if len(value) > MAX_EVIDENCE_ITEMS else ""
        )
        return ", ".join(items) + more
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):  # e.g. one local store: "system no (curl, wget)"
        first, *rest = value.values() if value else [""]
        details = f" ({'; '.join(_value(item) for item in rest)})" if rest else ""
        return f"{_value(first)}{details}"
    return str(value)


def _render_chain(
    title: str, certs: tuple[CertSummary, ...], report: Report, console: Console
) -> None:
    table = Table(title=title, title_justify="left", show_lines=False, expand=False)
    table.add_column("#", justify="right")
    table.add_column("role")
    table.add_column("subject", overflow="fold")
    table.add_column("issuer", overflow="fold")
    table.add_column("valid until")
    table.add_column("key")
    table.add_column("signature")
    for index, cert in enumerate(certs):
        days = (cert.not_after - report.evaluated_at) / dt.timedelta(days=1)
        until = cert.not_after.strftime("%Y-%m-%d")
        if days < 0:
            until = f"[red]{until} (expired)[/]"
        elif cert.not_before > report.evaluated_at:
            until = f"[red]{until} (not yet valid)[/]"
        else:
            until = f"{until} ({int(days)} d)"
        role = cert.role if cert.presented else f"{cert.role} (trust store)"
        table.add_row(
            str(index),
            role,
            escape(_short_name(cert.subject)),
            escape(_short_name(cert.issuer)),
            until,
            cert.key,
            cert.signature,
        )
    console.print(table)


def _short_name(name: str) -> str:
    for part in name.split(","):
        if part.startswith("CN="):
            common_name = part[3:]
            # A name that looks like a host name is shown with its A-label when needed.
            if "." in common_name and " " not in common_name:
                return safe_host(common_name)
            return safe_text(common_name, 200)
    return safe_text(name, 200) or "(empty)"


def _render_clients(report: Report, console: Console) -> None:
    trusted = [c.client for c in report.clients if c.trusted]
    failing = [c for c in report.clients if not c.trusted]
    if not failing:
        console.print(f"[green]Works in every client:[/] {', '.join(trusted)}")
        return
    table = Table(title="Who fails", title_justify="left", expand=False)
    table.add_column("client", no_wrap=True)
    table.add_column("roots", no_wrap=True)
    table.add_column("because", no_wrap=True)
    table.add_column("what it prints", overflow="fold")
    for client in failing:
        codes = ", ".join(code.value for code in client.codes)
        table.add_row(
            f"[red]{client.client}[/]", client.store, codes, escape(client.expected_error or "")
        )
    console.print(table)
    if trusted:
        console.print(f"[green]Works in:[/] {', '.join(trusted)}")


def _connection_line(report: Report) -> str:
    tls = report.tls
    assert tls is not None
    parts = [f"connected to {tls.address}"]
    if len(tls.addresses) > 1:
        parts.append(f"(of {', '.join(tls.addresses)})")
    if tls.starttls:
        parts.append(f"via STARTTLS ({tls.starttls})")
    if tls.version:
        parts.append(f"with {tls.version} {tls.cipher or ''}".rstrip())
    parts.append(f"SNI {report.target.sni}" if report.target.sni else "without SNI")
    if tls.client_certificate:
        parts.append(f"client certificate {tls.client_certificate}")
    if report.server_clock is not None:
        parts.append(
            f"server clock {_when(report.server_clock.date)} "
            f"(ours {report.server_clock.offset_seconds:+.0f} s)"
        )
    return "; ".join(parts)


def render_line(report: Report, console: Console) -> None:
    """One line per target, for runs over many targets."""
    text, style = _VERDICT_STYLE[report.verdict]
    target = report.target
    host = safe_host(target.host) if target.host else "?"
    name = f"{host}:{target.port}" if target.port else host
    if report.findings:
        first = report.findings[0]
        detail = f"{', '.join(code.value for code in report.codes)}: {first.message}"
    else:
        detail = "no problems found"
    console.print(f"[{style}]{text:<12}[/] {escape(name)}  [dim]{escape(safe_text(detail))}[/]")


def render_summary(console: Console, verdicts: Mapping[str, int], codes: Mapping[str, int]) -> None:
    """The table at the end of a run over many targets."""
    table = Table(title="Summary", title_justify="left")
    table.add_column("verdict / finding")
    table.add_column("targets", justify="right")
    for verdict in ("trusted", "untrusted", "error"):
        table.add_row(f"[bold]{verdict}[/]", str(verdicts.get(verdict, 0)))
    for code, count in sorted(codes.items(), key=lambda item: (-item[1], item[0])):
        table.add_row(f"  {code}", str(count))
    console.print(table)


def _when(moment: dt.datetime) -> str:
    return rfc3339(moment).replace("T", " ").replace("Z", " UTC")
