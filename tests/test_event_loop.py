"""The scan's event loop: uvloop's when installed (TLSDOCTOR_EVENT_LOOP=auto), asyncio's on
request; both give the same reports on real servers (nginx, a silent port, a closed one)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import servers
from pki import DAY, make_root
from tlsdoctor import eventloop
from tlsdoctor.errors import InputError

uvloop = pytest.importorskip("uvloop")
NOW_REAL = dt.datetime.now(dt.timezone.utc)
VOLATILE = frozenset({"checked_at", "evaluated_at", "seconds", "offset_seconds", "date"})


async def loop_module() -> str:
    return type(asyncio.get_running_loop()).__module__


@pytest.mark.parametrize(("choice", "module"), [("uvloop", "uvloop"), ("auto", "uvloop")])
def test_uvloop_runs_the_scan_when_installed(
    monkeypatch: pytest.MonkeyPatch, choice: str, module: str
) -> None:
    monkeypatch.setenv(eventloop.CHOICE, choice)
    assert eventloop.run(loop_module()).startswith(module)


def test_asyncio_is_kept_on_request(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(eventloop.CHOICE, "asyncio")
    assert eventloop.run(loop_module()).startswith("asyncio")


def test_an_unknown_loop_is_refused_in_one_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(eventloop.CHOICE, "trio")
    with pytest.raises(InputError, match="auto, uvloop or asyncio"):
        eventloop.run(loop_module())


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    if not servers.nginx_available():
        pytest.skip("nginx is not installed")
    folder = tmp_path_factory.mktemp("loop")
    root = make_root("Loop Root", not_before=NOW_REAL - 10 * DAY, not_after=NOW_REAL + 3650 * DAY)
    issuing = root.issue_ca("Loop CA", not_before=NOW_REAL - DAY, not_after=NOW_REAL + 365 * DAY)
    leaf = issuing.issue_leaf(
        ["*.loop.test"], not_before=NOW_REAL - DAY, not_after=NOW_REAL + 80 * DAY
    )
    (folder / "root.pem").write_bytes(root.pem())
    (folder / "full.pem").write_bytes(leaf.pem() + issuing.pem())
    (folder / "key.pem").write_bytes(leaf.key_pem())
    served = [("_", folder / "full.pem", folder / "key.pem", True)]
    with servers.nginx(folder, served) as port, servers.silent_port() as silent:
        lines = [f"s{n}.loop.test:{port} 127.0.0.1" for n in range(4)]
        lines += [f"wrong.example:{port} 127.0.0.1", f"127.0.0.1:{servers.free_port()}"]
        lines += [f"quiet.loop.test:{silent} 127.0.0.1", f"s0.loop.test:{port} 127.0.0.1"]
        (folder / "targets.txt").write_text("\n".join(lines) + "\n")
        yield folder / "targets.txt", folder / "root.pem"


def scan(fleet: tuple[Path, Path], loop: str) -> tuple[int, list[Any]]:
    targets, root = fleet
    argv = [sys.executable, "-m", "tlsdoctor", "check", "-f", str(targets), "--json"]
    argv += ["--ca-file", str(root), "--no-revocation", "--timeout", "2", "--no-progress"]
    env = {**os.environ, eventloop.CHOICE: loop}
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env)
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, [_stable(json.loads(line)) for line in done.stdout.splitlines()]


def _stable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


def test_uvloop_and_asyncio_give_the_same_reports(fleet: tuple[Path, Path]) -> None:
    fast_code, fast = scan(fleet, "uvloop")
    plain_code, plain = scan(fleet, "asyncio")
    assert fast == plain
    assert fast_code == plain_code == 3
    verdicts = [report["verdict"] for report in fast]
    assert verdicts == ["trusted"] * 4 + ["untrusted", "error", "error", "trusted"]
    assert fast[4]["findings"][0]["code"] == "hostname_mismatch"


def test_an_unknown_loop_stops_the_scan_with_exit_3(fleet: tuple[Path, Path]) -> None:
    targets, root = fleet
    argv = [sys.executable, "-m", "tlsdoctor", "check", "-f", str(targets), "--json"]
    argv += ["--ca-file", str(root), "--no-progress"]
    env = {**os.environ, eventloop.CHOICE: "trio"}
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 3
    assert done.stdout == ""
    assert "TLSDOCTOR_EVENT_LOOP must be auto, uvloop or asyncio" in done.stderr
    assert "Traceback" not in done.stderr
