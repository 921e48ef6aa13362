"""Every backend behind a name: openssl s_server on several loopback addresses
(127.0.0.2, 127.0.0.3, ...) on one port, the name resolved by --resolve (the test's own
resolver), each address checked and the report the worst backend's."""

from __future__ import annotations

import contextlib
import datetime as dt
import socket
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

import servers
from livecheck import codes, run_check
from pki import DAY, Issued, make_root
from tlsdoctor.anchors import anchors_from_files
from tlsdoctor.cli.main import main
from tlsdoctor.live import LiveOptions, check_endpoint
from tlsdoctor.probe.targets import parse_target

NOW_REAL = dt.datetime.now(dt.timezone.utc)
NAME = "pool.live.test"


def shared_port(addresses: Sequence[str]) -> int:
    """A port free on every one of ``addresses``."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind((addresses[0], 0))
            port = int(probe.getsockname()[1])
        with contextlib.ExitStack() as stack:
            try:
                for address in addresses:
                    sock = stack.enter_context(socket.socket())
                    sock.bind((address, port))
            except OSError:
                continue
            return port
    raise RuntimeError("no port free on every address")


@contextlib.contextmanager
def backends(pem_pairs: Sequence[tuple[Path, Path] | None], port: int) -> Iterator[list[str]]:
    """s_server on 127.0.0.2, .3, ... for each (cert, key); None: nothing listens there."""
    addresses = [f"127.0.0.{2 + i}" for i in range(len(pem_pairs))]
    with contextlib.ExitStack() as stack:
        for address, pair in zip(addresses, pem_pairs, strict=True):
            if pair is None:
                continue
            argv = ["openssl", "s_server", "-accept", f"{address}:{port}", "-www", "-quiet"]
            argv += ["-cert", str(pair[0]), "-key", str(pair[1])]
            stack.enter_context(servers.running(argv, address, port))
        yield addresses


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> tuple[Issued, Path]:
    folder = tmp_path_factory.mktemp("backends")
    root = make_root("Pool Root", not_before=NOW_REAL - 900 * DAY, not_after=NOW_REAL + 900 * DAY)
    (folder / "root.pem").write_bytes(root.pem())
    return root, folder


def leaf(pki: tuple[Issued, Path], label: str, expired: bool = False) -> tuple[Path, Path]:
    root, folder = pki
    if expired:
        not_before, not_after = NOW_REAL - 95 * DAY, NOW_REAL - 5 * DAY
    else:
        not_before, not_after = NOW_REAL - DAY, NOW_REAL + 80 * DAY
    issued = root.issue_leaf([NAME], not_before=not_before, not_after=not_after)
    cert, key = folder / f"{label}.pem", folder / f"{label}.key"
    cert.write_bytes(issued.pem())
    key.write_bytes(issued.key_pem())
    return cert, key


def check(
    capsys: pytest.CaptureFixture[str],
    pki: tuple[Issued, Path],
    port: int,
    addresses: Sequence[str],
    *extra: str,
) -> tuple[int, dict[str, Any]]:
    return run_check(
        capsys,
        f"{NAME}:{port}",
        "--resolve",
        f"{NAME}:{port}:{','.join(addresses)}",
        "--ca-file",
        str(pki[1] / "root.pem"),
        "--no-fetch",
        "--timeout",
        "10",
        *extra,
    )


def test_same_chain_everywhere_is_consistent(
    capsys: pytest.CaptureFixture[str], pki: tuple[Issued, Path]
) -> None:
    good = leaf(pki, "same")
    port = shared_port(["127.0.0.2", "127.0.0.3", "127.0.0.4"])
    with backends([good, good, good], port) as addresses:
        code, data = check(capsys, pki, port, addresses)
    assert (code, data["verdict"], codes(data)) == (0, "trusted", [])
    assert [b["address"] for b in data["backends"]] == addresses
    assert {b["leaf_sha256"] for b in data["backends"]} == {data["chain"][0]["sha256"]}
    assert data["tls"]["addresses"] == addresses


def test_one_expired_backend_makes_the_name_untrusted(
    capsys: pytest.CaptureFixture[str], pki: tuple[Issued, Path]
) -> None:
    port = shared_port(["127.0.0.2", "127.0.0.3"])
    with backends([leaf(pki, "fresh"), leaf(pki, "stale", expired=True)], port) as addresses:
        code, data = check(capsys, pki, port, addresses)
        assert code == 2
        assert codes(data) == ["expired", "inconsistent_backends"]
        assert data["tls"]["address"] == "127.0.0.3"
        evidence = data["findings"][1]["evidence"]
        assert evidence["outcomes"] == [
            "127.0.0.2: trusted",
            "127.0.0.3: untrusted (expired)",
        ]
        assert evidence["reported_address"] == "127.0.0.3"
        assert [b["verdict"] for b in data["backends"]] == ["trusted", "untrusted"]
        # The negative twin: --one-address sees only the healthy first backend.
        code, data = check(capsys, pki, port, addresses, "--one-address")
        assert (code, codes(data), data["backends"]) == (0, [], [])
        assert data["tls"]["address"] == "127.0.0.2"


def test_different_valid_chains_are_a_warning(
    capsys: pytest.CaptureFixture[str], pki: tuple[Issued, Path]
) -> None:
    port = shared_port(["127.0.0.2", "127.0.0.3"])
    with backends([leaf(pki, "blue"), leaf(pki, "green")], port) as addresses:
        code, data = check(capsys, pki, port, addresses)
    assert (code, data["verdict"], codes(data)) == (1, "trusted", ["inconsistent_backends"])
    assert data["findings"][0]["evidence"]["distinct_chains"] == 2
    assert len({b["leaf_sha256"] for b in data["backends"]}) == 2


def test_a_backend_that_refuses_is_reported(
    capsys: pytest.CaptureFixture[str], pki: tuple[Issued, Path]
) -> None:
    port = shared_port(["127.0.0.2", "127.0.0.3"])
    """Clients that get the refusing address try the next one: the name works, with a
    warning that names the address; when no address accepts, the name is refused."""
    with backends([None, leaf(pki, "alive")], port) as addresses:
        code, data = check(capsys, pki, port, addresses)
        assert code == 1
        assert codes(data) == ["inconsistent_backends"]
        assert data["tls"]["address"] == "127.0.0.3"
        assert [b["verdict"] for b in data["backends"]] == ["error", "trusted"]
        assert data["backends"][0]["codes"] == ["connection_refused"]
        assert data["findings"][0]["evidence"]["distinct_chains"] == 1
    code, data = check(capsys, pki, port, addresses)
    assert (code, codes(data)) == (3, ["connection_refused"])


def test_at_most_sixteen_addresses_are_checked(
    capsys: pytest.CaptureFixture[str], pki: tuple[Issued, Path]
) -> None:
    """Twenty addresses where nothing listens: sixteen checked, a note for the rest;
    they all fail alike, so they are not inconsistent."""
    port = shared_port(["127.0.0.2"])
    addresses = [f"127.0.1.{i}" for i in range(1, 21)]
    code, data = check(capsys, pki, port, addresses)
    assert code == 3
    assert codes(data) == ["connection_refused"]
    assert len(data["backends"]) == 16
    assert data["notes"] == ["The name resolves to 20 addresses; the first 16 were checked."]


def test_library_resolver_override(pki: tuple[Issued, Path]) -> None:
    port = shared_port(["127.0.0.2", "127.0.0.3"])
    with backends([leaf(pki, "lib-a"), leaf(pki, "lib-b", expired=True)], port) as addresses:
        options = LiveOptions(
            anchors=anchors_from_files([str(pki[1] / "root.pem")]),
            fetch=False,
            hosts={NAME: tuple(addresses)},
        )
        report = check_endpoint(parse_target(f"{NAME}:{port}"), options)
    assert [code.value for code in report.codes] == ["expired", "inconsistent_backends"]
    assert [b.address for b in report.backends] == addresses


@pytest.mark.parametrize(
    "entry",
    ["pool.live.test:443", "pool.live.test:443:not-an-address", ":443:127.0.0.2", "a:b:127.0.0.2"],
)
def test_bad_resolve_entries_are_usage_errors(
    capsys: pytest.CaptureFixture[str], entry: str
) -> None:
    code = main(["check", "pool.live.test", "--resolve", entry])
    err = capsys.readouterr().err
    assert code != 0
    assert "--resolve" in err and "Traceback" not in err
