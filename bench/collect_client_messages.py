"""Collect what the real clients installed here print against every lab endpoint.

Runs every client of ``tests/realclients.py`` plus Go (``tests/go/tlsprobe.go``), httpx,
urllib3 and urllib against each lab endpoint trusting only the lab CA (and the good
endpoint trusting another CA: an untrusted root; and a closed port: connection refused), and
writes one JSON line per refusal to ``tests/data/explain/lab_messages.jsonl``: client,
endpoint, the endpoint's real cause, everything the client printed, and the half of the
evaluation it belongs to (a hash of the text). The explain evaluation (``bench/
bench_explain.py`` and ``tests/test_explain_evaluation.py``) reads that file.

    .venv/bin/python bench/collect_client_messages.py [--closed-port]
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import realclients  # noqa: E402
from explain_evaluation import split_of  # noqa: E402
from tlsdoctor.lab import Lab, LabEndpoint  # noqa: E402

OUT = ROOT / "tests" / "data" / "explain" / "lab_messages.jsonl"
GO_SOURCE = ROOT / "tests" / "go" / "tlsprobe.go"

# realclients' requests child without its last two lines: the name resolves to 127.0.0.1.
_RESOLVE = (
    realclients._PYTHON_REQUESTS.split("import requests")[0] + 'url = f"https://{host}:{port}/"\n'
)
EXTRA_SCRIPTS = {
    "httpx": _RESOLVE + "import httpx\nhttpx.get(url, verify=ca, timeout=10)\n",
    "urllib3": _RESOLVE
    + "import urllib3\nurllib3.PoolManager(ca_certs=ca, retries=False).request('GET', url)\n",
    "urllib": _RESOLVE
    + "import ssl, urllib.request\n"
    + "urllib.request.urlopen(url, context=ssl.create_default_context(cafile=ca), timeout=10)\n",
}


def _go_binary(folder: Path) -> Path | None:
    if shutil.which("go") is None:
        return None
    binary = folder / "tlsprobe"
    subprocess.run(
        ["go", "build", "-o", str(binary), str(GO_SOURCE)],
        check=True,
        timeout=300,
        cwd=GO_SOURCE.parent,
        capture_output=True,
    )
    return binary


def _extra(client: str, item: LabEndpoint, ca: str, go: Path | None) -> tuple[int, str]:
    url = f"https://{item.host}:{item.port}/"
    if client == "go":
        assert go is not None
        # Go dials 127.0.0.1 itself for any name (tlsprobe's DialContext).
        return realclients._exec([str(go), url, ca])
    return realclients._exec(
        [sys.executable, "-c", EXTRA_SCRIPTS[client], item.host, str(item.port), ca]
    )


def _closed_port() -> LabEndpoint:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind((realclients.LOOPBACK, 0))
        port = int(probe.getsockname()[1])
    return LabEndpoint(
        "closed-port",
        "closed-port.lab.tlsdoctor.test",
        realclients.LOOPBACK,
        port,
        ("connection_refused",),
        "nothing listens on the port",
    )


def collect(closed_port_only: bool = False) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    with Lab() as lab, tempfile.TemporaryDirectory() as scratch:
        go = _go_binary(Path(scratch))
        clients = [c for c in realclients.CLIENTS if realclients.unavailable(c) is None]
        extras = ["httpx", "urllib3", "urllib"] + (["go"] if go else [])
        other_ca = str(lab.directory / "client-ca.pem")
        closed = _closed_port()
        jobs = [(c, closed, str(lab.ca_file)) for c in clients + extras]
        if not closed_port_only:
            jobs += [
                (c, item, str(lab.ca_file)) for item in lab.endpoints for c in clients + extras
            ]
            good = lab.endpoint("good")
            jobs += [(c, good, other_ca) for c in clients + extras]

        def one(job: tuple[str, LabEndpoint, str]) -> dict[str, object] | None:
            client, item, ca = job
            if client in extras:
                code, output = _extra(client, item, ca, go)
                ok = code == 0
            else:
                outcome = realclients.run(client, item, ca)
                ok, output = outcome.ok, outcome.output
            cause = "untrusted_root" if ca == other_ca else (item.expect[0] if item.expect else "")
            if ok or not cause:
                return None
            return {
                "client": client,
                "endpoint": item.name if ca != other_ca else "good-with-another-ca",
                "cause": str(getattr(cause, "value", cause)),
                "text": output[-6000:],
                "split": split_of(output[-6000:]),
            }

        with ThreadPoolExecutor(max_workers=4) as pool:
            rows = [row for row in pool.map(one, jobs) if row is not None]
    return rows


def main() -> None:
    # --closed-port appends the closed-port rows only: the rows already collected (and their
    # tune/heldout halves) stay as they are.
    closed_port_only = "--closed-port" in sys.argv
    rows = collect(closed_port_only)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("a" if closed_port_only else "w", encoding="utf-8") as out:
        for row in sorted(rows, key=lambda r: (str(r["client"]), str(r["endpoint"]))):
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"{len(rows)} refusals written to {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
