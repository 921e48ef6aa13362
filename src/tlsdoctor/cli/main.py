"""``tlsdoctor``: the entry point. Each command parses, calls the library, renders, exits.

Exit codes follow the spec: 0 trusted, 1 trusted with warnings, 2 untrusted, 3 could not
check (also bad usage and unreadable input, always with one clear sentence on stderr).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from tlsdoctor.cli.cert_commands import cert
from tlsdoctor.cli.check_command import check
from tlsdoctor.cli.explain_command import explain
from tlsdoctor.cli.fix_commands import fix
from tlsdoctor.cli.help import document
from tlsdoctor.cli.trust_commands import trust
from tlsdoctor.cli.vocabulary import EXIT_ERROR, PASSWORD_HELP
from tlsdoctor.cli.watch import watch
from tlsdoctor.errors import TlsDoctorError


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="tlsdoctor")
def cli() -> None:
    """Find out why a TLS connection is not trusted, and exactly what fixes it."""


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


for command in (check, explain, trust, cert, fix, watch):
    cli.add_command(command)
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
