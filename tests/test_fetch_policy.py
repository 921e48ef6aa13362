"""Where URLs from certificates may lead (SSRF), and one deadline for all downloads.

The refusals are tested for real inside a private network namespace (tests/netns_ssrf.py
under ``unshare -rn``): 169.254.169.254 and two 10.9.0.x addresses exist only there,
with servers listening on them, so nothing can leave the machine.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

import hostile
import httpserver
from pki import make_root
from servers import s_server
from tlsdoctor.cli.main import main
from tlsdoctor.fetch import Fetcher, FetchPolicy

HERE = Path(__file__).parent


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("169.254.169.254", "a cloud metadata service"),
        ("169.254.1.1", "a link-local address"),
        ("fe80::1", "a link-local address"),
        ("fd00:ec2::254", "a cloud metadata service"),
        ("::ffff:169.254.169.254", "a cloud metadata service"),
        ("100.100.100.200", "a cloud metadata service"),
        ("0.0.0.0", "not a unicast address"),
        ("224.0.0.1", "not a unicast address"),
        ("127.0.0.1", "loopback, and the checked endpoint is not"),
        ("::1", "loopback, and the checked endpoint is not"),
    ],
)
def test_refused_addresses(address: str, reason: str) -> None:
    policy = FetchPolicy.near("203.0.113.7")
    assert policy.refusal(ipaddress.ip_address(address)) == reason


def test_allowed_addresses() -> None:
    remote = FetchPolicy.near("203.0.113.7")
    for address in ("8.8.8.8", "10.1.2.3", "192.168.1.1", "2001:4860::8888"):
        assert remote.refusal(ipaddress.ip_address(address)) is None
    assert FetchPolicy.near("127.0.0.1").refusal(ipaddress.ip_address("127.0.0.1")) is None
    assert FetchPolicy.near("::1").refusal(ipaddress.ip_address("::1")) is None
    strict = FetchPolicy(loopback=False, private=False)
    assert strict.refusal(ipaddress.ip_address("10.1.2.3")) is not None
    assert strict.refusal(ipaddress.ip_address("8.8.8.8")) is None


def _namespaces_work() -> bool:
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return False
    done = subprocess.run(["unshare", "-rn", "true"], capture_output=True, timeout=10)
    return done.returncode == 0


@pytest.mark.skipif(not _namespaces_work(), reason="unshare -rn is not permitted here")
def test_ssrf_refusals_in_a_private_network_namespace(tmp_path: Path) -> None:
    done = subprocess.run(
        ["unshare", "-rn", sys.executable, str(HERE / "netns_ssrf.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=HERE,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    metadata = "refusing 169.254.169.254 (169.254.169.254): a cloud metadata service"
    assert result["metadata_from_remote"] == metadata
    assert result["metadata_from_loopback"] == metadata  # even for a loopback endpoint
    assert result["redirect_to_metadata"] == metadata  # the redirect is checked too
    assert "a cloud metadata service" in result["metadata_mapped_v6"]
    assert (
        result["metadata_by_name"] == "refusing metadata.google.internal: a cloud metadata service"
    )
    assert "loopback, and the checked endpoint is not" in result["loopback_from_remote"]
    assert "loopback, and the checked endpoint is not" in result["localhost_name_from_remote"]
    assert "private networks are switched off" in result["private_switched_off"]
    # The negative twins: what the policy allows is fetched.
    assert result["loopback_from_loopback"] == "HTTP 200 b'ok'"
    assert result["private_allowed"] == "HTTP 200 b'ok'"
    assert result["name_from_loopback"] == "HTTP 200 b'ok'"
    # Nothing reached the metadata server; a name is dialled at its checked address with
    # its own Host header.
    assert not [hit for hit in result["hits"] if hit.startswith("169.254.169.254")]
    assert any(hit.startswith("127.0.0.1/named Host=localhost:") for hit in result["hits"])
    # End to end: a TLS endpoint on 10.9.0.1 whose CRL is on loopback and OCSP on metadata.
    fetches = dict(result["end_to_end"]["fetches"])
    assert list(fetches.values()) == [
        "refusing 127.0.0.1 (127.0.0.1): loopback, and the checked endpoint is not",
        metadata,
    ]


# One deadline for the whole check -----------------------------------------------------
def drip(seconds: int) -> httpserver.Route:
    """A body that arrives one byte a second: no read ever times out by itself."""

    def chunks() -> Iterator[bytes]:
        for _ in range(seconds):
            time.sleep(1)
            yield b"x"

    return lambda _: (200, {"Content-Length": str(seconds)}, chunks())


def test_dripping_downloads_share_the_checks_timeout(tmp_path: Path) -> None:
    root = make_root("Drip Root")
    issuing = root.issue_ca("Drip Issuing CA")
    with httpserver.serving() as site:
        urls = {
            kind: [f"{site.base}/{kind}{n}" for n in range(3)] for kind in ("aia", "crl", "ocsp")
        }
        for url in [u for group in urls.values() for u in group]:
            site.routes[url.removeprefix(site.base)] = drip(60)
        # Three CRLs and three OCSP responders, each dripping: one after another with a
        # timeout each, that was 6 downloads of 5 s.
        leaf, key = hostile.leaf_with_urls(
            issuing.cert,
            issuing.key,
            urls["aia"],
            urls["crl"],
            urls["ocsp"],  # type: ignore[arg-type]
        )
        (tmp_path / "leaf.pem").write_bytes(leaf.public_bytes(Encoding.PEM))
        (tmp_path / "leaf.key").write_bytes(
            key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
        )
        (tmp_path / "issuing.pem").write_bytes(issuing.pem())
        (tmp_path / "root.pem").write_bytes(root.pem())
        with s_server(
            tmp_path / "leaf.pem", tmp_path / "leaf.key", chain=tmp_path / "issuing.pem"
        ) as port:
            started = time.monotonic()
            done = subprocess.run(
                [sys.executable, "-m", "tlsdoctor", "check", f"www.example.test:{port}",
                 "--connect", "127.0.0.1", "--ca-file", str(tmp_path / "root.pem"),
                 "--timeout", "4", "--json"],
                capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
            )  # fmt: skip
            elapsed = time.monotonic() - started
    report = json.loads(done.stdout)
    assert elapsed < 8, elapsed  # the check's 4 s, plus start-up; was 5 s per download
    assert report["fetches"], "the downloads were tried"
    assert all(f["error"] for f in report["fetches"])


def test_a_prompt_download_within_the_deadline_succeeds() -> None:
    with httpserver.serving() as site:
        site.routes["/aia"] = httpserver.static(b"data")

        async def get() -> tuple[int | None, bytes | None]:
            policy = FetchPolicy.near("127.0.0.1")
            async with Fetcher(timeout=5, policy=policy, until=time.monotonic() + 3) as f:
                got = await f.get(f"{site.base}/aia", "ocsp")
            return got.status, got.content

        assert asyncio.run(get()) == (200, b"data")

        async def late() -> str | None:
            policy = FetchPolicy.near("127.0.0.1")
            async with Fetcher(timeout=5, policy=policy, until=time.monotonic() - 1) as f:
                got = await f.get(f"{site.base}/late", "ocsp")
            return got.error

        assert "time (--timeout) was used up" in (asyncio.run(late()) or "")
        assert site.hits == ["/aia"]  # the late one was not even tried


def test_fix_chain_from_files_fetches_only_when_asked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_root("Ask Root")
    issuing = root.issue_ca("Ask Issuing CA")
    with httpserver.serving() as site:
        site.routes["/issuing.der"] = httpserver.static(issuing.cert.public_bytes(Encoding.DER))
        leaf = issuing.issue_leaf(aia_url=f"{site.base}/issuing.der")
        (tmp_path / "leaf.pem").write_bytes(leaf.pem())
        (tmp_path / "root.pem").write_bytes(root.pem())
        argv = ["fix", "chain", "--chain", str(tmp_path / "leaf.pem"), "--ca-file",
                str(tmp_path / "root.pem"), "--at", "2026-06-01T12:00:00Z"]  # fmt: skip
        assert main(argv) == 2
        out = capsys.readouterr().out
        assert site.hits == []
        assert f"Not downloaded (add --fetch to download it): {site.base}/issuing.der" in out
        assert main([*argv, "--fetch"]) == 0
        assert site.hits == ["/issuing.der"]


def test_private_networks_can_be_switched_off_for_the_process() -> None:
    from tlsdoctor.fetch import allow_private_networks

    private = ipaddress.ip_address("10.1.2.3")
    try:
        allow_private_networks(False)  # what watch --no-private-fetch does
        assert FetchPolicy.near("203.0.113.7").refusal(private) is not None
        assert FetchPolicy.for_files().refusal(private) is not None
    finally:
        allow_private_networks(True)
    assert FetchPolicy.near("203.0.113.7").refusal(private) is None
