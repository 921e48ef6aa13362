"""The system store (Debian's update-ca-certificates, for real, in a sandbox), certifi's
combined bundle, and the other platforms' plans as exact commands.

End to end: the lab's ``good`` endpoint, judged by the real curl and Python ssl against
the sandbox bundle, and by requests against the combined bundle, before and after adding
and removing the lab's CA. Nothing here touches /etc/ssl, /usr/local/share or the user's
home: every store is built over temporary directories.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import certifi
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from pki import make_root
from tlsdoctor.lab import Lab, LabEndpoint
from tlsdoctor.stores.base import StoreError, StoreKind, apply, contains, label_for
from tlsdoctor.stores.platforms import MacStore, WindowsStore, sha1_thumbprint
from tlsdoctor.stores.python import CertifiStore
from tlsdoctor.stores.system import (
    AlpineStore,
    DebianStore,
    P11KitStore,
    RedHatStore,
    detect_system_store,
)

TOOL = shutil.which("update-ca-certificates")
needs_tool = pytest.mark.skipif(TOOL is None, reason="update-ca-certificates is not installed")
TIMEOUT = 30
_PEM = Encoding.PEM
CURL = ("curl", "-sS", "-o", os.devnull, "--max-time", "10")
AS_NOBODY = ("setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups")


# Fixtures ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with Lab() as running:
        yield running


@pytest.fixture(scope="module")
def lab_ca(lab: Lab) -> x509.Certificate:
    return x509.load_pem_x509_certificate(lab.ca_file.read_bytes())


@pytest.fixture(scope="module")
def other_root() -> x509.Certificate:
    return make_root("tlsdoctor Stores Other Root").cert


def make_sandbox(root: Path, distribution_roots: int = 2) -> DebianStore:
    """The directories of update-ca-certificates under ``root``, with a configuration file
    selecting ``distribution_roots`` roots of the certs dir, as the package ships them."""
    certs = root / "usr-share-ca-certificates"
    (certs / "mozilla").mkdir(parents=True)
    lines = []
    for index in range(distribution_roots):
        cert = make_root(f"tlsdoctor Sandbox Distribution Root {index}")
        (certs / "mozilla" / f"Sandbox_Root_{index}.crt").write_bytes(cert.pem())
        lines.append(f"mozilla/Sandbox_Root_{index}.crt")
    conf = root / "ca-certificates.conf"
    conf.write_text("".join(f"{line}\n" for line in lines))
    for folder in ("local", "etc-ssl-certs", "update.d"):
        (root / folder).mkdir()
    return DebianStore(
        local_certs_dir=root / "local",
        certs_dir=certs,
        etc_certs_dir=root / "etc-ssl-certs",
        hooks_dir=root / "update.d",
        certs_conf=conf,
    )


@pytest.fixture
def sandbox(tmp_path: Path) -> DebianStore:
    store = make_sandbox(tmp_path / "sandbox")
    if TOOL is not None:
        apply_plan_commands(store)
    return store


def apply_plan_commands(store: DebianStore) -> None:
    """Build the sandbox's first bundle, as the package's installation does."""
    subprocess.run(
        [TOOL or "update-ca-certificates", "--fresh", *store.options()],
        check=True,
        capture_output=True,
        timeout=TIMEOUT,
    )


# Clients ----------------------------------------------------------------------------------
def curl_ok(endpoint: LabEndpoint, bundle: Path, empty: Path) -> int:
    """curl's exit code (0: trusted, 60: not) against the endpoint with only ``bundle``."""
    url = f"https://{endpoint.host}:{endpoint.port}/"
    resolve = f"{endpoint.host}:{endpoint.port}:127.0.0.1"
    result = subprocess.run(
        [*CURL, "--cacert", str(bundle), "--capath", str(empty), "--resolve", resolve, url],
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
    )
    return result.returncode


PYTHON_SSL = """
import socket, ssl, sys
host, port = sys.argv[1], int(sys.argv[2])
context = ssl.create_default_context()
try:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        with context.wrap_socket(sock, server_hostname=host):
            print("ok")
except ssl.SSLCertVerificationError as exc:
    print("refused", exc.verify_message)
"""

REQUESTS = """
import socket, sys
import requests
host, port = sys.argv[1], int(sys.argv[2])
real = socket.getaddrinfo
def resolve(name, *args, **kwargs):
    return real("127.0.0.1" if name == host else name, *args, **kwargs)
socket.getaddrinfo = resolve
try:
    requests.get(f"https://{host}:{port}/", timeout=10)
    print("ok")
except requests.exceptions.SSLError:
    print("SSLError")
"""


def python_says(script: str, endpoint: LabEndpoint, env: dict[str, str]) -> str:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SSL_CERT", "REQUESTS_"))}
    result = subprocess.run(
        [sys.executable, "-c", script, endpoint.host, str(endpoint.port)],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=True,
    )
    return result.stdout.strip()


# Debian, for real -------------------------------------------------------------------------
@needs_tool
def test_debian_add_and_remove_end_to_end(
    sandbox: DebianStore, lab: Lab, lab_ca: x509.Certificate, tmp_path: Path
) -> None:
    good = lab.endpoint("good")
    empty = tmp_path / "empty"
    empty.mkdir()
    bundle = sandbox.bundle
    env = {"SSL_CERT_FILE": str(bundle), "SSL_CERT_DIR": str(empty)}
    assert len(sandbox.certificates()) == 2
    assert curl_ok(good, bundle, empty) == 60
    assert python_says(PYTHON_SSL, good, env).startswith("refused")

    label = label_for(lab_ca)
    plan = sandbox.plan_add(lab_ca, label)
    assert not plan.already and plan.runnable
    assert [step.shown() for step in plan.steps] == [
        "update-ca-certificates --help",
        f"write {sandbox.anchors_dir / (label + '.crt')} ({len(lab_ca.public_bytes(_PEM))} bytes)",
        "update-ca-certificates " + " ".join(sandbox.options()),
    ]
    apply(plan)
    assert contains(sandbox, lab_ca) and len(sandbox.certificates()) == 3
    link = sandbox.etc_certs_dir / f"{label}.pem"
    assert link.is_symlink() and link.resolve() == sandbox.anchors_dir / f"{label}.crt"
    assert curl_ok(good, bundle, empty) == 0
    assert python_says(PYTHON_SSL, good, env) == "ok"

    again = sandbox.plan_add(lab_ca, label)
    assert again.already and again.steps == ()

    plan = sandbox.plan_remove(lab_ca, label)
    commands = [step.command[:2] for step in plan.steps if step.command]
    # Never --fresh: it re-adds every distribution root and re-imports them all in Java.
    assert ("update-ca-certificates", "--fresh") not in commands
    assert commands[-2:] == [("update-ca-certificates", "--certsconf"), ("openssl", "rehash")]
    assert sandbox.hooked_aliases(lab_ca) == {f"debian:{label.lower()}.pem"}
    hashes_before = {p.name for p in sandbox.etc_certs_dir.iterdir()}
    apply(plan)
    # Exactly the CA's own link and its hash link are gone, nothing else.
    assert len(hashes_before - {p.name for p in sandbox.etc_certs_dir.iterdir()}) == 2
    assert not contains(sandbox, lab_ca) and len(sandbox.certificates()) == 2
    assert not link.exists() and not link.is_symlink()
    assert list(sandbox.anchors_dir.iterdir()) == []
    assert curl_ok(good, bundle, empty) == 60
    assert python_says(PYTHON_SSL, good, env).startswith("refused")
    assert sandbox.plan_remove(lab_ca, label).already


@needs_tool
def test_debian_remove_of_the_last_root_empties_the_bundle(
    tmp_path: Path, lab_ca: x509.Certificate
) -> None:
    # With nothing left, update-ca-certificates writes no bundle and keeps the old one.
    store = make_sandbox(tmp_path / "bare", distribution_roots=0)
    apply(store.plan_add(lab_ca, "lab"))
    assert [c.subject for c in store.certificates()] == [lab_ca.subject]
    plan = store.plan_remove(lab_ca, "lab")
    assert plan.steps[-1].write == store.bundle and plan.steps[-1].content == b""
    apply(plan)
    assert store.certificates() == [] and not contains(store, lab_ca)


@needs_tool
def test_debian_distribution_root_is_not_removed_by_file(sandbox: DebianStore) -> None:
    shipped = sandbox.certificates()[0]
    with pytest.raises(StoreError, match="dpkg-reconfigure ca-certificates"):
        sandbox.plan_remove(shipped, "whatever")


@needs_tool
def test_debian_label_taken_by_another_certificate(
    sandbox: DebianStore, lab_ca: x509.Certificate, other_root: x509.Certificate
) -> None:
    (sandbox.anchors_dir / "corp.crt").write_bytes(other_root.public_bytes(_PEM))
    with pytest.raises(StoreError, match="already holds another certificate"):
        sandbox.plan_add(lab_ca, "corp")


def test_debian_missing_tool_changes_nothing(
    tmp_path: Path, lab_ca: x509.Certificate, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make_sandbox(tmp_path / "sandbox")
    (store.etc_certs_dir / "ca-certificates.crt").write_bytes(b"")
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools-here"))
    assert store.info().problem == (
        "'update-ca-certificates' is not installed (apt install ca-certificates)"
    )
    plan = store.plan_add(lab_ca, "lab")  # a plan is data: shown even here
    with pytest.raises(StoreError, match="'update-ca-certificates' is not installed"):
        apply(plan)
    assert list(store.anchors_dir.iterdir()) == []
    assert (store.etc_certs_dir / "ca-certificates.crt").read_bytes() == b""


def test_debian_default_paths_and_missing_local_dir(
    tmp_path: Path, lab_ca: x509.Certificate
) -> None:
    store = DebianStore()
    assert store.options() == ()  # the real paths: the plain command
    assert store.add_commands() == (("update-ca-certificates",),)
    assert store.remove_commands() == (
        ("update-ca-certificates",),
        ("openssl", "rehash", "/etc/ssl/certs"),
    )
    assert store.bundle == Path("/etc/ssl/certs/ca-certificates.crt")
    # Java reads its own keystore (which Debian's hook keeps in step), not this bundle.
    assert store.kind is StoreKind.SYSTEM and "java" not in store.info().clients
    absent = DebianStore(local_certs_dir=tmp_path / "absent", etc_certs_dir=tmp_path)
    with pytest.raises(StoreError, match="does not exist"):
        absent.plan_add(lab_ca, "lab")


@needs_tool
def test_debian_read_only_store(tmp_path: Path, lab_ca: x509.Certificate) -> None:
    """As root nothing is read-only to permissions: the change is attempted as 'nobody'
    (a user without sudo running tlsdoctor), over a sandbox it may read, not write."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to act as another user")
    top = Path(tempfile.mkdtemp(prefix="tlsdoctor-ro-"))
    try:
        top.chmod(0o755)
        store = make_sandbox(top / "sandbox")
        apply_plan_commands(store)
        before = store.bundle.read_bytes()
        for path in [top, *top.rglob("*")]:
            if path.is_dir():
                path.chmod(0o755)
        ca_file = top / "ca.pem"
        ca_file.write_bytes(lab_ca.public_bytes(_PEM))
        ca_file.chmod(0o644)
        assert not store.info().writable or os.geteuid() == 0
        script = f"""
from pathlib import Path
from cryptography import x509
from tlsdoctor.stores.base import apply
from tlsdoctor.stores.system import DebianStore
store = DebianStore(**{store_arguments(store)!r})
assert not store.info().writable
ca = x509.load_pem_x509_certificate(Path({str(ca_file)!r}).read_bytes())
try:
    apply(store.plan_add(ca, "lab"))
    print("applied")
except Exception as exc:
    print(type(exc).__name__, exc)
"""
        result = subprocess.run(
            [*AS_NOBODY, sys.executable, "-c", script],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
            env={**os.environ, "HOME": str(top)},
        )
        said = result.stdout.strip()
        assert result.returncode == 0, result.stderr
        assert "cannot be written" in said, said
        assert list(store.anchors_dir.iterdir()) == []
        assert store.bundle.read_bytes() == before
        assert said.startswith("StoreError"), said
    finally:
        shutil.rmtree(top, ignore_errors=True)


def store_arguments(store: DebianStore) -> dict[str, str]:
    return {
        "local_certs_dir": str(store.anchors_dir),
        "certs_dir": str(store.certs_dir),
        "etc_certs_dir": str(store.etc_certs_dir),
        "hooks_dir": str(store.hooks_dir),
        "certs_conf": str(store.certs_conf),
    }


# The other Linux families: plans as data ----------------------------------------------------
def test_redhat_plan(tmp_path: Path, lab_ca: x509.Certificate) -> None:
    store = RedHatStore()
    assert store.anchors_dir == Path("/etc/pki/ca-trust/source/anchors")
    assert store.bundle == Path("/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem")
    sandboxed = RedHatStore(anchors_dir=tmp_path, bundle=tmp_path / "tls-ca-bundle.pem")
    if shutil.which("update-ca-trust") is None:
        assert sandboxed.info().problem == (
            "'update-ca-trust' is not installed (dnf install ca-certificates)"
        )
    plan = sandboxed.plan_add(lab_ca, "corp")
    assert plan.runnable and not plan.already
    assert plan.steps[0].write == tmp_path / "corp.pem"
    assert plan.steps[0].content == lab_ca.public_bytes(_PEM)
    assert [s.command for s in plan.steps[1:]] == [("update-ca-trust", "extract")]
    (tmp_path / "corp.pem").write_bytes(lab_ca.public_bytes(_PEM))
    plan = sandboxed.plan_remove(lab_ca, "corp")
    assert [(s.remove, s.command) for s in plan.steps] == [
        (tmp_path / "corp.pem", ()),
        (None, ("update-ca-trust", "extract")),
    ]


def test_alpine_plan(tmp_path: Path, lab_ca: x509.Certificate) -> None:
    assert AlpineStore().anchors_dir == Path("/usr/local/share/ca-certificates")
    store = AlpineStore(local_certs_dir=tmp_path, bundle=tmp_path / "bundle.crt")
    plan = store.plan_add(lab_ca, "corp")
    assert [(s.write, s.command) for s in plan.steps] == [
        (tmp_path / "corp.crt", ()),
        (None, ("update-ca-certificates",)),
    ]
    (tmp_path / "corp.crt").write_bytes(lab_ca.public_bytes(_PEM))
    plan = store.plan_remove(lab_ca, "corp")
    assert [(s.remove, s.command) for s in plan.steps] == [
        (tmp_path / "corp.crt", ()),
        (None, ("update-ca-certificates",)),
    ]


def test_p11kit_plan(tmp_path: Path, lab_ca: x509.Certificate) -> None:
    bundle = tmp_path / "ca-certificates.crt"
    store = P11KitStore(bundle=bundle, staging_dir=tmp_path / "staged")
    if shutil.which("trust") is None:
        assert "'trust' is not installed" in (store.info().problem or "")
    staged = tmp_path / "staged" / "corp.pem"
    plan = store.plan_add(lab_ca, "corp")
    assert plan.runnable
    assert plan.steps[0].write == staged
    assert plan.steps[1].command == ("trust", "anchor", "--store", str(staged))
    assert store.plan_remove(lab_ca, "corp").already  # not in the bundle: nothing to do
    bundle.write_bytes(lab_ca.public_bytes(_PEM))  # as trust extract-compat would
    assert store.plan_add(lab_ca, "corp").already
    plan = store.plan_remove(lab_ca, "corp")
    assert [s.shown() for s in plan.steps] == [
        f"write {staged} ({len(lab_ca.public_bytes(_PEM))} bytes)",
        f"trust anchor --remove {staged}",
        f"remove {staged}",
    ]


@pytest.mark.parametrize(
    ("os_release", "expected"),
    [
        ('ID=debian\nVERSION_ID="12"\n', DebianStore),
        ("ID=ubuntu\nID_LIKE=debian\n", DebianStore),
        ("ID=linuxmint\nID_LIKE=ubuntu debian\n", DebianStore),
        ('ID="rhel"\nID_LIKE="fedora"\n', RedHatStore),
        ("ID=fedora\n", RedHatStore),
        ('ID=amzn\nID_LIKE="centos rhel fedora"\n', RedHatStore),
        ("ID=alpine\n", AlpineStore),
        ("ID=arch\n", P11KitStore),
        ('ID="opensuse-leap"\nID_LIKE="suse opensuse"\n', P11KitStore),
    ],
)
def test_detect_by_os_release(tmp_path: Path, os_release: str, expected: type) -> None:
    path = tmp_path / "os-release"
    path.write_text(os_release)
    assert isinstance(detect_system_store(path, which=lambda tool: None), expected)


def test_detect_by_tools(tmp_path: Path) -> None:
    unknown = tmp_path / "os-release"
    unknown.write_text("ID=somethingelse\n")
    assert detect_system_store(unknown, which=lambda tool: None) is None
    assert detect_system_store(tmp_path / "absent", which=lambda tool: None) is None

    def has(name: str) -> Callable[[str], str | None]:
        return lambda tool: f"/usr/bin/{tool}" if tool == name else None

    assert isinstance(detect_system_store(unknown, which=has("update-ca-trust")), RedHatStore)
    assert isinstance(detect_system_store(unknown, which=has("trust")), P11KitStore)


def test_detect_this_machine() -> None:
    store = detect_system_store()
    if Path("/etc/debian_version").exists():
        assert isinstance(store, DebianStore)


# certifi ----------------------------------------------------------------------------------
def test_certifi_end_to_end(
    tmp_path: Path, lab: Lab, lab_ca: x509.Certificate, other_root: x509.Certificate
) -> None:
    good = lab.endpoint("good")
    certifi_file = Path(certifi.where())
    original = certifi_file.read_bytes()
    store = CertifiStore(directory=tmp_path / "bundles")
    assert store.certifi_bundle == certifi_file
    roots = len(store.certificates())
    assert roots > 100 and store.info().location == str(certifi_file)
    combined = store.combined
    env = {"REQUESTS_CA_BUNDLE": str(combined)}
    assert python_says(REQUESTS, good, {}) == "SSLError"  # certifi alone

    plan = store.plan_add(lab_ca, "lab")
    assert [s.write for s in plan.steps] == [combined]
    assert f"export REQUESTS_CA_BUNDLE={combined}   # requests" in plan.notes
    assert any("pip config set global.cert" in note for note in plan.notes)
    assert any("truststore" in note for note in plan.notes)
    apply(plan)
    apply(store.plan_add(other_root, "other"))
    assert len(store.certificates()) == roots + 2
    assert store.info().location == str(combined)
    assert store.plan_add(lab_ca, "lab").already
    assert python_says(REQUESTS, good, env) == "ok"
    assert "# tlsdoctor: lab\n" in combined.read_text()

    apply(store.plan_remove(lab_ca, "lab"))
    assert combined.is_file() and len(store.certificates()) == roots + 1
    assert "# tlsdoctor: other\n" in combined.read_text()
    assert python_says(REQUESTS, good, env) == "SSLError"
    assert store.plan_remove(lab_ca, "lab").already

    plan = store.plan_remove(other_root, "other")
    assert [s.remove for s in plan.steps] == [combined]
    apply(plan)
    assert not combined.exists() and len(store.certificates()) == roots
    assert certifi_file.read_bytes() == original


def test_certifi_refuses_to_remove_its_own_roots(tmp_path: Path) -> None:
    store = CertifiStore(directory=tmp_path)
    mozilla_root = store.certificates()[0]
    with pytest.raises(StoreError, match="never edits"):
        store.plan_remove(mozilla_root, "mozilla")


def test_certifi_interpreter_without_certifi(tmp_path: Path) -> None:
    store = CertifiStore(interpreter=shutil.which("false") or "/bin/false", directory=tmp_path)
    with pytest.raises(StoreError, match="has no certifi"):
        store.certificates()
    assert "has no certifi" in (store.info().problem or "")
    missing = CertifiStore(interpreter=str(tmp_path / "python9"), directory=tmp_path)
    assert "is not installed" in (missing.info().problem or "")


# macOS and Windows: commands as data -------------------------------------------------------
def test_macos_plans(lab_ca: x509.Certificate) -> None:
    store = MacStore()
    add = store.plan_add(lab_ca, "corp")
    assert not add.runnable and add.store == "macos"
    assert add.steps[0].write == Path("corp.pem")
    assert add.steps[1].shown() == (
        "security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain corp.pem"
    )
    remove = store.plan_remove(lab_ca, "corp")
    sha1 = sha1_thumbprint(lab_ca)
    assert len(sha1) == 40 and sha1 == sha1.upper()
    assert [s.command for s in remove.steps[1:]] == [
        ("security", "remove-trusted-cert", "-d", "corp.pem"),
        ("security", "delete-certificate", "-Z", sha1, "/Library/Keychains/System.keychain"),
    ]
    with pytest.raises(StoreError, match="not on this machine"):
        apply(add)
    assert store.info().count is None and store.certificates() == []


def test_windows_plans(lab_ca: x509.Certificate) -> None:
    sha1 = sha1_thumbprint(lab_ca)
    add = WindowsStore().plan_add(lab_ca, "corp")
    assert not add.runnable
    assert add.steps[0].write == Path("corp.cer")
    assert x509.load_der_x509_certificate(add.steps[0].content) == lab_ca
    assert add.steps[1].command == ("certutil", "-addstore", "-f", "Root", "corp.cer")
    remove = WindowsStore().plan_remove(lab_ca, "corp")
    assert [s.command for s in remove.steps] == [("certutil", "-delstore", "Root", sha1)]

    shell = WindowsStore(powershell=True)
    powershell = ("powershell", "-NoProfile", "-Command")
    assert shell.plan_add(lab_ca, "corp").steps[1].command == (
        *powershell,
        "Import-Certificate -FilePath corp.cer -CertStoreLocation Cert:\\LocalMachine\\Root",
    )
    assert [s.command for s in shell.plan_remove(lab_ca, "corp").steps] == [
        (*powershell, f"Get-ChildItem Cert:\\LocalMachine\\Root\\{sha1} | Remove-Item")
    ]
    with pytest.raises(StoreError, match="cannot be a file name"):
        WindowsStore().plan_add(lab_ca, "a b")
