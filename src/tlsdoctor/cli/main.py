"""``tlsdoctor``: the entry point. Each command parses, calls the library, renders, exits.

Exit codes follow the spec: 0 trusted, 1 trusted with warnings, 2 untrusted, 3 could not
check (also bad usage and unreadable input, always with one clear sentence on stderr).
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

from tlsdoctor.cli.execution import execution_options, workers_count
from tlsdoctor.cli.watch import watch
from tlsdoctor.errors import TlsDoctorError
from tlsdoctor.probe.targets import Starttls

if TYPE_CHECKING:
    from tlsdoctor.anchors import TrustAnchors
    from tlsdoctor.models import Report
    from tlsdoctor.online import RevocationInput

DEFAULT_TIMEOUT = 10.0  # seconds for a whole check: tlsdoctor.live.DEFAULT_TIMEOUT
DEFAULT_CONCURRENCY = 50  # tlsdoctor.scan.DEFAULT_CONCURRENCY

EXIT_ERROR = 3


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="tlsdoctor")
def cli() -> None:
    """Find out why a TLS connection is not trusted, and exactly what fixes it."""


@cli.command()
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
@click.option("--host", metavar="NAME", help="With --chain: the name the chain must be valid for.")
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
    help="Password of a PKCS#12 file (or set TLSDOCTOR_PASSWORD; asked on a terminal).",
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
@click.option("--json", "as_json", is_flag=True, help="Print the JSON report(s) of the spec.")
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
    as_json: bool,
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
    from tlsdoctor.live import LiveOptions

    options = LiveOptions(
        anchors=anchors,
        at=at,
        warn_days=warn_days,
        timeout=timeout,
        servername=servername,
        no_sni=no_sni,
        probe_protocols=probe_protocols,
        fetch=fetch is not False,
        revocation=not no_revocation,
    )
    mode = Starttls(starttls) if starttls else None
    if len(targets) == 1 and not target_file:
        from tlsdoctor.live import check_endpoint
        from tlsdoctor.probe.targets import parse_target

        endpoint = parse_target(targets[0], connect=connect, starttls=mode)
        report = _with_local_stores(check_endpoint(endpoint, options), targets[0])
        _print_report(report, as_json)
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
    report = _with_local_stores(report, None)
    _print_report(report, as_json)
    return report.exit_code


def _with_local_stores(report: Report, target: str | None) -> Report:
    """For one check: which of this machine's stores hold an unknown root (a scan of many
    targets does not read the stores once per target)."""
    from tlsdoctor.stores.lookup import with_local_stores
    from tlsdoctor.stores.registry import discover

    return with_local_stores(report, discover, target)


def _print_report(report: Report, as_json: bool) -> None:
    if as_json:
        from tlsdoctor.render.json_report import dumps, report_to_dict

        click.echo(dumps(report_to_dict(report)))
    else:
        from tlsdoctor.render.text import make_console, render_report

        render_report(report, make_console())


@cli.command()
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@click.option("--at", "at_text", metavar="TIME", help="Count days left from this time, not now.")
@click.option("--password", envvar="TLSDOCTOR_PASSWORD", help="Password of a PKCS#12 file.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per file.")
def inspect(files: Sequence[str], at_text: str | None, password: str | None, as_json: bool) -> int:
    """Show each certificate in FILE as a browser's certificate viewer does."""
    from tlsdoctor.check import utc_now
    from tlsdoctor.cli.options import parse_time, read_file
    from tlsdoctor.describe import describe_certificate

    at = parse_time(at_text) if at_text else utc_now()
    loaded = [(path, read_file(path, password)) for path in files]
    if as_json:
        from tlsdoctor.render.details import details_to_dict
        from tlsdoctor.render.json_report import dumps

        for path, certificates in loaded:
            described = [details_to_dict(describe_certificate(c, at)) for c in certificates]
            click.echo(dumps({"file": path, "certificates": described}))
        return 0
    from tlsdoctor.render.details import render_details
    from tlsdoctor.render.text import make_console

    console = make_console()
    for path, certificates in loaded:
        for index, certificate in enumerate(certificates, start=1):
            render_details(index, path, describe_certificate(certificate, at), console)
            console.print()
    return 0


@cli.command()
@click.option("--dir", "directory", metavar="DIR", help="Write the certificates here (kept).")
@click.option(
    "--port-base",
    type=click.IntRange(min=1, max=65000),
    help="Serve on consecutive ports from this one (default: free ports; stay below 32768).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the endpoints as JSON Lines.")
def lab(directory: str | None, port_base: int | None, as_json: bool) -> int:
    """Serve one loopback endpoint per failure, until Ctrl-C, to test any client against."""
    from tlsdoctor.cli.lab import serve

    return serve(directory, port_base, as_json)


@cli.command()
@click.argument("names", nargs=-1, metavar="[ENDPOINT]...")
@click.option("--full", is_flag=True, help="Print every report in full.")
@click.option("--json", "as_json", is_flag=True, help="Print every report as JSON Lines.")
def demo(names: Sequence[str], full: bool, as_json: bool) -> int:
    """Start the lab, diagnose each endpoint, and show each diagnosis is the expected one."""
    from tlsdoctor.cli.lab import demo as run_demo

    return run_demo(names, full, as_json)


@cli.command()
@click.argument("message", metavar="MESSAGE | -")
@click.option("--host", metavar="HOST[:PORT]", help="Check this host and say which cause it is.")
@click.option("--connect", metavar="ADDR[:PORT]", help="With --host: dial this address.")
@click.option(
    "--ca-file", "ca_files", multiple=True, metavar="FILE", help="With --host: trust only these."
)
@click.option("--json", "as_json", is_flag=True, help="Print the explanation as JSON.")
def explain(
    message: str, host: str | None, connect: str | None, ca_files: Sequence[str], as_json: bool
) -> int:
    """Explain an error message from any client (- reads it from stdin)."""
    from tlsdoctor.explain import explain_text, with_check

    text = sys.stdin.read() if message == "-" else message
    if not text.strip():
        raise click.UsageError("give the error message (or - and pipe it in)")
    explanation = explain_text(text, host)
    code = 0 if explanation.recognised else 3
    if host is not None:
        from tlsdoctor.anchors import anchors_from_files
        from tlsdoctor.live import LiveOptions, check_endpoint
        from tlsdoctor.probe.targets import parse_target

        anchors = anchors_from_files(ca_files) if ca_files else None
        report = check_endpoint(parse_target(host, connect=connect), LiveOptions(anchors=anchors))
        explanation = with_check(explanation, report)
        code = report.exit_code if explanation.recognised else 3
    if as_json:
        from tlsdoctor.render.explanation import explanation_to_dict
        from tlsdoctor.render.json_report import dumps

        click.echo(dumps(explanation_to_dict(explanation)))
    else:
        from tlsdoctor.render.explanation import render_explanation
        from tlsdoctor.render.text import make_console

        render_explanation(explanation, make_console())
    return code


@cli.group()
def trust() -> None:
    """See what each client trusts; add or remove a CA in the stores they read."""


_STORE_HELP = (
    "all (default), a kind (system, nss, java, python, macos, windows), an id, "
    "or nss:DIR, java:FILE"
)


@trust.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per store.")
def trust_list(as_json: bool) -> int:
    """Every trust store on this machine, which clients read it, how many roots."""
    from tlsdoctor.cli.trust import list_stores

    return list_stores(as_json)


@trust.command("find")
@click.argument("what", metavar="CA_FILE|HOST")
@click.option("--json", "as_json", is_flag=True)
@click.option("--save", metavar="FILE", help="With HOST: write the root it chains to here.")
def trust_find(what: str, as_json: bool, save: str | None) -> int:
    """Which stores trust this CA, or the root HOST's chain ends in (exit 2: none does)."""
    from tlsdoctor.cli.trust import find

    return find(what, as_json, save)


@trust.command("add")
@click.argument("ca_file", metavar="CA_FILE")
@click.option("--store", "stores", multiple=True, help=_STORE_HELP)
@click.option("--dry-run", is_flag=True, help="Show exactly what would change, change nothing.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (scripts).")
@click.option("--verify", metavar="HOST", help="Check this host again afterwards.")
def trust_add(
    ca_file: str, stores: Sequence[str], dry_run: bool, yes: bool, verify: str | None
) -> int:
    """Add a CA to the stores your clients read, with each platform's own tool."""
    from tlsdoctor.cli.trust import change

    return change("add", ca_file, stores, dry_run, yes, verify)


@trust.command("remove")
@click.argument("ca_file", metavar="CA_FILE")
@click.option("--store", "stores", multiple=True, help=_STORE_HELP)
@click.option("--dry-run", is_flag=True)
@click.option("--yes", is_flag=True)
def trust_remove(ca_file: str, stores: Sequence[str], dry_run: bool, yes: bool) -> int:
    """Undo what trust add did (or remove the CA where it is)."""
    from tlsdoctor.cli.trust import change

    return change("remove", ca_file, stores, dry_run, yes, None)


@trust.command("env")
@click.argument("ca_file", metavar="CA_FILE")
@click.option("--shell", type=click.Choice(["bash", "fish", "powershell", "cmd"]), default="bash")
@click.option("-o", "--output", metavar="DIR", help="Where to write the bundle.")
def trust_env(ca_file: str, shell: str, output: str | None) -> int:
    """Variables that make Python, Node, curl, git, pip and npm trust the CA."""
    from tlsdoctor.cli.trust import env

    return env(ca_file, shell, output)


# certs.csr.KeyType's values, written out so that --help does not import cryptography.
KEY_TYPES = ("ec-p256", "ec-p384", "rsa-2048", "rsa-3072", "rsa-4096")


@cli.group()
def cert() -> None:
    """Keys and CSRs with the names visitors type (example.com AND www.example.com)."""


@cert.command("csr")
@click.argument("names", nargs=-1, metavar="NAME...")
@click.option("--exact", is_flag=True, help="Only the names given: no www/apex partner.")
@click.option(
    "--key-type",
    type=click.Choice(KEY_TYPES),
    default="ec-p256",
    show_default=True,
)
@click.option("--from-cert", metavar="FILE", help="Renew: the names and subject of FILE.")
@click.option("--from-host", metavar="HOST", help="Renew: the names of what HOST serves.")
@click.option("-o", "--output", metavar="DIR", default=".", show_default=True)
@click.option("--force", is_flag=True, help="Replace an existing key or CSR file.")
@click.option("--passphrase-env", metavar="VAR", help="Encrypt the key with $VAR.")
@click.option("--json", "as_json", is_flag=True)
def cert_csr(
    names: Sequence[str],
    exact: bool,
    key_type: str,
    from_cert: str | None,
    from_host: str | None,
    output: str,
    force: bool,
    passphrase_env: str | None,
    as_json: bool,
) -> int:
    """A new private key (0600) and a CSR whose SANs cover what visitors type."""
    from tlsdoctor.cli.cert import csr

    return csr(
        names,
        exact=exact,
        key_type=key_type,
        from_cert=from_cert,
        from_host=from_host,
        output=output,
        force=force,
        passphrase_env=passphrase_env,
        as_json=as_json,
    )


@cert.group("ca")
def cert_ca() -> None:
    """A local CA for internal networks, limited to the names you give."""


@cert_ca.command("init")
@click.option("--name", required=True, help="The CA's name, e.g. 'Acme Internal CA'.")
@click.option(
    "--permit",
    "permits",
    multiple=True,
    metavar="NAME|NET",
    help="What it may sign for: acme.test, 10.0.0.0/8 (repeat).",
)
@click.option("-o", "--output", metavar="DIR", help="Default: tlsdoctor's data directory.")
@click.option("--days", type=click.IntRange(1, 36500), default=3650, show_default=True)
@click.option("--key-type", type=click.Choice(KEY_TYPES), default="ec-p256", show_default=True)
@click.option("--force", is_flag=True, help="Replace an existing CA (its leaves stop working).")
@click.option("--trust", is_flag=True, help="Then add it to every trust store here.")
@click.option("--yes", is_flag=True, help="With --trust: do not ask (scripts).")
@click.option("--json", "as_json", is_flag=True)
def cert_ca_init(
    name: str,
    permits: Sequence[str],
    output: str | None,
    days: int,
    key_type: str,
    force: bool,
    trust: bool,
    yes: bool,
    as_json: bool,
) -> int:
    """Create the CA: a name-constrained root (ca.pem) and its key (ca.key, 0600)."""
    from tlsdoctor.cli.cert import ca_init

    return ca_init(
        name,
        permits,
        output=output,
        days=days,
        key_type=key_type,
        force=force,
        as_json=as_json,
        trust=trust,
        yes=yes,
    )


@cert.command("renew")
@click.option(
    "--acme-directory",
    "directory",
    required=True,
    metavar="URL|NAME",
    help="The CA's ACME directory URL, or letsencrypt, letsencrypt-staging, zerossl, ...",
)
@click.option("--domain", "domains", multiple=True, metavar="NAME", help="Repeat per name.")
@click.option("--webroot", metavar="DIR", help="The document root port 80 serves.")
@click.option("--standalone", is_flag=True, help="Answer the challenge with our own server.")
@click.option("--http-address", default="", metavar="ADDR", help="With --standalone.")
@click.option("--http-port", type=click.IntRange(1, 65535), default=80, show_default=True)
@click.option("-o", "--output", metavar="DIR", help="Default: ./FIRST-DOMAIN (live/ inside).")
@click.option("--email", help="Contact address for the CA's expiry notices.")
@click.option("--agree-tos", is_flag=True, help="Agree to the CA's terms (new accounts).")
@click.option("--key-type", type=click.Choice(KEY_TYPES), default="ec-p256", show_default=True)
@click.option("--reuse-key", is_flag=True, help="Keep the current private key.")
@click.option("--if-due", is_flag=True, help="Only when a third of the lifetime remains.")
@click.option("--renew-before", "renew_before_days", type=click.IntRange(0), metavar="DAYS")
@click.option("--deploy-hook", metavar="CMD", help="Run after installing, e.g. a reload.")
@click.option("--directory-ca", metavar="FILE", help="Verify a private CA's HTTPS with FILE.")
@click.option(
    "--ca-file",
    "ca_files",
    multiple=True,
    metavar="FILE",
    help="Roots to check the new certificate against (a private or test CA).",
)
@click.option("--timeout", type=click.FloatRange(1), default=90.0, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def cert_renew(
    directory: str,
    domains: Sequence[str],
    webroot: str | None,
    standalone: bool,
    http_address: str,
    http_port: int,
    output: str | None,
    email: str | None,
    agree_tos: bool,
    key_type: str,
    reuse_key: bool,
    if_due: bool,
    renew_before_days: int | None,
    deploy_hook: str | None,
    directory_ca: str | None,
    ca_files: Sequence[str],
    timeout: float,
    as_json: bool,
) -> int:
    """Get or renew a certificate from an ACME CA (Let's Encrypt, ...) over HTTP-01,
    check it, install it under DIR/live/ and run the deploy hook."""
    from tlsdoctor.cli.cert import renew

    return renew(
        domains,
        directory=directory,
        webroot=webroot,
        standalone=standalone,
        http_address=http_address,
        http_port=http_port,
        output=output,
        email=email,
        agree_tos=agree_tos,
        key_type=key_type,
        reuse_key=reuse_key,
        if_due=if_due,
        renew_before_days=renew_before_days,
        deploy_hook=deploy_hook,
        directory_ca=directory_ca,
        ca_files=ca_files,
        timeout=timeout,
        as_json=as_json,
    )


@cert.command("issue")
@click.argument("names", nargs=-1, required=True, metavar="NAME...")
@click.option("--ca", "ca_dir", metavar="DIR", help="The CA's directory (cert ca init -o).")
@click.option("-o", "--output", metavar="DIR", default=".", show_default=True)
@click.option("--days", type=int, default=90, show_default=True)
@click.option("--key-type", type=click.Choice(KEY_TYPES), default="ec-p256", show_default=True)
@click.option("--exact", is_flag=True, help="Only the names given: no www/apex partner.")
@click.option("--force", is_flag=True)
@click.option("--json", "as_json", is_flag=True)
def cert_issue(
    names: Sequence[str],
    ca_dir: str | None,
    output: str,
    days: int,
    key_type: str,
    exact: bool,
    force: bool,
    as_json: bool,
) -> int:
    """A server certificate from the local CA, checked before it is written."""
    from tlsdoctor.cli.cert import issue_leaf

    return issue_leaf(
        names,
        ca_dir=ca_dir,
        output=output,
        days=days,
        key_type=key_type,
        exact=exact,
        force=force,
        as_json=as_json,
    )


@cli.group()
def fix() -> None:
    """Repair what a check found: the chain a server sends, ..."""


@fix.command("chain")
@click.argument("target", required=False, metavar="[HOST[:PORT] | URL]")
@click.option("--chain", "chain_files", multiple=True, metavar="FILE", help="The chain as files.")
@click.option(
    "--with", "with_files", multiple=True, metavar="FILE", help="Intermediates you already have."
)
@click.option("--connect", metavar="ADDR[:PORT]", help="Dial this address for TARGET.")
@click.option("--ca-file", "ca_files", multiple=True, metavar="FILE", help="Trust only these CAs.")
@click.option("--at", "at_text", metavar="TIME", help="Judge validity at this time.")
@click.option("--key", "key_path", metavar="FILE", help="Confirm this private key matches.")
@click.option("--password", envvar="TLSDOCTOR_PASSWORD", help="Password of the key or PKCS#12.")
@click.option("-o", "--output", metavar="DIR", help="Write fullchain.pem and friends here.")
@click.option("--include-root", is_flag=True, help="Also send the root (rarely useful).")
@click.option("--force", is_flag=True, help="Replace files that exist.")
@click.option(
    "--fetch/--no-fetch",
    default=None,
    help="Download issuers named by AIA (default: yes for a TARGET, no for --chain files).",
)
@click.option(
    "--server", metavar="SOFTWARE", help="Server software, e.g. 'nginx' (default: detected)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
def fix_chain(
    target: str | None,
    chain_files: Sequence[str],
    with_files: Sequence[str],
    connect: str | None,
    ca_files: Sequence[str],
    at_text: str | None,
    key_path: str | None,
    password: str | None,
    output: str | None,
    include_root: bool,
    force: bool,
    fetch: bool | None,
    server: str | None,
    as_json: bool,
) -> int:
    """Build the chain the server should send, show the difference, write it, say how."""
    from tlsdoctor.anchors import anchors_from_files, default_anchors
    from tlsdoctor.cli.fix import fix_chain as run_fix
    from tlsdoctor.cli.options import parse_time

    if (target is None) == (not chain_files):
        raise click.UsageError("give either a target (HOST[:PORT] or URL) or --chain FILE")
    anchors = anchors_from_files(ca_files) if ca_files else default_anchors()
    return run_fix(
        target,
        chain_files,
        with_files,
        connect,
        anchors,
        parse_time(at_text) if at_text else None,
        key_path,
        password,
        output,
        include_root,
        force,
        target is not None if fetch is None else fetch,
        server,
        as_json,
    )


cli.add_command(watch)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns (and, as a console script, exits with) the spec's exit code."""
    import warnings

    from tlsdoctor.render.safe import safe_text

    try:
        with warnings.catch_warnings():
            # A user sees findings, never a Python warning naming our files (cryptography
            # warns about a negative serial or an over-long CN the server sent).
            warnings.simplefilter("ignore")
            result = cli.main(args=list(argv) if argv is not None else None, standalone_mode=False)
    except click.exceptions.Exit as exc:  # --help, --version
        return int(exc.exit_code)
    except click.ClickException as exc:  # usage errors: the spec says 3, not click's 2
        if isinstance(exc, click.UsageError) and exc.ctx is not None:
            click.echo(exc.ctx.get_usage(), err=True)
            click.echo(f"Try '{exc.ctx.command_path} --help' for help.\n", err=True)
        # The message quotes what was typed: escaped and bounded like any outside text.
        click.echo(f"Error: {safe_text(exc.format_message(), MAX_ERROR)}", err=True)
        return EXIT_ERROR
    except click.Abort:
        click.echo("tlsdoctor: aborted", err=True)
        return EXIT_ERROR
    except TlsDoctorError as exc:
        click.echo(f"tlsdoctor: error: {safe_text(exc, MAX_ERROR)}", err=True)
        return EXIT_ERROR
    except BrokenPipeError:
        return EXIT_ERROR
    except Exception as exc:
        # The last net: what no check above translated still gets one sentence and exit 3
        # (tests/test_fuzz_cli.py fails on this sentence, so each case gets a real fix).
        click.echo(f"tlsdoctor: error: {INTERNAL} ({safe_text(_described(exc), 200)})", err=True)
        return EXIT_ERROR
    finally:
        # watch's --no-private-fetch and a dashboard beyond loopback switch private
        # fetches off for the process; a next run in the same process starts afresh.
        from tlsdoctor.fetch import allow_private_networks

        allow_private_networks(True)
    return result if isinstance(result, int) else 0


MAX_ERROR = 500  # characters of an error sentence: it may quote a huge input
INTERNAL = "this input is not handled yet"


def _described(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def run() -> None:
    sys.exit(main())
