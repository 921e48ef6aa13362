"""The local CA as a private CA is run in production: a root kept offline and an
intermediate that signs, external CSRs, client certificates in PKCS#12 for curl and
browsers, and a passphrase on the CA keys. Real curl, ``openssl s_server`` and ``openssl
verify`` judge the results."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from servers import s_server
from tlsdoctor.cli.main import main

PASSPHRASE = "correct horse battery"


@pytest.fixture
def two_level(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A two-level CA whose root key has been taken offline (deleted here)."""
    folder = tmp_path / "ca"
    argv = ["cert", "ca", "init", "--name", "Acme CA", "-o", str(folder), "--intermediate"]
    assert main([*argv, "--permit", "acme.test", "--json"]) == 0
    capsys.readouterr()
    (folder / "ca.key").unlink()  # to the safe
    return folder


def run(argv: list[str], timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)


def curl(port: int, host: str, ca: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    return run(
        ["curl", "-sS", "-o", "/dev/null", "--max-time", "10", "--cacert", str(ca), *extra,
         "--resolve", f"{host}:{port}:127.0.0.1", f"https://{host}:{port}/"]
    )  # fmt: skip


def split_chain(pem: Path) -> tuple[Path, Path]:
    """leaf.pem holds leaf + intermediate; s_server takes them apart (-cert, -cert_chain)."""
    certs = x509.load_pem_x509_certificates(pem.read_bytes())
    leaf, chain = pem.with_suffix(".leaf"), pem.with_suffix(".chain")
    leaf.write_bytes(certs[0].public_bytes(serialization.Encoding.PEM))
    chain.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs[1:]))
    return leaf, chain


def test_two_level_ca_signs_with_the_intermediate_while_the_root_key_is_away(
    two_level: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = x509.load_pem_x509_certificate((two_level / "ca.pem").read_bytes())
    intermediate = x509.load_pem_x509_certificate((two_level / "intermediate.pem").read_bytes())
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 1
    basic = intermediate.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert basic.ca and basic.path_length == 0
    # The intermediate repeats the root's constraints.
    assert (
        intermediate.extensions.get_extension_for_class(x509.NameConstraints).value
        == root.extensions.get_extension_for_class(x509.NameConstraints).value
    )
    argv = ["cert", "issue", "wiki.acme.test", "--ca", str(two_level), "-o", str(tmp_path)]
    assert main([*argv, "--exact", "--json"]) == 0
    issued = json.loads(capsys.readouterr().out)
    served = x509.load_pem_x509_certificates(Path(issued["certificate"]).read_bytes())
    assert [c.subject for c in served] == [served[0].subject, intermediate.subject]
    leaf, chain = split_chain(Path(issued["certificate"]))
    with s_server(leaf, Path(issued["key"]), "-www", chain=chain) as port:
        assert curl(port, "wiki.acme.test", two_level / "ca.pem").returncode == 0
    # Negative twin: served without the intermediate, the same leaf is not trusted.
    with s_server(leaf, Path(issued["key"]), "-www") as port:
        assert curl(port, "wiki.acme.test", two_level / "ca.pem").returncode == 60
    verify = run(["openssl", "verify", "-CAfile", str(two_level / "ca.pem"), "-untrusted",
                  str(chain), str(leaf)])  # fmt: skip
    assert verify.returncode == 0, verify.stdout + verify.stderr
    # Outside the constraints: the intermediate refuses as the root would.
    assert (
        main(["cert", "issue", "www.example.com", "--ca", str(two_level), "-o", str(tmp_path)]) == 3
    )
    assert "outside what" in capsys.readouterr().err


def test_sign_an_external_csr_takes_only_its_names(
    two_level: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key, csr = tmp_path / "api.key", tmp_path / "api.csr"
    made = run(
        ["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", str(key), "-out", str(csr), "-subj", "/CN=api.acme.test/O=Evil",
         "-addext", "subjectAltName=DNS:api.acme.test,DNS:v2.api.acme.test",
         "-addext", "basicConstraints=critical,CA:TRUE"]
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    out = tmp_path / "out"
    out.mkdir()
    assert (
        main(["cert", "ca", "sign", str(csr), "--ca", str(two_level), "-o", str(out), "--json"])
        == 0
    )
    issued = json.loads(capsys.readouterr().out)
    assert issued["names"] == ["api.acme.test", "v2.api.acme.test"]
    leaf = x509.load_pem_x509_certificates(Path(issued["certificate"]).read_bytes())[0]
    # The CA's profile, not the request's: no CA:TRUE, no O=Evil, serverAuth.
    assert leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert [a.value for a in leaf.subject] == ["api.acme.test"]
    served_leaf, chain = split_chain(Path(issued["certificate"]))
    with s_server(served_leaf, key, "-www", chain=chain) as port:
        assert curl(port, "v2.api.acme.test", two_level / "ca.pem").returncode == 0
    # A request for a name the CA may not sign: refused, nothing written.
    evil = tmp_path / "evil.csr"
    made = run(["openssl", "req", "-new", "-key", str(key), "-out", str(evil),
                "-subj", "/CN=www.example.com"])  # fmt: skip
    assert made.returncode == 0
    before = sorted(out.iterdir())
    assert main(["cert", "ca", "sign", str(evil), "--ca", str(two_level), "-o", str(out)]) == 3
    assert "outside what" in capsys.readouterr().err
    assert sorted(out.iterdir()) == before
    # A request whose signature does not match: refused.
    tampered = tmp_path / "tampered.csr"
    der = bytearray(x509.load_pem_x509_csr(csr.read_bytes()).public_bytes(
        serialization.Encoding.DER))  # fmt: skip
    der[-5] ^= 0x01
    tampered.write_bytes(bytes(der))
    assert main(["cert", "ca", "sign", str(tampered), "--ca", str(two_level), "-o", str(out)]) == 3
    assert "signature" in capsys.readouterr().err
    not_a_csr = tmp_path / "junk.csr"
    not_a_csr.write_bytes(
        b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"
    )
    assert main(["cert", "ca", "sign", str(not_a_csr), "--ca", str(two_level), "-o", str(out)]) == 3
    assert "not a certificate signing request" in capsys.readouterr().err


def test_client_certificate_in_pkcs12_opens_a_server_that_requires_one_with_curl(
    two_level: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("P12_PASS", PASSPHRASE)
    server_dir, client_dir = tmp_path / "server", tmp_path / "client"
    server_dir.mkdir()
    client_dir.mkdir()
    issue = ["cert", "issue", "--ca", str(two_level), "--json"]
    assert main([*issue, "gate.acme.test", "--exact", "-o", str(server_dir)]) == 0
    served = json.loads(capsys.readouterr().out)
    assert main([*issue, "--client", "alice", "--p12", "--p12-passphrase-env", "P12_PASS",
                 "-o", str(client_dir)]) == 0  # fmt: skip
    client = json.loads(capsys.readouterr().out)
    assert client["purpose"] == "client" and client["names"] == ["alice"]
    p12 = Path(client["pkcs12"])
    loaded = pkcs12.load_pkcs12(p12.read_bytes(), PASSPHRASE.encode())
    assert loaded.cert is not None and loaded.key is not None
    eku = loaded.cert.certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]
    assert len(loaded.additional_certs) == 1  # the intermediate, for the server's path
    leaf, chain = split_chain(Path(served["certificate"]))
    root = two_level / "ca.pem"
    requiring = ("-www", "-Verify", "1", "-verify_return_error", "-CAfile", str(root))
    with s_server(leaf, Path(served["key"]), *requiring, chain=chain) as port:
        ok = curl(
            port, "gate.acme.test", root, "--cert", f"{p12}:{PASSPHRASE}", "--cert-type", "P12"
        )
        assert ok.returncode == 0, ok.stderr
        # Negative twins: no certificate; the wrong passphrase; a server certificate.
        assert curl(port, "gate.acme.test", root).returncode != 0
        wrong = curl(port, "gate.acme.test", root, "--cert", f"{p12}:nope", "--cert-type", "P12")
        assert wrong.returncode == 58, wrong.stderr  # CURLE_SSL_CERTPROBLEM
        as_client = curl(port, "gate.acme.test", root, "--cert", str(Path(served["certificate"])),
                         "--key", str(Path(served["key"])))  # fmt: skip
        assert as_client.returncode != 0  # serverAuth only: refused for client use
    # The PEM pair works too, for tools that take PEM.
    with s_server(leaf, Path(served["key"]), *requiring, chain=chain) as port:
        pem = curl(
            port, "gate.acme.test", root, "--cert", client["certificate"], "--key", client["key"]
        )
        assert pem.returncode == 0, pem.stderr


def test_client_identity_by_email_needs_a_permit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "ca"
    init = ["cert", "ca", "init", "--name", "Mail CA", "-o", str(folder), "--json"]
    assert main([*init, "--permit", "acme.test"]) == 0
    capsys.readouterr()
    issue = [
        "cert",
        "issue",
        "--client",
        "alice@acme.test",
        "--ca",
        str(folder),
        "-o",
        str(tmp_path),
    ]
    assert main(issue) == 3  # e-mail addresses are shut unless permitted
    assert "outside what" in capsys.readouterr().err
    assert main([*init, "--permit", "acme.test", "--permit", "@acme.test", "--force"]) == 0
    capsys.readouterr()
    assert main([*issue, "--json"]) == 0
    leaf = x509.load_pem_x509_certificate(
        Path(json.loads(capsys.readouterr().out)["certificate"]).read_bytes()
    )
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.RFC822Name) == ["alice@acme.test"]
    verify = run(["openssl", "verify", "-CAfile", str(folder / "ca.pem"), "-purpose", "sslclient",
                  str(tmp_path / "alice@acme.test.pem")])  # fmt: skip
    assert verify.returncode == 0, verify.stdout
    # Usage errors: two identities; --p12 for a server certificate.
    assert main(["cert", "issue", "--client", "a", "b", "--ca", str(folder)]) == 3
    assert "one identity" in capsys.readouterr().err
    assert main(["cert", "issue", "x.acme.test", "--p12", "--ca", str(folder)]) == 3
    assert "client certificates" in capsys.readouterr().err


def test_passphrase_on_the_ca_key_from_the_environment_never_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "ca"
    init = ["cert", "ca", "init", "--name", "Locked CA", "--permit", "acme.test", "-o", str(folder)]
    monkeypatch.setenv("CA_PASS", "short")
    assert main([*init, "--passphrase-env", "CA_PASS"]) == 3
    assert "8 characters" in capsys.readouterr().err
    assert not (folder / "ca.key").exists()
    monkeypatch.setenv("CA_PASS", PASSPHRASE)
    assert main([*init, "--passphrase-env", "CA_PASS", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["encrypted"] is True
    assert b"ENCRYPTED PRIVATE KEY" in (folder / "ca.key").read_bytes()
    # openssl agrees the key is encrypted with that passphrase.
    opened = run(["openssl", "pkey", "-in", str(folder / "ca.key"), "-passin", "env:CA_PASS",
                  "-noout"])  # fmt: skip
    assert opened.returncode == 0, opened.stderr
    issue = ["cert", "issue", "a.acme.test", "--ca", str(folder), "-o", str(tmp_path)]
    # No passphrase and no terminal (pytest's stdin): one sentence, nothing written.
    assert main(issue) == 3
    assert "encrypted" in capsys.readouterr().err and not (tmp_path / "a.acme.test.pem").exists()
    monkeypatch.setenv("WRONG", "not the passphrase")
    assert main([*issue, "--passphrase-env", "WRONG"]) == 3
    assert "is wrong" in capsys.readouterr().err
    assert main([*issue, "--passphrase-env", "CA_PASS"]) == 0
    capsys.readouterr()
    # Asking for a prompt without a terminal is refused rather than hanging.
    assert main([*init, "-o", str(tmp_path / "other"), "--ask-passphrase"]) == 3
    assert "needs a terminal" in capsys.readouterr().err
