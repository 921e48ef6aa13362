"""``tlsdoctor``: the entry point. Each command parses, calls the library, renders, exits.

Exit codes follow the spec: 0 trusted, 1 trusted with warnings, 2 untrusted, 3 could not
check (also bad usage and unreadable input, always with one clear sentence on stderr).
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import click

from tlsdoctor.cli.help import document
from tlsdoctor.cli.tryclients import check_with_clients, clients_to_try, try_clients_options
from tlsdoctor.cli.watch import watch
from tlsdoctor.errors import TlsDoctorError
from tlsdoctor.probe.targets import Starttls

if TYPE_CHECKING:
    from tlsdoctor.anchors import TrustAnchors
    from tlsdoctor.models import Report
    from tlsdoctor.online import RevocationInput

DEFAULT_TIMEOUT = 10.0  # seconds for a whole check: tlsdoctor.live.DEFAULT_TIMEOUT
# One meaning everywhere: --password reads what exists (a PKCS#12, an encrypted key);
# --passphrase-env (cert csr) encrypts a key being made.
PASSWORD_HELP = (
    "Password of a PKCS#12 file or an encrypted key being read (or set TLSDOCTOR_PASSWORD)."
)
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

    return check_many(targets, target_file, connect, mode, options, concurrency, progress, as_json)


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


@cli.command()
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@click.option("--at", "at_text", metavar="TIME", help="Count days left from this time, not now.")
@click.option("--password", envvar="TLSDOCTOR_PASSWORD", help=PASSWORD_HELP)
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
@click.option(
    "--host",
    metavar="HOST[:PORT]",
    help="Connect to this endpoint, check it, and say which cause it is (check --host, "
    "with --chain, is the name a chain must be valid for).",
)
@click.option("--connect", metavar="ADDR[:PORT]", help="With --host: dial this address.")
@click.option(
    "--ca-file", "ca_files", multiple=True, metavar="FILE", help="With --host: trust only these."
)
@click.option(
    "--fetch/--no-fetch",
    default=True,
    help="With --host: download AIA issuers, CRLs and OCSP answers (default: yes).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the explanation as JSON.")
def explain(
    message: str,
    host: str | None,
    connect: str | None,
    ca_files: Sequence[str],
    fetch: bool,
    as_json: bool,
) -> int:
    """Explain an error message from any client (- reads it from stdin)."""
    from tlsdoctor import api

    text = _pasted() if message == "-" else message
    if not text.strip():
        raise click.UsageError("give the error message (or - and pipe it in)")
    options = api.check_options(ca_files=ca_files, fetch=fetch) if host is not None else None
    explanation = api.explain_message(text, host=host, connect=connect, options=options)
    code = api.explanation_exit_code(explanation)
    if as_json:
        from tlsdoctor.render.explanation import explanation_to_dict
        from tlsdoctor.render.json_report import dumps

        click.echo(dumps(explanation_to_dict(explanation)))
    else:
        from tlsdoctor.render.explanation import render_explanation
        from tlsdoctor.render.text import make_console

        render_explanation(explanation, make_console())
    return code


MAX_PASTE = 1024 * 1024  # what explain reads of a paste: the end of a log holds the cause
MAX_PIPED = 32 * MAX_PASTE  # read no further: an endless pipe (/dev/zero) must stop


def _pasted() -> str:
    """The last MAX_PASTE bytes of what was piped in (a log's innermost cause comes last),
    read in bounded chunks; bytes that are not UTF-8 are kept as escapes."""
    stream = getattr(sys.stdin, "buffer", None)
    if stream is None:  # a text stream without bytes underneath (an embedding program)
        return str(sys.stdin.read(MAX_PASTE))
    tail = b""
    total = 0
    while total < MAX_PIPED:
        chunk = stream.read(64 * 1024)
        if not chunk:
            break
        total += len(chunk)
        tail = (tail + chunk)[-MAX_PASTE:]
    if total > MAX_PASTE:
        click.echo(
            f"tlsdoctor: note: {total // 1024} KiB piped in; explaining the last "
            f"{MAX_PASTE // 1024} KiB",
            err=True,
        )
    return tail.decode("utf-8", "backslashreplace")


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


_P12 = click.option("--password", envvar="TLSDOCTOR_PASSWORD", help=PASSWORD_HELP)


@trust.command("find")
@click.argument("what", metavar="CA_FILE|HOST")
@click.option("--json", "as_json", is_flag=True, help="One JSON object: the stores and the CA.")
@click.option("--save", metavar="FILE", help="With HOST: write the root it chains to here.")
@_P12
def trust_find(what: str, as_json: bool, save: str | None, password: str | None) -> int:
    """Which stores trust this CA, or the root HOST's chain ends in (exit 2: none does)."""
    from tlsdoctor.cli.trust import find

    return find(what, as_json, save, password)


@trust.command("add")
@click.argument("ca_file", metavar="CA_FILE")
@click.option("--store", "stores", multiple=True, help=_STORE_HELP)
@click.option("--dry-run", is_flag=True, help="Show exactly what would change, change nothing.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (scripts).")
@click.option("--verify", metavar="HOST", help="Check this host again afterwards.")
@click.option(
    "--fetch/--no-fetch",
    default=True,
    help="With --verify: download AIA issuers, CRLs and OCSP answers (default: yes).",
)
@_P12
def trust_add(
    ca_file: str,
    stores: Sequence[str],
    dry_run: bool,
    yes: bool,
    verify: str | None,
    fetch: bool,
    password: str | None,
) -> int:
    """Add a CA to the stores your clients read (exit 1: partly done, 3: not at all)."""
    from tlsdoctor.cli.trust import change

    return change("add", ca_file, stores, dry_run, yes, verify, password, fetch=fetch)


@trust.command("remove")
@click.argument("ca_file", metavar="CA_FILE")
@click.option("--store", "stores", multiple=True, help=_STORE_HELP)
@click.option("--dry-run", is_flag=True, help="Show exactly what would change, change nothing.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (scripts).")
@_P12
def trust_remove(
    ca_file: str, stores: Sequence[str], dry_run: bool, yes: bool, password: str | None
) -> int:
    """Undo what trust add did (exit 1: partly done, 3: not at all)."""
    from tlsdoctor.cli.trust import change

    return change("remove", ca_file, stores, dry_run, yes, None, password)


@trust.command("env")
@click.argument("ca_file", metavar="CA_FILE")
@click.option(
    "--shell",
    type=click.Choice(["bash", "fish", "powershell", "cmd"]),
    default="bash",
    show_default=True,
    help="The shell whose syntax the variables are written in.",
)
@click.option("-o", "--output", metavar="DIR", help="Where to write the bundle.")
@_P12
def trust_env(ca_file: str, shell: str, output: str | None, password: str | None) -> int:
    """Variables that make Python, Node, curl, git, pip and npm trust the CA."""
    from tlsdoctor.cli.trust import env

    return env(ca_file, shell, output, password)


# certs.csr.KeyType's values, written out so that --help does not import cryptography.
KEY_TYPES = ("ec-p256", "ec-p384", "rsa-2048", "rsa-3072", "rsa-4096")
_KEY_TYPE = click.option(
    "--key-type",
    type=click.Choice(KEY_TYPES),
    default="ec-p256",
    show_default=True,
    help="The new key's algorithm and size.",
)


@cli.group()
def cert() -> None:
    """Keys and CSRs with the names visitors type (example.com AND www.example.com)."""


@cert.command("csr")
@click.argument("names", nargs=-1, metavar="NAME...")
@click.option("--exact", is_flag=True, help="Only the names given: no www/apex partner.")
@_KEY_TYPE
@click.option("--from-cert", metavar="FILE", help="Renew: the names and subject of FILE.")
@click.option("--from-host", metavar="HOST", help="Renew: the names of what HOST serves.")
@click.option(
    "-o", "--output", metavar="DIR", default=".", show_default=True, help="Write the files here."
)
@click.option("--force", is_flag=True, help="Replace an existing key or CSR file.")
@click.option(
    "--passphrase-env",
    metavar="VAR",
    help="Encrypt the new key with the passphrase in $VAR (reading a PKCS#12 or an "
    "encrypted key is --password elsewhere).",
)
@click.option("--json", "as_json", is_flag=True, help="Say what was written as JSON.")
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
@click.option(
    "--days",
    type=click.IntRange(1, 36500),
    default=3650,
    show_default=True,
    help="How long the CA is valid.",
)
@_KEY_TYPE
@click.option("--force", is_flag=True, help="Replace an existing CA (its leaves stop working).")
@click.option("--trust", is_flag=True, help="Then add it to every trust store here.")
@click.option("--yes", is_flag=True, help="With --trust: do not ask (scripts).")
@click.option("--intermediate", is_flag=True, help="Two levels: the root key can go offline.")
@click.option("--subject-constraint", is_flag=True, help="Constrain subjects too (Go refuses).")
@click.option(
    "--passphrase-env",
    metavar="VAR",
    help="Encrypt the new CA key(s) with the passphrase in $VAR (--password reads files).",
)
@click.option("--ask-passphrase", is_flag=True, help="Encrypt the CA key(s); ask twice.")
@click.option("--json", "as_json", is_flag=True, help="Say what was written as JSON.")
def cert_ca_init(
    name: str,
    permits: Sequence[str],
    output: str | None,
    days: int,
    key_type: str,
    force: bool,
    trust: bool,
    yes: bool,
    intermediate: bool,
    subject_constraint: bool,
    passphrase_env: str | None,
    ask_passphrase: bool,
    as_json: bool,
) -> int:
    """Create the CA: a name-constrained root (ca.pem) and its key (ca.key, 0600)."""
    from tlsdoctor.cli.cert_ca import ca_init

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
        intermediate=intermediate,
        subject_constraint=subject_constraint,
        passphrase_env=passphrase_env,
        ask_passphrase=ask_passphrase,
    )


@cert_ca.command("sign")
@click.argument("csr_path", metavar="REQ.csr")
@click.option("--ca", "ca_dir", metavar="DIR", help="The CA's directory (cert ca init -o).")
@click.option(
    "-o", "--output", metavar="DIR", default=".", show_default=True, help="Write the files here."
)
@click.option(
    "--days", type=int, default=90, show_default=True, help="How long the certificate is valid."
)
@click.option("--client", is_flag=True, help="A client certificate (clientAuth).")
@click.option(
    "--passphrase-env",
    metavar="VAR",
    help="The CA key's passphrase (from cert ca init) is in $VAR; not --password.",
)
@click.option("--force", is_flag=True, help="Replace existing key and certificate files.")
@click.option("--json", "as_json", is_flag=True, help="Say what was written as JSON.")
def cert_ca_sign(
    csr_path: str,
    ca_dir: str | None,
    output: str,
    days: int,
    client: bool,
    passphrase_env: str | None,
    force: bool,
    as_json: bool,
) -> int:
    """Sign someone's CSR: its names only, within the CA's constraints."""
    from tlsdoctor.cli.cert_ca import sign_request

    return sign_request(
        csr_path,
        ca_dir=ca_dir,
        output=output,
        days=days,
        client=client,
        force=force,
        as_json=as_json,
        passphrase_env=passphrase_env,
    )


@cert.command("renew")
@click.option(
    "--acme-directory",
    "directory",
    metavar="URL|NAME",
    help="The CA's ACME directory URL, or letsencrypt, letsencrypt-staging, zerossl, ...",
)
@click.option("--domain", "domains", multiple=True, metavar="NAME", help="Repeat per name.")
@click.option("--webroot", metavar="DIR", help="The document root port 80 serves.")
@click.option("--standalone", is_flag=True, help="Answer the challenge with our own server.")
@click.option("--dns-rfc2136", metavar="ADDR[:PORT]", help="DNS-01: dynamic updates to ADDR.")
@click.option("--dns-tsig-key", metavar="FILE", help="With --dns-rfc2136: tsig-keygen's file.")
@click.option("--dns-lexicon", metavar="PROVIDER", help="DNS-01: a dns-lexicon provider.")
@click.option("--dns-hook", metavar="CMD", help="DNS-01: CMD sets/removes the TXT record.")
@click.option("--dns-timeout", type=click.FloatRange(1), help="Wait for the TXT record [120].")
@click.option("--http-address", metavar="ADDR", help="With --standalone [all, IPv6 too].")
@click.option("--http-port", type=click.IntRange(1, 65535), help="With --standalone [80].")
@click.option("-o", "--output", metavar="DIR", help="Default: ./FIRST-DOMAIN (live/ inside).")
@click.option("--email", help="Contact address for the CA's expiry notices.")
@click.option("--agree-tos", is_flag=True, help="Agree to the CA's terms (new accounts).")
@click.option("--key-type", type=click.Choice(KEY_TYPES), help="A new key's type [ec-p256].")
@click.option("--reuse-key/--no-reuse-key", default=None, help="Keep the current private key.")
@click.option("--if-due", is_flag=True, help="Only when a third of the lifetime remains.")
@click.option(
    "--renew-before",
    "renew_before_days",
    type=click.IntRange(0),
    metavar="DAYS",
    help="With --if-due: renew when fewer than DAYS days remain.",
)
@click.option("--pre-hook", metavar="CMD", help="Run once before the first renewal.")
@click.option("--post-hook", metavar="CMD", help="Run once after the renewals.")
@click.option("--deploy-hook", metavar="CMD", help="Run after installing, e.g. a reload.")
@click.option("--directory-ca", metavar="FILE", help="Verify a private CA's HTTPS with FILE.")
@click.option(
    "--ca-file",
    "ca_files",
    multiple=True,
    metavar="FILE",
    help="Roots to check the new certificate against (a private or test CA).",
)
@click.option("--eab-kid", metavar="KID", help="External account binding: the key id.")
@click.option("--eab-hmac-key-env", metavar="VAR", help="The EAB HMAC key is in $VAR.")
@click.option("--eab-hmac-key-file", metavar="FILE", help="The EAB HMAC key is in FILE.")
@click.option("--timeout", type=click.FloatRange(1), help="For the whole order [90].")
@click.option("--all", "renew_all", is_flag=True, help="Every stored certificate that is due.")
@click.option("--json", "as_json", is_flag=True, help="Say what was written as JSON.")
def cert_renew(**options: Any) -> int:
    """Get or renew a certificate from an ACME CA (Let's Encrypt, ...), check it, install
    it under DIR/live/ and run the deploy hook; the settings are stored for renewals."""
    from tlsdoctor.cli.cert_renew import RenewOptions, renew

    options["domains"] = tuple(options["domains"])
    options["ca_files"] = tuple(options["ca_files"])
    return renew(RenewOptions(**options))


@cert.command("revoke")
@click.option("-o", "--output", metavar="DIR", required=True, help="The certificate's folder.")
@click.option(
    "--reason",
    type=click.Choice(["unspecified", "keyCompromise", "superseded", "cessationOfOperation"]),
    default="unspecified",
    show_default=True,
    help="The revocation reason the CA records (keyCompromise for a leaked key).",
)
@click.option("--delete", is_flag=True, help="Then forget its renewal settings.")
@click.option("--json", "as_json", is_flag=True, help="Say what was written as JSON.")
def cert_revoke(output: str, reason: str, delete: bool, as_json: bool) -> int:
    """Ask the CA to revoke the certificate in DIR/live (a leaked key, a name given up)."""
    from tlsdoctor.cli.cert_renew import revoke

    return revoke(output, reason=reason, delete=delete, as_json=as_json)


@cert.command("schedule")
@click.option("--cron", is_flag=True, help="A crontab line instead of systemd units.")
@click.option("--install", "install_dir", metavar="DIR", help="Write the units into DIR.")
@click.option("--user", is_flag=True, help="Units for the user's systemd (no root).")
def cert_schedule(cron: bool, install_dir: str | None, user: bool) -> int:
    """How to run `cert renew --all` twice a day with a random delay: systemd or cron."""
    from tlsdoctor.cli.cert_renew import schedule

    return schedule(cron=cron, install_dir=install_dir, user=user)


@cert.command("issue")
@click.argument("names", nargs=-1, required=True, metavar="NAME...")
@click.option("--ca", "ca_dir", metavar="DIR", help="The CA's directory (cert ca init -o).")
@click.option(
    "-o", "--output", metavar="DIR", default=".", show_default=True, help="Write the files here."
)
@click.option(
    "--days", type=int, default=90, show_default=True, help="How long the certificate is valid."
)
@_KEY_TYPE
@click.option("--exact", is_flag=True, help="Only the names given: no www/apex partner.")
@click.option("--client", is_flag=True, help="A client certificate for one identity.")
@click.option("--p12", is_flag=True, help="With --client: also a PKCS#12 file.")
@click.option("--p12-passphrase-env", metavar="VAR", help="The .p12 passphrase is in $VAR.")
@click.option(
    "--passphrase-env",
    metavar="VAR",
    help="The CA key's passphrase (from cert ca init) is in $VAR; not --password.",
)
@click.option("--force", is_flag=True, help="Replace existing key and certificate files.")
@click.option("--json", "as_json", is_flag=True, help="Say what was written as JSON.")
def cert_issue(
    names: Sequence[str],
    ca_dir: str | None,
    output: str,
    days: int,
    key_type: str,
    exact: bool,
    client: bool,
    p12: bool,
    p12_passphrase_env: str | None,
    passphrase_env: str | None,
    force: bool,
    as_json: bool,
) -> int:
    """A server (or --client) certificate from the local CA, checked before it is written."""
    from tlsdoctor.cli.cert_ca import issue_leaf

    return issue_leaf(
        names,
        ca_dir=ca_dir,
        output=output,
        days=days,
        key_type=key_type,
        exact=exact,
        force=force,
        as_json=as_json,
        client=client,
        p12=p12,
        p12_passphrase_env=p12_passphrase_env,
        passphrase_env=passphrase_env,
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
@click.option("--password", envvar="TLSDOCTOR_PASSWORD", help=PASSWORD_HELP)
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
        ca_files=ca_files,
    )


cli.add_command(watch)
document(cli)  # every command's summary, examples and exit codes


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
