"""``tlsdoctor trust``: see what each client trusts, add or remove a CA safely."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tlsdoctor.analysis.facts import CertFacts
from tlsdoctor.check import utc_now
from tlsdoctor.cli.options import served_chain
from tlsdoctor.errors import InputError
from tlsdoctor.models import rfc3339
from tlsdoctor.render.text import make_console
from tlsdoctor.stores.base import TrustStore, fingerprint, label_for
from tlsdoctor.stores.journal import Journal
from tlsdoctor.stores.lookup import holding
from tlsdoctor.stores.registry import discover

if TYPE_CHECKING:
    from tlsdoctor.models import JsonValue
    from tlsdoctor.stores.readers import Claim, NodeFacts


def read_ca(path: str, *, for_adding: bool, password: str | None = None) -> x509.Certificate:
    """The one CA certificate in ``path`` (PEM, DER, PKCS#7, PKCS#12 with ``password``); a
    leaf or a non-CA is refused, with why. Warnings (stderr) for what is odd but allowed."""
    from tlsdoctor.cli.options import read_file
    from tlsdoctor.errors import CertificateParseError

    try:
        certificates = read_file(path, password)
    except CertificateParseError as exc:
        # The parser's own words (ASN.1 offsets) help nobody here: one sentence.
        reason = exc.reason.split(" (", 1)[0] if "(" in exc.reason else exc.reason
        raise InputError(f"{path}: not a certificate file ({reason})") from exc
    if len(certificates) != 1:
        raise InputError(
            f"{path}: holds {len(certificates)} certificates; give the one CA to trust"
        )
    ca = certificates[0]
    facts = CertFacts.of(ca)
    if for_adding and not facts.is_ca:
        raise InputError(
            f"{path}: '{facts.display_name}' is not a CA certificate (basicConstraints CA:FALSE "
            "or missing): trusting a server's own certificate as a root hides every future "
            "problem with it; add the CA that issued it"
        )
    if for_adding and facts.not_after < utc_now():
        raise InputError(
            f"{path}: '{facts.display_name}' expired on {rfc3339(facts.not_after)}: every "
            "client rejects the chains it anchors, trusted or not; get the CA's current "
            "certificate from its owner"
        )
    for warning in input_warnings(path, ca):
        click.echo(f"tlsdoctor: warning: {warning}", err=True)
    return ca


def input_warnings(path: str, ca: x509.Certificate) -> list[str]:
    """What is allowed but worth a word: a CA not valid yet, a private key in the file."""
    facts = CertFacts.of(ca)
    warnings = []
    if facts.not_before > utc_now():
        warnings.append(
            f"'{facts.display_name}' is not valid before {rfc3339(facts.not_before)}: "
            "clients refuse the chains it anchors until then (or this clock is wrong)"
        )
    try:
        with open(path, "rb") as handle:
            head = handle.read(4 * 1024 * 1024)
    except OSError:
        head = b""
    if b"PRIVATE KEY-----" in head:
        warnings.append(
            f"{path} also holds a private key: only the certificate is added, but the key "
            "should not travel with it (keep it on the CA's machine, mode 0600)"
        )
    return warnings


def describe(ca: x509.Certificate) -> str:
    facts = CertFacts.of(ca)
    return (
        f"subject:  {facts.subject_text}\n"
        f"issuer:   {facts.issuer_text}\n"
        f"sha256:   {fingerprint(ca)}\n"
        f"valid:    {rfc3339(facts.not_before)} to {rfc3339(facts.not_after)}"
    )


def list_stores(as_json: bool) -> int:
    import os

    from tlsdoctor.stores.readers import node_facts, pip_facts, readers_of, readings

    stores = discover()
    infos = [store.info() for store in stores]
    found = readings(stores, os.environ, node_facts(), pip_facts())
    readers = {store.id: readers_of(store, found) for store in stores}
    if as_json:
        for info in infos:
            print(
                json.dumps(
                    {
                        "id": info.id,
                        "kind": info.kind.value,
                        "name": info.name,
                        "location": info.location,
                        "clients": list(readers[info.id]),
                        "count": info.count,
                        "writable": info.writable,
                        "problem": info.problem,
                    }
                )
            )
        return 0
    table = Table(title="Trust stores on this machine")
    for column in ("store", "kind", "read by", "roots", "location"):
        table.add_column(column, overflow="fold")
    for info in infos:
        roots = "?" if info.count is None else str(info.count)
        if info.problem:
            roots = f"[yellow]{escape(info.problem)}[/]"
        who = ", ".join(readers[info.id]) or "[dim]nobody here[/]"
        table.add_row(info.id, info.kind.value, who, roots, escape(info.location))
    console = make_console()
    console.print(table)
    for reading in found:
        if reading.advice:
            console.print(f"[dim]{escape(reading.advice)}[/]", soft_wrap=True)
    return 0


def find(what: str, as_json: bool, save: str | None = None, password: str | None = None) -> int:
    """``trust find``: a CA file, or a host whose chain's root is looked up."""
    if Path(what).exists() or what.lower().endswith((".pem", ".crt", ".cer", ".der", ".p12")):
        return _find_file(what, as_json, password)
    return _find_host(what, as_json, save)


def _find_file(path: str, as_json: bool, password: str | None) -> int:
    ca = read_ca(path, for_adding=False, password=password)
    stores = discover()
    held, told = _claims(ca, stores)
    if as_json:
        print(json.dumps(_claims_json(ca, stores, held, told)))
    else:
        console = make_console()
        console.print(describe(ca))
        _print_claims(console, stores, held, told)
    return 0 if any(held.values()) else 2


def _claims(
    ca: x509.Certificate, stores: Sequence[TrustStore]
) -> tuple[dict[str, bool | None], list[Claim]]:
    import os

    from tlsdoctor.stores.readers import claims

    return claims(ca, stores, os.environ)


def _claims_json(
    ca: x509.Certificate,
    stores: Sequence[TrustStore],
    held: dict[str, bool | None],
    told: Sequence[Claim],
) -> dict[str, JsonValue]:
    from tlsdoctor.stores.readers import readers_of

    found = [claim.reading for claim in told]
    return {
        "sha256": fingerprint(ca),
        "stores": [
            {
                "id": store.id,
                "trusted": held.get(store.id),
                "clients": list(readers_of(store, found)),
            }
            for store in stores
        ],
        "clients": [
            {
                "client": claim.reading.client,
                "trusts": claim.trusts,
                "reads": [*claim.reading.stores, *map(str, claim.reading.files)],
                "how": claim.reading.how,
                "advice": claim.reading.advice if not claim.trusts else None,
            }
            for claim in told
        ],
    }


def _print_claims(
    console: Console,
    stores: Sequence[TrustStore],
    held: dict[str, bool | None],
    told: Sequence[Claim],
) -> None:
    from tlsdoctor.stores.readers import readers_of

    found = [claim.reading for claim in told]
    mark = {True: "[green]holds it[/] ", False: "[red]does not[/] ", None: "[yellow]cannot tell[/]"}
    for store in stores:
        who = ", ".join(readers_of(store, found)) or "nobody here"
        line = f"  {escape(store.id):24s} {mark[held.get(store.id)]}  [dim](read by {who})[/]"
        console.print(line, soft_wrap=True)
    trusting = [c.reading.client for c in told if c.trusts]
    console.print(
        f"Clients that trust it: {', '.join(trusting) or 'none'}", soft_wrap=True, highlight=False
    )
    reasons: dict[str, list[str]] = {}  # one line per reason, naming every client it is
    for claim in told:
        if claim.trusts:
            continue
        why = claim.reading.advice or (
            "cannot tell: the store it reads could not be read"
            if claim.trusts is None
            else "the store it reads does not hold it: `tlsdoctor trust add` it there"
        )
        reasons.setdefault(why, []).append(claim.reading.client)
    for why, names in reasons.items():
        console.print(f"  {', '.join(names)}: {escape(why)}", soft_wrap=True, highlight=False)


def _find_host(target: str, as_json: bool, save: str | None) -> int:
    top = served_chain(target)[-1]  # its issuer, or itself, is the root to look for
    facts = CertFacts.of(top)
    # A served self-signed certificate is itself the root; otherwise its issuer is.
    subject = facts.subject_text if facts.is_self_issued else facts.issuer_text
    stores = discover()
    holdings = holding(stores, subject, top)
    root = next((h.certificate for h in holdings if h.certificate is not None), None)
    if root is None and facts.is_self_issued:
        root = top
    if save is not None and root is not None:
        Path(save).write_bytes(root.public_bytes(serialization.Encoding.PEM))
    held = {h.store: h.trusted for h in holdings}
    # A non-CA self-signed certificate cannot go into a store: no per-client advice then.
    told = _claims(root, stores)[1] if root is not None and CertFacts.of(root).is_ca else []
    if as_json:
        claimed = _claims_json(root, stores, held, told) if root is not None else {}
        print(
            json.dumps(
                {
                    "target": target,
                    "root": subject,
                    "sha256": fingerprint(root) if root is not None else None,
                    "saved": save if save is not None and root is not None else None,
                    "stores": claimed.get("stores")
                    or [
                        {"id": h.store, "trusted": h.trusted, "clients": list(h.clients)}
                        for h in holdings
                    ],
                    "clients": claimed.get("clients", []),
                }
            )
        )
    else:
        console = make_console()
        console.print(f"{escape(target)} chains to: {escape(subject)}")
        if root is not None:
            console.print(f"sha256:   {fingerprint(root)}")
        _print_claims(console, stores, held, told)
        missing = [h.store for h in holdings if h.trusted is False]
        if root is None:
            console.print(
                "\nNo store here holds that root and the server does not send it: get the "
                "CA certificate from its owner (your IT department, the proxy's admin page)."
            )
        elif not CertFacts.of(root).is_ca:
            console.print(
                "\nThe server's self-signed certificate is not a CA (basicConstraints), so "
                "stores will not take it as a root: pin it per client (curl --cacert, "
                "REQUESTS_CA_BUNDLE) or issue the server a certificate from an internal CA "
                "instead."
            )
        elif missing:
            where = escape(save or "root.pem")
            if save is None:
                console.print(
                    f"\nSave it with: tlsdoctor trust find {escape(target)} --save {where}",
                    soft_wrap=True,
                )
            console.print(
                "Check the fingerprint with the CA's owner, then: tlsdoctor trust add "
                f"{where} " + " ".join(f"--store {escape(store)}" for store in missing),
                soft_wrap=True,
            )
        if save is not None and root is not None:
            console.print(f"saved the root to {escape(save)}")
    return 0 if any(h.trusted for h in holdings) else 2


def change(
    action: str,
    path: str,
    names: Sequence[str],
    dry_run: bool,
    yes: bool,
    verify: str | None,
    password: str | None = None,
    *,
    fetch: bool = True,
) -> int:
    """``trust add`` / ``trust remove``: plan for each chosen store, confirm, apply, verify.
    Each store on its own (see :mod:`tlsdoctor.stores.changes` for the exit status)."""
    from tlsdoctor import api
    from tlsdoctor.stores.changes import State

    trust_plan = api.plan_trust(path, action=action, stores=names, password=password)
    ca, stores, planned = trust_plan.ca, list(trust_plan.stores), trust_plan.planned
    journal = Journal()
    console = make_console()
    console.print(describe(ca))
    for item in planned:
        plan = item.plan
        if plan is None:
            console.print(f"\n[bold]{escape(item.store.id)}[/] [yellow]skipped[/]")
            console.print(f"  {escape(item.skipped or '')}", soft_wrap=True)
            continue
        state = (
            "nothing to do"
            if plan.already and item.follows is None
            else ("commands to run there" if not plan.runnable else "")
        )
        console.print(f"\n[bold]{escape(item.store.id)}[/] {state}")
        for step in plan.steps:  # not wrapped: commands are copied and pasted
            console.print(f"  {escape(step.description)}: {escape(step.shown())}", soft_wrap=True)
        for note in plan.notes:
            console.print(f"  [dim]{escape(note)}[/]", soft_wrap=True)
    work = [
        item
        for item in planned
        if item.plan is not None
        and item.plan.runnable
        and (item.plan.steps or item.follows)
        and not (item.plan.already and item.follows is None)
    ]
    if work and not dry_run and not yes:
        if not sys.stdin.isatty():
            raise InputError("confirm with --yes (no terminal to ask on)")
        click.confirm(f"{action} this CA in {len(work)} store(s)?", abort=True, err=True)

    outcomes = api.apply_trust(trust_plan, dry_run=dry_run)
    console.print()
    for outcome in outcomes:
        colour = {State.DONE: "green", State.SKIPPED: "yellow", State.FAILED: "red"}
        shown = f"{outcome.state}" + (f": {outcome.reason}" if outcome.reason else "")
        if outcome.state is State.DONE:
            shown = "done, verified by reading the store again"
        console.print(
            f"[{colour.get(outcome.state, 'default')}]{escape(outcome.store)}: {escape(shown)}[/]",
            soft_wrap=True,
        )
    if action == "remove" and not dry_run:
        _remove_env_bundles(console, journal, ca)
    if not dry_run:
        held, told = _claims(ca, stores)
        _print_claims(console, stores, held, told)
    if verify:
        from tlsdoctor.live import LiveOptions, check_endpoint
        from tlsdoctor.probe.targets import parse_target
        from tlsdoctor.stores.lookup import with_local_stores

        report = with_local_stores(
            check_endpoint(parse_target(verify), LiveOptions(fetch=fetch)), discover, verify
        )
        connecting = [c.client for c in report.clients if c.trusted]
        console.print(
            f"check {escape(verify)}: {report.verdict.value}; clients that connect: "
            f"{', '.join(connecting) or 'none'}",
            soft_wrap=True,
        )
    return api.trust_exit_code(outcomes)


def _remove_env_bundles(console: Console, journal: Journal, ca: x509.Certificate) -> None:
    """Remove the files ``trust env`` wrote for this CA, and say which variables named
    them (a variable naming a missing file breaks its client until it is unset)."""
    for where, label in journal.added(fingerprint(ca)).items():
        if not where.startswith("env:"):
            continue
        folder = Path(where.removeprefix("env:"))
        for file in (folder / f"{label}-bundle.pem", folder / f"{label}.pem"):
            try:
                file.unlink(missing_ok=True)
            except OSError as exc:
                console.print(
                    f"[red]{escape(str(file))}: cannot be removed ({escape(exc.strerror or '')}); "
                    "it still makes the clients its variables point at trust the CA[/]",
                    soft_wrap=True,
                )
                continue
        journal.record("remove", where, label, fingerprint(ca), CertFacts.of(ca).subject_text)
        console.print(
            f"removed the bundles `trust env` wrote in {escape(str(folder))}: remove the "
            "SSL_CERT_FILE, REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE, NODE_EXTRA_CA_CERTS, "
            "GIT_SSL_CAINFO, PIP_CERT and NPM_CONFIG_CAFILE lines that name them from your "
            "shell profile (and `git config --global --unset http.sslCAInfo`, "
            "`pip config unset global.cert`, `npm config delete cafile`)",
            soft_wrap=True,
        )


def env(path: str, shell: str, output: str | None, password: str | None = None) -> int:
    """A bundle (system roots + the CA) and the variables that point the tools at it.
    Recorded in the journal: ``trust remove`` removes the files again."""
    from tlsdoctor.anchors import find_system_bundle
    from tlsdoctor.remedy.files import write_atomically
    from tlsdoctor.stores.env import Shell, settings, snippet
    from tlsdoctor.stores.readers import node_facts
    from tlsdoctor.stores.system import tlsdoctor_data_dir

    ca = read_ca(path, for_adding=True, password=password)
    pem = ca.public_bytes(serialization.Encoding.PEM)
    folder = (Path(output) if output else tlsdoctor_data_dir() / "bundles").resolve()
    folder.mkdir(parents=True, exist_ok=True)
    label = label_for(ca)
    system = find_system_bundle()
    base = Path(system).read_bytes() if system else b""
    bundle = write_atomically(folder / f"{label}-bundle.pem", base + b"\n" + pem, force=True)
    ca_file = write_atomically(folder / f"{label}.pem", pem, force=True)
    Journal().record("add", f"env:{folder}", label, fingerprint(ca), CertFacts.of(ca).subject_text)
    print(snippet(settings(bundle, ca_file), Shell(shell)))
    # To stderr, so that `eval "$(tlsdoctor trust env ...)"` only sees the variables.
    for line in env_notes(node_facts(), ca_file):
        print(line, file=sys.stderr)
    return 0


def env_notes(node: NodeFacts | None, ca_file: Path) -> list[str]:
    """What no variable covers, for the Node installed here (its own --help lists its
    flags: --use-system-ca from 22.15/23.8, --use-openssl-ca before)."""
    notes = []
    if node is not None and node.use_system_ca:
        notes.append(
            f"{node.shown} can read the system store instead of NODE_EXTRA_CA_CERTS: "
            f"`node --use-system-ca` (after `tlsdoctor trust add {ca_file} --store system`)."
        )
    elif node is not None and node.use_openssl_ca:
        notes.append(
            f"{node.shown} has no --use-system-ca (22.15/23.8 and later): "
            "`node --use-openssl-ca` reads OpenSSL's store instead of its built-in roots "
            f"(after `tlsdoctor trust add {ca_file} --store system`)."
        )
    notes.append(
        "Docker, for a registry: copy the CA to /etc/docker/certs.d/REGISTRY:PORT/ca.crt on "
        "each host (read per connection, no restart)."
    )
    notes.append(f"`tlsdoctor trust remove {ca_file}` removes these files again.")
    return notes
