"""`tlsdoctor cert renew`: certificates from a real ACME CA (Debian's pebble) on loopback,
served by a real nginx, accepted by curl, renewed, re-deployed by the hook."""

from __future__ import annotations

import json
import shutil
import socket
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509

from pebble import Pebble, pebble, pebble_available
from servers import free_port, nginx_available, nginx_config, running, served_serial, wait_serving
from tlsdoctor.cli.main import main

pytestmark = pytest.mark.skipif(not pebble_available(), reason="pebble is not installed")

NAME = "shop.example.com"


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pebble]:
    with pebble(tmp_path_factory.mktemp("pebble"), free_port()) as server:
        yield server


@pytest.fixture(autouse=True)
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The ACME account key goes to a temporary home, never the user's."""
    monkeypatch.setenv("TLSDOCTOR_HOME", str(tmp_path / "home"))


@pytest.fixture
def root(ca: Pebble, tmp_path: Path) -> Path:
    path = tmp_path / "pebble-root.pem"
    path.write_bytes(ca.issuing_root())
    return path


def standalone(ca: Pebble) -> list[str]:
    return ["--standalone", "--http-address", "127.0.0.1", "--http-port", str(ca.http_port)]


def curl(port: int, root: Path) -> subprocess.CompletedProcess[str]:
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    return subprocess.run(
        ["curl", "-sS", "-o", "/dev/null", "--max-time", "10", "--cacert", str(root),
         "--resolve", f"{NAME}:{port}:127.0.0.1", f"https://{NAME}:{port}/"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip


@pytest.mark.skipif(not nginx_available(), reason="nginx is not installed")
def test_issue_serve_renew_and_deploy_with_nginx(
    ca: Pebble, root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "shop"
    # First issuance: nothing serves port 80 yet, so tlsdoctor answers the challenge.
    code = main(
        ["cert", "renew", "--acme-directory", ca.directory, "--directory-ca", str(ca.ca_file),
         "--ca-file", str(root), "--agree-tos", "--email", "ops@example.com", "-o", str(out),
         "--domain", NAME, "--domain", f"www.{NAME}", *standalone(ca), "--json"]
    )  # fmt: skip
    first = json.loads(capsys.readouterr().out)
    assert code == 0, first
    assert first["renewed"] is True and first["names"] == [NAME, f"www.{NAME}"]
    live = out / "live"
    assert live.is_symlink() and (live / "fullchain.pem").is_file()
    assert stat.S_IMODE((live / "privkey.pem").stat().st_mode) == 0o600
    chain = x509.load_pem_x509_certificates((live / "fullchain.pem").read_bytes())
    assert len(chain) == 2  # leaf then pebble's intermediate: what nginx must send
    assert chain[0].issuer == chain[1].subject
    assert (live / "chain.pem").read_bytes() + b"" != b""

    # nginx serves the challenge directory on port 80's stand-in and the certificate on TLS.
    webroot = tmp_path / "www"
    webroot.mkdir()
    tls_port = free_port()
    folder = tmp_path / "nginx"
    folder.mkdir()
    config = nginx_config(
        folder,
        tls_port,
        [
            f"listen 127.0.0.1:{ca.http_port};\n"
            f"        location /.well-known/acme-challenge/ {{ root {webroot}; }}",
            f"listen 127.0.0.1:{tls_port} ssl;\n        server_name {NAME};\n"
            f"        ssl_certificate {live}/fullchain.pem;\n"
            f"        ssl_certificate_key {live}/privkey.pem;",
        ],
    )
    nginx_argv = ["nginx", "-c", str(config), "-p", str(folder)]
    with running(nginx_argv, "127.0.0.1", tls_port):
        accepted = curl(tls_port, root)
        assert accepted.returncode == 0, accepted.stderr
        before = served_serial(tls_port, NAME)
        assert before == chain[0].serial_number

        # Not due: a fresh certificate is left alone, without a word to the CA's order API.
        assert main(["cert", "renew", "--acme-directory", ca.directory, "--directory-ca",
                     str(ca.ca_file), "-o", str(out), "--webroot", str(webroot), "--if-due",
                     "--json"]) == 0  # fmt: skip
        skipped = json.loads(capsys.readouterr().out)
        assert skipped["renewed"] is False and "renewal is due" in skipped["reason"]
        assert served_serial(tls_port, NAME) == before

        # Due (by a wide --renew-before): renewed through nginx's webroot, names taken from
        # the certificate in use, nginx reloaded by the deploy hook.
        hook = f"nginx -c {config} -p {folder} -s reload && echo $RENEWED_DOMAINS > {tmp_path}/hook"
        code = main(
            ["cert", "renew", "--acme-directory", ca.directory, "--directory-ca",
             str(ca.ca_file), "--ca-file", str(root), "-o", str(out), "--webroot", str(webroot),
             "--if-due", "--renew-before", "3650", "--deploy-hook", hook, "--json"]
        )  # fmt: skip
        second = json.loads(capsys.readouterr().out)
        assert code == 0, second
        assert second["renewed"] is True and second["names"] == [NAME, f"www.{NAME}"]
        assert (tmp_path / "hook").read_text().strip() == f"{NAME} www.{NAME}"
        assert not any((webroot / ".well-known").glob("**/*")), "challenge files left behind"
        renewed = x509.load_pem_x509_certificate((live / "cert.pem").read_bytes())
        assert renewed.serial_number != before
        wait_serving(tls_port, NAME, renewed.serial_number)  # nginx reloads its workers
        assert curl(tls_port, root).returncode == 0
    assert sorted(p.name for p in (out / "versions").iterdir()) == ["0001", "0002"]


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, " ".join((captured.out + captured.err).split())


def base(ca: Pebble, out: Path) -> list[str]:
    return ["cert", "renew", "--acme-directory", ca.directory, "--directory-ca",
            str(ca.ca_file), "-o", str(out), "--timeout", "20"]  # fmt: skip


def test_reuse_key_keeps_the_key_and_versions_are_pruned(
    ca: Pebble, root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "api"
    argv = [*base(ca, out), "--ca-file", str(root), "--agree-tos", *standalone(ca)]
    assert run([*argv, "--domain", "api.example.com"], capsys)[0] == 0
    key = (out / "live" / "privkey.pem").read_bytes()
    assert run([*argv, "--reuse-key"], capsys)[0] == 0
    assert (out / "live" / "privkey.pem").read_bytes() == key
    # Stored with the certificate's settings, as certbot stores reuse_key.
    assert run(argv, capsys)[0] == 0
    assert (out / "live" / "privkey.pem").read_bytes() == key
    # Another key type with --reuse-key: refused before the CA is asked.
    code, said = run([*argv, "--key-type", "rsa-2048"], capsys)
    assert code == 3 and "--reuse-key keeps the current ec-p256" in said
    assert run([*argv, "--no-reuse-key"], capsys)[0] == 0
    assert (out / "live" / "privkey.pem").read_bytes() != key
    assert run(argv, capsys)[0] == 0
    assert sorted(p.name for p in (out / "versions").iterdir()) == ["0003", "0004", "0005"]
    assert Path(out / "live").resolve() == (out / "versions" / "0005").resolve()


def test_a_certificate_that_fails_the_check_is_not_installed(
    ca: Pebble, root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "shop"
    argv = [*base(ca, out), "--agree-tos", *standalone(ca), "--domain", NAME]
    # Without --ca-file, pebble's root is in no store here: untrusted, so not installed.
    code, said = run(argv, capsys)
    assert code == 3
    assert "does not pass tlsdoctor's check, so it was not installed" in said
    assert "--ca-file ROOT" in said
    assert not (out / "live").exists()


def test_the_ca_is_unreachable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    argv = ["cert", "renew", "--acme-directory", f"https://127.0.0.1:{port}/dir", "--standalone",
            "--http-address", "127.0.0.1", "--http-port", str(free_port()), "--domain", NAME,
            "-o", str(tmp_path / "x"), "--agree-tos"]  # fmt: skip
    code, said = run(argv, capsys)
    assert code == 3
    assert f"cannot reach the CA at https://127.0.0.1:{port}/dir: connection refused" in said
    assert "Traceback" not in said


def test_a_ca_that_never_answers_times_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        argv = ["cert", "renew", "--acme-directory", f"https://127.0.0.1:{port}/dir",
                "--standalone", "--http-address", "127.0.0.1", "--http-port", str(free_port()),
                "--domain", NAME, "-o", str(tmp_path / "x"), "--timeout", "6"]  # fmt: skip
        code, said = run(argv, capsys)
    assert code == 3
    assert "did not answer in time" in said


def test_the_cas_own_certificate_is_not_trusted(
    ca: Pebble, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["cert", "renew", "--acme-directory", ca.directory, *standalone(ca), "--domain",
            NAME, "-o", str(tmp_path / "x"), "--agree-tos"]  # fmt: skip
    code, said = run(argv, capsys)
    assert code == 3
    assert "HTTPS certificate this machine does not trust" in said and "--directory-ca" in said


def test_terms_of_service_must_be_agreed_for_a_new_account(
    ca: Pebble, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, said = run([*base(ca, tmp_path / "x"), *standalone(ca), "--domain", NAME], capsys)
    assert code == 3
    assert "terms of service" in said and "--agree-tos" in said


def test_a_failing_challenge_is_explained(
    ca: Pebble, root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The web root given is not what port 80 serves: here nothing serves it at all.
    webroot = tmp_path / "www"
    webroot.mkdir()
    argv = [*base(ca, tmp_path / "x"), "--agree-tos", "--webroot", str(webroot), "--domain", NAME]
    code, said = run(argv, capsys)
    assert code == 3
    assert f"the CA could not validate the names: {NAME}: the CA could not connect" in said
    assert f"files in {webroot}/.well-known/acme-challenge" in said
    assert not (webroot / ".well-known").exists(), "tlsdoctor's folders are removed again"
    assert not (tmp_path / "x" / "live").exists()


@pytest.mark.parametrize(
    ("domain", "expected"),
    [
        ("bad_name!.example.com", "bad_name!.example.com"),
        ("*.example.com", "wildcards need DNS-01"),
        ("192.0.2.1", "IP address certificates are not"),
    ],
)
def test_names_the_ca_cannot_validate_here(
    ca: Pebble, root: Path, tmp_path: Path, domain: str, expected: str,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    argv = [*base(ca, tmp_path / "x"), "--agree-tos", *standalone(ca), "--domain", domain]
    code, said = run(argv, capsys)
    assert code == 3
    assert expected in said
    assert "Traceback" not in said


def test_an_unwritable_output_fails_before_the_ca_is_asked(
    ca: Pebble, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    argv = [*base(ca, blocker / "shop"), "--agree-tos", *standalone(ca), "--domain", NAME]
    code, said = run(argv, capsys)
    assert code == 3
    assert "cannot be created" in said


def test_port_80_in_use_for_standalone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        argv = ["cert", "renew", "--acme-directory", "https://127.0.0.1:1/dir", "--standalone",
                "--http-address", "127.0.0.1", "--http-port", str(port), "--domain", NAME,
                "-o", str(tmp_path / "x")]  # fmt: skip
        code, said = run(argv, capsys)
    assert code == 3
    assert f"cannot listen on 127.0.0.1:{port}" in said and "--webroot" in said


def test_renewal_is_due_when_a_third_of_the_lifetime_remains() -> None:
    import datetime as dt

    from pki import NOW, make_root
    from tlsdoctor.certs.renewal import renewal_decision

    day = dt.timedelta(days=1)
    cert = make_root(not_before=NOW, not_after=NOW + 90 * day).cert
    assert not renewal_decision(cert, NOW + 59 * day).due
    later = renewal_decision(cert, NOW + 61 * day)
    assert later.due and later.renew_at == NOW + 60 * day
    assert "ends in 29 days" in later.reason
    assert renewal_decision(cert, NOW + 93 * day).reason == "it expired 3 days ago"
    # A fixed window, and the CA's earlier renewal window (ARI), win over the rule.
    assert renewal_decision(cert, NOW + 50 * day, renew_before=45 * day).due
    suggested = renewal_decision(cert, NOW + 10 * day, suggested=NOW + 5 * day)
    assert suggested.due and "renewal information" in suggested.reason
    assert not renewal_decision(cert, NOW + 10 * day, suggested=NOW + 80 * day).due
