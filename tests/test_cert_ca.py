"""`tlsdoctor cert ca init` / `cert issue`: a local CA whose leaves real clients accept once
they trust it, and whose name constraints real clients enforce."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import ssl
import stat
import subprocess
from pathlib import Path

import certifi
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from servers import s_server
from tlsdoctor.cli.main import main


@pytest.fixture
def ca_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    folder = tmp_path / "ca"
    argv = ["cert", "ca", "init", "--name", "Acme Internal CA", "-o", str(folder)]
    assert main([*argv, "--permit", "acme.test", "--permit", "10.0.0.0/8", "--json"]) == 0
    capsys.readouterr()
    return folder


def issue(ca_dir: Path, out: Path, capsys: pytest.CaptureFixture[str], *names: str) -> int:
    code = main(["cert", "issue", *names, "--ca", str(ca_dir), "-o", str(out)])
    capsys.readouterr()
    return code


def curl(port: int, host: str, ca: Path) -> subprocess.CompletedProcess[str]:
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    return subprocess.run(
        [
            "curl",
            "-sS",
            "-o",
            "/dev/null",
            "--max-time",
            "10",
            "--cacert",
            str(ca),
            "--resolve",
            f"{host}:{port}:127.0.0.1",
            f"https://{host}:{port}/",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )


def python_connects(port: int, host: str, ca: Path) -> str | None:
    """None when Python's ssl accepts the server under ``ca``, else its error."""
    import socket

    context = ssl.create_default_context(cafile=str(ca))
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
            context.wrap_socket(raw, server_hostname=host),
        ):
            return None
    except ssl.SSLError as exc:
        return str(exc)


def test_the_ca_is_a_constrained_root_with_a_private_key(ca_dir: Path) -> None:
    ca = x509.load_pem_x509_certificate((ca_dir / "ca.pem").read_bytes())
    constraints = ca.extensions.get_extension_for_class(x509.NameConstraints)
    assert constraints.critical
    assert [str(n.value) for n in constraints.value.permitted_subtrees or []] == [
        "acme.test",
        "10.0.0.0/8",
        "invalid",  # e-mail: the reserved TLD, no real address
        "invalid",  # URI: the same
    ]
    # The types not permitted are shut: every DNS name is permitted only under acme.test,
    # and IPv6 (none permitted) is excluded whole.
    assert [str(n.value) for n in constraints.value.excluded_subtrees or []] == ["::/0"]
    basic = ca.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert basic.ca and basic.path_length == 0
    assert stat.S_IMODE((ca_dir / "ca.key").stat().st_mode) == 0o600


def test_a_leaf_is_accepted_by_curl_and_python_only_with_the_ca(
    ca_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert issue(ca_dir, tmp_path, capsys, "intranet.acme.test", "10.1.2.3") == 0
    leaf = x509.load_pem_x509_certificate((tmp_path / "intranet.acme.test.pem").read_bytes())
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]
    assert leaf.not_valid_after_utc - leaf.not_valid_before_utc <= dt.timedelta(days=91)
    pem, key = tmp_path / "intranet.acme.test.pem", tmp_path / "intranet.acme.test.key"
    with s_server(pem, key, "-www") as port:
        assert curl(port, "intranet.acme.test", ca_dir / "ca.pem").returncode == 0
        assert python_connects(port, "intranet.acme.test", ca_dir / "ca.pem") is None
        other_ca = Path(certifi.where())  # public roots only
        refused = curl(port, "intranet.acme.test", other_ca)
        assert refused.returncode == 60, refused.stderr
    # And tlsdoctor's own check agrees, with the CA as the only anchor.
    argv = ["check", "--chain", str(pem), "--host", "intranet.acme.test"]
    assert main([*argv, "--ca-file", str(ca_dir / "ca.pem"), "--no-revocation"]) == 0


def test_clients_enforce_the_constraints_on_a_leaf_forged_with_the_ca_key(
    ca_dir: Path, tmp_path: Path
) -> None:
    """What a leaked CA key could do for a name outside its constraints: nothing."""
    ca = x509.load_pem_x509_certificate((ca_dir / "ca.pem").read_bytes())
    ca_key = serialization.load_pem_private_key((ca_dir / "ca.key").read_bytes(), None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    forged = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bank.example.com")]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("bank.example.com")]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem, key_file = tmp_path / "forged.pem", tmp_path / "forged.key"
    pem.write_bytes(forged.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with s_server(pem, key_file, "-www") as port:
        refused = curl(port, "bank.example.com", ca_dir / "ca.pem")
        assert refused.returncode == 60 and "subtree" in refused.stderr, refused.stderr
        error = python_connects(port, "bank.example.com", ca_dir / "ca.pem")
        assert error is not None and "subtree" in error


def test_refusals(ca_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    out.mkdir()
    # A name outside the constraints: refused, nothing written.
    assert main(["cert", "issue", "www.example.com", "--ca", str(ca_dir), "-o", str(out)]) == 3
    assert "outside what" in capsys.readouterr().err
    assert list(out.iterdir()) == []
    # Longer than clients accept.
    argv = ["cert", "issue", "a.acme.test", "--ca", str(ca_dir), "-o", str(out)]
    assert main([*argv, "--days", "400"]) == 3
    assert "between 1 and 397" in capsys.readouterr().err
    # No constraints given, or a whole top-level domain.
    init = ["cert", "ca", "init", "--name", "X", "-o", str(tmp_path / "x")]
    assert main(init) == 3
    assert "--permit" in capsys.readouterr().err
    assert main([*init, "--permit", "com"]) == 3
    assert "not a top-level domain" in capsys.readouterr().err
    # An existing CA is never replaced silently: its leaves would stop working.
    again = ["cert", "ca", "init", "--name", "Acme Internal CA", "--permit", "acme.test"]
    before = (ca_dir / "ca.pem").read_bytes()
    assert main([*again, "-o", str(ca_dir)]) == 3
    assert "already exists" in capsys.readouterr().err
    assert (ca_dir / "ca.pem").read_bytes() == before
    # No CA where --ca points.
    assert main(["cert", "issue", "a.acme.test", "--ca", str(tmp_path), "-o", str(out)]) == 3
    assert "cert ca init" in capsys.readouterr().err


def test_json_of_issue(ca_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["cert", "issue", "api.acme.test", "--ca", str(ca_dir), "-o", str(tmp_path)]
    assert main([*argv, "--json", "--days", "30"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["names"] == ["api.acme.test"]
    assert Path(data["certificate"]).is_file() and Path(data["key"]).is_file()


def test_check_recognises_a_leaf_of_a_tlsdoctor_ca(
    ca_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before the CA is trusted, the report says which file to trust, not just 'private CA'."""
    assert issue(ca_dir, tmp_path, capsys, "wiki.acme.test") == 0
    argv = ["check", "--chain", str(tmp_path / "wiki.acme.test.pem"), "--host", "wiki.acme.test"]
    assert main([*argv, "--no-revocation", "--json"]) == 2
    report = json.loads(capsys.readouterr().out)
    finding = next(f for f in report["findings"] if f["code"] == "untrusted_root")
    assert finding["evidence"]["tlsdoctor_local_ca"] is True
    assert finding["fix"][0].startswith("This root was made by `tlsdoctor cert ca init`")


@pytest.mark.skipif(shutil.which("certutil") is None, reason="needs certutil")
def test_ca_init_can_trust_it_in_the_stores_here(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    nssdb = home / ".pki" / "nssdb"
    nssdb.mkdir(parents=True)
    subprocess.run(
        ["certutil", "-N", "--empty-password", "-d", f"sql:{nssdb}"], check=True, timeout=30
    )
    monkeypatch.setenv("TLSDOCTOR_HOME", str(home))  # the sandbox: NSS database + certifi
    argv = ["cert", "ca", "init", "--name", "Lab CA", "--permit", "lab.test", "--trust", "--yes"]
    assert main(argv) == 0
    assert "verified by reading the store again" in capsys.readouterr().out
    ca_pem = home / ".local" / "share" / "tlsdoctor" / "ca" / "ca.pem"
    assert main(["trust", "find", str(ca_pem), "--json"]) == 0
    stores = json.loads(capsys.readouterr().out)["stores"]
    assert {s["id"]: s["trusted"] for s in stores}[f"nss:{nssdb}"] is True
    assert main([*argv, "--json", "--force"]) == 3  # the plan is text: not with --json


@pytest.mark.parametrize(
    ("names", "host"),
    [
        (["--exact", "*.acme.test"], "wiki.acme.test"),
        (["--exact", "a" * 60 + ".acme.test"], "a" * 60 + ".acme.test"),
    ],
)
def test_wildcards_and_names_longer_than_a_cn_are_issued_and_accepted(
    names: list[str], host: str, ca_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["cert", "issue", *names, "--ca", str(ca_dir), "-o", str(tmp_path), "--json"]
    assert main(argv) == 0
    issued = json.loads(capsys.readouterr().out)
    pem, key = Path(issued["certificate"]), Path(issued["key"])
    with s_server(pem, key, "-www") as port:
        assert curl(port, host, ca_dir / "ca.pem").returncode == 0
        assert python_connects(port, host, ca_dir / "ca.pem") is None
        # Negative twin: the wildcard does not cover the apex, the long name not another.
        assert curl(port, "acme.test", ca_dir / "ca.pem").returncode == 60


def test_an_ip_only_leaf_carries_no_common_name_so_openssl_and_gnutls_accept_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """OpenSSL and GnuTLS check a CN like "127.0.0.1" against the CA's DNS constraints
    (permitted acme.test, or every DNS name excluded) and refuse the leaf; without a CN the
    IP SAN decides."""
    folder = tmp_path / "ca"
    init = ["cert", "ca", "init", "--name", "Lab CA", "-o", str(folder), "--json"]
    assert main([*init, "--permit", "acme.test", "--permit", "127.0.0.0/8"]) == 0
    assert main(["cert", "issue", "127.0.0.1", "--ca", str(folder), "-o", str(tmp_path)]) == 0
    capsys.readouterr()
    pem, key, ca = tmp_path / "127.0.0.1.pem", tmp_path / "127.0.0.1.key", folder / "ca.pem"
    leaf = x509.load_pem_x509_certificate(pem.read_bytes())
    assert len(leaf.subject.rdns) == 0
    assert leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).critical
    with s_server(pem, key, "-www") as port:
        done = subprocess.run(
            ["curl", "-sS", "-o", "/dev/null", "--max-time", "10", "--cacert", str(ca),
             f"https://127.0.0.1:{port}/"],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
    verify = subprocess.run(["openssl", "verify", "-CAfile", str(ca), str(pem)],
                            capture_output=True, text=True, timeout=30)  # fmt: skip
    assert verify.returncode == 0, verify.stdout
    if shutil.which("certtool") is not None:
        gnutls = subprocess.run(
            ["certtool", "--verify", "--load-ca-certificate", str(ca), "--infile", str(pem),
             "--verify-hostname", "127.0.0.1"],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert "Chain verification output: Verified" in gnutls.stdout, gnutls.stdout
    # Negative twin: the same leaf with the IP in the CN, signed with the CA key, is refused.
    ca_cert = x509.load_pem_x509_certificate(ca.read_bytes())
    ca_key = serialization.load_pem_private_key((folder / "ca.key").read_bytes(), None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    with_cn = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_cert.subject)
        .public_key(leaf.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(leaf.not_valid_before_utc)
        .not_valid_after(leaf.not_valid_after_utc)
        .add_extension(
            leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value,
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    forged = tmp_path / "with-cn.pem"
    forged.write_bytes(with_cn.public_bytes(serialization.Encoding.PEM))
    refused = subprocess.run(["openssl", "verify", "-CAfile", str(ca), str(forged)],
                             capture_output=True, text=True, timeout=30)  # fmt: skip
    assert refused.returncode != 0 and "subtree violation" in refused.stdout + refused.stderr
