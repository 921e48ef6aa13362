"""Run inside a private network namespace (``unshare -rn``): the SSRF scenarios of
test_fetch_policy.py, against servers on addresses that exist only in the namespace.

169.254.169.254 (the cloud metadata address), 10.9.0.1 (a "remote" TLS endpoint) and
10.9.0.2 (a private web server) are put on the namespace's own ``lo``; nothing can leave
the machine. Prints one JSON object: what each fetch returned and which server was hit.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ADDRESSES = ("169.254.169.254", "10.9.0.1", "10.9.0.2")


def network() -> None:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    for address in ADDRESSES:
        subprocess.run(["ip", "addr", "add", f"{address}/32", "dev", "lo"], check=True)


@contextmanager
def web(address: str, port: int, hits: list[str]) -> Iterator[int]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            hits.append(f"{address}{self.path} Host={self.headers['Host']}")
            if self.path == "/redirect":
                self.send_response(302)
                self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
            else:
                self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def do_POST(self) -> None:  # OCSP
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.do_GET()

    server = ThreadingHTTPServer((address, port), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


async def fetch(url: str, endpoint: str, private: bool = True) -> str:
    from tlsdoctor.fetch import Fetcher, FetchPolicy

    policy = FetchPolicy.near(endpoint)
    if not private:
        policy = FetchPolicy(loopback=policy.loopback, private=False)
    async with Fetcher(timeout=3, policy=policy) as fetcher:
        got = await fetcher.get(url, "aia")
    return got.error or f"HTTP {got.status} {got.content!r}"


def scenarios(local_port: int, private_port: int) -> dict[str, str]:
    private = f"http://10.9.0.2:{private_port}"
    local = f"http://127.0.0.1:{local_port}"
    cases = {
        "metadata_from_remote": ("http://169.254.169.254/latest/meta-data/", "10.9.0.1", True),
        "metadata_from_loopback": ("http://169.254.169.254/latest/meta-data/", "127.0.0.1", True),
        "metadata_mapped_v6": ("http://[::ffff:169.254.169.254]/x", "127.0.0.1", True),
        "metadata_by_name": ("http://metadata.google.internal/x", "127.0.0.1", True),
        "loopback_from_remote": (f"{local}/x", "10.9.0.1", True),
        "localhost_name_from_remote": (f"http://localhost:{local_port}/x", "10.9.0.1", True),
        "loopback_from_loopback": (f"{local}/x", "127.0.0.1", True),
        "name_from_loopback": (f"http://localhost:{local_port}/named", "127.0.0.1", True),
        "private_allowed": (f"{private}/x", "10.9.0.1", True),
        "private_switched_off": (f"{private}/x", "10.9.0.1", False),
        "redirect_to_metadata": (f"{private}/redirect", "10.9.0.1", True),
    }
    return {
        name: asyncio.run(fetch(url, endpoint, allowed))
        for name, (url, endpoint, allowed) in cases.items()
    }


def end_to_end(folder: Path, local_port: int) -> dict[str, object]:
    """`tlsdoctor check` of a TLS server on 10.9.0.1 whose certificate points its CRL at
    loopback and its OCSP responder at the metadata service (its AIA too, unused: the
    server sends its intermediate)."""
    sys.path.insert(0, str(Path(__file__).parent))
    from pki import make_root

    root = make_root("SSRF Root")
    issuing = root.issue_ca("SSRF Issuing CA")
    leaf = issuing.issue_leaf(
        aia_url="http://169.254.169.254/latest/meta-data/iam/",
        crl_url=f"http://127.0.0.1:{local_port}/crl",
        ocsp_url="http://169.254.169.254/ocsp",
    )
    (folder / "leaf.pem").write_bytes(leaf.pem())
    (folder / "leaf.key").write_bytes(leaf.key_pem())
    (folder / "root.pem").write_bytes(root.pem())
    (folder / "issuing.pem").write_bytes(issuing.pem())
    server = subprocess.Popen(
        ["openssl", "s_server", "-accept", "10.9.0.1:8443", "-cert", str(folder / "leaf.pem"),
         "-key", str(folder / "leaf.key"), "-cert_chain", str(folder / "issuing.pem"), "-quiet"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        from servers import wait_listening

        wait_listening("10.9.0.1", 8443, None)
        done = subprocess.run(
            [sys.executable, "-m", "tlsdoctor", "check", "www.example.test:8443",
             "--connect", "10.9.0.1", "--ca-file", str(folder / "root.pem"), "--json",
             "--timeout", "10"],
            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    finally:
        server.terminate()
        server.wait(timeout=10)
    report = json.loads(done.stdout) if done.stdout.strip() else {"fetches": []}
    return {
        "exit": done.returncode,
        "fetches": [(f["url"], f["error"]) for f in report["fetches"]],
    }


def main() -> None:
    network()
    hits: list[str] = []
    with (
        web("169.254.169.254", 80, hits),
        web("127.0.0.1", 0, hits) as local_port,
        web("10.9.0.2", 0, hits) as private_port,
    ):
        results: dict[str, object] = {}
        if "--end-to-end" not in sys.argv:  # bench/attacks.py runs older code: no API
            results.update(scenarios(local_port, private_port))
        results["end_to_end"] = end_to_end(Path(sys.argv[1]), local_port)
    results["hits"] = hits
    print(json.dumps(results))


if __name__ == "__main__":
    main()
