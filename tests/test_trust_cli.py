"""`tlsdoctor trust` in a sandbox (TLSDOCTOR_HOME): list, find, add, remove, env, with the
real certutil on a temporary NSS database; macOS and Windows as exact commands."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from pki import make_root
from tlsdoctor.cli.main import main
from tlsdoctor.stores.base import fingerprint

pytestmark = pytest.mark.skipif(shutil.which("certutil") is None, reason="needs certutil")


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    home = tmp_path / "home"
    nssdb = home / ".pki" / "nssdb"
    nssdb.mkdir(parents=True)
    subprocess.run(
        ["certutil", "-N", "--empty-password", "-d", f"sql:{nssdb}"], check=True, timeout=30
    )
    monkeypatch.setenv("TLSDOCTOR_HOME", str(home))
    root = make_root("Sandbox Corp Root CA", org="Sandbox Corp")
    leaf = root.issue_leaf()
    (tmp_path / "ca.pem").write_bytes(root.pem())
    (tmp_path / "leaf.pem").write_bytes(leaf.pem())
    return {
        "home": home,
        "nssdb": nssdb,
        "ca": tmp_path / "ca.pem",
        "leaf": tmp_path / "leaf.pem",
        "tmp": tmp_path,
    }


def stores_holding(capsys: pytest.CaptureFixture[str], ca: Path) -> dict[str, bool | None]:
    main(["trust", "find", str(ca), "--json"])
    data = json.loads(capsys.readouterr().out)
    return {item["id"]: item["trusted"] for item in data["stores"]}


def test_add_find_remove_in_an_nss_database(
    sandbox: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    store = f"nss:{sandbox['nssdb']}"
    assert stores_holding(capsys, sandbox["ca"])[store] is False
    assert main(["trust", "add", str(sandbox["ca"]), "--store", store, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "certutil -A -d sql:" in out and "-t C,," in out
    assert stores_holding(capsys, sandbox["ca"])[store] is False  # dry run changed nothing
    assert main(["trust", "add", str(sandbox["ca"]), "--store", store, "--yes"]) == 0
    assert "verified by reading the store again" in capsys.readouterr().out
    assert stores_holding(capsys, sandbox["ca"])[store] is True
    # Idempotent.
    assert main(["trust", "add", str(sandbox["ca"]), "--store", store, "--yes"]) == 0
    assert "nothing to do" in capsys.readouterr().out
    # The journal says what tlsdoctor did; remove undoes it.
    journal = sandbox["home"] / ".local" / "share" / "tlsdoctor" / "trust-journal.jsonl"
    entries = [json.loads(line) for line in journal.read_text().splitlines()]
    assert [e["action"] for e in entries] == ["add"]
    assert entries[0]["sha256"] == fingerprint(
        __import__("tlsdoctor").load_certificates(sandbox["ca"])[0]
    )
    assert main(["trust", "remove", str(sandbox["ca"]), "--store", store, "--yes"]) == 0
    capsys.readouterr()
    assert stores_holding(capsys, sandbox["ca"])[store] is False


def test_refuses_a_leaf(sandbox: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["trust", "add", str(sandbox["leaf"]), "--store", "all", "--yes"]) == 3
    assert "is not a CA certificate" in capsys.readouterr().err


def test_scripts_must_confirm(sandbox: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["trust", "add", str(sandbox["ca"]), "--store", f"nss:{sandbox['nssdb']}"]) == 3
    assert "--yes" in capsys.readouterr().err


def test_macos_and_windows_commands(
    sandbox: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(
            [
                "trust",
                "add",
                str(sandbox["ca"]),
                "--store",
                "macos",
                "--store",
                "windows",
                "--dry-run",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain" in out
    assert "certutil -addstore -f Root" in out


def test_env_snippet(sandbox: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    out_dir = sandbox["tmp"] / "bundles"
    assert main(["trust", "env", str(sandbox["ca"]), "--shell", "bash", "-o", str(out_dir)]) == 0
    lines = capsys.readouterr().out.splitlines()
    exports = dict(line.removeprefix("export ").split("=", 1) for line in lines)
    bundle = Path(exports["REQUESTS_CA_BUNDLE"])
    assert bundle.parent == out_dir
    assert sandbox["ca"].read_bytes().strip() in bundle.read_bytes()
    assert bundle.read_bytes().count(b"BEGIN CERTIFICATE") > 50  # the system roots too
    assert Path(exports["NODE_EXTRA_CA_CERTS"]).read_bytes() == sandbox["ca"].read_bytes()
    assert (
        main(["trust", "env", str(sandbox["ca"]), "--shell", "powershell", "-o", str(out_dir)]) == 0
    )
    assert '$env:SSL_CERT_FILE = "' in capsys.readouterr().out


def test_list_in_the_sandbox(sandbox: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["trust", "list", "--json"]) == 0
    kinds = {json.loads(line)["kind"] for line in capsys.readouterr().out.splitlines()}
    assert {"nss", "python"} <= kinds
