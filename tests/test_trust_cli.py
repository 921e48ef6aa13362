"""`tlsdoctor trust` in a sandbox (TLSDOCTOR_HOME): list, find, add, remove, env, with the
real certutil on a temporary NSS database; macOS and Windows as exact commands."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from pki import DAY, make_root
from servers import s_server
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
    (tmp_path / "leaf.key").write_bytes(leaf.key_pem())
    return {
        "home": home,
        "nssdb": nssdb,
        "ca": tmp_path / "ca.pem",
        "leaf": tmp_path / "leaf.pem",
        "leaf_key": tmp_path / "leaf.key",
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


def test_refuses_garbage_and_an_expired_ca(
    sandbox: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    garbage = sandbox["tmp"] / "garbage.pem"
    garbage.write_text(
        "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n"
    )
    assert main(["trust", "add", str(garbage), "--store", "all", "--dry-run"]) == 3
    assert "garbage.pem" in capsys.readouterr().err
    now = dt.datetime.now(dt.timezone.utc)
    old = make_root("Retired Corp Root", not_before=now - 800 * DAY, not_after=now - DAY)
    (sandbox["tmp"] / "old.pem").write_bytes(old.pem())
    assert main(["trust", "add", str(sandbox["tmp"] / "old.pem"), "--store", "all", "--yes"]) == 3
    assert "expired on" in capsys.readouterr().err
    assert stores_holding(capsys, sandbox["tmp"] / "old.pem")[f"nss:{sandbox['nssdb']}"] is False


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
    captured = capsys.readouterr()
    lines = captured.out.splitlines()  # only variables: eval "$(tlsdoctor trust env ...)"
    assert "--use-system-ca" in captured.err and "/etc/docker/certs.d/" in captured.err
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


def find_host(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code = main(["trust", "find", *args, "--json"])
    return code, json.loads(capsys.readouterr().out)


def trusted_by(report: dict[str, Any]) -> dict[str, bool | None]:
    return {item["id"]: item["trusted"] for item in report["stores"]}


def test_find_the_stores_that_trust_the_root_a_host_chains_to(
    sandbox: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """An internal CA's server: before the CA is added no store holds its root (and the
    server does not send it); after, the NSS database does and --save exports it."""
    store = f"nss:{sandbox['nssdb']}"
    saved = sandbox["tmp"] / "exported.pem"
    with s_server(sandbox["leaf"], sandbox["leaf_key"]) as port:
        code, before = find_host(capsys, f"127.0.0.1:{port}")
        assert code == 2
        assert "CN=Sandbox Corp Root CA" in before["root"]
        assert before["sha256"] is None  # nobody holds it and the server does not send it
        assert trusted_by(before)[store] is False
        assert main(["trust", "add", str(sandbox["ca"]), "--store", store, "--yes"]) == 0
        capsys.readouterr()
        code, after = find_host(capsys, f"127.0.0.1:{port}", "--save", str(saved))
    assert code == 0
    assert trusted_by(after)[store] is True
    assert after["saved"] == str(saved)
    assert saved.read_bytes().strip() == sandbox["ca"].read_bytes().strip()


def test_find_for_a_self_signed_server_offers_its_certificate(
    sandbox: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_root("Appliance Self Signed", org=None)
    cert, key = sandbox["tmp"] / "self.pem", sandbox["tmp"] / "self.key"
    cert.write_bytes(root.pem())
    key.write_bytes(root.key_pem())
    saved = sandbox["tmp"] / "appliance.pem"
    with s_server(cert, key) as port:
        main(["trust", "find", f"127.0.0.1:{port}", "--save", str(saved)])
    out = capsys.readouterr().out
    assert "CN=Appliance Self Signed" in out
    assert f"tlsdoctor trust add {saved} --store {'nss:' + str(sandbox['nssdb'])}" in out
    assert saved.read_bytes().strip() == cert.read_bytes().strip()


def test_find_on_a_closed_port_is_a_could_not_check(
    sandbox: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    from servers import free_port

    assert main(["trust", "find", f"127.0.0.1:{free_port()}"]) == 3
    assert "refused" in capsys.readouterr().err.lower()


def test_the_check_report_names_the_local_stores_holding_the_unknown_root(
    sandbox: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    store = f"nss:{sandbox['nssdb']}"

    def untrusted_root() -> dict[str, Any]:
        assert main(["check", "--chain", str(sandbox["leaf"]), "--json"]) == 2
        report = json.loads(capsys.readouterr().out)
        return next(f for f in report["findings"] if f["code"] == "untrusted_root")

    before = untrusted_root()
    assert {s["store"]: s["trusted"] for s in before["evidence"]["local_stores"]} == {
        store: False,
        "certifi": False,
    }
    assert any(line.startswith("No trust store on this machine holds") for line in before["fix"])
    assert main(["trust", "add", str(sandbox["ca"]), "--store", store, "--yes"]) == 0
    capsys.readouterr()
    after = untrusted_root()
    assert {s["store"]: s["trusted"] for s in after["evidence"]["local_stores"]}[store] is True
    assert any(
        "hold(s) that root and certifi do(es) not" in line
        and line.endswith("`tlsdoctor trust add root.pem --store certifi`.")
        for line in after["fix"]
    )
    assert not any(line.startswith("`tlsdoctor trust find HOST` shows") for line in after["fix"])


def test_an_interception_proxy_finding_names_the_local_stores_too(
    sandbox: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """The OS-store-has-it-but-Python-does-not case: the proxy's root is in the (Chromium)
    NSS database, not in certifi; the fix names certifi."""
    proxy = make_root("Zscaler Root CA", org="Zscaler Inc.")
    (sandbox["tmp"] / "proxy.pem").write_bytes(proxy.pem())
    (sandbox["tmp"] / "resigned.pem").write_bytes(proxy.issue_leaf().pem())
    store = f"nss:{sandbox['nssdb']}"
    assert main(["trust", "add", str(sandbox["tmp"] / "proxy.pem"), "--store", store, "--yes"]) == 0
    capsys.readouterr()
    main(["check", "--chain", str(sandbox["tmp"] / "resigned.pem"), "--json"])
    report = json.loads(capsys.readouterr().out)
    finding = next(f for f in report["findings"] if f["code"] == "interception_proxy")
    assert {s["store"]: s["trusted"] for s in finding["evidence"]["local_stores"]} == {
        store: True,
        "certifi": False,
    }
    assert any(
        line.endswith("`tlsdoctor trust add root.pem --store certifi`.") for line in finding["fix"]
    )


def test_find_for_a_self_signed_non_ca_server_suggests_pinning(
    sandbox: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    # An appliance's certificate as `openssl req -x509` makes it when told CA:FALSE.
    cert, key = sandbox["tmp"] / "printer.pem", sandbox["tmp"] / "printer.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "30",
            "-subj",
            "/CN=printer.example.test",
            "-addext",
            "basicConstraints=critical,CA:FALSE",
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    with s_server(cert, key) as port:
        assert main(["trust", "find", f"127.0.0.1:{port}"]) == 2
    out = capsys.readouterr().out
    assert "is not a CA" in out and "tlsdoctor trust add" not in out
