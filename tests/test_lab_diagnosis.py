"""tlsdoctor against its own lab: every endpoint diagnosed as the lab says it should be,
over real TLS on loopback; and the `lab` and `demo` commands as users run them."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tlsdoctor.anchors import anchors_from_files
from tlsdoctor.cli.lab import as_expected, endpoint_of
from tlsdoctor.cli.main import main
from tlsdoctor.lab import ENDPOINT_NAMES, Lab
from tlsdoctor.live import LiveOptions, check_endpoint


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with Lab() as running:
        yield running


@pytest.mark.parametrize("name", ENDPOINT_NAMES)
def test_each_endpoint_gets_its_diagnosis(lab: Lab, name: str) -> None:
    item = lab.endpoint(name)
    report = check_endpoint(
        endpoint_of(item), LiveOptions(anchors=anchors_from_files([lab.ca_file]), timeout=10)
    )
    assert as_expected(item, report), (item.expect, report.codes)
    expected_exit = {"good": 0, "expiring-soon": 1, "chain-order": 1, "plain-http": 3}.get(name, 2)
    assert report.exit_code == expected_exit


def test_the_lab_is_untrusted_without_its_ca(lab: Lab) -> None:
    """Negative control: with the default stores even the good endpoint is untrusted."""
    report = check_endpoint(endpoint_of(lab.endpoint("good")), LiveOptions(timeout=10))
    assert report.codes[0].value == "untrusted_root"


def test_demo_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert f"{len(ENDPOINT_NAMES)} of {len(ENDPOINT_NAMES)} endpoints diagnosed as expected" in out
    assert main(["demo", "expired", "good", "--json"]) == 0
    reports = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["findings"][0]["code"] if r["findings"] else None for r in reports] == [
        "expired",
        None,
    ]


def test_demo_unknown_endpoint_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "nope"]) == 3
    assert "no lab endpoint 'nope'" in capsys.readouterr().err


def test_lab_command_serves_until_interrupted() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "tlsdoctor", "lab", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        endpoints = [json.loads(process.stdout.readline()) for _ in ENDPOINT_NAMES]
        good = next(e for e in endpoints if e["name"] == "good")
        with socket.create_connection((good["address"], good["port"]), timeout=5):
            pass
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=5)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
    with (
        pytest.raises(ConnectionRefusedError),
        socket.create_connection((good["address"], good["port"]), timeout=2),
    ):
        pass
