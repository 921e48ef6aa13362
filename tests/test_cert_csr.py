"""`tlsdoctor cert csr`: the key and CSR on disk, read back by the real `openssl req`."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from pki import make_root
from servers import s_server
from tlsdoctor.certs.csr import KeyType
from tlsdoctor.cli.main import main
from tlsdoctor.cli.vocabulary import KEY_TYPES


def openssl_text(csr: Path) -> str:
    verified = subprocess.run(
        ["openssl", "req", "-in", str(csr), "-noout", "-verify", "-text"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert "verify OK" in verified.stdout + verified.stderr  # signed by the key it carries
    return verified.stdout


def make_csr(tmp_path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, str]:
    assert main(["cert", "csr", *args, "-o", str(tmp_path), "--json"]) == 0
    result: dict[str, str] = json.loads(capsys.readouterr().out)
    return result


def test_apex_gets_www_and_the_key_stays_private(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    made = make_csr(tmp_path, capsys, "Example.COM.")
    text = openssl_text(Path(made["csr"]))
    assert "DNS:example.com, DNS:www.example.com" in text
    assert "Subject: CN = example.com" in text and "prime256v1" in text
    key_file = Path(made["key"])
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = serialization.load_pem_private_key(key_file.read_bytes(), None)
    csr = x509.load_pem_x509_csr(Path(made["csr"]).read_bytes())
    assert csr.public_key() == key.public_key()


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        (["www.example.com"], "DNS:www.example.com, DNS:example.com"),
        (["*.example.com"], "DNS:*.example.com, DNS:example.com"),
        (["mail.example.com"], "DNS:mail.example.com\n"),
        (["bücher.example"], "DNS:xn--bcher-kva.example, DNS:www.xn--bcher-kva.example"),
        (["api.internal.test", "10.0.0.5", "::1"], "DNS:api.internal.test, IP Address:10.0.0.5"),
        (["--exact", "example.com"], "DNS:example.com\n"),
        # The apex is the public suffix list's: example.co.uk is one, www.example.co.uk
        # leads back to it, a name under a private suffix is not one.
        (["example.co.uk"], "DNS:example.co.uk, DNS:www.example.co.uk\n"),
        (["www.example.co.uk"], "DNS:www.example.co.uk, DNS:example.co.uk\n"),
        (["shop.example.co.uk"], "DNS:shop.example.co.uk\n"),
        (["*.example.co.uk"], "DNS:*.example.co.uk, DNS:example.co.uk\n"),
        (["xn--bcher-kva.example"], "DNS:xn--bcher-kva.example"),
    ],
)
def test_names(
    typed: list[str], expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert expected in openssl_text(Path(make_csr(tmp_path, capsys, *typed)["csr"]))


def test_a_request_for_addresses_only_has_no_common_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = openssl_text(Path(make_csr(tmp_path, capsys, "10.0.0.5", "::1")["csr"]))
    assert "IP Address:10.0.0.5" in text and "Name: critical" in text
    assert "CN =" not in text  # an address in the CN is checked as a DNS name by clients


def test_rsa_on_request(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = openssl_text(Path(make_csr(tmp_path, capsys, "--key-type", "rsa-3072", "a.test")["csr"]))
    assert "Public-Key: (3072 bit)" in text
    assert set(KEY_TYPES) == {k.value for k in KeyType}  # --help's list is the enum's


def test_an_existing_key_is_never_replaced_without_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "example.com.key").write_text("the key in production\n")
    assert main(["cert", "csr", "example.com", "-o", str(tmp_path)]) == 3
    assert "already exists" in capsys.readouterr().err
    assert (tmp_path / "example.com.key").read_text() == "the key in production\n"
    assert not (tmp_path / "example.com.csr").exists()  # nothing half written
    assert main(["cert", "csr", "example.com", "-o", str(tmp_path), "--force"]) == 0
    assert b"PRIVATE KEY" in (tmp_path / "example.com.key").read_bytes()


def test_renew_from_a_certificate_keeps_names_and_subject_with_a_new_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = make_root("Renewal Root").issue_leaf(["shop.example.test", "example.test"])
    (tmp_path / "old.pem").write_bytes(old.pem())
    made = make_csr(tmp_path, capsys, "--from-cert", str(tmp_path / "old.pem"))
    text = openssl_text(Path(made["csr"]))
    assert "DNS:shop.example.test, DNS:example.test\n" in text  # same names, none added
    csr = x509.load_pem_x509_csr(Path(made["csr"]).read_bytes())
    assert csr.subject == old.cert.subject
    assert csr.public_key() != old.cert.public_key()


def test_renew_from_what_a_host_serves(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    leaf = make_root("Served Root").issue_leaf(["portal.example.test"])
    (tmp_path / "leaf.pem").write_bytes(leaf.pem())
    (tmp_path / "leaf.key").write_bytes(leaf.key_pem())
    out = tmp_path / "out"
    out.mkdir()
    with s_server(tmp_path / "leaf.pem", tmp_path / "leaf.key") as port:
        made = make_csr(out, capsys, "--from-host", f"127.0.0.1:{port}")
    assert made["names"] == ["portal.example.test"]


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        ("exa mple.com", "not a host name"),
        ("*.com", "public suffix"),
        ("*.co.uk", "public suffix"),
        ("co.uk", "public suffix"),
        ("a/b.example", "not a host name"),
        ("-", "not a host name"),
        ("10.0.0.256", "neither an IP address nor a host name"),
        ("1.2.3", "neither an IP address nor a host name"),
        ("*.10.0.0.1", "neither an IP address nor a host name"),
        ("xn--zz.example", "not a valid IDN A-label"),
        ("www.xn--a.example", "not a valid IDN A-label"),
        ("ab--cd.example", "'--' where only IDNs may"),
    ],
)
def test_bad_names_are_refused(
    bad: str, says: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["cert", "csr", "-o", str(tmp_path), "--", bad]) == 3
    error = capsys.readouterr().err
    assert says in error and len(error.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_a_name_longer_than_a_common_name_stays_whole_in_the_san(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """X.509 caps the CN at 64 characters: the subject is left empty (not a cut name) and
    the SAN, which carries the whole name, becomes critical (RFC 5280 4.2.1.6)."""
    long_name = "a" * 60 + ".example.com"
    text = openssl_text(Path(make_csr(tmp_path, capsys, "--exact", long_name)["csr"]))
    assert "Subject: \n" in text or "Subject:\n" in text
    assert "X509v3 Subject Alternative Name: critical" in text
    assert f"DNS:{long_name}" in text
    # Negative twin: a name that fits keeps its CN and a non-critical SAN.
    text = openssl_text(
        Path(make_csr(tmp_path, capsys, "--exact", "--force", "a.example.com")["csr"])
    )
    assert "Subject: CN = a.example.com" in text and "Name: critical" not in text


def test_passphrase_from_the_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["cert", "csr", "a.test", "-o", str(tmp_path), "--passphrase-env", "KEYPASS"]) == 3
    assert "$KEYPASS is empty or unset" in capsys.readouterr().err
    monkeypatch.setenv("KEYPASS", "correct horse")
    made = make_csr(tmp_path, capsys, "a.test", "--passphrase-env", "KEYPASS")
    data = Path(made["key"]).read_bytes()
    assert b"ENCRYPTED PRIVATE KEY" in data
    serialization.load_pem_private_key(data, b"correct horse")


def test_a_directory_that_is_not_there(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cert", "csr", "a.test", "-o", str(tmp_path / "nope")]) == 3
    assert "no such directory" in capsys.readouterr().err


def test_an_unwritable_directory() -> None:
    """As root nothing is unwritable to permissions: run as 'nobody' (setpriv) when root."""
    as_user: tuple[str, ...] = ()
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("needs setpriv to act as another user")
        as_user = ("setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups")
    folder = Path(tempfile.mkdtemp(prefix="tlsdoctor-ro-"))
    try:
        folder.chmod(0o555)
        done = subprocess.run(
            [
                *as_user,
                sys.executable,
                "-m",
                "tlsdoctor",
                "cert",
                "csr",
                "a.test",
                "-o",
                str(folder),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 3, done.stderr
        assert "cannot be written" in done.stderr and "Traceback" not in done.stderr
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o700)
        shutil.rmtree(folder)


def test_next_steps_fit_the_names(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cert", "csr", "*.example.com", "-o", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "--preferred-challenges dns" in out and "--webroot" not in out
    assert "tlsdoctor check example.com" in out
    assert main(["cert", "csr", "example.org", "-o", str(tmp_path)]) == 0
    assert "--webroot -w /var/www/html" in capsys.readouterr().out
