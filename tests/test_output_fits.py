"""What a user sees on a screen: `tlsdoctor check` against each lab endpoint fits a
40-line terminal, with no trailing spaces and no host name cut in two; the full detail is
behind --verbose; `| head -2` exits quietly with the real exit code; `tlsdoctor lab` and
`fix chain` print commands that copy-paste. Real lab endpoints on 127.0.0.1, a real
pseudo-terminal (tests/terminal.py) and real pipes."""

from __future__ import annotations

import os
import re
import shlex
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from terminal import run_in_terminal
from tlsdoctor.lab import ENDPOINT_NAMES, Lab, LabEndpoint

TLSDOCTOR = [sys.executable, "-m", "tlsdoctor"]
COLOUR = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
TIMEOUT = 60


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with Lab() as running:
        yield running


def target_args(lab: Lab, item: LabEndpoint) -> list[str]:
    """A lab endpoint as a user names it: its host name, dialled on loopback, its CA."""
    return [f"{item.host}:{item.port}", "--connect", item.address, "--ca-file", str(lab.ca_file)]


def check_argv(lab: Lab, item: LabEndpoint, *extra: str) -> list[str]:
    return [*TLSDOCTOR, "check", *target_args(lab, item), *extra]


def piped(argv: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "COLUMNS"} | env
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=TIMEOUT, env=environment, check=False
    )


def plain(text: str) -> list[str]:
    return COLOUR.sub("", text).rstrip("\n").split("\n")


@pytest.mark.parametrize("name", ENDPOINT_NAMES)
def test_each_report_fits_a_40_line_terminal(lab: Lab, name: str) -> None:
    item = lab.endpoint(name)
    output, code = run_in_terminal(check_argv(lab, item), columns=80, rows=40)
    lines = plain(output)
    assert code == {(): 0, ("expiring_soon",): 1, ("chain_order",): 1, ("not_tls",): 3}.get(
        item.expect, 2
    ), output
    assert len(lines) <= 40, output
    assert max(len(line) for line in lines) <= 80, output
    assert [line for line in lines if line != line.rstrip()] == []
    # The first line names the target in full, whatever the width.
    assert f"{item.host}:{item.port}" in lines[0]


def test_verbose_has_the_detail_the_short_report_leaves_out(lab: Lab) -> None:
    item = lab.endpoint("expired")
    short = piped(check_argv(lab, item))
    full = piped(check_argv(lab, item, "--verbose"))
    assert short.returncode == full.returncode == 2
    assert "days_expired: 30" in full.stdout and "days_expired" not in short.stdout
    assert "ecdsa-with-SHA256" in full.stdout and "ecdsa-with-SHA256" not in short.stdout
    assert "What it prints" not in short.stdout and "what it prints" in full.stdout
    assert "Who fails: all 13 clients (expired)" in short.stdout
    assert "curl prints: curl: (60) SSL certificate problem: certificate has expired" in (
        short.stdout
    )
    assert len(plain(short.stdout)) < len(plain(full.stdout))
    assert "More detail: --verbose" in short.stdout and "More detail" not in full.stdout


def test_chain_and_path_are_one_table_when_they_hold_the_same_certificates(lab: Lab) -> None:
    same = piped(check_argv(lab, lab.endpoint("expired"))).stdout
    assert "Chain as sent, completed to a trust anchor" in same
    assert "Path to a trust anchor" not in same
    assert "root (trust store)" in same
    # chain-order sends the intermediates in the wrong order: both are shown.
    differs = piped(check_argv(lab, lab.endpoint("chain-order"))).stdout
    assert "Chain as sent\n" in COLOUR.sub("", differs)
    assert "Path to a trust anchor" in differs


@pytest.mark.parametrize("name", ["missing-intermediate", "client-cert-required", "good"])
def test_no_trailing_spaces_and_no_cut_host_names_when_piped(lab: Lab, name: str) -> None:
    item = lab.endpoint(name)
    result = piped(check_argv(lab, item, "--verbose"))
    lines = result.stdout.split("\n")
    assert [line for line in lines if line != line.rstrip()] == []
    assert "\x1b" not in result.stdout  # no colour into a pipe
    # Every row of the chain table holds the leaf's name whole.
    leaf_rows = [line for line in lines if "leaf" in line and "│" in line]
    assert leaf_rows and all(item.host in row for row in leaf_rows[:1]), result.stdout


def test_a_narrow_terminal_never_folds_a_host_name(lab: Lab) -> None:
    item = lab.endpoint("client-cert-required")  # the longest lab host name
    output, _ = run_in_terminal(check_argv(lab, item), columns=72)
    lines = plain(output)
    leaf = [line for line in lines if line.startswith("0  leaf")]
    assert leaf and item.host in leaf[0], output


def test_columns_sets_the_width_of_piped_output(lab: Lab) -> None:
    item = lab.endpoint("wrong-host")
    wide = plain(piped(check_argv(lab, item)).stdout)
    narrow = plain(piped(check_argv(lab, item), COLUMNS="70").stdout)
    assert max(map(len, narrow)) <= 70 < max(map(len, wide))


@pytest.mark.parametrize("as_json", [False, True])
def test_a_reader_that_stops_early_gets_the_real_exit_code_quietly(lab: Lab, as_json: bool) -> None:
    """`tlsdoctor check ... | head -2`: head exits, the next write finds a closed pipe."""
    argv = check_argv(lab, lab.endpoint("expired"), *(["--json"] if as_json else []))
    script = f'{shlex.join(argv)} | head -c 20 >/dev/null; echo "exit=${{PIPESTATUS[0]}}"'
    shell = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, timeout=TIMEOUT, check=False
    )
    assert shell.stdout.strip() == "exit=2", shell
    assert shell.stderr == "", shell.stderr
    # Deterministic: the pipe is closed before the report is written.
    process = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()
    assert process.wait(timeout=TIMEOUT) == 2
    assert process.stderr.read() == b""
    process.stderr.close()


def test_a_good_endpoint_read_to_the_end_exits_0(lab: Lab) -> None:
    result = piped(check_argv(lab, lab.endpoint("good")))
    assert result.returncode == 0 and result.stderr == ""
    assert "Trust anchors: --ca-file ca.pem, 1 root\n" in result.stdout


def test_fix_chain_says_to_check_again_as_the_user_checked(lab: Lab) -> None:
    item = lab.endpoint("missing-intermediate")
    output, code = run_in_terminal(
        [*TLSDOCTOR, "fix", "chain", *target_args(lab, item)], columns=60
    )
    again = shlex.join(["tlsdoctor", "check", *target_args(lab, item)])
    # One line, whatever the terminal's width: it is copied, not read.
    assert f"then check again: {again}\n" in COLOUR.sub("", output), output
    assert code == 0, output


def test_fix_chain_from_files_names_the_site_in_its_check_line(lab: Lab, tmp_path: Path) -> None:
    item = lab.endpoint("missing-intermediate")
    leaf = tmp_path / "leaf.pem"
    leaf.write_text(ssl.get_server_certificate((item.address, item.port), timeout=10))
    result = piped(
        [
            *TLSDOCTOR,
            "fix",
            "chain",
            "--chain",
            str(leaf),
            "--with",
            str(lab.directory / "good.pem"),  # the leaf and its intermediate
            "--ca-file",
            str(lab.ca_file),
        ]
    )
    assert "then check again: tlsdoctor check example.com" in result.stdout, result.stdout
    assert "None" not in result.stdout


def test_lab_prints_whole_host_names_and_commands_that_copy_paste() -> None:
    output, code = run_in_terminal([*TLSDOCTOR, "lab"], columns=80, rows=40, stop_after=r"Ctrl-C")
    lines = plain(output)
    hosts = [line.split()[0] for line in lines if re.match(r"\S+\.lab\.tlsdoctor\.test:", line)]
    assert len(hosts) == len(ENDPOINT_NAMES), output
    assert all(re.fullmatch(r"[a-z0-9.-]+\.lab\.tlsdoctor\.test:\d+", host) for host in hosts)
    commands = [line.strip() for line in lines if line.startswith("  ")]
    curl = next(c for c in commands if c.startswith("curl "))
    check = next(c for c in commands if c.startswith("tlsdoctor check "))
    # Each runs as printed: split like a shell, the options are whole.
    assert shlex.split(check)[3:5] == ["--connect", "127.0.0.1"]
    assert shlex.split(check)[5] == "--ca-file" and shlex.split(check)[6].endswith("ca.pem")
    assert shlex.split(curl)[-1].startswith("https://good.lab.tlsdoctor.test:")
    assert code == 0


def test_inspect_says_expired_once_and_counts_days_in_words(lab: Lab, tmp_path: Path) -> None:
    expired = lab.endpoint("expired")
    good = lab.endpoint("good")
    paths = []
    for item in (expired, good):
        path = tmp_path / f"{item.name}.pem"
        path.write_text(ssl.get_server_certificate((item.address, item.port), timeout=10))
        paths.append(str(path))
    result = piped([*TLSDOCTOR, "inspect", *paths])
    text = " ".join(result.stdout.split())  # the Validity row may wrap
    assert "expired, 30 days ago" in text and "expired, expired" not in text, result.stdout
    assert "valid, 88 days left" in text or "valid, 89 days left" in text, result.stdout


def test_an_intermediate_the_server_did_not_send_is_not_called_the_stores(lab: Lab) -> None:
    out = COLOUR.sub("", piped(check_argv(lab, lab.endpoint("missing-intermediate"))).stdout)
    assert "intermediate (not sent)" in out
    assert "intermediate (trust store)" not in out and "root (trust store)" in out


def test_the_short_report_says_when_a_chain_was_judged(lab: Lab, tmp_path: Path) -> None:
    item = lab.endpoint("good")
    leaf = tmp_path / "leaf.pem"
    leaf.write_text(ssl.get_server_certificate((item.address, item.port), timeout=10))
    chain = [*TLSDOCTOR, "check", "--chain", str(leaf), "--ca-file", str(lab.ca_file)]
    at = piped([*chain, "--at", "2030-01-01T00:00:00Z"]).stdout.splitlines()[1]
    now = piped(chain).stdout.splitlines()[1]
    assert at == "evaluated at 2030-01-01 00:00:00 UTC"
    assert now.startswith("checked ") and "2030" not in now
