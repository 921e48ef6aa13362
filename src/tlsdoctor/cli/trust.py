"""``tlsdoctor trust``: see what each client trusts, add or remove a CA safely."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

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
from tlsdoctor.stores.base import (
    Plan,
    StoreError,
    TrustStore,
    apply,
    contains,
    fingerprint,
    label_for,
)
from tlsdoctor.stores.journal import Journal
from tlsdoctor.stores.lookup import holding
from tlsdoctor.stores.registry import discover, select


def read_ca(path: str, *, for_adding: bool) -> x509.Certificate:
    """The one CA certificate in ``path``; a leaf or a non-CA is refused, with why."""
    from tlsdoctor.pem import load_certificates

    certificates = load_certificates(path)
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
    return ca


def describe(ca: x509.Certificate) -> str:
    facts = CertFacts.of(ca)
    return (
        f"subject:  {facts.subject_text}\n"
        f"issuer:   {facts.issuer_text}\n"
        f"sha256:   {fingerprint(ca)}\n"
        f"valid:    {rfc3339(facts.not_before)} to {rfc3339(facts.not_after)}"
    )


def list_stores(as_json: bool) -> int:
    stores = discover()
    infos = [store.info() for store in stores]
    if as_json:
        for info in infos:
            print(
                json.dumps(
                    {
                        "id": info.id,
                        "kind": info.kind.value,
                        "name": info.name,
                        "location": info.location,
                        "clients": list(info.clients),
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
        table.add_row(
            info.id, info.kind.value, ", ".join(info.clients), roots, escape(info.location)
        )
    make_console().print(table)
    return 0


def find(what: str, as_json: bool, save: str | None = None) -> int:
    """``trust find``: a CA file, or a host whose chain's root is looked up."""
    if Path(what).exists() or what.lower().endswith((".pem", ".crt", ".cer", ".der")):
        return _find_file(what, as_json)
    return _find_host(what, as_json, save)


def _find_file(path: str, as_json: bool) -> int:
    ca = read_ca(path, for_adding=False)
    rows = []
    for store in discover():
        try:
            held: bool | None = contains(store, ca)
        except StoreError:
            held = None
        rows.append((store.info(), held))
    if as_json:
        print(
            json.dumps(
                {
                    "sha256": fingerprint(ca),
                    "stores": [
                        {"id": info.id, "trusted": held, "clients": list(info.clients)}
                        for info, held in rows
                    ],
                }
            )
        )
    else:
        console = make_console()
        console.print(describe(ca))
        for info, held in rows:
            _print_row(console, info.id, held, info.clients)
    return 0 if any(held for _, held in rows) else 2


def _print_row(console: Console, store: str, held: bool | None, clients: Sequence[str]) -> None:
    mark = {True: "[green]trusts it[/]", False: "[red]does not[/]", None: "[yellow]cannot tell[/]"}
    console.print(f"  {store:24s} {mark[held]}  [dim]({', '.join(clients)})[/]")


def _find_host(target: str, as_json: bool, save: str | None) -> int:
    top = served_chain(target)[-1]  # its issuer, or itself, is the root to look for
    facts = CertFacts.of(top)
    # A served self-signed certificate is itself the root; otherwise its issuer is.
    subject = facts.subject_text if facts.is_self_issued else facts.issuer_text
    holdings = holding(discover(), subject, top)
    root = next((h.certificate for h in holdings if h.certificate is not None), None)
    if root is None and facts.is_self_issued:
        root = top
    if save is not None and root is not None:
        Path(save).write_bytes(root.public_bytes(serialization.Encoding.PEM))
    if as_json:
        print(
            json.dumps(
                {
                    "target": target,
                    "root": subject,
                    "sha256": fingerprint(root) if root is not None else None,
                    "saved": save if save is not None and root is not None else None,
                    "stores": [
                        {"id": h.store, "trusted": h.trusted, "clients": list(h.clients)}
                        for h in holdings
                    ],
                }
            )
        )
    else:
        console = make_console()
        console.print(f"{escape(target)} chains to: {escape(subject)}")
        if root is not None:
            console.print(f"sha256:   {fingerprint(root)}")
        for h in holdings:
            _print_row(console, h.store, h.trusted, h.clients)
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
    action: str, path: str, names: Sequence[str], dry_run: bool, yes: bool, verify: str | None
) -> int:
    """``trust add`` / ``trust remove``: plan for each chosen store, confirm, apply, verify."""
    ca = read_ca(path, for_adding=action == "add")
    label = label_for(ca)
    journal = Journal()
    chosen = select(discover(), names or ["all"])
    if action == "remove":
        recorded = journal.added(fingerprint(ca))
        label = next(iter(recorded.values()), label)
    plans: list[tuple[TrustStore, Plan]] = []
    for store in chosen:
        plan = store.plan_add(ca, label) if action == "add" else store.plan_remove(ca, label)
        plans.append((store, plan))
    console = make_console()
    console.print(describe(ca))
    for store, plan in plans:
        state = (
            "nothing to do"
            if plan.already
            else ("commands to run there" if not plan.runnable else "")
        )
        console.print(f"\n[bold]{escape(store.id)}[/] {state}")
        for step in plan.steps:  # not wrapped: commands are copied and pasted
            console.print(f"  {escape(step.description)}: {escape(step.shown())}", soft_wrap=True)
        for note in plan.notes:
            console.print(f"  [dim]{escape(note)}[/]", soft_wrap=True)
    work = [
        (store, plan) for store, plan in plans if plan.steps and not plan.already and plan.runnable
    ]
    if dry_run or not work:
        return 0
    if not yes:
        if not sys.stdin.isatty():
            raise InputError("confirm with --yes (no terminal to ask on)")
        click.confirm(f"{action} this CA in {len(work)} store(s)?", abort=True, err=True)
    failed = 0
    for store, plan in work:
        try:
            apply(plan)
        except StoreError as exc:
            failed += 1
            console.print(f"[red]{escape(store.id)}: {escape(str(exc))}[/]")
            continue
        now_held = contains(store, ca)
        if now_held != (action == "add"):
            failed += 1
            console.print(f"[red]{escape(store.id)}: the change did not take effect[/]")
            continue
        journal.record(action, store.id, label, fingerprint(ca), CertFacts.of(ca).subject_text)
        console.print(
            f"[green]{escape(store.id)}: done, verified by reading the store again[/]",
            soft_wrap=True,
        )
    if verify:
        from tlsdoctor.live import LiveOptions, check_endpoint
        from tlsdoctor.probe.targets import parse_target

        report = check_endpoint(parse_target(verify), LiveOptions())
        console.print(f"check {escape(verify)}: {report.verdict.value}")
    return 1 if failed else 0


def env(path: str, shell: str, output: str | None) -> int:
    """A bundle (system roots + the CA) and the variables that point the tools at it."""
    from tlsdoctor.anchors import find_system_bundle
    from tlsdoctor.remedy.files import write_atomically
    from tlsdoctor.stores.env import Shell, settings, snippet
    from tlsdoctor.stores.system import tlsdoctor_data_dir

    ca = read_ca(path, for_adding=True)
    pem = ca.public_bytes(serialization.Encoding.PEM)
    folder = Path(output) if output else tlsdoctor_data_dir() / "bundles"
    folder.mkdir(parents=True, exist_ok=True)
    label = label_for(ca)
    system = find_system_bundle()
    base = Path(system).read_bytes() if system else b""
    bundle = write_atomically(folder / f"{label}-bundle.pem", base + b"\n" + pem, force=True)
    ca_file = write_atomically(folder / f"{label}.pem", pem, force=True)
    print(snippet(settings(bundle, ca_file), Shell(shell)))
    # To stderr, so that `eval "$(tlsdoctor trust env ...)"` only sees the variables.
    for line in ENV_NOTES:
        print(line.format(ca=ca_file), file=sys.stderr)
    return 0


# What no variable covers.
ENV_NOTES = (
    "Node 22.15+/23.8+ can read the system store instead: `node --use-system-ca` (after "
    "`tlsdoctor trust add {ca} --store system`).",
    "Docker, for a registry: copy the CA to /etc/docker/certs.d/REGISTRY:PORT/ca.crt on "
    "each host (read per connection, no restart).",
)
