"""The trust matrix: real clients before ``trust add``, after it, and after ``trust remove``,
next to what tlsdoctor claimed. Runs *inside* the private namespace of
``privatestores.py`` (it changes the system store, Java's cacerts and an NSS database for
real); ``python trustmatrix.py WORKDIR HOST`` prints one JSON object.

Each client runs with its defaults (no CA option): only the stores tell it what to trust.
The host name resolves to 127.0.0.1 through the namespace's own /etc/hosts.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from cryptography.hazmat.primitives import hashes

from pki import make_root
from tlsdoctor.tryclients import probes

TIMEOUT = 30
# The claim (a client id of `trust find --json`) each real client is judged against.
CLAIMED_AS = {
    "curl": "curl",
    "wget": "wget",
    "openssl": "openssl",
    "gnutls-cli": "gnutls-cli",
    "python": "python",
    "requests": "python-requests",
    "httpx": "httpx",
    "pip": "pip",
    "node": "node",
    "java": "java",
    "tstclnt": "chrome",
    "chromium": "chrome",
}


def run(
    argv: list[str], env: dict[str, str], stdin: bytes = b"", timeout: float = TIMEOUT
) -> tuple[int, str]:
    try:
        done = subprocess.run(
            argv, input=stdin, capture_output=True, timeout=timeout, env=env, check=False
        )
    except subprocess.TimeoutExpired as exc:  # what it printed until then still tells
        said = (exc.stdout or b"") + (exc.stderr or b"")
        return -1, said.decode(errors="replace")
    except FileNotFoundError:
        return 127, f"{argv[0]} not installed"
    return done.returncode, (done.stdout + done.stderr).decode(errors="replace")


def clients(host: str, port: int, work: Path, env: dict[str, str]) -> dict[str, bool]:
    url = f"https://{host}:{port}/"
    get = f"GET / HTTP/1.0\r\nHost: {host}\r\n\r\n".encode()
    python = sys.executable
    py_ssl = (
        "import socket,ssl,sys; c=ssl.create_default_context(); "
        "s=c.wrap_socket(socket.create_connection((sys.argv[1],int(sys.argv[2])),10),"
        "server_hostname=sys.argv[1]); s.close()"
    )
    node = (
        "require('https').get(process.argv[1],{timeout:10000},r=>{r.resume();"
        "r.on('end',()=>process.exit(0))}).on('error',e=>{console.log(String(e));"
        "process.exit(1)})"
    )
    nssdb = Path(env["HOME"]) / ".pki" / "nssdb"
    results: dict[str, bool] = {}
    code, _ = run(["curl", "-sS", "-o", os.devnull, "--max-time", "10", url], env)
    results["curl"] = code == 0
    code, _ = run(["wget", "-q", "-O", os.devnull, "--tries=1", "--timeout=10", url], env)
    results["wget"] = code == 0
    code, _ = run(
        [
            "openssl",
            "s_client",
            "-connect",
            f"{host}:{port}",
            "-servername",
            host,
            "-verify_hostname",
            host,
            "-verify_return_error",
        ],
        env,
        get,
    )
    results["openssl"] = code == 0
    code, _ = run(["gnutls-cli", f"--port={port}", host], env, get)
    results["gnutls-cli"] = code == 0
    code, _ = run([python, "-c", py_ssl, host, str(port)], env)
    results["python"] = code == 0
    for module in ("requests", "httpx"):
        code, out = run([python, "-c", f"import {module}; {module}.get({url!r}, timeout=10)"], env)
        if "ModuleNotFoundError" not in out:  # a missing library is no verdict
            results[module] = code == 0
    code, out = run(
        [
            python,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--retries",
            "0",
            "--timeout",
            "10",
            "-d",
            str(work / "pip"),
            "--index-url",
            f"{url}simple/",
            "tlsdoctor-nothing",
        ],
        env,
    )
    results["pip"] = "SSL" not in out and "CERTIFICATE_VERIFY_FAILED" not in out
    code, _ = run(["node", "-e", node, url], env)
    results["node"] = code == 0
    openssl_env = dict(env, NODE_OPTIONS="--use-openssl-ca")
    code, _ = run(["node", "-e", node, url], openssl_env)
    results["node --use-openssl-ca"] = code == 0
    classes = work / "java-classes"
    if not classes.is_dir():
        classes.mkdir()
        source = classes / f"{probes.JAVA_CLASS}.java"  # the probe check --try-clients runs
        source.write_text(probes.JAVA)
        run(["javac", "-d", str(classes), str(source)], env)
    code, _ = run(["java", "-cp", str(classes), probes.JAVA_CLASS, url], env)
    results["java"] = code == 0
    if shutil.which("tstclnt"):
        # tstclnt keeps the connection open after the answer: read what it printed by then.
        tstclnt = ["tstclnt", "-h", "127.0.0.1", "-a", host, "-p", str(port)]
        code, out = run([*tstclnt, "-d", f"sql:{nssdb}"], env, get, timeout=5)
        results["tstclnt"] = "HTTP/1.0 200" in out and "failed" not in out
    code, out = run(
        [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={work / 'chromium'}",
            "--enable-logging=stderr",
            f"--host-resolver-rules=MAP {host} 127.0.0.1",
            "--dump-dom",
            url,
        ],
        env,
    )
    results["chromium"] = code == 0 and "Page load failed" not in out and "<body" in out
    return results


def tlsdoctor(env: dict[str, str], *args: str) -> tuple[int, str, float]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "tlsdoctor", *args],
        capture_output=True,
        timeout=300,
        env=env,
        check=False,
    )
    elapsed = time.perf_counter() - started
    return done.returncode, done.stdout.decode(errors="replace"), elapsed


def snapshot() -> dict[str, object]:
    """Every store file's content: certificates and names, not timestamps."""
    from tlsdoctor.stores.java import DEBIAN_CACERTS, JavaStore
    from tlsdoctor.stores.nss import NssStore

    links = {}
    for path in sorted(Path("/etc/ssl/certs").iterdir()):
        if path.is_symlink():
            links[path.name] = os.readlink(path)
        elif path.is_file():
            links[path.name] = path.read_bytes().hex()[:64] + str(path.stat().st_size)
    java = sorted(
        (alias, cert.fingerprint(hashes.SHA256()).hex())
        for alias, cert in JavaStore(DEBIAN_CACERTS).entries()
    )
    nss = sorted(
        (entry.nickname, entry.trust) for entry in NssStore(_home() / ".pki" / "nssdb").entries()
    )
    local = sorted(p.name for p in Path("/usr/local/share/ca-certificates").rglob("*"))
    bundles = _home() / ".local" / "share" / "tlsdoctor" / "bundles"
    return {
        "etc-ssl-certs": links,
        "java-cacerts": java,
        "nss": nss,
        "local-ca-certificates": local,
        "tlsdoctor-bundles": sorted(p.name for p in bundles.glob("*")) if bundles.is_dir() else [],
    }


def _home() -> Path:
    return Path(os.environ["HOME"])


def main() -> None:
    work, host = Path(sys.argv[1]), sys.argv[2]
    env = dict(os.environ)
    now = dt.datetime.now(dt.timezone.utc)  # real clients judge by the real clock
    day = dt.timedelta(days=1)
    root = make_root("tlsdoctor Trust Matrix Root", not_before=now - day, not_after=now + 90 * day)
    leaf = root.issue_leaf([host], not_before=now - day, not_after=now + 30 * day)
    (work / "ca.pem").write_bytes(root.pem())
    (work / "leaf.pem").write_bytes(leaf.pem())
    (work / "leaf.key").write_bytes(leaf.key_pem())
    nssdb = _home() / ".pki" / "nssdb"
    nssdb.mkdir(parents=True)
    run(["certutil", "-N", "--empty-password", "-d", f"sql:{nssdb}"], env)
    port = int(sys.argv[3])
    server = subprocess.Popen(
        [
            "openssl",
            "s_server",
            "-accept",
            f"127.0.0.1:{port}",
            "-www",
            "-quiet",
            "-cert",
            str(work / "leaf.pem"),
            "-key",
            str(work / "leaf.key"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(0.5)
        ca = str(work / "ca.pem")
        result: dict[str, object] = {"before_snapshot": snapshot()}
        result["before"] = clients(host, port, work, env)
        code, out, took = tlsdoctor(env, "trust", "add", ca, "--yes")
        result["add"] = {"exit": code, "seconds": took, "output": out}
        code, out, took = tlsdoctor(env, "trust", "find", ca, "--json")
        result["find_after_add"] = {"exit": code, "seconds": took, "claims": json.loads(out)}
        code, out, took = tlsdoctor(env, "trust", "find", ca, "--json")
        result["find_again_seconds"] = took
        code, out, took = tlsdoctor(env, "trust", "list", "--json")
        result["list_seconds"] = took
        result["after_add"] = clients(host, port, work, env)
        result["after_add_snapshot"] = snapshot()
        code, out, took = tlsdoctor(env, "trust", "remove", ca, "--yes")
        result["remove"] = {"exit": code, "seconds": took, "output": out}
        code, out, took = tlsdoctor(env, "trust", "find", ca, "--json")
        result["find_after_remove"] = {"exit": code, "claims": json.loads(out)}
        result["after_remove"] = clients(host, port, work, env)
        result["after_snapshot"] = snapshot()
    finally:
        server.terminate()
        server.wait(timeout=10)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
