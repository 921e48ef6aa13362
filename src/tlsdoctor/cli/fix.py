"""``tlsdoctor fix chain``: show the chain a server should send, write it, say how."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import shlex
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from rich.console import Console
from rich.markup import escape

from tlsdoctor.anchors import TrustAnchors
from tlsdoctor.errors import InputError
from tlsdoctor.fetch import FetchPolicy
from tlsdoctor.models import rfc3339
from tlsdoctor.remedy.chain import DifferenceKind
from tlsdoctor.remedy.files import chain_outputs, load_private_key, same_key, write_outputs
from tlsdoctor.remedy.repair import Repair, repair_chain, served_chain
from tlsdoctor.remedy.servers import (
    Instructions,
    instructions_for_header,
    issued_by_lets_encrypt,
)
from tlsdoctor.render.safe import safe_text, safe_url
from tlsdoctor.render.text import make_console

TIMEOUT = 10.0


def fix_chain(
    target: str | None,
    chain_files: Sequence[str],
    with_files: Sequence[str],
    connect: str | None,
    anchors: TrustAnchors,
    at: dt.datetime | None,
    key_path: str | None,
    password: str | None,
    output: str | None,
    include_root: bool,
    force: bool,
    fetch: bool,
    server: str | None,
    as_json: bool,
    *,
    ca_files: Sequence[str] = (),
) -> int:
    """Plan (and with ``output`` write) the chain; 0 when the planned chain is trusted
    and verifies, 2 when no trusted chain can be built. ``ca_files`` (the ``--ca-file``
    given) go into the "check again" line, with the target and ``--connect``."""
    from tlsdoctor.cli.options import read_file
    from tlsdoctor.probe.targets import parse_target
    from tlsdoctor.remedy.repair import read_extra

    if output is not None:
        _check_output(output)  # before the network: a typo must not cost a check
    when = at or dt.datetime.now(dt.timezone.utc)
    header = server
    host = None
    if target is not None:
        endpoint = parse_target(target, connect=connect)
        host = endpoint.host
        served, detected, address = asyncio.run(served_chain(endpoint, TIMEOUT))
        header = server or detected
        policy = FetchPolicy.near(address)
    else:
        served = tuple(cert for path in chain_files for cert in read_file(path, password))
        policy = FetchPolicy.for_files()
    repair = asyncio.run(
        repair_chain(
            served,
            anchors,
            at=when,
            host=host,
            include_root=include_root,
            fetch=fetch,
            extra=read_extra(with_files),
            server_header=header,
            policy=policy,
        )
    )
    key = None
    if key_path is not None:
        key = load_private_key(key_path, password.encode() if password else None)
        if not same_key(repair.plan.leaf, key):
            raise InputError(
                f"{key_path} is not the private key of the certificate "
                f"'{_name(repair.plan.leaf)}': the server would fail to start with them"
            )
    written: tuple[Path, ...] = ()
    files, outputs = chain_outputs(output or ".", repair.plan.chain, key=key, key_path=key_path)
    if output is not None and repair.plan.trusted:
        try:
            Path(output).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"-o {output}: cannot be created ({exc.strerror or exc})") from exc
        written = write_outputs(outputs, force=force)
    instructions = instructions_for_header(
        header,
        files,
        site=host,
        certbot=issued_by_lets_encrypt(repair.plan.leaf),
        check_command=check_again(target, connect, ca_files),
    )
    if as_json:
        print(json.dumps(_as_dict(repair, written, key is not None, instructions.title)))
    else:
        _render(make_console(), repair, written, key is not None, instructions, output)
    return 0 if repair.plan.accepted else 2


def check_again(target: str | None, connect: str | None, ca_files: Sequence[str]) -> str | None:
    """The ``tlsdoctor check`` line for after the fix, as the user checked it: the same
    target (with its port), ``--connect`` and ``--ca-file``, quoted for a shell."""
    if target is None:
        return None
    argv = ["tlsdoctor", "check", target]
    if connect:
        argv += ["--connect", connect]
    for ca_file in ca_files:
        argv += ["--ca-file", ca_file]
    return shlex.join(argv)


def _check_output(output: str) -> None:
    """``-o`` must name a directory, or a path where one can be made."""
    folder = Path(output)
    if folder.is_symlink() and not folder.exists():
        raise InputError(
            f"-o {output}: is a symbolic link to {os.readlink(folder)}, which does not exist; "
            "give a directory"
        )
    if folder.exists() and not folder.is_dir():
        raise InputError(f"-o {output}: is a file, not a directory to write the chain into")


def _name(cert: x509.Certificate) -> str:
    from tlsdoctor.analysis.facts import CertFacts

    return CertFacts.of(cert).display_name


def _render(
    console: Console,
    repair: Repair,
    written: tuple[Path, ...],
    key_checked: bool,
    instructions: Instructions,
    output: str | None,
) -> None:
    plan = repair.plan
    if plan.trusted and not plan.changed:
        console.print("[bold green]✓ The server already sends the right chain.[/]")
    elif plan.trusted:
        console.print("[bold yellow]The server should send a different chain:[/]")
    else:
        console.print(
            f"[bold red]✗ No chain to a trusted root can be built:[/] {escape(plan.reason or '')}"
        )
    for difference in plan.differences:
        if difference.kind is not DifferenceKind.ROOT_ADDED or plan.changed:
            console.print(f"  [bold]{difference.kind.value}[/] {escape(difference.message)}")
    console.print("\nThe chain to serve, in this order:")
    for index, cert in enumerate(plan.chain):
        role = "leaf" if index == 0 else "intermediate"
        console.print(
            f"  {index}. {role}: {escape(_name(cert))}  "
            f"[dim](until {rfc3339(cert.not_valid_after_utc)})[/]"
        )
    if plan.anchor_name:
        console.print(f"  → trusted root: {escape(plan.anchor_name)} [dim](not sent)[/]")
    if plan.verifier_error:
        console.print(
            f"[red]The webpki verifier still refuses it: {escape(plan.verifier_error)}[/]"
        )
    if key_checked:
        console.print("[green]The private key matches the certificate.[/]")
    for fetch in repair.fetches:
        outcome = fetch.error or f"HTTP {fetch.status}, {fetch.bytes} bytes"
        console.print(
            f"[dim]Fetched {escape(safe_url(fetch.url))}: {escape(safe_text(outcome))}[/]"
        )
    if not repair.fetches and plan.issuer_urls and not plan.trusted:
        # Files are judged offline: say what --fetch would download, and from where.
        urls = ", ".join(safe_url(url) for url in plan.issuer_urls[:3])
        console.print(f"[dim]Not downloaded (add --fetch to download it): {escape(urls)}[/]")
    if written:
        console.print("\nWritten: " + ", ".join(str(path) for path in written))
    elif plan.trusted and output is None:
        console.print("\n[dim]Write these files with -o DIR (existing files need --force).[/]")
    if plan.trusted:
        console.print(f"\n[bold]{escape(instructions.title)}[/]")
        # Configuration and commands are copied: never wrapped inside a line.
        console.print(escape(instructions.config), soft_wrap=True)
        console.print(f"[dim]then:[/] {escape(instructions.apply)}", soft_wrap=True)
        for note in instructions.notes:
            console.print(f"[dim]note:[/] {escape(note)}")


def _as_dict(
    repair: Repair, written: tuple[Path, ...], key_checked: bool, server: str
) -> dict[str, object]:
    from tlsdoctor.analysis.facts import CertFacts

    plan = repair.plan
    return {
        "trusted": plan.trusted,
        "accepted": plan.accepted,
        "changed": plan.changed,
        "reason": plan.reason,
        "anchor": plan.anchor_name,
        "verifier_error": plan.verifier_error,
        "chain": [
            {"subject": CertFacts.of(c).subject_text, "sha256": CertFacts.of(c).sha256}
            for c in plan.chain
        ],
        "differences": [
            {
                "kind": d.kind.value,
                "subject": d.subject,
                "sha256": d.sha256,
                "message": d.message,
                "source": d.source,
            }
            for d in plan.differences
        ],
        "server": server,
        "server_header": repair.server_header,
        "key_matches": True if key_checked else None,
        "written": [str(path) for path in written],
        "fetches": [{"url": f.url, "status": f.status, "error": f.error} for f in repair.fetches],
    }
