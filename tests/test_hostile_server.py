"""A hostile TLS server (tests/hostile_server.go, built with the Go toolchain here): an
unparseable certificate beside the real one, and a Date header in the year 9999 with
an offset of -23:59. Every command that talks to it answers with a verdict or one
sentence, exit code 0-3, never a traceback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pki import make_root

HERE = Path(__file__).parent
ABSURD_DATE = "Fri, 31 Dec 9999 23:59:59 -2359"


@pytest.fixture(scope="module")
def server_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("go") is None:
        pytest.skip("the Go toolchain is not installed")
    out = tmp_path_factory.mktemp("go") / "hostile_server"
    subprocess.run(
        ["go", "build", "-o", str(out), str(HERE / "hostile_server.go")],
        check=True,
        timeout=300,
        capture_output=True,
        env={**os.environ, "GOFLAGS": "", "GO111MODULE": "off"},
    )
    return out


@pytest.fixture(scope="module")
def hostile_port(
    server_binary: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[int, Path]]:
    folder = tmp_path_factory.mktemp("hostile-server")
    root = make_root("Hostile Server Root")
    issuing = root.issue_ca("Hostile Server Issuing CA")
    leaf = issuing.issue_leaf()
    (folder / "chain.pem").write_bytes(leaf.pem() + issuing.pem())
    (folder / "leaf.key").write_bytes(leaf.key_pem())
    (folder / "root.pem").write_bytes(root.pem())
    process = subprocess.Popen(
        [str(server_binary), "-cert", str(folder / "chain.pem"), "-key", str(folder / "leaf.key"),
         "-junk", "-date", ABSURD_DATE],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        address = process.stdout.readline().strip()
        yield int(address.rsplit(":", 1)[1]), folder / "root.pem"
    finally:
        process.terminate()
        process.wait(timeout=10)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


@pytest.mark.parametrize(
    "argv",
    [
        ["check", "TARGET", "--connect", "127.0.0.1", "--ca-file", "ROOT"],
        ["check", "TARGET", "--connect", "127.0.0.1", "--ca-file", "ROOT", "--json"],
        ["check", "TARGET", "--connect", "127.0.0.1", "--ca-file", "ROOT", "--no-sni"],
        ["fix", "chain", "TARGET", "--connect", "127.0.0.1", "--ca-file", "ROOT"],
        ["trust", "find", "TARGET"],
    ],
    ids=["check", "check-json", "check-no-sni", "fix-chain", "trust-find"],
)
def test_hostile_server_gets_a_verdict_or_one_sentence(
    hostile_port: tuple[int, Path], argv: list[str]
) -> None:
    port, root = hostile_port
    names = {"TARGET": f"127.0.0.1:{port}" if argv[0] == "trust" else f"www.example.test:{port}"}
    names["ROOT"] = str(root)
    done = subprocess.run(
        [sys.executable, "-m", "tlsdoctor", *[names.get(a, a) for a in argv]],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode in (0, 1, 2, 3), done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert "not handled yet" not in done.stderr
    if done.returncode == 3 and not done.stdout:
        assert done.stderr.count("\n") == 1  # one sentence


def test_an_unparseable_certificate_in_the_chain_is_invalid_chain_as_clients_see_it(
    hostile_port: tuple[int, Path],
) -> None:
    """OpenSSL parses every certificate of the Certificate message before verifying
    anything, so the junk one makes every client abort (curl: (35) ... wrong tag): the
    report says so, with the unparseable certificate as the reason, never 'trusted'."""
    port, root = hostile_port
    done = subprocess.run(
        [sys.executable, "-m", "tlsdoctor", "check", f"www.example.test:{port}",
         "--connect", "127.0.0.1", "--ca-file", str(root), "--json"],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    report = json.loads(done.stdout)
    assert done.returncode == 2 and report["verdict"] == "untrusted"
    finding = report["findings"][0]
    assert finding["code"] == "invalid_chain"
    assert finding["evidence"]["reason"] == "unreadable_certificate_message"
    assert "cannot be parsed" in finding["message"]
    if shutil.which("curl") is not None:  # the oracle: a real OpenSSL client aborts too
        curl = subprocess.run(
            ["curl", "-sS", "-o", os.devnull, "--max-time", "20", "--cacert", str(root),
             "--resolve", f"www.example.test:{port}:127.0.0.1", f"https://www.example.test:{port}/"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert curl.returncode == 35, curl.stderr
