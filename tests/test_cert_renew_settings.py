"""`tlsdoctor cert renew` as a timer runs it: settings stored at first issuance, `--all`,
hooks, the lock, changed names, revocation, external account binding; all against
Debian's pebble on loopback."""

from __future__ import annotations

import base64
import fcntl
import json
import os
import secrets
import shutil
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509

from pebble import Pebble, pebble, pebble_available
from servers import free_port
from tlsdoctor.cli.main import main

pytestmark = pytest.mark.skipif(not pebble_available(), reason="pebble is not installed")

NAME = "shop.example.com"
EAB_KID = "kid-1"
EAB_KEY = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pebble]:
    with pebble(tmp_path_factory.mktemp("pebble"), free_port()) as server:
        yield server


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The account keys and renewal settings go to a temporary home, never the user's."""
    monkeypatch.setenv("TLSDOCTOR_HOME", str(tmp_path / "home"))
    return tmp_path / "home" / ".local" / "share" / "tlsdoctor"


@pytest.fixture
def root(ca: Pebble, tmp_path: Path) -> Path:
    path = tmp_path / "pebble-root.pem"
    path.write_bytes(ca.issuing_root())
    return path


def first(ca: Pebble, root: Path, out: Path | str, *names: str) -> list[str]:
    argv = ["cert", "renew", "--acme-directory", ca.directory, "--directory-ca",
            str(ca.ca_file), "--ca-file", str(root), "--agree-tos", "-o", str(out),
            "--timeout", "20", "--standalone", "--http-address", "127.0.0.1",
            "--http-port", str(ca.http_port)]  # fmt: skip
    return argv + [f"--domain={name}" for name in names]


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def as_json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, object]]:
    code = main([*argv, "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out)


def test_settings_are_stored_and_renew_all_uses_them_with_hooks(
    ca: Pebble,
    root: Path,
    home: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)  # -o below is relative, as people type it
    log = tmp_path / "hooks.log"
    hooks = [f"--pre-hook=echo pre >> {log}", f"--post-hook=echo post >> {log}",
             f"--deploy-hook=echo deploy $RENEWED_LINEAGE $RENEWED_DOMAINS >> {log}"]  # fmt: skip
    for folder, name in (("shop", NAME), ("api", "api.example.com")):
        code, said = run([*first(ca, root, folder, name), "--renew-before", "3650", *hooks], capsys)
        assert code == 0, said
    stored = sorted((home / "renewal").glob("*.toml"))
    assert [p.name.split("-")[0] for p in stored] == ["api", "shop"]
    settings = stored[1].read_text()
    assert f'folder = "{tmp_path / "shop"}"' in settings and "standalone" in settings
    assert "eab" not in settings and "hmac" not in settings.lower()
    log.unlink()
    # A timer's run: no names, no CA, no challenge on the command line.
    code, result = as_json(["cert", "renew", "--all"], capsys)
    assert code == 0, result
    outcomes = result["certificates"]
    assert isinstance(outcomes, list) and [o["renewed"] for o in outcomes] == [True, True]
    lines = log.read_text().splitlines()
    # certbot's contract: pre once, deploy per certificate (absolute lineage), post once.
    assert lines[0] == "pre" and lines[-1] == "post" and len(lines) == 4
    assert f"deploy {tmp_path / 'shop' / 'live'} {NAME}" in lines
    # Without the wide --renew-before (changed for one): that one is not due.
    assert main(["cert", "renew", "-o", "shop", "--renew-before", "1", "--if-due", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["renewed"] is False
    code, result = as_json(["cert", "renew", "--all"], capsys)
    assert [o["renewed"] for o in result["certificates"]] == [True, False]  # type: ignore[index]


def test_if_due_renews_when_the_names_change_and_warns_for_dropped_ones(
    ca: Pebble, root: Path, home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "shop"
    assert run(first(ca, root, out, NAME), capsys)[0] == 0
    code, result = as_json(["cert", "renew", "-o", str(out), "--if-due"], capsys)
    assert code == 0 and result["renewed"] is False  # same names, fresh: not due
    code, result = as_json(
        [
            "cert",
            "renew",
            "-o",
            str(out),
            "--if-due",
            f"--domain={NAME}",
            "--domain=new.example.com",
        ],
        capsys,
    )
    assert code == 0 and result["renewed"] is True, result
    assert result["reason"] == "the names changed (+new.example.com)"
    code, result = as_json(
        ["cert", "renew", "-o", str(out), "--if-due", "--domain=new.example.com"], capsys
    )
    assert code == 0 and result["renewed"] is True
    assert result["warnings"] == [
        f"{NAME} is no longer asked for: the new certificate will not cover it"
    ]
    leaf = x509.load_pem_x509_certificate((out / "live" / "cert.pem").read_bytes())
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["new.example.com"]


def test_two_runs_never_renew_at_once(
    ca: Pebble, root: Path, home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(first(ca, root, tmp_path / "shop", NAME), capsys)[0] == 0
    lock = home / "renewal" / ".lock"
    with open(lock, "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # another run, mid-way
        code, said = run(["cert", "renew", "--all"], capsys)
    assert code == 3 and "another tlsdoctor cert renew is running" in said
    # Released by the other run: this one goes ahead.
    assert run(["cert", "renew", "--all"], capsys)[0] == 0


def test_revoke_asks_the_ca_with_the_account_that_ordered(
    ca: Pebble, root: Path, home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "shop"
    assert run(first(ca, root, out, NAME), capsys)[0] == 0
    leaf = x509.load_pem_x509_certificate((out / "live" / "cert.pem").read_bytes())
    status_url = f"{ca.management}/cert-status-by-serial/{leaf.serial_number:x}"
    assert cert_status(ca, status_url) == "Valid"
    code, result = as_json(["cert", "revoke", "-o", str(out), "--reason", "keyCompromise"], capsys)
    assert code == 0 and result["revoked"] is True
    assert cert_status(ca, status_url) == "Revoked"
    # Twice: the CA says it is already revoked, as one sentence.
    code, said = run(["cert", "revoke", "-o", str(out)], capsys)
    assert code == 3 and "Traceback" not in said and "revoked" in said.lower()
    code, said = run(["cert", "revoke", "-o", str(tmp_path / "nothing")], capsys)
    assert code == 3 and "no renewal settings" in said


def cert_status(ca: Pebble, url: str) -> str:
    context = ssl.create_default_context(cafile=str(ca.ca_file))
    with urllib.request.urlopen(url, context=context, timeout=10) as answer:
        return str(json.loads(answer.read())["Status"])


@pytest.mark.parametrize("option", ["--ca-file", "--directory-ca"])
def test_a_missing_file_fails_before_the_ca_is_asked(
    option: str,
    ca: Pebble,
    root: Path,
    home: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "shop"
    argv = first(ca, root, out, NAME)
    position = argv.index(option) + 1
    argv[position] = str(tmp_path / "missing.pem")
    code, said = run(argv, capsys)
    assert code == 3 and option in said and "missing.pem" in said and "Traceback" not in said
    assert len(said.strip().splitlines()) == 1
    assert not (home / "acme").exists(), "no account was made: the CA was not asked"
    assert not out.exists()


def test_a_failed_order_leaves_no_folder_behind(
    ca: Pebble, root: Path, home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "deep" / "shop"
    argv = first(ca, root, out, NAME)
    argv[argv.index("--http-port") + 1] = str(free_port())  # nothing answers the CA there
    code, said = run(argv, capsys)
    assert code == 3 and "could not validate" in said
    assert not (tmp_path / "deep").exists()
    assert not (home / "renewal").exists() or not list((home / "renewal").glob("*.toml"))


def test_external_account_binding_with_pebble(
    tmp_path: Path, home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with pebble(tmp_path / "pebble", free_port(), eab_keys={EAB_KID: EAB_KEY}) as eab_ca:
        root = tmp_path / "root.pem"
        root.write_bytes(eab_ca.issuing_root())
        argv = first(eab_ca, root, tmp_path / "shop", NAME)
        code, said = run(argv, capsys)
        assert code == 3 and "needs an external account binding" in said and "--eab-kid" in said
        monkeypatch.setenv("EAB_KEY", base64.urlsafe_b64encode(b"x" * 32).decode())
        code, said = run([*argv, "--eab-kid", EAB_KID, "--eab-hmac-key-env", "EAB_KEY"], capsys)
        assert code == 3 and "Traceback" not in said and len(said.strip().splitlines()) == 1
        code, said = run([*argv, "--eab-kid", EAB_KID], capsys)
        assert code == 3 and "needs both --eab-kid and the HMAC key" in said
        key_file = tmp_path / "eab.key"
        key_file.write_text(EAB_KEY + "\n")
        code, said = run(
            [*argv, "--eab-kid", EAB_KID, "--eab-hmac-key-file", str(key_file)], capsys
        )
        assert code == 0, said
        # The account is bound now: renewals need no key (it is not stored anywhere).
        stored = "".join(p.read_text() for p in (home / "renewal").glob("*.toml"))
        assert EAB_KEY not in stored
        code, said = run(["cert", "renew", "-o", str(tmp_path / "shop")], capsys)
        assert code == 0, said


def test_standalone_answers_on_ipv6_and_ipv4() -> None:
    from tlsdoctor.certs.acme_issuance import CHALLENGE_PREFIX, StandaloneResponder

    port = free_port()
    responder = StandaloneResponder("", port)
    try:
        responder.publish(NAME, "tok", "tok.answer")
        for host in ("127.0.0.1", "[::1]"):
            url = f"http://{host}:{port}{CHALLENGE_PREFIX}tok"
            with urllib.request.urlopen(url, timeout=10) as answer:
                assert answer.read() == b"tok.answer"
            with pytest.raises(urllib.error.HTTPError):  # not published: 404
                urllib.request.urlopen(f"http://{host}:{port}{CHALLENGE_PREFIX}other", timeout=10)
    finally:
        responder.close()


def test_schedule_prints_and_installs_a_timer_systemd_accepts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["cert", "schedule"]) == 0
    printed = capsys.readouterr().out
    assert (
        "RandomizedDelaySec=3600" in printed
        and "Persistent=true" in printed
        and "cert renew --all" in printed
    )
    assert main(["cert", "schedule", "--install", str(tmp_path)]) == 0
    capsys.readouterr()
    service, timer = tmp_path / "tlsdoctor-renew.service", tmp_path / "tlsdoctor-renew.timer"
    assert f"ExecStart={sys.executable} -m tlsdoctor cert renew --all" in service.read_text()
    if shutil.which("systemd-analyze") is not None:
        checked = subprocess.run(
            ["systemd-analyze", "verify", str(service), str(timer)],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        # Only warnings about this sandbox (no running systemd) may appear, no unit errors.
        assert "tlsdoctor-renew" not in checked.stderr or checked.returncode == 0, checked.stderr
    assert main(["cert", "schedule", "--cron"]) == 0
    line = capsys.readouterr().out.strip()
    fields = line.split(None, 5)
    assert 0 <= int(fields[0]) < 60 and fields[1:5] == ["*/12", "*", "*", "*"]
    assert "cert renew --all" in fields[5]
    # The command in the cron line runs here (the random sleep taken out).
    command = (
        fields[5].split("&& ", 1)[1].replace("--all", "--all --json").replace(">/dev/null", "")
    )
    done = subprocess.run(
        command, shell=True, capture_output=True, text=True, timeout=60,
        env={**os.environ, "TLSDOCTOR_HOME": str(tmp_path / "cronhome")},
    )  # fmt: skip
    assert done.returncode == 3 and "no certificate to renew" in done.stderr


def test_a_name_longer_than_a_common_name_is_issued_by_the_ca(
    ca: Pebble, root: Path, home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Cut to 64 characters, the CN was a non-name pebble refused; left out, the order
    goes through with the whole name in the SAN."""
    long_name = "a" * 60 + ".example.com"
    out = tmp_path / "long"
    code, said = run(first(ca, root, out, long_name), capsys)
    assert code == 0, said
    leaf = x509.load_pem_x509_certificate((out / "live" / "cert.pem").read_bytes())
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == [long_name]
    # (pebble 2.4 itself copies the 72-character name into the CN it issues; Let's Encrypt
    # leaves such a CN out. tlsdoctor's check of the new certificate reads it without a
    # warning escaping: this test runs with warnings as errors.)
