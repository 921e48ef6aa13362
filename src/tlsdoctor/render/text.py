"""Reports for people: a one-line verdict, each finding with its fix, the chain, who fails.

The default report is short enough for a 40-line terminal when one thing is wrong; with
``verbose`` it adds every piece of evidence, each failing client's own error message, the
signatures, the fetches and the TLS details.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import sys
from collections.abc import Iterable, Mapping
from typing import Any, TextIO

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.padding import Padding
from rich.segment import Segment
from rich.table import Table
from rich.text import Text

from tlsdoctor.codes import FindingCode, Severity, Verdict
from tlsdoctor.models import (
    CertSummary,
    ClientVerdict,
    Finding,
    JsonValue,
    Report,
    rfc3339,
)
from tlsdoctor.render.safe import make_visible, safe_dn, safe_host, safe_text, safe_url
from tlsdoctor.wording import plural

_VERDICT_STYLE = {
    Verdict.TRUSTED: ("✓ TRUSTED", "bold green"),
    Verdict.UNTRUSTED: ("✗ UNTRUSTED", "bold red"),
    Verdict.ERROR: ("? COULD NOT CHECK", "bold yellow"),
}
MAX_EVIDENCE_ITEMS = 8
MAX_MESSAGE = 1000  # characters of one message or evidence value: the rest is elided


# Piped output is read by people in files and pagers: wider than Rich's 80-column default
# (COLUMNS, when set, wins: ``COLUMNS=80 tlsdoctor check ... | less``).
PIPE_WIDTH = 120
# Spaces Rich pads a line with, before the style codes that end it.
_STYLE_CODE = re.compile(r"\x1b\[[0-9;]*m")
_LINE_END = re.compile(r"(?:[ \t]|\x1b\[[0-9;]*m)+(?=\n|$)")


class SafeConsole(Console):
    """A console that never lets a control, bidi or invisible character through: every
    string it renders (print arguments, table cells, padded text) is made visible first,
    whatever the caller forgot to pass through :func:`safe_text`."""

    def render_str(self, text: str, **kwargs: Any) -> Text:
        return super().render_str(make_visible(text, keep="\n\t"), **kwargs)

    def _render_buffer(self, buffer: Iterable[Segment]) -> str:
        # No line ends in the spaces Rich pads tables and wrapped text with.
        return _LINE_END.sub(_codes_only, super()._render_buffer(buffer))

    def on_broken_pipe(self) -> None:
        """The reader stopped reading (``| head -2``): the rest is dropped and the command
        still exits with its own code, where Rich's default exits with 1."""
        self.quiet = True
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def _codes_only(end_of_line: re.Match[str]) -> str:
    return "".join(_STYLE_CODE.findall(end_of_line.group()))


def make_console(stream: TextIO | None = None, color: bool | None = None) -> Console:
    """A console for data output: no syntax highlighting, width from the terminal."""
    console = SafeConsole(
        file=stream,
        highlight=False,
        no_color=color is False,
        force_terminal=color is True or None,
        soft_wrap=False,
    )
    if not console.is_terminal and not os.environ.get("COLUMNS", "").isdigit():
        console.width = PIPE_WIDTH
    return console


def render_report(report: Report, console: Console, *, verbose: bool = False) -> None:
    """Print one report: verdict line, findings with their fixes, the chain, who fails.

    ``verbose`` adds the evidence of each finding, every failing client's own message,
    issuers and signatures, fetches and the full connection details."""
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
    if verbose:
        console.print(f"[dim]evaluated at {_when(report.evaluated_at)}[/]")
        if report.tls is not None:
            console.print(f"[dim]{escape(_connection_line(report))}[/]")
    else:
        console.print(f"[dim]{escape(_short_connection_line(report))}[/]")
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
        _render_finding(number, finding, console, verbose)
    console.print()
    if report.chain or report.path:
        _render_chains(report, console, verbose)
        console.print()
    if report.verdict is not Verdict.ERROR:
        _render_clients(report, console, verbose)
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
    if verbose:
        for fetch in report.fetches:
            outcome = fetch.error or f"HTTP {fetch.status}, {fetch.bytes} bytes"
            cached = ", cached" if fetch.cached else ""
            console.print(
                f"[dim]Fetched ({fetch.purpose}) {escape(safe_url(fetch.url))}: "
                f"{escape(safe_text(outcome))}{cached}[/]"
            )
    anchors = "; ".join(f"{s.name}, {plural(s.count, 'root')}" for s in report.trust_anchors)
    console.print(f"[dim]Trust anchors: {escape(anchors)}[/]")
    if not verbose and (report.findings or report.fetches):
        console.print("[dim]More detail: --verbose; the report as JSON: --json[/]")


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
# Evidence lines a short report shows for one finding; the rest is behind --verbose.
MAX_SHORT_EVIDENCE = 3
MAX_SHORT_FIXES = 2  # the first fixes of a finding are the likeliest ones


_NAMES = frozenset({"subject", "issuer", "leaf_subject", "root_subject"})


def _render_finding(number: int, finding: Finding, console: Console, verbose: bool) -> None:
    colour = "red" if finding.severity is Severity.ERROR else "yellow"
    console.print(
        f"[bold {colour}]{number}. {finding.code.value}[/] [dim]({finding.severity.value})[/]"
    )
    console.print(
        Padding(escape(safe_text(finding.message, MAX_MESSAGE)), (0, 0, 0, 3), expand=False)
    )
    shown_lines = 0
    for key, value in finding.evidence.items():
        if key in _JSON_ONLY_EVIDENCE or value in (None, [], ""):
            continue
        if not verbose and (
            shown_lines >= MAX_SHORT_EVIDENCE or _said_already(value, finding.message)
        ):
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
        shown_lines += 1
    steps = finding.fix if verbose else finding.fix[:MAX_SHORT_FIXES]
    for step in steps:
        console.print(
            Padding(
                f"[green]fix:[/] {escape(safe_text(step, MAX_MESSAGE))}", (0, 0, 0, 3), expand=False
            )
        )
    if len(steps) < len(finding.fix):
        more = len(finding.fix) - len(steps)
        console.print(
            Padding(
                f"[dim]({plural(more, 'more fix', 'more fixes')}: --verbose)[/]",
                (0, 0, 0, 3),
                expand=False,
            )
        )


def _said_already(value: JsonValue, message: str) -> bool:
    """Evidence a short report leaves out: flags and counts, and values the message
    already says (a name, ``CN=name``, the date of a timestamp)."""
    if isinstance(value, (bool, int, float)):
        return True
    if isinstance(value, list):
        return all(_said_already(item, message) for item in value)
    if not isinstance(value, str):
        return False
    text = value
    if text.startswith("CN="):  # a name: its CN is what a message quotes
        text = text[3:].split(",", 1)[0]
    if re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:]+Z", text):
        text = text[:10]
    return text in message


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


def _render_chains(report: Report, console: Console, verbose: bool) -> None:
    """The chain as sent and the path to a trust anchor: one table when the path is the
    chain, perhaps completed by a root from the store; two when they differ."""
    chain, path = report.chain, report.path
    sent = "given" if report.target.files else "sent"
    chain_ids = [c.sha256 for c in chain]
    if path and [c.sha256 for c in path[: len(chain)]] == chain_ids:
        added = len(path) - len(chain)
        title = f"Chain as {sent}" + (", completed to a trust anchor" if added else "")
        _render_chain(title, path, report, console, verbose, issuer=False)
        return
    if chain:
        _render_chain(f"Chain as {sent}", chain, report, console, verbose, issuer=True)
    if chain and path:
        console.print()
    if path:
        _render_chain("Path to a trust anchor", path, report, console, verbose, issuer=False)


def _render_chain(
    title: str,
    certs: tuple[CertSummary, ...],
    report: Report,
    console: Console,
    verbose: bool,
    *,
    issuer: bool,
) -> None:
    subjects = [escape(_short_name(cert.subject)) for cert in certs]
    issuers = [escape(_short_name(cert.issuer)) for cert in certs]
    # A host name is never folded in the middle: its column is as wide as the longest one.
    widest = min(max(len(name) for name in subjects), MAX_NAME_WIDTH)
    table = Table(
        title=title,
        title_justify="left",
        show_lines=False,
        expand=False,
        box=box.HEAVY_HEAD if verbose else None,
        pad_edge=verbose,
        header_style="bold",
    )
    table.add_column("#", justify="right")
    table.add_column("role", no_wrap=True)
    table.add_column("subject", overflow="fold", min_width=widest)
    if issuer:
        table.add_column("issuer", overflow="fold")
    table.add_column("valid until", no_wrap=True)
    codes = set(report.codes)
    key = verbose or FindingCode.WEAK_KEY in codes
    signature = verbose or FindingCode.WEAK_SIGNATURE in codes
    if key:
        table.add_column("key", overflow="fold")
    if signature:
        table.add_column("signature", overflow="fold")
    for index, cert in enumerate(certs):
        days = (cert.not_after - report.evaluated_at) / dt.timedelta(days=1)
        until = cert.not_after.strftime("%Y-%m-%d")
        if days < 0:
            until = f"[red]{until} (expired)[/]"
        elif cert.not_before > report.evaluated_at:
            until = f"[red]{until} (not yet valid)[/]"
        else:
            until = f"{until} ({int(days)} d)"
        row = [str(index), _role(cert), subjects[index]]
        if issuer:
            row.append(issuers[index])
        row.append(until)
        if key:
            row.append(cert.key)
        if signature:
            row.append(cert.signature)
        table.add_row(*row)
    console.print(table)


def _role(cert: CertSummary) -> str:
    """The role, and where a certificate the server did not send came from: a root from
    the trust store, an intermediate from the store or an AIA download."""
    if cert.presented:
        return cert.role
    return f"{cert.role} (trust store)" if cert.role == "root" else f"{cert.role} (not sent)"


MAX_NAME_WIDTH = 64  # columns a subject may claim before the table folds it


def _short_name(name: str) -> str:
    for part in name.split(","):
        if part.startswith("CN="):
            common_name = part[3:]
            # A name that looks like a host name is shown with its A-label when needed.
            if "." in common_name and " " not in common_name:
                return safe_host(common_name)
            return safe_text(common_name, 200)
    return safe_text(name, 200) or "(empty)"


def _render_clients(report: Report, console: Console, verbose: bool) -> None:
    trusted = [c.client for c in report.clients if c.trusted]
    failing = [c for c in report.clients if not c.trusted]
    if not failing:
        console.print(f"[green]Works in every client:[/] {', '.join(trusted)}")
        return
    if verbose:
        _render_client_table(failing, console)
    else:
        # Clients failing for the same reasons on one line; one of them quoted.
        groups: dict[tuple[str, ...], list[ClientVerdict]] = {}
        for client in failing:
            groups.setdefault(tuple(code.value for code in client.codes), []).append(client)
        for codes, clients in groups.items():
            names = ", ".join(c.client for c in clients)
            if not trusted and len(groups) == 1:
                names = f"all {len(clients)} clients"
            because = f" ({', '.join(codes)})" if codes else ""
            console.print(f"[red]Who fails:[/] {escape(names)}{because}")
            quoted = next((c for c in clients if c.client == "curl"), clients[0])
            if quoted.expected_error:
                error = safe_text(quoted.expected_error, MAX_MESSAGE)
                console.print(
                    Padding(
                        f"[dim]{escape(quoted.client)} prints:[/] {escape(error)}",
                        (0, 0, 0, 2),
                        expand=False,
                    )
                )
    if trusted:
        console.print(f"[green]Works in:[/] {', '.join(trusted)}")


def _render_client_table(failing: list[ClientVerdict], console: Console) -> None:
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


def _short_connection_line(report: Report) -> str:
    """Where and when, in one short line: the full one is behind --verbose."""
    when = f"checked {_when(report.checked_at)}"
    if abs((report.evaluated_at - report.checked_at).total_seconds()) >= 1:  # --at TIME
        when = f"evaluated at {_when(report.evaluated_at)}"
    tls = report.tls
    if tls is None:
        return when
    version = f" with {tls.version}" if tls.version else ""
    via = f" via STARTTLS ({tls.starttls})" if tls.starttls else ""
    sni = "" if report.target.sni else ", without SNI"
    clock = ""
    if report.server_clock is not None and abs(report.server_clock.offset_seconds) >= 60:
        clock = f"; server clock {report.server_clock.offset_seconds:+.0f} s from ours"
    return f"connected to {tls.address}{via}{version}{sni}; {when}{clock}"


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
        sentence = first.message.split(". ", 1)[0].rstrip(".")  # the rest: check HOST
        detail = f"{', '.join(code.value for code in report.codes)}: {sentence}"
    else:
        detail = "no problems found"
    # One line each, cut to the terminal's width: a run over many targets stays a list.
    console.print(
        f"[{style}]{text:<12}[/] {escape(name)}  [dim]{escape(safe_text(detail))}[/]",
        no_wrap=True,
        overflow="ellipsis",
    )


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
