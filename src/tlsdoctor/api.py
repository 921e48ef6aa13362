"""What the ``tlsdoctor`` command does, as functions: for a CI step, a monitoring system or
a notebook. The command line calls these same functions.

Check one endpoint (the report is the one ``tlsdoctor check --json`` prints)::

    import tlsdoctor
    report = tlsdoctor.check_endpoint("example.com:443", timeout=5)
    report.verdict, report.codes, report.exit_code   # Verdict.TRUSTED, (), 0
    tlsdoctor.report_to_dict(report)                  # the JSON report, as a dict

Check many, concurrently, each report as soon as it is ready (``check -f`` in code)::

    async def main() -> None:
        async for report in tlsdoctor.scan_endpoints(["a.example:443", "b.example mx.internal"]):
            print(report.target.host, report.verdict.value)

Explain a message a client printed, and plan (or make) a trust-store change::

    tlsdoctor.explain_message("curl: (60) SSL certificate problem: unable to get local issuer")
    plan = tlsdoctor.plan_trust("corp-root.pem", stores=["system"])
    tlsdoctor.apply_trust(plan)                       # needs the rights the stores need

Errors in what is given (a bad target, an unreadable file) raise
:class:`tlsdoctor.InputError`; a server that cannot be checked is no exception but a
report with ``verdict`` ``error`` (exit code 3), as on the command line.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cryptography import x509

    from tlsdoctor.anchors import TrustAnchors
    from tlsdoctor.explain import Explanation
    from tlsdoctor.live import LiveOptions
    from tlsdoctor.models import Report
    from tlsdoctor.probe.targets import Endpoint
    from tlsdoctor.stores.base import TrustStore
    from tlsdoctor.stores.changes import Outcome, Planned

DEFAULT_TIMEOUT = 10.0  # seconds for one whole check (tlsdoctor.live.DEFAULT_TIMEOUT)
DEFAULT_CONCURRENCY = 50  # checks at once in a scan (tlsdoctor.scan.DEFAULT_CONCURRENCY)


def check_options(
    *,
    ca_files: Sequence[str] = (),
    anchors: TrustAnchors | None = None,
    at: dt.datetime | None = None,
    warn_days: int | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    servername: str | None = None,
    no_sni: bool = False,
    probe_protocols: bool = False,
    fetch: bool = True,
    revocation: bool = True,
    one_address: bool = False,
    resolve: Mapping[str, Sequence[str]] | Sequence[str] = (),
) -> LiveOptions:
    """The options of a live check, named as ``tlsdoctor check`` names them.

    ``ca_files`` (``--ca-file``): trust only these CAs; ``anchors``: trust these (from
    :func:`tlsdoctor.anchors_from_files`); neither: Mozilla's roots. ``resolve``
    (``--resolve``): ``["example.com:443:127.0.0.1"]`` entries, or a mapping of lower-case
    names to addresses. The rest as in ``tlsdoctor check --help``.

    >>> check_options(timeout=5, fetch=False).timeout
    5
    """
    from tlsdoctor.anchors import anchors_from_files
    from tlsdoctor.live import LiveOptions

    if ca_files and anchors is None:
        anchors = anchors_from_files(ca_files)
    if isinstance(resolve, Mapping):
        hosts = {name.lower(): tuple(addresses) for name, addresses in resolve.items()}
    else:
        import click

        from tlsdoctor.cli.options import parse_resolve
        from tlsdoctor.errors import InputError

        try:
            hosts = dict(parse_resolve(resolve))
        except click.UsageError as exc:  # the library says it as every bad input: InputError
            raise InputError(exc.format_message()) from None
    return LiveOptions(
        anchors=anchors,
        at=at,
        warn_days=warn_days,
        timeout=timeout,
        servername=servername,
        no_sni=no_sni,
        probe_protocols=probe_protocols,
        fetch=fetch,
        revocation=revocation,
        one_address=one_address,
        hosts=hosts,
    )


def endpoint(target: str, *, connect: str | None = None, starttls: str | None = None) -> Endpoint:
    """The endpoint ``target`` names: ``host``, ``host:port``, ``[v6]:port`` or a URL;
    ``connect`` dials another address (``--connect``), ``starttls`` is ``smtp``,
    ``imap``, ``postgres``... Raises :class:`tlsdoctor.InputError` for a bad target."""
    from tlsdoctor.errors import InputError
    from tlsdoctor.probe.targets import Starttls, parse_target
    from tlsdoctor.render.safe import safe_text

    try:
        mode = Starttls(starttls) if starttls else None
    except ValueError:
        known = ", ".join(mode.value for mode in Starttls)
        raise InputError(f"starttls: '{safe_text(starttls, 40)}' is not one of {known}") from None
    return parse_target(target, connect=connect, starttls=mode)


async def check_endpoint_async(
    target: str | Endpoint,
    options: LiveOptions | None = None,
    *,
    connect: str | None = None,
    starttls: str | None = None,
    local_stores: bool = True,
) -> Report:
    """Diagnose one live endpoint, as ``tlsdoctor check TARGET`` (see :func:`check_endpoint`)."""
    from tlsdoctor.live import check_endpoint_async as check_live

    where = (
        target
        if not isinstance(target, str)
        else endpoint(target, connect=connect, starttls=starttls)
    )
    report = await check_live(where, options or check_options())
    return with_machine_stores(report, str(target)) if local_stores else report


def check_endpoint(
    target: str | Endpoint,
    options: LiveOptions | None = None,
    *,
    connect: str | None = None,
    starttls: str | None = None,
    local_stores: bool = True,
    **option_values: Any,
) -> Report:
    """Diagnose one live endpoint, as ``tlsdoctor check TARGET``; never raises for a
    server that fails (the report says so, verdict ``error``).

    ``options`` from :func:`check_options`, or its keywords directly::

        report = check_endpoint("mail.example.com:25", starttls="smtp", ca_files=["corp.pem"])
        report = check_endpoint("example.com", connect="127.0.0.1", timeout=5)

    ``local_stores``: also say which of this machine's trust stores hold an unknown
    root (reads the stores; off for a quick, store-independent answer).
    """
    if option_values:
        if options is not None:
            raise TypeError("give either options or option keywords, not both")
        options = check_options(**option_values)
    return asyncio.run(
        check_endpoint_async(
            target, options, connect=connect, starttls=starttls, local_stores=local_stores
        )
    )


async def scan_endpoints(
    targets: Iterable[str | Endpoint],
    options: LiveOptions | None = None,
    *,
    connect: str | None = None,
    starttls: str | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> AsyncIterator[Report]:
    """Check many endpoints concurrently, as ``tlsdoctor check -f FILE``: yields each
    report in input order, as soon as it and those before it are done. A target is a
    line of such a file, ``HOST[:PORT] [ADDR]`` (``ADDR``: the address to dial), or an
    :class:`Endpoint`; targets are read lazily (a generator of millions is fine).

    ::

        async for report in scan_endpoints(open("targets.txt"), check_options(timeout=5)):
            if report.exit_code >= 2:
                print(report.target.host, [c.value for c in report.codes])

    A bad line raises :class:`tlsdoctor.InputError` when it is reached.
    """
    from tlsdoctor.scan import scan as scan_endpoints

    def endpoints() -> Iterable[Endpoint]:
        for item in targets:
            if not isinstance(item, str):
                yield item
                continue
            fields = item.split("#", 1)[0].split()
            if not fields:
                continue  # a blank or comment line, as in a -f file
            if len(fields) > 2:
                from tlsdoctor.errors import InputError
                from tlsdoctor.render.safe import safe_text

                raise InputError(f"expected 'HOST[:PORT] [ADDR]', got '{safe_text(item, 80)}'")
            dial = fields[1] if len(fields) == 2 else connect
            yield endpoint(fields[0], connect=dial, starttls=starttls)

    async for report in scan_endpoints(
        endpoints(), options or check_options(), concurrency=concurrency
    ):
        yield report


def explain_message(
    message: str,
    *,
    host: str | None = None,
    connect: str | None = None,
    options: LiveOptions | None = None,
) -> Explanation:
    """What a client's error message means, its likely causes and their fixes, as
    ``tlsdoctor explain MESSAGE``. Pure unless ``host`` is given: then ``host`` (the
    endpoint to connect to, ``HOST[:PORT]``) is checked live and ``diagnosis`` says which
    cause it is.

    >>> explain_message("certificate has expired").recognised
    True
    """
    from tlsdoctor.explain import explain_text, with_check

    explanation = explain_text(message, host)
    if host is None:
        return explanation
    report = check_endpoint(host, options, connect=connect, local_stores=False)
    return with_check(explanation, report)


def explanation_exit_code(explanation: Explanation) -> int:
    """The exit code of ``tlsdoctor explain``: 3 for a message not recognised, else the
    check's (0 without ``--host``)."""
    if not explanation.recognised:
        return 3
    return explanation.report.exit_code if explanation.report is not None else 0


@dataclass(frozen=True)
class TrustPlan:
    """What :func:`apply_trust` would do: for each chosen store, its plan (the exact
    commands or file changes) or why it is skipped."""

    action: str  # "add" or "remove"
    ca: x509.Certificate
    label: str
    stores: tuple[TrustStore, ...]  # every store found on this machine
    planned: tuple[Planned, ...]


def plan_trust(
    ca_file: str,
    *,
    action: str = "add",
    stores: Sequence[str] = ("all",),
    password: str | None = None,
) -> TrustPlan:
    """Plan adding (or with ``action="remove"``, removing) the CA in ``ca_file`` (PEM,
    DER or PKCS#12 with ``password``) to the trust stores named in ``stores``
    (``system``, ``python``, ``nss``, ``java``, ``all``... as ``tlsdoctor trust add
    --store``). Changes nothing::

        plan = plan_trust("corp-root.pem", stores=["system"])
        for item in plan.planned:
            steps = [step.shown() for step in item.plan.steps] if item.plan else []
            print(item.store.id, steps or item.skipped)
    """
    from tlsdoctor.cli.trust import read_ca
    from tlsdoctor.stores.base import fingerprint, label_for
    from tlsdoctor.stores.changes import plan_all
    from tlsdoctor.stores.journal import Journal
    from tlsdoctor.stores.registry import discover, select

    if action not in ("add", "remove"):
        raise ValueError(f"action is 'add' or 'remove', not {action!r}")
    ca = read_ca(ca_file, for_adding=action == "add", password=password)
    label = label_for(ca)
    found = discover()
    chosen = select(found, list(stores) or ["all"])
    if action == "remove":  # the label it was added under, when tlsdoctor added it
        recorded = Journal().added(fingerprint(ca))
        label = next((v for k, v in recorded.items() if not k.startswith("env:")), label)
    planned = plan_all(chosen, action, ca, label)
    return TrustPlan(action, ca, label, tuple(found), tuple(planned))


def apply_trust(plan: TrustPlan, *, dry_run: bool = False) -> list[Outcome]:
    """Carry out :func:`plan_trust`'s plan, store by store (one failing does not stop
    the others); each change is verified by reading the store again and recorded in
    tlsdoctor's journal (so ``remove`` finds it). Returns each store's outcome;
    :func:`trust_exit_code` gives the command's exit code."""
    from tlsdoctor.analysis.facts import CertFacts
    from tlsdoctor.stores.base import fingerprint
    from tlsdoctor.stores.changes import apply_all
    from tlsdoctor.stores.journal import Journal

    journal = Journal()
    subject = CertFacts.of(plan.ca).subject_text
    sha256 = fingerprint(plan.ca)

    def record(store: TrustStore) -> None:
        journal.record(plan.action, store.id, plan.label, sha256, subject)

    return apply_all(plan.planned, plan.action, plan.ca, dry_run=dry_run, done=record)


def trust_exit_code(outcomes: Sequence[Outcome]) -> int:
    """0 when every store is as wanted, 1 when partly, 3 when none could be changed."""
    from tlsdoctor.stores.changes import exit_status

    return exit_status(outcomes)


def render_text(report: Report, *, verbose: bool = False, width: int = 100) -> str:
    """The report as ``tlsdoctor check`` prints it into a pipe (no colour), as text."""
    import io

    from tlsdoctor.render.text import make_console, render_report

    buffer = io.StringIO()
    console = make_console(buffer, color=False)
    console.width = width
    render_report(report, console, verbose=verbose)
    return buffer.getvalue()


def with_machine_stores(report: Report, target: str | None = None) -> Report:
    """``report`` with each unknown root's finding saying which of this machine's trust
    stores hold it, and the ``tlsdoctor trust add`` that fixes the others (what
    ``check`` adds; reads the stores only when a finding needs them)."""
    from tlsdoctor.stores.lookup import with_local_stores
    from tlsdoctor.stores.registry import discover

    return with_local_stores(report, discover, target)
