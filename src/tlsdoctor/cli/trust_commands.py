"""`tlsdoctor trust ...`: the options of each trust-store command (the work is in cli/trust.py)."""

from __future__ import annotations

from collections.abc import Sequence

import click

from tlsdoctor.cli.vocabulary import (
    PASSWORD_HELP,
)


@click.group()
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
