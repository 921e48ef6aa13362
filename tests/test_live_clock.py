"""The server's clock never hides an expiry; absurd Date headers are set aside with a
note; evaluated_at keeps the fraction of a second of --at. Real HTTPS servers on
loopback (Python's http.server over TLS) that send the Date header each test chooses."""

from __future__ import annotations

import contextlib
import datetime as dt
import email.utils
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from livecheck import codes, run_check
from pki import DAY, Issued, make_root

NOW_REAL = dt.datetime.now(dt.timezone.utc)


@contextlib.contextmanager
def https_server(cert: Path, key: Path, date_header: str) -> Iterator[int]:
    """An HTTPS server on 127.0.0.1 whose every answer carries ``date_header``."""

    class Handler(BaseHTTPRequestHandler):
        def date_time_string(self, timestamp: float | None = None) -> str:
            return date_header

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "3")
            self.end_headers()
            self.wfile.write(b"ok\n")

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.timeout = 5
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> tuple[Issued, Path]:
    folder = tmp_path_factory.mktemp("clock")
    issued = make_root(
        "Clock Root", not_before=NOW_REAL - 3000 * DAY, not_after=NOW_REAL + 900 * DAY
    )
    (folder / "root.pem").write_bytes(issued.pem())
    return issued, folder


def serve_leaf(
    root: tuple[Issued, Path], name: str, not_before: dt.datetime, not_after: dt.datetime
) -> tuple[Path, Path]:
    issued, folder = root
    leaf = issued.issue_leaf(["clock.live.test"], not_before=not_before, not_after=not_after)
    cert, key = folder / f"{name}.pem", folder / f"{name}.key"
    cert.write_bytes(leaf.pem())
    key.write_bytes(leaf.key_pem())
    return cert, key


def check(
    capsys: pytest.CaptureFixture[str], root: tuple[Issued, Path], port: int
) -> tuple[int, dict[str, Any]]:
    ca = str(root[1] / "root.pem")
    return run_check(
        capsys, f"clock.live.test:{port}", "--connect", "127.0.0.1", "--ca-file", ca, "--no-fetch"
    )


def http_date(moment: dt.datetime) -> str:
    return email.utils.format_datetime(moment, usegmt=True)


@pytest.mark.parametrize("lifetime_days", [90, 800])
def test_stale_server_clock_never_hides_an_expiry(
    capsys: pytest.CaptureFixture[str], root: tuple[Issued, Path], lifetime_days: int
) -> None:
    """Expired 5 days ago, the server's Date a year old: at the server's time the
    90-day certificate is not yet valid and the 800-day one is valid; both stay expired."""
    expired = NOW_REAL - 5 * DAY
    cert, key = serve_leaf(root, f"expired{lifetime_days}", expired - lifetime_days * DAY, expired)
    with https_server(cert, key, http_date(NOW_REAL - 365 * DAY)) as port:
        code, data = check(capsys, root, port)
    assert code == 2
    assert codes(data) == ["expired"]
    assert data["server_clock"]["offset_seconds"] > 364 * 86400
    assert any("does not decide validity" in note for note in data["notes"])
    assert data["evaluated_at"] != data["server_clock"]["date"]


def test_server_clock_ahead_still_explains_a_clock_behind_here(
    capsys: pytest.CaptureFixture[str], root: tuple[Issued, Path]
) -> None:
    """The twin: a certificate not valid for two more days here, and a server whose clock
    is ten days later (this machine's clock is the one behind): client_clock."""
    cert, key = serve_leaf(root, "future", NOW_REAL + 2 * DAY, NOW_REAL + 90 * DAY)
    with https_server(cert, key, http_date(NOW_REAL + 10 * DAY)) as port:
        code, data = check(capsys, root, port)
    assert code == 2
    assert codes(data) == ["client_clock"]
    assert data["findings"][0]["evidence"]["explains"] == ["not_yet_valid"]


@pytest.mark.parametrize(
    "date_header",
    [
        "Fri, 31 Dec 9999 23:59:59 -2359",
        "Fri, 31 Dec 9999 23:59:59 GMT",
        "Sun, 06 Dec 2026 04:00:00 +9999",
        "Mon, 01 Jan 99999999999 00:00:00 GMT",
        "yesterday, around noon",
        "Sun, 06 Dec 2026 \x1b[31m04:00:00 GMT",
    ],
)
def test_absurd_date_headers_are_ignored_with_a_note(
    capsys: pytest.CaptureFixture[str], root: tuple[Issued, Path], date_header: str
) -> None:
    cert, key = serve_leaf(root, "healthy", NOW_REAL - DAY, NOW_REAL + 80 * DAY)
    with https_server(cert, key, date_header) as port:
        code, data = check(capsys, root, port)
    assert (code, codes(data)) == (0, [])
    assert data["server_clock"] is None
    assert len(data["notes"]) == 1 and "ignored" in data["notes"][0]
    assert "\x1b" not in data["notes"][0]


def test_a_sane_date_header_is_used_without_a_note(
    capsys: pytest.CaptureFixture[str], root: tuple[Issued, Path]
) -> None:
    cert, key = serve_leaf(root, "healthy", NOW_REAL - DAY, NOW_REAL + 80 * DAY)
    now = dt.datetime.now(dt.timezone.utc)  # NOW_REAL is minutes old in a full run
    with https_server(cert, key, http_date(now)) as port:
        code, data = check(capsys, root, port)
    assert (code, codes(data), data["notes"]) == (0, [], [])
    assert abs(data["server_clock"]["offset_seconds"]) < 120


@pytest.mark.parametrize(
    ("at", "shown"),
    [
        ("2026-03-01T10:00:00.25Z", "2026-03-01T10:00:00.25Z"),
        ("2026-03-01T10:00:00.000001+01:00", "2026-03-01T09:00:00.000001Z"),
        ("2026-03-01T10:00:00Z", "2026-03-01T10:00:00Z"),
    ],
)
def test_evaluated_at_keeps_the_fraction_of_a_second(
    capsys: pytest.CaptureFixture[str], root: tuple[Issued, Path], at: str, shown: str
) -> None:
    cert, _ = serve_leaf(root, "at", NOW_REAL - DAY, NOW_REAL + 80 * DAY)
    _, data = run_check(capsys, "--chain", str(cert), "--at", at)
    assert data["evaluated_at"] == shown
