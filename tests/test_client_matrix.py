"""Real clients against the lab: does each connect exactly where tlsdoctor says it does?

For every (client, endpoint) pair the real program (tests/realclients.py) connects to the
lab endpoint by name, trusting only the lab CA, and its result is compared with tlsdoctor's
verdict for that client's profile in knowledge/clients.json (``Report.clients``, from
``check_endpoint`` with the same CA). openssl s_client and gnutls-cli have no profile of
their own: s_client is compared with ``curl`` (curl's OpenSSL verifier), gnutls-cli with
``wget`` (Debian's wget is the GnuTLS build), headless Chromium with ``chrome``.

One test per client fails listing every endpoint where the real client and the prediction
disagree: the prediction is what is wrong there (the model, not these tests, is to change).
The whole matrix, with what each client printed for each endpoint and what tlsdoctor
predicted it would print, is printed and written to bench/results/client_matrix.txt (and
.json beside it).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import realclients
from realclients import CLIENTS, PROFILE_OF, Outcome, Unavailable
from tlsdoctor.anchors import anchors_from_files
from tlsdoctor.cli.lab import endpoint_of
from tlsdoctor.explain import explain_text
from tlsdoctor.lab import Lab, LabEndpoint
from tlsdoctor.live import LiveOptions, check_endpoint
from tlsdoctor.models import ClientVerdict
from tlsdoctor.tryclients.predict import fits

RESULTS = Path(__file__).resolve().parents[1] / "bench" / "results"
WORKERS = min(8, 2 * (os.cpu_count() or 1) + 2)
SHORT = {
    "python-requests": "requests",
    "openssl-s_client": "s_client",
    "gnutls-cli": "gnutls-cli",
}


@dataclass(frozen=True)
class Cell:
    client: str
    endpoint: LabEndpoint
    outcome: Outcome
    verdict: ClientVerdict  # tlsdoctor's, for the client's profile

    @property
    def agrees(self) -> bool:
        return self.outcome.ok == self.verdict.trusted


@dataclass
class Matrix:
    endpoints: tuple[LabEndpoint, ...]
    cells: dict[tuple[str, str], Cell] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # client: why
    # client: (good endpoint trusting the lab CA, good endpoint trusting another CA)
    controls: dict[str, tuple[Outcome, Outcome]] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    def disagreements(self, client: str) -> list[Cell]:
        return [
            cell
            for item in self.endpoints
            if (cell := self.cells.get((client, item.name))) is not None and not cell.agrees
        ]


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with Lab() as running:
        yield running


@pytest.fixture(scope="module")
def matrix(lab: Lab) -> Matrix:
    started = time.monotonic()
    result = Matrix(lab.endpoints)
    for client in CLIENTS:  # here, not in the pool: availability probes run once
        reason = realclients.unavailable(client)
        if reason is None:
            result.versions[client] = realclients.version(client)
        else:
            result.skipped[client] = reason
    available = [client for client in CLIENTS if client not in result.skipped]
    other_ca = lab.directory / "client-ca.pem"  # a real CA, but not the servers'
    good = lab.endpoint("good")
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        predictions = pool.submit(_predictions, lab)
        runs: dict[tuple[str, str], Future[Outcome]] = {
            (client, item.name): pool.submit(realclients.run, client, item, lab.ca_file)
            for item in lab.endpoints
            for client in available
        }
        controls = {
            client: pool.submit(realclients.run, client, good, other_ca) for client in available
        }
        verdicts = predictions.result()
        for (client, name), future in runs.items():
            verdict = verdicts[name][PROFILE_OF[client]]
            result.cells[client, name] = Cell(client, lab.endpoint(name), future.result(), verdict)
        for client, future in controls.items():
            result.controls[client] = (result.cells[client, "good"].outcome, future.result())
    result.seconds = time.monotonic() - started
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "client_matrix.txt").write_text(render(result), encoding="utf-8")
    (RESULTS / "client_matrix.json").write_text(
        json.dumps(as_json(result), indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return result


def _predictions(lab: Lab) -> dict[str, dict[str, ClientVerdict]]:
    """endpoint name: {client profile id: tlsdoctor's verdict}, trusting only the lab CA."""
    options = LiveOptions(anchors=anchors_from_files([lab.ca_file]), timeout=10)
    verdicts: dict[str, dict[str, ClientVerdict]] = {}
    for item in lab.endpoints:
        report = check_endpoint(endpoint_of(item), options)
        verdicts[item.name] = {verdict.client: verdict for verdict in report.clients}
    return verdicts


# --------------------------------------------------------------------------------------
# The tests


@pytest.mark.parametrize("client", CLIENTS)
def test_harness_verifies_against_the_given_ca_only(matrix: Matrix, client: str) -> None:
    """Control: the client connects to the good endpoint trusting the lab CA, and refuses
    it trusting another CA; otherwise its column says nothing about verification."""
    if client in matrix.skipped:
        pytest.skip(f"{client}: {matrix.skipped[client]}")
    with_lab_ca, with_other_ca = matrix.controls[client]
    assert with_lab_ca.ok, with_lab_ca.output
    assert not with_other_ca.ok, with_other_ca.output


@pytest.mark.parametrize("client", CLIENTS)
def test_real_client_agrees_with_prediction(matrix: Matrix, client: str) -> None:
    """outcome.ok == verdict.trusted on every lab endpoint."""
    if client in matrix.skipped:
        pytest.skip(f"{client}: {matrix.skipped[client]}")
    wrong = matrix.disagreements(client)
    profile = PROFILE_OF[client]
    compared = "" if profile == client else f" (compared with the '{profile}' profile)"
    if wrong:
        pytest.fail(
            f"{client}{compared} disagrees with tlsdoctor on {len(wrong)} of "
            f"{len(matrix.endpoints)} endpoints:\n"
            + "\n".join(_disagreement(cell) for cell in wrong),
            pytrace=False,
        )


# What a client can tell from its side: a root it does not know is all a known-bad root
# (not sent by the server, not trusted) looks like, and a TLS 1.3 client-certificate abort
# shows as a failed write in clients that report only that.
_SEEN_AS = {"known_bad_root": {"untrusted_root", "missing_intermediate"}}


def explain_verdict(cell: Cell) -> tuple[bool, str]:
    """Whether `explain` maps the real client's message to the endpoint's real cause."""
    explanation = explain_text(cell.outcome.output)
    if not explanation.recognised:
        return False, "not recognised"
    expected = cell.endpoint.expect[0]
    codes = {cause.code for cause in explanation.causes}
    ok = expected in codes or bool(_SEEN_AS.get(expected, set()) & codes)
    return ok, f"{explanation.entry.id if explanation.entry else '?'}: {sorted(codes)}"


@pytest.mark.parametrize("client", CLIENTS)
def test_explain_maps_real_messages_to_the_real_cause(matrix: Matrix, client: str) -> None:
    """(a) of the issue: for every endpoint where the real client refused, `explain` on what
    it printed names the endpoint's real cause among its causes."""
    if client in matrix.skipped:
        pytest.skip(f"{client}: {matrix.skipped[client]}")
    misses = []
    for item in matrix.endpoints:
        cell = matrix.cells.get((client, item.name))
        if cell is None or cell.outcome.ok or not item.expect:
            continue
        ok, detail = explain_verdict(cell)
        if not ok:
            misses.append(f"  {item.name} ({item.expect[0]}): {cell.outcome.message!r} -> {detail}")
    assert not misses, f"{client}: explain missed\n" + "\n".join(misses)


def test_print_matrix(matrix: Matrix, capsys: pytest.CaptureFixture[str]) -> None:
    """Show the matrix in the test output (also in bench/results/client_matrix.txt)."""
    with capsys.disabled():
        print("\n" + render(matrix))
    assert (RESULTS / "client_matrix.txt").is_file()


# --------------------------------------------------------------------------------------
# Rendering


def _real(outcome: Outcome) -> str:
    if outcome.ok:
        return f"connects (exit {outcome.exit_code})"
    return f"fails (exit {outcome.exit_code}): {outcome.message}"


def _predicted(verdict: ClientVerdict) -> str:
    if verdict.trusted:
        return "connects"
    codes = ", ".join(code.value for code in verdict.codes)
    return f"fails ({codes}): {verdict.expected_error}"


def _disagreement(cell: Cell) -> str:
    return (
        f"  {cell.endpoint.name}: tlsdoctor predicts {_predicted(cell.verdict)}\n"
        f"  {' ' * len(cell.endpoint.name)}  the real client {_real(cell.outcome)}"
    )


def message_as_predicted(cell: Cell) -> bool | None:
    """Loosely: every piece of the predicted message between '...' elisions appears in
    the real one, in order (informational only: the tests compare trust, not wording).
    None for a client compared with another client's profile: its wording is its own."""
    if PROFILE_OF[cell.client] != cell.client:
        return None
    return fits(cell.outcome.message, cell.verdict.expected_error)


def render(matrix: Matrix) -> str:
    columns = list(CLIENTS)
    width = max(len(item.name) for item in matrix.endpoints) + 2
    lines = [
        "Real clients against the tlsdoctor lab, each trusting only the lab CA, compared with "
        "tlsdoctor's per-client prediction.",
        "✓ agrees with tlsdoctor   ✗ disagrees   then what the real client did: ok = connected, "
        "FAIL = refused;  - = not run",
        "openssl s_client is compared with the 'curl' profile, gnutls-cli with 'wget', "
        "chromium with 'chrome' (no profiles of their own).",
        "",
        " " * width + "".join(f"{SHORT.get(client, client):<11}" for client in columns),
    ]
    for item in matrix.endpoints:
        row = f"{item.name:<{width}}"
        for client in columns:
            cell = matrix.cells.get((client, item.name))
            if cell is None:
                mark = "-"
            else:
                mark = f"{'✓' if cell.agrees else '✗'} {'ok' if cell.outcome.ok else 'FAIL'}"
            row += f"{mark:<11}"
        lines.append(row.rstrip())
    agree = sum(cell.agrees for cell in matrix.cells.values())
    lines += ["", f"{agree} of {len(matrix.cells)} cells agree ({matrix.seconds:.1f} s)."]

    lines += ["", "Disagreements"]
    any_wrong = False
    for client in columns:
        wrong = matrix.disagreements(client)
        if wrong:
            any_wrong = True
            lines.append(f" {client} (profile '{PROFILE_OF[client]}'):")
            lines += [_disagreement(cell) for cell in wrong]
    if not any_wrong:
        lines.append("  none")

    lines += ["", "Not run"]
    lines += [f"  {client}: {why}" for client, why in matrix.skipped.items()] or ["  none"]

    lines += ["", "Clients"]
    lines += [f"  {client:<17} {text}" for client, text in matrix.versions.items()]

    lines += [
        "",
        "What each client printed, per endpoint ('=' the message fits tlsdoctor's prediction, "
        "'≠' it does not: the prediction follows; '·' no profile of its own)",
    ]
    for item in matrix.endpoints:
        lines.append(f" {item.name} ({item.host}; expect: {', '.join(item.expect) or 'trusted'})")
        for client in columns:
            cell = matrix.cells.get((client, item.name))
            if cell is None:
                continue
            mark = "✓" if cell.agrees else "✗"
            fits = message_as_predicted(cell)
            said = cell.outcome.message or "(connected)"
            sign = {True: "=", False: "≠", None: "·"}[fits]
            lines.append(f"  {mark} {client:<17} exit {cell.outcome.exit_code:<3} {sign} {said}")
            if fits is False:
                lines.append(f"  {'':<30}predicted: {_predicted(cell.verdict)}")
    return "\n".join(lines) + "\n"


def as_json(matrix: Matrix) -> dict[str, object]:
    return {
        "seconds": round(matrix.seconds, 1),
        "clients": {
            client: {"profile": PROFILE_OF[client], "version": matrix.versions.get(client)}
            for client in CLIENTS
        },
        "skipped": matrix.skipped,
        "cells": [
            {
                "client": cell.client,
                "profile": PROFILE_OF[cell.client],
                "endpoint": cell.endpoint.name,
                "host": cell.endpoint.host,
                "expect": list(cell.endpoint.expect),
                "agrees": cell.agrees,
                "real_ok": cell.outcome.ok,
                "real_exit_code": cell.outcome.exit_code,
                "real_message": cell.outcome.message,
                "predicted_trusted": cell.verdict.trusted,
                "predicted_codes": [code.value for code in cell.verdict.codes],
                "predicted_error": cell.verdict.expected_error,
            }
            for cell in matrix.cells.values()
        ],
    }


def test_run_refuses_what_it_cannot_do(lab: Lab) -> None:
    """run() raises instead of reporting a made-up outcome, and dials nothing but loopback."""
    with pytest.raises(ValueError, match=r"only 127\.0\.0\.1"):
        realclients.run("curl", _elsewhere(lab.endpoint("good")), lab.ca_file)
    if realclients.unavailable("chromium") is not None:
        with pytest.raises(Unavailable, match=r"(?i)chromium"):
            realclients.run("chromium", lab.endpoint("good"), lab.ca_file)


def _elsewhere(item: LabEndpoint) -> LabEndpoint:
    return LabEndpoint(item.name, item.host, "192.0.2.1", item.port, item.expect, "")
