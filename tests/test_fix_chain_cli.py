"""`tlsdoctor fix chain` as users run it: against the lab's leaf-only endpoint (the
intermediate comes from its AIA URL over loopback), and from files."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from pki import NOW, make_root
from tlsdoctor.cli.main import main
from tlsdoctor.lab import Lab
from tlsdoctor.models import rfc3339


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with Lab() as running:
        yield running


def target(lab: Lab, name: str) -> list[str]:
    item = lab.endpoint(name)
    return [f"{item.host}:{item.port}", "--connect", item.address, "--ca-file", str(lab.ca_file)]


def test_fix_chain_from_an_endpoint_fetches_and_writes(
    lab: Lab, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    argv = ["fix", "chain", *target(lab, "missing-intermediate"), "-o", str(out), "--json"]
    assert main(argv) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["trusted"] and plan["changed"]
    assert [d["kind"] for d in plan["differences"]] == ["missing"]
    assert plan["differences"][0]["source"].endswith("/intermediate.der")
    assert plan["fetches"][0]["status"] == 200
    assert sorted(p.name for p in out.iterdir()) == [
        "cert.pem",
        "chain.pem",
        "fullchain.pem",
        "intermediate-1.cer",
    ]
    assert (out / "fullchain.pem").read_bytes().count(b"BEGIN CERTIFICATE") == 2
    # The written full chain is what `check` then trusts.
    assert (
        main(
            [
                "check",
                "--chain",
                str(out / "fullchain.pem"),
                "--ca-file",
                str(lab.ca_file),
                "--host",
                lab.endpoint("missing-intermediate").host,
                "--json",
            ]
        )
        == 0
    )
    capsys.readouterr()
    # Existing files are never replaced without --force.
    assert main(argv) == 3
    assert "--force" in capsys.readouterr().err
    assert main([*argv, "--force"]) == 0
    capsys.readouterr()


def test_a_good_endpoint_needs_no_change(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fix", "chain", *target(lab, "good")]) == 0
    assert "already sends the right chain" in capsys.readouterr().out


def test_key_check(lab: Lab, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good_key = lab.directory / "good.key"
    assert main(["fix", "chain", *target(lab, "good"), "--key", str(good_key)]) == 0
    assert "private key matches" in capsys.readouterr().out
    other = lab.directory / "expired.key"
    assert main(["fix", "chain", *target(lab, "good"), "--key", str(other)]) == 3
    assert "is not the private key of the certificate" in capsys.readouterr().err


def test_from_files_without_fetching(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_root("Files Root")
    issuing = root.issue_ca("Files Issuing CA")
    leaf = issuing.issue_leaf(aia_url="http://127.0.0.1:9/issuing.der")
    (tmp_path / "leaf.pem").write_bytes(leaf.pem())
    (tmp_path / "issuing.pem").write_bytes(issuing.pem())
    (tmp_path / "root.pem").write_bytes(root.pem())
    base = [
        "fix",
        "chain",
        "--chain",
        str(tmp_path / "leaf.pem"),
        "--ca-file",
        str(tmp_path / "root.pem"),
        "--at",
        rfc3339(NOW),
        "--json",
    ]
    assert main([*base, "--no-fetch"]) == 2
    assert json.loads(capsys.readouterr().out)["trusted"] is False
    assert main([*base, "--no-fetch", "--with", str(tmp_path / "issuing.pem")]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert [c["subject"] for c in plan["chain"]] == [
        "CN=www.example.test",
        "CN=Files Issuing CA,O=tlsdoctor tests",
    ]


def test_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fix", "chain"]) == 3
    assert "either a target" in capsys.readouterr().err
