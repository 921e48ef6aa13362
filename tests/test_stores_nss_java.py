"""The NSS and Java trust-store backends with the real certutil and keytool, on temporary
stores only (never the machine's), and end to end against the lab: a real verifier rejects
the lab's `good` endpoint before the lab CA is added, accepts it after, rejects it again
after the CA is removed."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

import tlsdoctor.stores.base as base
from pki import make_root
from tlsdoctor.lab import Lab
from tlsdoctor.stores.base import StoreError, StoreKind, TrustStore, apply, contains, label_for
from tlsdoctor.stores.java import JavaStore, discover_java
from tlsdoctor.stores.nss import NssStore, discover_nss
from tlsdoctor.tryclients import probes

needs_certutil = pytest.mark.skipif(shutil.which("certutil") is None, reason="no certutil")
needs_keytool = pytest.mark.skipif(shutil.which("keytool") is None, reason="no keytool")


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=60, check=False, stdin=subprocess.DEVNULL
    )


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _snapshot(*paths: Path) -> dict[str, str]:
    """Every file under ``paths`` and a hash of its content."""
    files: dict[str, str] = {}
    for path in paths:
        for item in [path] if path.is_file() else sorted(path.rglob("*")):
            if item.is_file():
                files[str(item)] = hashlib.sha256(item.read_bytes()).hexdigest()
    return files


@contextlib.contextmanager
def read_only(*paths: Path) -> Iterator[None]:
    """Make ``paths`` read-only for this process: chmod for a normal user; root ignores
    modes, so ``chattr +i`` (immutable) then, or skip when the file system refuses it."""
    if os.geteuid() != 0:
        modes = {path: path.stat().st_mode for path in paths}
        for path in paths:
            path.chmod(0o555 if path.is_dir() else 0o444)
        try:
            yield
        finally:
            for path, mode in modes.items():
                path.chmod(mode)
        return
    if shutil.which("chattr") is None:
        pytest.skip("running as root, which ignores file modes, and chattr is not installed")
    done: list[Path] = []
    try:
        for path in paths:
            if _run(["chattr", "+i", str(path)]).returncode != 0:
                pytest.skip("running as root, which ignores file modes, and chattr +i fails here")
            done.append(path)
        yield
    finally:
        for path in done:
            _run(["chattr", "-i", str(path)])


def _forbid_commands(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(command: object, **kwargs: object) -> str:
        raise AssertionError(f"ran {command}")

    monkeypatch.setattr(base, "run", refuse)


# --------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="module")
def ca() -> x509.Certificate:
    return make_root("tlsdoctor Store Test Root").cert


@pytest.fixture
def nssdb(tmp_path: Path) -> Path:
    folder = tmp_path / "nssdb"
    folder.mkdir()
    done = _run(["certutil", "-N", "--empty-password", "-d", f"sql:{folder}"])
    assert done.returncode == 0, done.stderr
    return folder


@pytest.fixture
def keystore(tmp_path: Path) -> Path:
    """A PKCS12 keystore holding one throwaway root (Java refuses an empty trust store)."""
    throwaway = tmp_path / "throwaway.pem"
    throwaway.write_bytes(make_root("tlsdoctor Throwaway Root").pem())
    path = tmp_path / "truststore.p12"
    argv = [
        "keytool",
        "-importcert",
        "-noprompt",
        "-alias",
        "throwaway",
        "-file",
        str(throwaway),
        "-keystore",
        str(path),
        "-storetype",
        "PKCS12",
        "-storepass",
        "changeit",
    ]
    done = _run(argv)
    assert done.returncode == 0, done.stderr
    return path


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with Lab() as running:
        yield running


# --------------------------------------------------------------------------------------
# NSS


@needs_certutil
def test_nss_add_is_idempotent_and_remove_undoes_it(
    nssdb: Path, ca: x509.Certificate, monkeypatch: pytest.MonkeyPatch
) -> None:
    store: TrustStore = NssStore(nssdb, "test db")
    label = label_for(ca)
    assert store.kind is StoreKind.NSS and store.info().count == 0

    plan = store.plan_add(ca, label)
    assert not plan.already and plan.action == "add"
    command = next(step.command for step in plan.steps if step.command)
    assert command[1:9] == ("-A", "-d", f"sql:{nssdb}", "-n", label, "-t", "C,,", "-i")
    apply(plan)
    info = store.info()
    assert contains(store, ca) and info.count == 1 and info.writable and info.problem is None
    assert sorted(p.name for p in nssdb.iterdir()) == ["cert9.db", "key4.db", "pkcs11.txt"]
    listing = _run(["certutil", "-L", "-d", f"sql:{nssdb}"]).stdout
    assert any(
        line.startswith(label) and line.split()[-1] == "C,," for line in listing.splitlines()
    )

    with monkeypatch.context() as patch:  # a duplicate add: nothing to run
        again = store.plan_add(ca, label)
        assert again.already and again.steps == ()
        _forbid_commands(patch)
        apply(again)

    removal = store.plan_remove(ca, label)
    assert [step.command[1:] for step in removal.steps] == [
        ("-D", "-d", f"sql:{nssdb}", "-n", label)
    ]
    apply(removal)
    assert not contains(store, ca) and store.info().count == 0

    absent = store.plan_remove(ca, label)  # removing what is not there: nothing to run
    assert absent.already and absent.steps == ()


@needs_certutil
def test_nss_lists_only_cas_trusted_for_tls_and_removes_under_their_own_nickname(
    nssdb: Path, ca: x509.Certificate, tmp_path: Path
) -> None:
    others = {
        "Cached Intermediate": (make_root("Cached").cert, ",,"),
        "Mail Only CA": (make_root("Mail").cert, ",C,"),
        # Someone else's nickname, with spaces and a colon: certutil stores a nickname with
        # ':' as given but lists it with its token's name in front.
        "Corp Root: 2026": (ca, "CT,C,C"),
    }
    for nickname, (cert, trust) in others.items():
        file = tmp_path / "in.pem"
        file.write_bytes(_pem(cert))
        argv = ["certutil", "-A", "-d", f"sql:{nssdb}", "-n", nickname, "-t", trust]
        assert _run([*argv, "-i", str(file)]).returncode == 0

    store = NssStore(nssdb)
    entries = store.entries()
    nickname = "NSS Certificate DB:Corp Root: 2026"
    assert [(e.nickname, e.trust) for e in entries] == [(nickname, "CT,C,C")]
    assert store.certificates() == [ca]
    assert store.plan_add(ca, label_for(ca)).already

    removal = store.plan_remove(ca, label_for(ca))
    assert removal.steps[0].command[-1] == nickname
    assert any(nickname in note for note in removal.notes)
    apply(removal)
    assert store.certificates() == []


@needs_certutil
def test_nss_without_certutil_refuses_before_changing_anything(
    nssdb: Path, ca: x509.Certificate, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    before = _snapshot(nssdb)
    monkeypatch.setenv("PATH", str(empty))
    store = NssStore(nssdb)
    info = store.info()
    assert info.count is None and info.problem is not None
    assert "certutil" in info.problem and "libnss3-tools" in info.problem
    with pytest.raises(StoreError, match="certutil"):
        store.plan_add(ca, label_for(ca))
    with pytest.raises(StoreError, match="certutil"):
        store.plan_remove(ca, label_for(ca))
    assert _snapshot(nssdb) == before


@needs_certutil
def test_nss_read_only_database_refuses_before_changing_anything(
    nssdb: Path, ca: x509.Certificate
) -> None:
    store = NssStore(nssdb)
    apply(store.plan_add(ca, label_for(ca)))
    other = make_root("tlsdoctor Other Root").cert
    before = _snapshot(nssdb)
    with read_only(nssdb, *nssdb.iterdir()):
        assert not store.info().writable
        with pytest.raises(StoreError, match="read-only"):
            store.plan_add(other, label_for(other))
        with pytest.raises(StoreError, match="read-only"):
            store.plan_remove(ca, label_for(ca))
        assert store.certificates() == [ca]  # reading still works
    assert _snapshot(nssdb) == before


@needs_certutil
def test_nss_bad_databases(tmp_path: Path, ca: x509.Certificate) -> None:
    missing = NssStore(tmp_path / "nowhere")
    assert "no such directory" in (missing.info().problem or "")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(StoreError, match=r"certutil -N --empty-password"):
        NssStore(empty).plan_add(ca, "x")
    assert list(empty.iterdir()) == []

    protected = tmp_path / "protected"
    protected.mkdir()
    (tmp_path / "pw").write_text("secret\n")
    argv = ["certutil", "-N", "-d", f"sql:{protected}", "-f", str(tmp_path / "pw")]
    assert _run(argv).returncode == 0
    before = _snapshot(protected)
    with pytest.raises(StoreError, match="primary password"):
        NssStore(protected).plan_add(ca, "x")
    assert _snapshot(protected) == before
    with pytest.raises(StoreError, match="TOKEN:NICKNAME"):
        NssStore(protected).plan_add(ca, "a:b")


def test_discover_nss_finds_chrome_and_every_firefox_profile(tmp_path: Path) -> None:
    home = tmp_path / "home"
    databases = [
        home / ".pki" / "nssdb",
        home / ".mozilla" / "firefox" / "abcd.default-release",
        home / "snap" / "firefox" / "common" / ".mozilla" / "firefox" / "snap1.default",
    ]
    for folder in databases:
        folder.mkdir(parents=True)
        (folder / "cert9.db").touch()
    (home / ".mozilla" / "firefox" / "no-db.profile").mkdir()  # no cert9.db: not a store
    stores = discover_nss(home)
    assert [store.directory for store in stores] == databases
    assert stores[0].clients == ("chrome", "edge") and stores[1].clients == ("firefox",)
    assert "abcd.default-release" in stores[1].name and "snap" in stores[2].name
    assert discover_nss(tmp_path / "nobody") == []


@needs_certutil
def test_nss_end_to_end_certutil_verifies_the_lab_only_while_the_ca_is_added(
    lab: Lab, nssdb: Path
) -> None:
    endpoint = lab.endpoint("good")
    served = _served_leaf(endpoint.address, endpoint.port, endpoint.host)
    chain = x509.load_pem_x509_certificates((lab.directory / "good.pem").read_bytes())
    assert chain[0] == served
    for index, cert in enumerate(chain):  # the leaf and intermediates, not trusted
        file = nssdb / f"chain{index}.pem"
        file.write_bytes(_pem(cert))
        argv = ["certutil", "-A", "-d", f"sql:{nssdb}", "-n", f"chain{index}", "-t", ",,"]
        assert _run([*argv, "-i", str(file)]).returncode == 0
        file.unlink()
    verify = ["certutil", "-V", "-u", "V", "-d", f"sql:{nssdb}", "-n", "chain0"]

    lab_ca = x509.load_pem_x509_certificate(lab.ca_file.read_bytes())
    store = NssStore(nssdb)
    rejected = _run(verify)
    assert rejected.returncode != 0 and "issuer is not recognized" in rejected.stdout
    apply(store.plan_add(lab_ca, label_for(lab_ca)))
    accepted = _run(verify)
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    assert "certificate is valid" in accepted.stdout
    apply(store.plan_remove(lab_ca, label_for(lab_ca)))
    assert _run(verify).returncode != 0


def _served_leaf(address: str, port: int, host: str) -> x509.Certificate:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection((address, port), timeout=10) as sock,
        context.wrap_socket(sock, server_hostname=host) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


# --------------------------------------------------------------------------------------
# Java


@pytest.fixture(scope="module")
def probe_classes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("javac") is None or shutil.which("java") is None:
        pytest.skip("no JDK (javac, java)")
    classes = tmp_path_factory.mktemp("java-classes")
    source = classes / f"{probes.JAVA_CLASS}.java"  # the probe check --try-clients runs
    source.write_text(probes.JAVA)
    done = _run(["javac", "-d", str(classes), str(source)])
    assert done.returncode == 0, done.stderr
    return classes


def _java_probe(classes: Path, keystore: Path, host: str, port: int, folder: Path) -> str:
    hosts = folder / "hosts"
    hosts.write_text(f"127.0.0.1 {host}\n")
    argv = [
        "java",
        "-XX:TieredStopAtLevel=1",
        "-XX:+UseSerialGC",
        f"-Djdk.net.hosts.file={hosts}",
        f"-Djavax.net.ssl.trustStore={keystore}",
        "-Djavax.net.ssl.trustStorePassword=changeit",
        "-cp",
        str(classes),
        "TlsProbe",
        f"https://{host}:{port}/",
    ]
    done = _run(argv)
    return f"exit {done.returncode}: {done.stdout}{done.stderr}"


@needs_keytool
def test_java_end_to_end_add_is_idempotent_and_remove_undoes_it(
    lab: Lab,
    keystore: Path,
    probe_classes: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    endpoint = lab.endpoint("good")
    lab_ca = x509.load_pem_x509_certificate(lab.ca_file.read_bytes())
    label = label_for(lab_ca)
    store: TrustStore = JavaStore(keystore)
    assert store.kind is StoreKind.JAVA and store.info().count == 1

    def probe() -> str:
        return _java_probe(probe_classes, keystore, endpoint.host, endpoint.port, tmp_path)

    before = probe()
    assert before.startswith("exit 1") and "PKIX path building failed" in before

    plan = store.plan_add(lab_ca, label)
    command = next(step.command for step in plan.steps if step.command)
    assert command[1:6] == ("-importcert", "-noprompt", "-trustcacerts", "-alias", label)
    assert command[-4:] == ("-keystore", str(keystore), "-storepass", "changeit")
    apply(plan)
    assert contains(store, lab_ca) and store.info().count == 2
    assert list(keystore.parent.glob(".tlsdoctor-*")) == []  # the copy for keytool is gone
    after = probe()
    assert after.startswith("exit 0") and "HTTP 200" in after

    with monkeypatch.context() as patch:
        again = store.plan_add(lab_ca, label)
        assert again.already and again.steps == ()
        _forbid_commands(patch)
        apply(again)

    removal = store.plan_remove(lab_ca, label)
    # keytool keeps aliases in lower case, PKCS12 too
    assert [step.command[1:4] for step in removal.steps] == [("-delete", "-alias", label.lower())]
    assert not any("trusted under" in note for note in removal.notes)
    apply(removal)
    assert not contains(store, lab_ca) and store.info().count == 1
    removed = probe()
    assert removed.startswith("exit 1") and "PKIX path building failed" in removed
    assert store.plan_remove(lab_ca, label).already


@needs_keytool
def test_java_without_keytool_refuses_before_changing_anything(
    keystore: Path, ca: x509.Certificate, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    before = _snapshot(keystore.parent)
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    store = JavaStore(keystore)
    info = store.info()
    assert info.count is None and "keytool" in (info.problem or "")
    with pytest.raises(StoreError, match="keytool"):
        store.plan_add(ca, label_for(ca))
    with pytest.raises(StoreError, match="keytool"):
        store.plan_remove(ca, label_for(ca))
    assert _snapshot(keystore.parent) == before


@needs_keytool
def test_java_read_only_keystore_refuses_before_changing_anything(
    keystore: Path, ca: x509.Certificate
) -> None:
    store = JavaStore(keystore)
    before = _snapshot(keystore.parent)
    with read_only(keystore):
        assert not store.info().writable and store.info().count == 1
        with pytest.raises(StoreError, match="read-only"):
            store.plan_add(ca, label_for(ca))
    assert _snapshot(keystore.parent) == before


@needs_keytool
def test_java_bad_keystores(keystore: Path, tmp_path: Path, ca: x509.Certificate) -> None:
    wrong = JavaStore(keystore, password="not-the-password")
    assert "password was incorrect" in (wrong.info().problem or "")
    with pytest.raises(StoreError, match="password was incorrect"):
        wrong.plan_add(ca, "x")
    with pytest.raises(StoreError, match="no such keystore"):
        JavaStore(tmp_path / "missing.p12").plan_add(ca, "x")
    assert not (tmp_path / "missing.p12").exists()


def test_discover_java_resolves_links_and_names_the_shared_store(tmp_path: Path) -> None:
    shared = tmp_path / "etc" / "ssl" / "certs" / "java" / "cacerts"
    shared.parent.mkdir(parents=True)
    shared.write_bytes(b"keystore")
    jvm = tmp_path / "jvm"
    for jdk in ("java-17-openjdk-amd64", "temurin-25-jdk-amd64"):
        security = jvm / jdk / "lib" / "security"
        security.mkdir(parents=True)
        (security / "cacerts").symlink_to(shared)
    (jvm / "java-1.17.0-openjdk-amd64").symlink_to(jvm / "java-17-openjdk-amd64")
    own = jvm / "zulu-8" / "jre" / "lib" / "security"  # Java 8 layout, its own file
    own.mkdir(parents=True)
    (own / "cacerts").write_bytes(b"keystore")
    home = tmp_path / "home-jdk"
    (home / "lib" / "security").mkdir(parents=True)
    (home / "lib" / "security" / "cacerts").write_bytes(b"keystore")

    stores = discover_java(environ={"JAVA_HOME": str(home)}, jvm_directories=[jvm], shared=[shared])
    assert [s.keystore for s in stores] == [
        (home / "lib" / "security" / "cacerts").resolve(),
        shared.resolve(),
        (own / "cacerts").resolve(),
    ]
    assert "read by java-17-openjdk-amd64, temurin-25-jdk-amd64" in stores[1].name
    assert "shared" in stores[1].name and stores[1].clients == ("java",)
    assert discover_java(environ={}, jvm_directories=[tmp_path / "none"], shared=[]) == []


def test_debian_cacerts_says_the_hook_maintains_it() -> None:
    store = JavaStore(Path("/etc/ssl/certs/java/cacerts"))
    assert "update-ca-certificates" in store.name
    assert any("/usr/local/share/ca-certificates" in note for note in store._notes())
