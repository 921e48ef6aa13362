"""`tlsdoctor fix ...`: the options of each fix command (the work is in cli/fix.py)."""

from __future__ import annotations

from collections.abc import Sequence

import click

from tlsdoctor.cli.vocabulary import (
    PASSWORD_HELP,
)


@click.group()
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
