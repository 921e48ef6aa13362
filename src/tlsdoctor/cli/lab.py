"""``tlsdoctor lab`` (serve every failure on loopback) and ``tlsdoctor demo`` (serve them,
diagnose each, show that the diagnosis is the expected one)."""

from __future__ import annotations

import asyncio
import shlex
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tlsdoctor.anchors import anchors_from_files
from tlsdoctor.lab import Lab, LabEndpoint
from tlsdoctor.live import LiveOptions
from tlsdoctor.models import Report
from tlsdoctor.probe.targets import Endpoint, parse_target
from tlsdoctor.render.json_report import dumps, report_to_dict
from tlsdoctor.render.text import make_console, render_report
from tlsdoctor.scan import scan

LAB_TIMEOUT = 10.0


def endpoint_of(lab_endpoint: LabEndpoint) -> Endpoint:
    """What ``tlsdoctor check`` is asked for a lab endpoint: its name, dialled on loopback."""
    return parse_target(f"{lab_endpoint.host}:{lab_endpoint.port}", connect=lab_endpoint.address)


def as_expected(lab_endpoint: LabEndpoint, report: Report) -> bool:
    """The primary finding is the expected one, and every expected code is there."""
    found = [code.value for code in report.codes]
    if not lab_endpoint.expect:
        return not found
    return found[:1] == list(lab_endpoint.expect[:1]) and set(lab_endpoint.expect) <= set(found)


def serve(directory: str | None, port_base: int | None, as_json: bool) -> int:
    """Run the lab until Ctrl-C (or SIGTERM)."""
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with Lab(directory, port_base) as lab:
        if as_json:
            for item in lab.endpoints:
                print(
                    dumps(
                        {
                            "name": item.name,
                            "host": item.host,
                            "address": item.address,
                            "port": item.port,
                            "expect": list(item.expect),
                            "description": item.description,
                            "ca_file": str(lab.ca_file),
                        }
                    ),
                    flush=True,
                )
        else:
            console = make_console()
            _endpoint_table(console, lab)
            good = lab.endpoint("good")
            console.print(
                f"\nTrust [bold]{escape(str(lab.ca_file))}[/] to test a client, for example:"
            )
            # Commands are copied: one line each, never wrapped inside (the terminal
            # shows a long one on two rows but copies it as one).
            for command in lab_commands(lab, good):
                console.print(f"  {escape(command)}", soft_wrap=True)
            console.print("\nServing until Ctrl-C.")
            sys.stdout.flush()
        stop.wait()
    return 0


def lab_commands(lab: Lab, item: LabEndpoint) -> list[str]:
    """A curl and a tlsdoctor command line for ``item``, quoted for a shell."""
    where = f"{item.host}:{item.port}"
    ca_file = str(lab.ca_file)
    return [
        shlex.join(
            [
                "curl",
                "--cacert",
                ca_file,
                "--resolve",
                f"{where}:{item.address}",
                f"https://{where}/",
            ]
        ),
        shlex.join(["tlsdoctor", "check", where, "--connect", item.address, "--ca-file", ca_file]),
    ]


# Columns a terminal needs before the table also describes each endpoint.
DESCRIBE_WIDTH = 140


def _endpoint_table(console: Console, lab: Lab) -> None:
    addresses = sorted({item.address for item in lab.endpoints})
    table = Table(
        title=f"tlsdoctor lab: {len(lab.endpoints)} endpoints on {', '.join(addresses)}",
        title_justify="left",
        box=None,
        pad_edge=False,
        header_style="bold underline",
    )
    table.add_column("host name (SNI) and port", no_wrap=True)
    if len(addresses) > 1:
        table.add_column("address", no_wrap=True)
    table.add_column("a correct client sees", no_wrap=True)
    describe = console.width >= DESCRIBE_WIDTH
    if describe:
        table.add_column("what it serves", overflow="fold")
    for item in lab.endpoints:
        row = [f"{item.host}:{item.port}"]
        if len(addresses) > 1:
            row.append(item.address)
        row.append(f"[bold]{', '.join(item.expect) or 'trusted'}[/]")
        if describe:
            row.append(escape(item.description))
        table.add_row(*row)
    console.print(table)
    if not describe:
        console.print("[dim]What each one serves: tlsdoctor lab --json (or a wider terminal).[/]")


def demo(names: Sequence[str], full: bool, as_json: bool) -> int:
    """Start the lab, diagnose every endpoint, print the reports; 0 when each diagnosis is
    the expected one."""
    with Lab() as lab:
        chosen = [lab.endpoint(name) for name in names] if names else list(lab.endpoints)
        options = LiveOptions(anchors=anchors_from_files([lab.ca_file]), timeout=LAB_TIMEOUT)
        reports = asyncio.run(_diagnose(chosen, options))
        ca_file = Path(lab.ca_file)
    matches = [as_expected(item, report) for item, report in zip(chosen, reports, strict=True)]
    if as_json:
        for report in reports:
            print(dumps(report_to_dict(report)))
        return 0 if all(matches) else 1
    console = make_console()
    if full:
        for report in reports:
            render_report(report, console)
            console.print()
    table = Table(
        title=f"tlsdoctor demo: the lab's endpoints, trusting only the lab CA ({ca_file.name})"
    )
    table.add_column("endpoint", no_wrap=True)
    table.add_column("expected", no_wrap=True)
    table.add_column("tlsdoctor found", overflow="fold")
    for item, report, ok in zip(chosen, reports, matches, strict=True):
        found = ", ".join(code.value for code in report.codes) or "trusted"
        first = report.findings[0].message if report.findings else "every client connects"
        mark = "[green]✓[/]" if ok else "[red]✗[/]"
        table.add_row(
            item.name,
            ", ".join(item.expect) or "trusted",
            f"{mark} [bold]{found}[/]: {escape(first)}",
        )
    console.print(table)
    console.print(f"{sum(matches)} of {len(matches)} endpoints diagnosed as expected.")
    if not full:
        console.print("[dim]Every report in full: tlsdoctor demo --full (or --json).[/]")
    return 0 if all(matches) else 1


async def _diagnose(chosen: Sequence[LabEndpoint], options: LiveOptions) -> list[Report]:
    return [report async for report in scan([endpoint_of(item) for item in chosen], options)]
