"""`trust add` / `trust remove` store by store (a bad store is skipped, the exit code says
"partly done"), sudo's user, the inputs (PKCS#12, warnings, garbage), the `trust env` files
undone, and the claims about requests with and without its variable, checked with the real
requests. Real certutil, keytool and openssl on temporary stores (TLSDOCTOR_HOME)."""

from __future__ import annotations

import datetime as dt
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from pki import DAY, make_root
from servers import s_server
from test_stores_nss_java import keystore, read_only  # noqa: F401 (a fixture)
from tlsdoctor.cli.main import main
from tlsdoctor.stores.nss import NssStore
from tlsdoctor.stores.readers import NodeFacts, PipFacts, readings
from tlsdoctor.stores.registry import discover

pytestmark = pytest.mark.skipif(
    shutil.which("certutil") is None or shutil.which("keytool") is None,
    reason="needs certutil and keytool",
)
NOW = dt.datetime.now(dt.timezone.utc)  # real clients judge by the real clock


def _run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False, **kwargs)


@pytest.fixture
def sandbox(tmp_path: Path, keystore: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:  # noqa: F811
    home = tmp_path / "home"
    nssdb = home / ".pki" / "nssdb"
    nssdb.mkdir(parents=True)
    assert _run(["certutil", "-N", "--empty-password", "-d", f"sql:{nssdb}"]).returncode == 0
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "TLSDOCTOR_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TLSDOCTOR_HOME", str(home))
    root = make_root("Independent Corp Root", not_before=NOW - DAY, not_after=NOW + 90 * DAY)
    (tmp_path / "ca.pem").write_bytes(root.pem())
    leaf = root.issue_leaf([], ips=["127.0.0.1"], not_before=NOW - DAY, not_after=NOW + 9 * DAY)
    (tmp_path / "leaf.pem").write_bytes(leaf.pem())
    (tmp_path / "leaf.key").write_bytes(leaf.key_pem())
    return {"home": home, "nssdb": nssdb, "ca": tmp_path / "ca.pem", "keystore": keystore}


def _stores(sandbox: dict[str, Path]) -> list[str]:
    return ["--store", f"nss:{sandbox['nssdb']}", "--store", f"java:{sandbox['keystore']}"]


def _held(capsys: pytest.CaptureFixture[str], ca: Path, *args: str) -> dict[str, Any]:
    main(["trust", "find", str(ca), "--json", *args])
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def test_a_read_only_keystore_is_skipped_and_the_others_are_changed(
    sandbox: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    ca, nss, java = sandbox["ca"], f"nss:{sandbox['nssdb']}", f"java:{sandbox['keystore']}"
    with read_only(sandbox["keystore"], sandbox["keystore"].parent):
        # --dry-run works, shows the NSS plan, says why Java would be skipped: partly.
        assert main(["trust", "add", str(ca), *_stores(sandbox), "--dry-run"]) == 1
        out = capsys.readouterr().out
        assert "certutil -A" in out and "skipped" in out and "read-only" in out
        assert main(["trust", "add", str(ca), *_stores(sandbox), "--yes"]) == 1
        out = capsys.readouterr().out
        assert f"{nss}: done" in out and f"{java}: skipped" in out
    stores = {s["id"]: s["trusted"] for s in _held(capsys, ca)["stores"]}
    assert stores[nss] is True
    # The twin: both writable, everything done, exit 0.
    assert main(["trust", "add", str(ca), *_stores(sandbox), "--yes"]) == 0
    capsys.readouterr()
    assert main(["trust", "remove", str(ca), *_stores(sandbox), "--yes"]) == 0
    capsys.readouterr()


def test_without_certutil_remove_still_undoes_java_and_nothing_is_exit_3(
    sandbox: dict[str, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ca = sandbox["ca"]
    assert main(["trust", "add", str(ca), *_stores(sandbox), "--yes"]) == 0
    capsys.readouterr()
    keytool = Path(shutil.which("keytool") or "").resolve()
    monkeypatch.setenv("JAVA_HOME", str(keytool.parent.parent))
    empty = sandbox["home"] / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert main(["trust", "remove", str(ca), *_stores(sandbox), "--yes"]) == 1
    out = capsys.readouterr().out
    assert "certutil' is not installed" in out and f"java:{sandbox['keystore']}: done" in out
    # Nothing can be done at all: 3.
    assert main(["trust", "remove", str(ca), "--store", f"nss:{sandbox['nssdb']}", "--yes"]) == 3
    capsys.readouterr()


def test_sudo_finds_the_invoking_users_databases_and_keeps_them_theirs(
    sandbox: dict[str, Path], monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv")
    from tlsdoctor.stores import registry

    monkeypatch.delenv("TLSDOCTOR_HOME")
    monkeypatch.setenv("SUDO_USER", "nobody")
    assert registry._home() == Path(pwd.getpwnam("nobody").pw_dir)
    monkeypatch.delenv("SUDO_USER")
    assert registry._home() == Path.home()  # the twin: no sudo, root's own home
    # A database owned by the user, in a folder they can reach (pytest's are root's 0700):
    # certutil runs as them, and the files stay theirs.
    nobody = pwd.getpwnam("nobody")
    folder = Path(tempfile.mkdtemp(prefix="tlsdoctor-sudo-"))
    request.addfinalizer(lambda: shutil.rmtree(folder, ignore_errors=True))
    folder.chmod(0o755)
    nssdb = folder / "nssdb"
    nssdb.mkdir()
    assert _run(["certutil", "-N", "--empty-password", "-d", f"sql:{nssdb}"]).returncode == 0
    for path in [nssdb, *nssdb.iterdir()]:
        os.chown(path, nobody.pw_uid, nobody.pw_gid)
    store = NssStore(nssdb)
    from tlsdoctor.stores.base import apply, contains
    from tlsdoctor.stores.system import read_bundle

    ca = read_bundle(sandbox["ca"])[0]
    plan = store.plan_add(ca, "corp")
    assert plan.steps[1].command[:2] == ("setpriv", f"--reuid={nobody.pw_uid}")
    apply(plan)
    assert contains(store, ca)
    owners = {path.name: path.stat().st_uid for path in nssdb.iterdir()}
    assert set(owners.values()) == {nobody.pw_uid}, owners


def test_pkcs12_password_and_warnings(
    sandbox: dict[str, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    p12 = sandbox["ca"].with_suffix(".p12")
    made = _run(
        [
            "openssl",
            "pkcs12",
            "-export",
            "-nokeys",
            "-in",
            str(sandbox["ca"]),
            "-out",
            str(p12),
            "-passout",
            "pass:s3cret",
        ]
    )
    assert made.returncode == 0, made.stderr
    assert main(["trust", "find", str(p12), "--json"]) == 3
    assert "password" in capsys.readouterr().err
    assert main(["trust", "find", str(p12), "--json", "--password", "s3cret"]) == 2
    assert json.loads(capsys.readouterr().out)["sha256"]
    monkeypatch.setenv("TLSDOCTOR_PASSWORD", "s3cret")
    assert main(["trust", "find", str(p12), "--json"]) == 2
    assert "warning" not in capsys.readouterr().err  # a plain CA: no warning
    # A CA not valid yet, and a PEM that also holds a key: warned, still usable.
    later = make_root("Future Corp Root", not_before=NOW + 5 * DAY, not_after=NOW + 900 * DAY)
    future = sandbox["home"] / "future.pem"
    future.write_bytes(later.pem() + later.key_pem())
    assert (
        main(["trust", "add", str(future), "--store", f"nss:{sandbox['nssdb']}", "--dry-run"]) == 0
    )
    err = capsys.readouterr().err
    assert "is not valid before" in err and "also holds a private key" in err


def test_garbage_is_one_sentence(
    sandbox: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    garbage = sandbox["home"] / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nZm9vYmFy\n-----END CERTIFICATE-----\n")
    assert main(["trust", "add", str(garbage), "--dry-run"]) == 3
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "garbage.pem" in err
    assert "ParseError" not in err and "asn1" not in err.lower()


def test_remove_removes_the_env_bundles_and_says_so(
    sandbox: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = sandbox["home"] / "bundles"
    assert main(["trust", "env", str(sandbox["ca"]), "-o", str(out_dir)]) == 0
    capsys.readouterr()
    assert len(list(out_dir.iterdir())) == 2
    assert main(["trust", "remove", str(sandbox["ca"]), "--store", "nss", "--yes"]) == 0
    out = capsys.readouterr().out
    assert list(out_dir.iterdir()) == [] and "REQUESTS_CA_BUNDLE" in out


def test_requests_is_claimed_only_when_its_variable_names_the_bundle_as_it_really_does(
    sandbox: dict[str, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("requests")
    ca, folder = sandbox["ca"], sandbox["ca"].parent
    assert main(["trust", "add", str(ca), "--store", "certifi", "--yes"]) == 0
    capsys.readouterr()
    combined = Path(next(s for s in discover() if s.id == "certifi").info().location)

    def claimed() -> bool | None:
        found = _held(capsys, ca)["clients"]
        return next(c["trusts"] for c in found if c["client"] == "python-requests")

    script = "import requests,sys; requests.get(sys.argv[1], timeout=10)"
    env = {k: v for k, v in os.environ.items() if k not in {"REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"}}
    with s_server(folder / "leaf.pem", folder / "leaf.key", "-www") as port:
        url = f"https://127.0.0.1:{port}/"
        real = _run([sys.executable, "-c", script, url], env=env).returncode == 0
        assert claimed() is False and real is False
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(combined))
        env["REQUESTS_CA_BUNDLE"] = str(combined)
        real = _run([sys.executable, "-c", script, url], env=env).returncode == 0
        assert claimed() is True and real is True
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")
    assert main(["trust", "remove", str(ca), "--store", "certifi", "--yes"]) == 0
    assert not combined.exists()


# The pure decision, for what this machine does not have (old pip, Node 22) ---------------
def test_readings_follow_the_environment_and_the_versions(sandbox: dict[str, Path]) -> None:
    stores = discover()
    node20 = NodeFacts((20, 20, 2), use_openssl_ca=True, use_system_ca=False)
    node22 = NodeFacts((22, 15, 0), use_openssl_ca=True, use_system_ca=True)
    old_pip = PipFacts((23, 2, 1), Path("/x/pip"), reads_system=False, certifi=Path("/x/c.pem"))
    new_pip = PipFacts((26, 3, 0), Path("/x/pip"), reads_system=True, certifi=Path("/x/c.pem"))
    by = {r.client: r for r in readings(stores, {}, node20, old_pip)}
    assert by["node"].stores == () and "--use-openssl-ca" in (by["node"].advice or "")
    assert "--use-system-ca" not in (by["node"].advice or "")
    assert by["pip"].stores == () and "upgrade pip" in (by["pip"].advice or "")
    assert by["python-requests"].stores == () and by["python-requests"].advice
    by = {
        r.client: r for r in readings(stores, {"NODE_OPTIONS": "--use-openssl-ca"}, node22, new_pip)
    }
    assert by["node"].how == "NODE_OPTIONS=--use-openssl-ca" and by["node"].advice is None
    assert by["pip"].how == "truststore" and by["pip"].advice is None
    assert "--use-system-ca" in (readings(stores, {}, node22, None)[-1].advice or "")


def _tstclnt(port: int, nssdb: Path) -> bool:
    """The real NSS client (Chrome's and Firefox's library) against the server."""
    argv = ["tstclnt", "-h", "127.0.0.1", "-p", str(port), "-d", f"sql:{nssdb}"]
    try:
        done = subprocess.run(
            argv, input=b"GET / HTTP/1.0\r\n\r\n", capture_output=True, timeout=5, check=False
        )
        said = done.stdout + done.stderr
    except subprocess.TimeoutExpired as exc:  # it keeps the connection open after the answer
        said = (exc.stdout or b"") + (exc.stderr or b"")
    return b"HTTP/1.0 200" in said and b"failed" not in said


@pytest.mark.skipif(shutil.which("tstclnt") is None, reason="needs tstclnt (libnss3-tools)")
def test_check_per_client_verdicts_follow_the_nss_add_as_nss_itself_does(
    sandbox: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    folder, nssdb = sandbox["ca"].parent, sandbox["nssdb"]

    def verdicts(port: int) -> dict[str, bool]:
        assert main(["check", f"127.0.0.1:{port}", "--json", "--no-revocation"]) == 2
        report = json.loads(capsys.readouterr().out)
        return {c["client"]: c["trusted"] for c in report["clients"]}

    with s_server(folder / "leaf.pem", folder / "leaf.key", "-www") as port:
        before = verdicts(port)
        assert not before["chrome"] and not _tstclnt(port, nssdb)
        assert main(["trust", "add", str(sandbox["ca"]), "--store", f"nss:{nssdb}", "--yes"]) == 0
        capsys.readouterr()
        after = verdicts(port)
        assert after["chrome"] and after["edge"] and _tstclnt(port, nssdb)
        # Clients that do not read that database still fail (the twin).
        assert not after["curl"] and not after["python-requests"] and not after["node"]
        # `add --verify` and `find HOST` say the same.
        again = ["trust", "add", str(sandbox["ca"]), "--store", f"nss:{nssdb}", "--yes"]
        assert main([*again, "--verify", f"127.0.0.1:{port}"]) == 0
        out = capsys.readouterr().out
        assert (
            "clients that connect: chrome, edge" in out and "curl" not in out.split("connect:")[-1]
        )
        assert main(["trust", "find", f"127.0.0.1:{port}", "--json"]) == 0
        found = json.loads(capsys.readouterr().out)["clients"]
        assert {c["client"] for c in found if c["trusts"]} == {"chrome", "edge"}


def test_node_with_the_system_bundle_as_its_extra_file_reads_the_system_store(
    sandbox: dict[str, Path],
) -> None:
    node20 = NodeFacts((20, 20, 2), use_openssl_ca=True, use_system_ca=False)
    extra = {"NODE_EXTRA_CA_CERTS": "/etc/ssl/certs/ca-certificates.crt"}
    node = readings(discover(), extra, node20, None)[-1]
    assert node.how == "NODE_EXTRA_CA_CERTS" and node.advice is None and node.files == ()
    other = readings(discover(), {"NODE_EXTRA_CA_CERTS": "/x/corp.pem"}, node20, None)[-1]
    assert other.files == (Path("/x/corp.pem"),) and other.advice  # the twin
