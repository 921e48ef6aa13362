"""`tlsdoctor check`: its options, and the one-target, many-target and file paths it takes."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

from tlsdoctor.cli.execution import execution_options, workers_count
from tlsdoctor.cli.vocabulary import (
    DEFAULT_CONCURRENCY,
    DEFAULT_TIMEOUT,
    PASSWORD_HELP,
)
from tlsdoctor.probe.targets import Starttls

if TYPE_CHECKING:
    from tlsdoctor.anchors import TrustAnchors
    from tlsdoctor.models import Report
    from tlsdoctor.online import RevocationInput
from tlsdoctor.cli.tryclients import check_with_clients, clients_to_try, try_clients_options


@click.command()
@click.argument("targets", nargs=-1, metavar="[HOST[:PORT] | URL]...")
@click.option(
    "-f",
    "--file",
    "target_file",
    metavar="FILE",
    help="Check the targets in FILE: 'HOST[:PORT] [ADDR]' a line, # comments.",
)
@click.option(
    "--chain",
    "chain_files",
    multiple=True,
    metavar="FILE",
    help="Check certificates from FILE (PEM, DER, PKCS#7, PKCS#12); repeat for more files.",
)
@click.option(
    "--host",
    metavar="NAME",
    help="With --chain: the host name the chain must be valid for (an endpoint to connect "
    "to is the HOST argument; explain --host is one).",
)
@click.option(
    "--connect",
    metavar="ADDR[:PORT]",
    help="Dial this address; HOST stays the name for SNI and verification (curl --resolve).",
)
@click.option("--servername", metavar="NAME", help="Send this SNI name instead of HOST.")
@click.option("--no-sni", is_flag=True, help="Send no SNI (what very old clients do).")
@click.option(
    "--starttls",
    type=click.Choice([p.value for p in Starttls]),
    help="Upgrade a plaintext protocol first (chosen from the port when omitted).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1, max=600),
    default=DEFAULT_TIMEOUT,
    show_default=True,
    help="Seconds for the whole check of one target.",
)
@click.option(
    "--protocols",
    "probe_protocols",
    is_flag=True,
    help="Also probe TLS 1.0 and 1.1 one by one (reports deprecated_protocol).",
)
@click.option(
    "--concurrency",
    type=click.IntRange(min=1, max=5000),
    default=DEFAULT_CONCURRENCY,
    show_default=True,
    help="Targets checked at once (at most 8 per host name).",
)
@execution_options
@click.option(
    "--unordered", is_flag=True, help="Print each report as it finishes, not in input order."
)
@click.option(
    "--chunk-size",
    type=click.IntRange(min=1, max=100_000),
    default=100,
    show_default=True,
    help="With --workers/--cluster: targets sent to a worker at a time.",
)
@click.option("--at", "at_text", metavar="TIME", help="Evaluate at this RFC 3339 time, not now.")
@click.option(
    "--ca-file",
    "ca_files",
    multiple=True,
    metavar="FILE",
    help="Trust only the CA certificates in FILE (like curl --cacert); repeatable.",
)
@click.option(
    "--warn-days",
    type=click.IntRange(min=0, max=36500),
    help="Warn this many days before expiry (default: min(30 days, a third of the lifetime)).",
)
@click.option(
    "--password",
    envvar="TLSDOCTOR_PASSWORD",
    help=PASSWORD_HELP,
)
@click.option(
    "--fetch/--no-fetch",
    default=None,
    help="Download AIA issuers, CRLs and OCSP answers (default: yes for endpoints, no for files).",
)
@click.option("--no-revocation", is_flag=True, help="Do not check revocation.")
@click.option(
    "--crl",
    "crl_files",
    multiple=True,
    metavar="FILE",
    help="Judge revocation by this CRL (DER or PEM) instead of downloading one.",
)
@click.option(
    "--ocsp-response",
    "ocsp_files",
    multiple=True,
    metavar="FILE",
    help="Judge revocation by this OCSP response (DER).",
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="A progress bar on stderr for many targets (default: when stderr is a terminal).",
)
@click.option(
    "--one-address",
    is_flag=True,
    help="Check only the first address that accepts, not every address behind the name.",
)
@click.option(
    "--resolve",
    "resolve_entries",
    multiple=True,
    metavar="HOST:PORT:ADDR[,ADDR...]",
    help="Use these addresses for HOST on PORT (* for any port), as curl --resolve; repeatable.",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print the JSON report (JSON Lines for several)."
)
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    help="Show every piece of evidence, each failing client's message, fetches, signatures.",
)
@try_clients_options
def check(
    targets: Sequence[str],
    target_file: str | None,
    chain_files: Sequence[str],
    host: str | None,
    connect: str | None,
    servername: str | None,
    no_sni: bool,
    starttls: str | None,
    timeout: float,
    probe_protocols: bool,
    concurrency: int,
    workers_text: str | None,
    cluster: str | None,
    unordered: bool,
    chunk_size: int,
    at_text: str | None,
    ca_files: Sequence[str],
    warn_days: int | None,
    password: str | None,
    fetch: bool | None,
    no_revocation: bool,
    crl_files: Sequence[str],
    ocsp_files: Sequence[str],
    progress: bool | None,
    one_address: bool,
    resolve_entries: Sequence[str],
    as_json: bool,
    verbose: bool,
    try_clients: bool,
    client_names: str | None,
    client_timeout: float,
) -> int:
    """Diagnose live endpoints (HOST, URL, -f FILE) or a chain given as files (--chain)."""
    from tlsdoctor.anchors import anchors_from_files
    from tlsdoctor.cli.options import parse_time

    at = parse_time(at_text) if at_text else None
    anchors = anchors_from_files(ca_files) if ca_files else None
    if servername is not None:
        from tlsdoctor.analysis.names import parse_host

        parse_host(servername)  # "a..b" is a typo to report, not a name to send
    if chain_files:
        if targets or target_file:
            raise click.UsageError("give either --chain files or targets, not both")
        if try_clients or client_names:
            raise click.UsageError("--try-clients runs clients against an endpoint, not --chain")
        from tlsdoctor.cli.options import revocation_files

        given = revocation_files(crl_files, ocsp_files)
        return _check_files(
            chain_files,
            host,
            at,
            anchors,
            warn_days,
            password,
            as_json,
            verbose=verbose,
            fetch=bool(fetch),
            given=given,
            revocation=not no_revocation,
        )
    if crl_files or ocsp_files:
        raise click.UsageError("--crl and --ocsp-response go with --chain")
    if not targets and not target_file:
        raise click.UsageError("give a target (HOST[:PORT] or URL), -f FILE, or --chain FILE")
    if host:
        raise click.UsageError("--host goes with --chain; for an endpoint, give HOST itself")
    from tlsdoctor import api

    options = api.check_options(
        anchors=anchors,
        at=at,
        warn_days=warn_days,
        timeout=timeout,
        servername=servername,
        no_sni=no_sni,
        probe_protocols=probe_protocols,
        fetch=fetch is not False,
        revocation=not no_revocation,
        one_address=one_address,
        resolve=resolve_entries,
    )
    mode = Starttls(starttls) if starttls else None
    tried = None
    if try_clients or client_names:
        tried = clients_to_try(
            targets, target_file, connect, no_sni, starttls, servername, client_names
        )
    if len(targets) == 1 and not target_file:
        endpoint = api.endpoint(targets[0], connect=connect, starttls=starttls)
        report = api.check_endpoint(endpoint, options, local_stores=False)
        report = api.with_machine_stores(report, targets[0])
        if tried is not None:
            return check_with_clients(report, endpoint, ca_files, tried, client_timeout, as_json)
        _print_report(report, as_json, verbose)
        return report.exit_code
    from tlsdoctor.cli.many import check_many

    return check_many(
        targets,
        target_file,
        connect,
        mode,
        options,
        concurrency,
        progress,
        as_json,
        workers=workers_count(workers_text),
        cluster=cluster,
        ordered=not unordered,
        chunk_size=chunk_size,
    )


def _check_files(
    chain_files: Sequence[str],
    host: str | None,
    at: dt.datetime | None,
    anchors: TrustAnchors | None,
    warn_days: int | None,
    password: str | None,
    as_json: bool,
    *,
    verbose: bool,
    fetch: bool,
    given: RevocationInput,
    revocation: bool,
) -> int:
    from tlsdoctor.check import check_chain
    from tlsdoctor.cli.options import read_file

    certificates = [cert for path in chain_files for cert in read_file(path, password)]
    report = check_chain(
        certificates,
        host,
        at=at,
        anchors=anchors,
        warn_days=warn_days,
        files=chain_files,
        fetch=fetch,
        revocation=given,
        check_revocation=revocation,
    )
    from tlsdoctor.api import with_machine_stores

    report = with_machine_stores(report, None)
    _print_report(report, as_json, verbose)
    return report.exit_code


def _print_report(report: Report, as_json: bool, verbose: bool = False) -> None:
    if as_json:
        from tlsdoctor.render.json_report import dumps, report_to_dict

        quietly_echo(dumps(report_to_dict(report)))
    else:
        from tlsdoctor.render.text import make_console, render_report

        render_report(report, make_console(), verbose=verbose)


def quietly_echo(text: str) -> None:
    """``click.echo``, but a reader that stopped reading (``| head -2``) is no error: the
    rest is dropped and the command exits with its own code."""
    try:
        click.echo(text)
        sys.stdout.flush()
    except BrokenPipeError:
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
