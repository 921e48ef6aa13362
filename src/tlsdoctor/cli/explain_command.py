"""`tlsdoctor explain`: its options, and the bounded reading of a paste."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click


@click.command()
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
