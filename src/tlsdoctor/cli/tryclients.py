"""``check HOST --try-clients``: the options, and the table of what each real client did.

A client's output never reaches the terminal raw: only its message line, with control,
bidi and invisible characters made visible and its length bounded.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import click

from tlsdoctor.errors import InputError
from tlsdoctor.render.safe import ELLIPSIS, make_visible

if TYPE_CHECKING:
    from tlsdoctor.models import Report
    from tlsdoctor.probe.targets import Endpoint
    from tlsdoctor.tryclients import Trials
    from tlsdoctor.tryclients.predict import Prediction

F = TypeVar("F", bound=Callable[..., Any])
_MAX_SHOWN = 300  # characters of a client's message on the terminal


def try_clients_options(command: F) -> F:
    """The options of ``check`` for running the local clients."""
    from tlsdoctor.tryclients.runners import CLIENTS, DEFAULT_TIMEOUT

    options = [
        click.option(
            "--try-clients",
            is_flag=True,
            help="Also run every TLS client found here (curl, wget, openssl, gnutls-cli, "
            "python, requests, httpx, node, java, go) against HOST, beside the prediction.",
        ),
        click.option(
            "--clients",
            "client_names",
            metavar="LIST",
            help=f"Run only these clients (implies --try-clients): {','.join(CLIENTS)}.",
        ),
        click.option(
            "--client-timeout",
            type=click.FloatRange(min=1, max=600),
            default=DEFAULT_TIMEOUT,
            show_default=True,
            help="Seconds each client may take before it is killed.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def clients_to_try(
    targets: Sequence[str],
    target_file: str | None,
    connect: str | None,
    no_sni: bool,
    starttls: str | None,
    servername: str | None,
    client_names: str | None,
) -> tuple[str, ...]:
    """The clients --try-clients/--clients asks for, checked before anything is dialed:
    HTTPS clients against one endpoint (a clear usage error for anything else)."""
    from tlsdoctor.tryclients import parse_clients

    try:
        clients = parse_clients(client_names)
    except ValueError as exc:
        raise click.UsageError(f"--clients: {exc}") from exc
    if len(targets) != 1 or target_file:
        raise click.UsageError("--try-clients checks one target (HOST[:PORT] or URL)")
    if no_sni:
        raise click.UsageError("--try-clients: the real clients always send SNI (no --no-sni)")
    if servername:
        # check verifies HOST while sending another SNI; a real client verifies the name it
        # sends, so the two would not be compared on the same question.
        raise click.UsageError(
            "--try-clients: real clients verify the name they send; give that name as HOST "
            "and the address with --connect instead of --servername"
        )
    if starttls:
        raise click.UsageError("--try-clients runs HTTPS clients: not with --starttls")
    from tlsdoctor.probe.endpoint import is_ip
    from tlsdoctor.probe.targets import parse_target

    endpoint = parse_target(targets[0], connect=connect)
    if endpoint.starttls is not None:
        raise click.UsageError(
            f"--try-clients runs HTTPS clients; port {endpoint.port} speaks "
            f"{endpoint.starttls.value} with STARTTLS"
        )
    if endpoint.connect not in (None, endpoint.host) and is_ip(endpoint.host):
        raise click.UsageError(
            "--try-clients: HOST is an IP address, so there is no name to map to --connect; "
            "give the address to dial as HOST"
        )
    return clients


def check_with_clients(
    report: Report,
    endpoint: Endpoint,
    ca_files: Sequence[str],
    clients: Sequence[str],
    client_timeout: float,
    as_json: bool,
) -> int:
    """Run the clients, print the report and their table (or the JSON), return the exit
    code of the report."""
    from tlsdoctor.tryclients import Dial, try_clients

    address = endpoint.connect if endpoint.connect != endpoint.host else None
    dial = Dial(endpoint.host, endpoint.port, address, _one_ca_file(ca_files))
    trials = try_clients(report, dial, clients, timeout=client_timeout)
    if as_json:
        from tlsdoctor.render.json_report import dumps, report_to_dict
        from tlsdoctor.tryclients import trials_to_dict

        data = report_to_dict(report)
        data["tried_clients"] = trials_to_dict(trials)
        click.echo(dumps(data))
    else:
        from tlsdoctor.render.text import make_console, render_report

        console = make_console()
        render_report(report, console)
        for line in render_trials(trials):
            console.print(line, markup=False, highlight=False)
    return report.exit_code


def _one_ca_file(ca_files: Sequence[str]) -> str | None:
    """The clients take one CA file: several are joined into one temporary bundle."""
    if not ca_files:
        return None
    if len(ca_files) == 1:
        return os.path.abspath(ca_files[0])
    import atexit
    import tempfile

    handle, path = tempfile.mkstemp(prefix="tlsdoctor-ca-", suffix=".pem")
    atexit.register(os.unlink, path)
    with os.fdopen(handle, "wb") as bundle:
        for name in ca_files:
            try:
                with open(name, "rb") as source:
                    bundle.write(source.read(16 * 1024 * 1024) + b"\n")
            except OSError as exc:
                raise InputError(f"{name}: cannot be read ({exc.strerror})") from exc
    return path


def shown(text: str, limit: int = _MAX_SHOWN) -> str:
    """A client's output as one table cell: on one line, made visible by the one safe-text
    rule (render.safe), and at most ``limit`` characters in all (the column is fixed)."""
    visible = make_visible(text.replace("\n", " ").replace("\t", " "))
    return visible if len(visible) <= limit else visible[: limit - 1] + ELLIPSIS


def _predicted(prediction: Prediction) -> str:
    if prediction.trusted is None:
        return "nothing (no verdict for its profile)"
    if prediction.trusted:
        return "connects"
    return f"fails ({', '.join(code.value for code in prediction.codes)})"


def render_trials(trials: Trials) -> list[str]:
    """The table: per client what it did, what was predicted, and whether they agree."""
    dial = trials.dial
    where = f"{dial.host}:{dial.port}" + (f" via {dial.address}" if dial.address else "")
    trust = f"trusting only {dial.ca_file}" if dial.ca_file else "each with its own trust store"
    lines = ["", f"Real clients on this machine against {shown(where)}, {shown(trust)}:"]
    width = max([len(trial.outcome.client) for trial in trials.trials] + [6])
    for trial in trials.trials:
        outcome, prediction = trial.outcome, trial.prediction
        mark = {True: "✓", False: "✗", None: "?"}[trial.agrees]
        verified = "yes" if outcome.ok else "no"
        if outcome.killed:
            verified = "no (killed at its time bound)"
        lines.append(
            f"  {mark} {outcome.client:<{width}}  exit {outcome.exit_code:<3} "
            f"{outcome.seconds:5.1f} s  verified: {verified:<3}  predicted: "
            + _predicted(prediction)
            + ("  <- DISAGREES" if trial.agrees is False else "")
        )
        if outcome.message:
            lines.append(f"      said:      {shown(outcome.message)}")
        if trial.causes:
            lines.append(f"      explained: {', '.join(trial.causes[:3])}")
        if prediction.expected_error:
            sign = "" if trial.message_fits else " (wording differs)"
            lines.append(f"      predicted: {shown(prediction.expected_error)}{sign}")
        if prediction.local:
            lines.append(f"      this build: {shown(prediction.local)}")
    for client, why in trials.not_run:
        lines.append(f"  - {client:<{width}}  not run: {shown(why)}")
    agree = sum(trial.agrees is True for trial in trials.trials)
    lines.append(
        f"{agree} of {trials.compared} clients did what tlsdoctor predicted"
        f" ({len(trials.disagreements)} disagreement(s)); {trials.seconds:.1f} s."
    )
    return lines
