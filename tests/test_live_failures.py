"""A handshake that did not complete is never "trusted": real servers (openssl s_server)
and hand-made TLS records on loopback, each failure named with the right code, and a
healthy twin of each server that is trusted."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import craftedtls
import servers
from livecheck import codes, run_check
from pki import DAY, Issued, make_root, rsa_key

NOW_REAL = dt.datetime.now(dt.timezone.utc)


@dataclass
class Site:
    folder: Path
    root: Issued
    leaf: Issued

    @property
    def ca(self) -> str:
        return str(self.folder / "root.pem")

    @property
    def cert(self) -> Path:
        return self.folder / "leaf.pem"

    @property
    def key(self) -> Path:
        return self.folder / "leaf.key"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    folder = tmp_path_factory.mktemp("failures")
    root = make_root(
        "Failures Root", not_before=NOW_REAL - 30 * DAY, not_after=NOW_REAL + 900 * DAY
    )
    leaf = root.issue_leaf(
        ["a.fail.test"],
        key=rsa_key(2048),  # the hand-made server offers an RSA key exchange suite
        not_before=NOW_REAL - DAY,
        not_after=NOW_REAL + 80 * DAY,
    )
    (folder / "root.pem").write_bytes(root.pem())
    (folder / "leaf.pem").write_bytes(leaf.pem())
    (folder / "leaf.key").write_bytes(leaf.key_pem())
    return Site(folder, root, leaf)


def check(
    capsys: pytest.CaptureFixture[str], site: Site, name: str, port: int, *extra: str
) -> tuple[int, dict[str, Any]]:
    return run_check(
        capsys,
        f"{name}:{port}",
        "--connect",
        "127.0.0.1",
        "--ca-file",
        site.ca,
        "--no-fetch",
        "--timeout",
        "5",
        *extra,
    )


def assert_not_trusted(code: int, data: dict) -> None:  # type: ignore[type-arg]
    assert data["verdict"] != "trusted"
    assert code in (2, 3)
    assert data["findings"], "a failed handshake must be a finding"
    assert not any(c["trusted"] for c in data["clients"]) or data["verdict"] == "error"


# openssl s_server ------------------------------------------------------------------------


def test_servername_fatal_is_a_name_refusal(capsys: pytest.CaptureFixture[str], site: Site) -> None:
    # -servername needs a second certificate (-cert2/-key2); it is the same one here.
    with servers.s_server(
        site.cert,
        site.key,
        "-servername",
        "a.fail.test",
        "-servername_fatal",
        "-cert2",
        str(site.cert),
        "-key2",
        str(site.key),
    ) as port:
        code, data = check(capsys, site, "other.fail.test", port)
        assert_not_trusted(code, data)
        assert codes(data) == ["hostname_mismatch"]
        evidence = data["findings"][0]["evidence"]
        assert evidence["alert"] == "unrecognized_name (112)"
        assert evidence["sni"] == "other.fail.test"
        assert code == 2
        # Its twin: the name the server does serve is trusted on the same server.
        code, data = check(capsys, site, "a.fail.test", port)
        assert (code, data["verdict"], codes(data)) == (0, "trusted", [])


def test_huge_chain_from_s_server_is_invalid_chain(
    capsys: pytest.CaptureFixture[str], site: Site
) -> None:
    """270 KB of certificates in the chain file: past OpenSSL's 100 KiB max_cert_list."""
    copies = 270 * 1024 // len(site.root.cert.public_bytes(_der())) + 1
    chain = site.folder / "huge-chain.pem"
    chain.write_bytes(site.root.pem() * copies)
    with servers.s_server(site.cert, site.key, chain=chain) as port:
        code, data = check(capsys, site, "a.fail.test", port)
        assert real_clients_fail(site, port) == {"curl": True, "python": True}
    assert_not_trusted(code, data)
    assert codes(data) == ["invalid_chain"]
    evidence = data["findings"][0]["evidence"]
    assert evidence["reason"] == "certificate_message_too_large"
    assert evidence["tls_error"] == "EXCESSIVE_MESSAGE_SIZE"
    # The twin: the same server with a chain of normal size is trusted.
    with servers.s_server(site.cert, site.key) as port:
        code, data = check(capsys, site, "a.fail.test", port)
    assert (code, codes(data)) == (0, [])


def _der():  # type: ignore[no-untyped-def]
    from cryptography.hazmat.primitives import serialization

    return serialization.Encoding.DER


# Hand-made records ---------------------------------------------------------------------


def _leaf_der(site: Site) -> bytes:
    return site.leaf.cert.public_bytes(_der())


def _scripts(site: Site) -> dict[str, craftedtls.Script]:
    hello = craftedtls.server_hello
    leaf = _leaf_der(site)
    return {
        "internal_error_alert": lambda _: [craftedtls.alert(80)],
        "unrecognized_name_alert": lambda _: [craftedtls.alert(112)],
        "garbage_after_hello": lambda _: [hello(), bytes(range(256)) * 8],
        # ServerHelloDone where the Certificate must come (an RSA key exchange suite).
        "out_of_order_after_hello": lambda _: [hello(), craftedtls.server_hello_done()],
        "close_notify_after_hello": lambda _: [hello(), craftedtls.alert(0, level=1)],
        "alert_after_certificate": lambda _: [
            hello(),
            craftedtls.certificate([leaf]),
            craftedtls.alert(80),
        ],
        "certificate_16mb": lambda _: [
            hello(),
            craftedtls.record(
                22, craftedtls.handshake_message(11, bytes(4000), declared=16 * 1024 * 1024 - 1)
            ),
        ],
        "certificate_270kb": lambda _: [
            hello(),
            craftedtls.certificate([leaf] * (270 * 1024 // len(leaf) + 1)),
        ],
    }


EXPECTED: dict[str, tuple[str, int, dict[str, object]]] = {
    "internal_error_alert": ("connection_reset", 3, {"alert": "internal_error (80)"}),
    "unrecognized_name_alert": ("hostname_mismatch", 2, {"alert": "unrecognized_name (112)"}),
    "garbage_after_hello": ("connection_reset", 3, {"alert": None}),
    "out_of_order_after_hello": ("connection_reset", 3, {"tls_error": "UNEXPECTED_MESSAGE"}),
    "close_notify_after_hello": ("connection_reset", 3, {"alert": "close_notify (0)"}),
    "alert_after_certificate": ("connection_reset", 3, {"alert": "internal_error (80)"}),
    "certificate_16mb": ("invalid_chain", 2, {"reason": "certificate_message_too_large"}),
    "certificate_270kb": ("invalid_chain", 2, {"reason": "certificate_message_too_large"}),
}


def real_clients_fail(site: Site, port: int) -> dict[str, bool]:
    """Whether curl and Python's ssl, trusting the site's root, fail against the port:
    the oracle that a handshake tlsdoctor calls failed fails for real clients too."""
    results: dict[str, bool] = {}
    curl = subprocess.run(
        [
            "curl",
            "-sS",
            "-o",
            "/dev/null",
            "-m",
            "5",
            "--cacert",
            site.ca,
            "--resolve",
            f"a.fail.test:{port}:127.0.0.1",
            f"https://a.fail.test:{port}/",
        ],
        capture_output=True,
        timeout=30,
    )
    results["curl"] = curl.returncode != 0
    context = ssl.create_default_context(cafile=site.ca)
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
            context.wrap_socket(raw, server_hostname="a.fail.test"),
        ):
            results["python"] = False
    except (OSError, ssl.SSLError):
        results["python"] = True
    return results


def test_real_clients_connect_to_the_healthy_twin(site: Site) -> None:
    """The oracle's negative control: both clients succeed against a healthy server."""
    with servers.s_server(site.cert, site.key, "-www") as port:
        assert real_clients_fail(site, port) == {"curl": False, "python": False}


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_crafted_failures_are_never_trusted(
    capsys: pytest.CaptureFixture[str], site: Site, case: str
) -> None:
    code_name, exit_code, evidence = EXPECTED[case]
    with craftedtls.crafted_server(_scripts(site)[case]) as port:
        code, data = check(capsys, site, "a.fail.test", port)
        oracles = real_clients_fail(site, port)
    assert oracles == {"curl": True, "python": True}, "the real clients are the oracle"
    assert_not_trusted(code, data)
    assert codes(data) == [code_name], data["findings"]
    assert code == exit_code
    found = data["findings"][0]["evidence"]
    for key, value in evidence.items():
        assert found[key] == value, (key, found)
    if case.endswith("after_hello") or case.startswith("certificate_"):
        assert found["server_messages"][0] == "ServerHello"


def test_server_that_never_sends_finished_times_out(
    capsys: pytest.CaptureFixture[str], site: Site
) -> None:
    """A complete TLS 1.2 flight up to ServerHelloDone, then silence: the client's
    Finished is never answered. The check ends at its timeout, as a timeout."""
    leaf = _leaf_der(site)

    def script(_: bytes) -> Sequence[bytes | None]:
        return [
            craftedtls.server_hello(),
            craftedtls.certificate([leaf]),
            craftedtls.server_hello_done(),
            None,
        ]

    with craftedtls.crafted_server(script) as port:
        code, data = check(capsys, site, "a.fail.test", port, "--timeout", "2")
    assert (code, data["verdict"], codes(data)) == (3, "error", ["timeout"])


def test_truncated_flight_says_how_far_the_server_got(
    capsys: pytest.CaptureFixture[str], site: Site
) -> None:
    """ServerHello and Certificate, then the server closes: a reset, with the messages
    the server did send as evidence (the certificate alone is never judged trusted)."""
    leaf = _leaf_der(site)

    def script(_: bytes) -> Sequence[bytes | None]:
        return [craftedtls.server_hello(), craftedtls.certificate([leaf])]

    with craftedtls.crafted_server(script) as port:
        code, data = check(capsys, site, "a.fail.test", port)
    assert code == 3
    assert codes(data) == ["connection_reset"]
    assert data["findings"][0]["evidence"]["server_messages"] == ["ServerHello", "Certificate"]


def test_anonymous_suite_without_certificate_is_not_trusted(
    capsys: pytest.CaptureFixture[str], site: Site
) -> None:
    """A completed handshake with no certificate at all (anonymous DH): current clients
    offer no such suite, so it is a cipher mismatch, never trusted."""
    argv = ["openssl", "s_server", "-nocert", "-cipher", "aNULL:@SECLEVEL=0", "-tls1_2"]
    port = servers.free_port()
    with servers.running([*argv, "-accept", f"127.0.0.1:{port}", "-quiet"], "127.0.0.1", port):
        code, data = check(capsys, site, "a.fail.test", port)
    assert_not_trusted(code, data)
    assert codes(data) == ["cipher_mismatch"]
    assert data["chain"] == []


def test_warning_alert_during_a_completed_handshake_is_not_a_failure(
    capsys: pytest.CaptureFixture[str], site: Site
) -> None:
    """s_server -servername without -servername_fatal sends unrecognized_name as a
    warning and completes the handshake: the name mismatch is the certificate's, not a
    broken connection."""
    with servers.s_server(
        site.cert,
        site.key,
        "-servername",
        "b.fail.test",
        "-cert2",
        str(site.cert),
        "-key2",
        str(site.key),
        "-tls1_2",
        "-www",
    ) as port:
        code, data = check(capsys, site, "other.fail.test", port)
    assert code == 2
    assert codes(data) == ["hostname_mismatch"]
    assert data["chain"][0]["san"] == ["a.fail.test"]
    assert data["tls"]["version"] == "TLSv1.2"
