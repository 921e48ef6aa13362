"""Live checks against real servers on loopback: openssl s_server, nginx, an SMTP server,
a silent port, a closed port, IPv6; each expected code asserted with the exit code."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import servers
from conftest import validate_report_json
from pki import DAY, Issued, make_root, rsa_key
from tlsdoctor.cli.main import main
from tlsdoctor.probe.targets import Starttls, parse_target

NOW_REAL = dt.datetime.now(dt.timezone.utc)


@dataclass
class Files:
    """A live PKI on disk: a root, an intermediate, leaves for several names."""

    folder: Path
    root: Issued
    issuing: Issued

    def write(self, name: str, data: bytes) -> Path:
        path = self.folder / name
        path.write_bytes(data)
        return path

    def leaf(
        self,
        name: str,
        dns: list[str],
        *,
        ips: tuple[str, ...] = (),
        chain: bool = True,
        aia: str | None = None,
        rsa: bool = False,
    ) -> Served:
        leaf = self.issuing.issue_leaf(
            dns,
            ips=ips,
            not_before=NOW_REAL - DAY,
            not_after=NOW_REAL + 80 * DAY,
            aia_url=aia,
            key=rsa_key(2048) if rsa else None,
        )
        full = leaf.pem() + (self.issuing.pem() if chain else b"")
        return Served(
            self.write(f"{name}.pem", leaf.pem()),
            self.write(f"{name}.key", leaf.key_pem()),
            self.write(f"{name}.chain.pem", self.issuing.pem()) if chain else None,
            self.write(f"{name}.full.pem", full),
        )


@dataclass
class Served:
    """What a server needs: its certificate, key, chain file, and leaf+chain in one."""

    cert: Path
    key: Path
    chain: Path | None
    full: Path

    def s_server(
        self, *extra: str, host: str = "127.0.0.1"
    ) -> contextlib.AbstractContextManager[int]:
        return servers.s_server(self.cert, self.key, *extra, chain=self.chain, host=host)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Files:
    folder = tmp_path_factory.mktemp("live")
    root = make_root(
        "Live Test Root", not_before=NOW_REAL - 3650 * DAY, not_after=NOW_REAL + 3650 * DAY
    )
    issuing = root.issue_ca(
        "Live Test Issuing CA", not_before=NOW_REAL - 365 * DAY, not_after=NOW_REAL + 3 * 365 * DAY
    )
    result = Files(folder, root, issuing)
    result.write("root.pem", root.pem())
    return result


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    # Revocation has its own tests (test_revocation.py); these certificates name no CRL.
    code = main([*argv, "--json", "--timeout", "5", "--no-revocation"])
    out, err = capsys.readouterr()
    assert out, err
    data = json.loads(out)
    validate_report_json(data)
    return code, data


def codes(data: dict) -> list[str]:  # type: ignore[type-arg]
    return [f["code"] for f in data["findings"]]


@pytest.fixture(scope="module")
def good_server(files: Files) -> Iterator[int]:
    served = files.leaf("good", ["www.live.test", "live.test"])
    with served.s_server("-www") as port:
        yield port


def test_healthy_endpoint(
    capsys: pytest.CaptureFixture[str], files: Files, good_server: int
) -> None:
    code, data = run(
        capsys,
        "check",
        f"www.live.test:{good_server}",
        "--connect",
        "127.0.0.1",
        "--ca-file",
        str(files.folder / "root.pem"),
    )
    assert code == 0, data["findings"]
    assert data["verdict"] == "trusted"
    assert data["target"]["source"] == "network"
    assert data["target"]["sni"] == "www.live.test"
    assert data["tls"]["version"] == "TLSv1.3"
    assert data["tls"]["address"] == "127.0.0.1"
    assert [c["role"] for c in data["chain"]] == ["leaf", "intermediate"]


def test_url_and_connect_forms(
    capsys: pytest.CaptureFixture[str], files: Files, good_server: int
) -> None:
    code, data = run(
        capsys,
        "check",
        f"https://live.test:{good_server}/app?x=1",
        "--connect",
        f"127.0.0.1:{good_server}",
        "--ca-file",
        str(files.folder / "root.pem"),
    )
    assert code == 0
    assert data["target"]["host"] == "live.test" and data["target"]["port"] == good_server


def test_wrong_name_over_the_network(
    capsys: pytest.CaptureFixture[str], files: Files, good_server: int
) -> None:
    code, data = run(
        capsys,
        "check",
        f"shop.live.test:{good_server}",
        "--connect",
        "127.0.0.1",
        "--ca-file",
        str(files.folder / "root.pem"),
    )
    assert code == 2
    assert codes(data) == ["hostname_mismatch"]


def test_missing_intermediate_over_the_network(
    capsys: pytest.CaptureFixture[str], files: Files
) -> None:
    served = files.leaf("leafonly", ["www.live.test"], chain=False, aia="http://127.0.0.1:9/ca.der")
    with served.s_server("-www") as port:
        code, data = run(
            capsys,
            "check",
            f"www.live.test:{port}",
            "--connect",
            "127.0.0.1",
            "--ca-file",
            str(files.folder / "root.pem"),
        )
    assert code == 2
    assert codes(data) == ["missing_intermediate"]
    chrome = next(c for c in data["clients"] if c["client"] == "chrome")
    assert chrome["trusted"] is True


def test_tls_1_0_only_server(capsys: pytest.CaptureFixture[str], files: Files) -> None:
    served = files.leaf("legacy", ["legacy.live.test"])
    with served.s_server("-tls1", "-cipher", "ALL:@SECLEVEL=0", "-www") as port:
        code, data = run(
            capsys,
            "check",
            f"legacy.live.test:{port}",
            "--connect",
            "127.0.0.1",
            "--ca-file",
            str(files.folder / "root.pem"),
        )
    assert code == 2
    assert codes(data)[0] == "protocol_mismatch"
    finding = data["findings"][0]
    assert finding["evidence"]["server_max_version"] == "TLSv1"
    assert "speaks at most TLS 1.0" in finding["message"]
    dotnet = next(c for c in data["clients"] if c["client"] == "dotnet-windows")
    assert (
        dotnet["expected_error"]
        == "The request was aborted: Could not create SSL/TLS secure channel."
    )


def test_deprecated_protocols_only_with_protocols_flag(
    capsys: pytest.CaptureFixture[str], files: Files
) -> None:
    served = files.leaf("oldandnew", ["both.live.test"])
    with served.s_server("-min_protocol", "TLSv1", "-cipher", "ALL:@SECLEVEL=0", "-www") as port:
        argv = [
            "check",
            f"both.live.test:{port}",
            "--connect",
            "127.0.0.1",
            "--ca-file",
            str(files.folder / "root.pem"),
        ]
        code, data = run(capsys, *argv)
        assert code == 0 and codes(data) == []
        code, data = run(capsys, *argv, "--protocols")
    assert code == 1
    assert codes(data) == ["deprecated_protocol"]
    assert data["findings"][0]["evidence"]["legacy_versions"] == ["TLSv1", "TLSv1.1"]


def test_cipher_mismatch(capsys: pytest.CaptureFixture[str], files: Files) -> None:
    """TLS 1.2 with only CAMELLIA: the wide client gets through, a current client cannot."""
    served = files.leaf("camellia", ["old.live.test"], rsa=True)
    with served.s_server("-tls1_2", "-cipher", "CAMELLIA256-SHA:@SECLEVEL=0", "-www") as port:
        code, data = run(
            capsys,
            "check",
            f"old.live.test:{port}",
            "--connect",
            "127.0.0.1",
            "--ca-file",
            str(files.folder / "root.pem"),
        )
    assert code == 2
    assert codes(data) == ["cipher_mismatch"]
    assert data["findings"][0]["evidence"]["server_cipher"] == "CAMELLIA256-SHA"
    assert data["tls"]["version"] == "TLSv1.2"
    chrome = next(c for c in data["clients"] if c["client"] == "chrome")
    assert chrome["expected_error"] == "ERR_SSL_VERSION_OR_CIPHER_MISMATCH"


def test_client_certificate_required_vs_requested(
    capsys: pytest.CaptureFixture[str], files: Files
) -> None:
    served = files.leaf("mtls", ["mtls.live.test"])
    ca = str(files.folder / "root.pem")
    argv = ["--ca-file", ca]
    with served.s_server("-Verify", "1", "-CAfile", ca, "-www") as port:
        code, data = run(capsys, "check", f"mtls.live.test:{port}", "--connect", "127.0.0.1", *argv)
    assert code == 2
    assert codes(data) == ["client_cert_required"]
    assert data["tls"]["client_certificate"] == "required"
    with served.s_server("-verify", "1", "-CAfile", ca, "-www") as port:
        code, data = run(capsys, "check", f"mtls.live.test:{port}", "--connect", "127.0.0.1", *argv)
    assert code == 0, codes(data)
    assert data["tls"]["client_certificate"] == "requested"


def test_plain_http_port_is_not_tls(capsys: pytest.CaptureFixture[str]) -> None:
    port = servers.free_port()
    with servers.running(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"], "127.0.0.1", port
    ):
        code, data = run(capsys, "check", f"127.0.0.1:{port}")
    assert code == 3
    assert data["verdict"] == "error"
    assert codes(data) == ["not_tls"]
    assert data["findings"][0]["evidence"]["protocol"] == "HTTP"
    assert "use http://" in data["findings"][0]["message"]


def test_closed_port_and_silent_port(capsys: pytest.CaptureFixture[str]) -> None:
    code, data = run(capsys, "check", f"127.0.0.1:{servers.free_port()}")
    assert (code, codes(data)) == (3, ["connection_refused"])
    with servers.silent_port() as port:
        code = main(["check", f"127.0.0.1:{port}", "--json", "--timeout", "1"])
        data = json.loads(capsys.readouterr().out)
    assert (code, codes(data)) == (3, ["timeout"])
    assert data["findings"][0]["evidence"]["timeout_seconds"] == 1


def test_name_that_does_not_resolve(capsys: pytest.CaptureFixture[str]) -> None:
    code, data = run(capsys, "check", "no-such-host.invalid")
    assert (code, codes(data)) == (3, ["dns_failure"])
    curl = next(c for c in data["clients"] if c["client"] == "curl")
    assert curl["expected_error"] == "curl: (6) Could not resolve host: no-such-host.invalid"


def test_ipv6_loopback(capsys: pytest.CaptureFixture[str], files: Files) -> None:
    served = files.leaf("v6", ["v6.live.test"], ips=("::1",))
    with served.s_server("-www", host="::1") as port:
        code, data = run(
            capsys, "check", f"[::1]:{port}", "--ca-file", str(files.folder / "root.pem")
        )
    assert code == 0, data["findings"]
    assert data["tls"]["address"] == "::1"
    assert data["target"]["sni"] is None  # no IP literals in SNI


def test_starttls_smtp(capsys: pytest.CaptureFixture[str], files: Files) -> None:
    ssl_module = pytest.importorskip("ssl")
    controller_module = pytest.importorskip("aiosmtpd.controller")
    served = files.leaf("mail", ["mail.live.test"])
    context = ssl_module.create_default_context(ssl_module.Purpose.CLIENT_AUTH)
    context.load_cert_chain(served.full, served.key)
    port = servers.free_port()
    controller = controller_module.Controller(
        object(), hostname="127.0.0.1", port=port, tls_context=context, require_starttls=False
    )
    controller.start()
    try:
        code, data = run(
            capsys,
            "check",
            f"mail.live.test:{port}",
            "--connect",
            "127.0.0.1",
            "--starttls",
            "smtp",
            "--ca-file",
            str(files.folder / "root.pem"),
        )
        assert code == 0, data["findings"]
        assert data["tls"]["starttls"] == "smtp"
        assert data["server_clock"] is None  # no HTTP on a mail port
        code, data = run(capsys, "check", f"mail.live.test:{port}", "--connect", "127.0.0.1")
        assert (code, codes(data)) == (3, ["not_tls"])
        assert data["findings"][0]["evidence"]["protocol"] == "SMTP"
        assert "--starttls smtp" in data["findings"][0]["message"]
    finally:
        controller.stop()


def test_starttls_is_chosen_from_the_port() -> None:
    assert parse_target("mail.example.com:587").starttls is Starttls.SMTP
    assert parse_target("mail.example.com:465").starttls is None
    assert parse_target("mail.example.com:465").http is False
    assert parse_target("imap://mail.example.com").port == 143
    assert parse_target("db.example.com:5432").starttls is Starttls.POSTGRES
    assert parse_target("https://[2001:db8::1]:8443/x").host == "2001:db8::1"


@pytest.mark.skipif(not servers.nginx_available(), reason="nginx is not installed")
def test_nginx_sni_and_default_certificate(
    capsys: pytest.CaptureFixture[str], files: Files, tmp_path: Path
) -> None:
    a, b, default = (files.leaf(n, [f"{n}.live.test"]) for n in ("a", "b", "default"))
    vhosts = [
        ("default.live.test", default.full, default.key, True),
        ("a.live.test", a.full, a.key, False),
        ("b.live.test", b.full, b.key, False),
    ]
    ca = str(files.folder / "root.pem")
    with servers.nginx(tmp_path, vhosts) as port:
        code, data = run(
            capsys, "check", f"b.live.test:{port}", "--connect", "127.0.0.1", "--ca-file", ca
        )
        assert code == 0, data["findings"]
        assert data["chain"][0]["san"] == ["b.live.test"]
        assert data["server_clock"] is not None  # nginx sends Date
        code, data = run(
            capsys, "check", f"c.live.test:{port}", "--connect", "127.0.0.1", "--ca-file", ca
        )
        assert (code, codes(data)) == (2, ["hostname_mismatch"])
        mismatch = data["findings"][0]
        assert mismatch["evidence"]["default_certificate"] is True
        assert "default certificate" in mismatch["message"]
        code, data = run(
            capsys,
            "check",
            f"a.live.test:{port}",
            "--connect",
            "127.0.0.1",
            "--ca-file",
            ca,
            "--no-sni",
        )
        assert data["target"]["sni"] is None
        assert data["chain"][0]["san"] == ["default.live.test"]
        code, data = run(
            capsys,
            "check",
            f"a.live.test:{port}",
            "--connect",
            "127.0.0.1",
            "--ca-file",
            ca,
            "--servername",
            "b.live.test",
        )
        assert data["chain"][0]["san"] == ["b.live.test"]


@pytest.mark.skipif(
    not (shutil.which("faketime") and servers.nginx_available()), reason="needs faketime and nginx"
)
def test_wrong_client_clock_with_faketime(files: Files, tmp_path: Path) -> None:
    served = files.leaf("clock", ["clock.live.test"])
    with servers.nginx(tmp_path, [("clock.live.test", served.full, served.key, True)]) as port:
        result = subprocess.run(
            [
                "faketime",
                "-f",
                "-400d",
                sys.executable,
                "-m",
                "tlsdoctor",
                "check",
                f"clock.live.test:{port}",
                "--connect",
                "127.0.0.1",
                "--ca-file",
                str(files.folder / "root.pem"),
                "--json",
                "--timeout",
                "20",
                "--no-revocation",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "FAKETIME_DONT_FAKE_MONOTONIC": "1"},
        )
    data = json.loads(result.stdout)
    validate_report_json(data)
    assert result.returncode == 2, result.stderr
    assert codes(data) == ["client_clock"]
    evidence = data["findings"][0]["evidence"]
    assert evidence["explains"] == ["not_yet_valid"]
    assert -401 * 86400 < evidence["offset_seconds"] < -399 * 86400
    assert data["server_clock"]["offset_seconds"] < -399 * 86400


def test_many_targets_in_input_order(
    capsys: pytest.CaptureFixture[str], files: Files, good_server: int, tmp_path: Path
) -> None:
    closed = servers.free_port()
    targets = tmp_path / "targets.txt"
    targets.write_text(
        "# a comment\n"
        f"www.live.test:{good_server} 127.0.0.1\n\n"
        f"127.0.0.1:{closed}\n"
        f"shop.live.test:{good_server} 127.0.0.1   # wrong name\n"
    )
    code = main(
        [
            "check",
            "-f",
            str(targets),
            "--json",
            "--ca-file",
            str(files.folder / "root.pem"),
            "--timeout",
            "5",
            "--no-progress",
            "--no-revocation",
        ]
    )
    lines = capsys.readouterr().out.splitlines()
    reports = [json.loads(line) for line in lines]
    assert [r["verdict"] for r in reports] == ["trusted", "error", "untrusted"]
    assert code == 3  # the worst of all
    code = main(
        [
            "check",
            "-f",
            str(targets),
            "--ca-file",
            str(files.folder / "root.pem"),
            "--timeout",
            "5",
            "--no-progress",
            "--no-revocation",
        ]
    )
    out = capsys.readouterr().out
    assert "Summary" in out and "connection_refused" in out
    # A progress bar goes to stderr and leaves the JSON Lines on stdout intact.
    argv = [
        "check",
        "-f",
        str(targets),
        "--json",
        "--timeout",
        "5",
        "--progress",
        "--no-revocation",
    ]
    assert main([*argv, "--ca-file", str(files.folder / "root.pem")]) == 3
    captured = capsys.readouterr()
    assert [json.loads(line)["verdict"] for line in captured.out.splitlines()] == [
        "trusted",
        "error",
        "untrusted",
    ]


@pytest.mark.skipif(not servers.nginx_available(), reason="nginx is not installed")
def test_fix_speaks_the_servers_language(
    capsys: pytest.CaptureFixture[str], files: Files, tmp_path: Path
) -> None:
    """nginx serving only the leaf: the fix names nginx's own directive, from its Server
    header."""
    served = files.leaf("nginxleaf", ["leafonly.live.test"], aia="http://127.0.0.1:9/ca.der")
    vhosts = [("leafonly.live.test", served.cert, served.key, True)]
    with servers.nginx(tmp_path, vhosts) as port:
        code, data = run(
            capsys,
            "check",
            f"leafonly.live.test:{port}",
            "--connect",
            "127.0.0.1",
            "--ca-file",
            str(files.folder / "root.pem"),
        )
    assert code == 2
    assert data["tls"]["server"].startswith("nginx")
    finding = data["findings"][0]
    assert finding["code"] == "missing_intermediate"
    assert "ssl_certificate     /etc/ssl/leafonly.live.test/fullchain.pem;" in finding["fix"][0]
    assert "nginx -t && systemctl reload nginx" in finding["fix"][0]
