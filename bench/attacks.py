"""The attack sweep of issue 13: hostile files, values, servers and target lists against
the tlsdoctor CLI, each with its exit code, wall time, peak RSS and what leaked.

    .venv/bin/python bench/attacks.py                    # this checkout
    .venv/bin/python bench/attacks.py --src /tmp/base/src  # another checkout's code,
                                                            # with this venv's libraries

Every attack runs in a child process (PYTHONPATH=SRC) under a wall-clock limit
(--limit, default 90 s); peak RSS comes from wait4(). Everything listens on loopback,
or on addresses inside a private network namespace (the SSRF attack, `unshare -rn`).
Prints one line per attack and a JSON summary at the end (--json FILE to keep it).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent / "tests"
sys.path.insert(0, str(TESTS))

from cryptography.hazmat.primitives import serialization  # noqa: E402

import hostile  # noqa: E402
from pki import make_root  # noqa: E402
from servers import s_server  # noqa: E402

# Attacker control sequences: seen raw in the output, they reached the terminal.
RAW = ("\x1b[2J", "\x1b]8;;", "\x9b", "\u202e")


@dataclass
class Outcome:
    kind: str
    name: str
    exit: int | None  # None: killed at the limit
    seconds: float
    peak_mb: float
    traceback: bool
    leaked: str  # what reached stdout/stderr raw ("" when nothing)
    reports: int = 0  # JSON reports printed (runs over many targets)


def run(
    argv: list[str],
    src: Path,
    limit: float,
    *,
    stdin: bytes | None = None,
    preexec: Callable[[], None] | None = None,
    cwd: Path | None = None,
) -> tuple[int | None, float, float, str, str]:
    env = dict(os.environ, PYTHONPATH=str(src), COLUMNS="200")
    # GNU time measures the peak RSS of tlsdoctor alone (wait4 on a child forked from
    # this process would count this process's pages it started with).
    with tempfile.NamedTemporaryFile(suffix=".rss", delete=False) as rss:
        pass
    started = time.monotonic()
    process = subprocess.Popen(
        ["/usr/bin/time", "-f", "%M", "-o", rss.name, sys.executable, "-m", "tlsdoctor", *argv],
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        preexec_fn=preexec,
        cwd=cwd,
        start_new_session=True,
    )
    out: list[bytes] = []
    err: list[bytes] = []
    readers = [
        threading.Thread(target=lambda: out.append(process.stdout.read(8 << 20))),  # type: ignore[union-attr]
        threading.Thread(target=lambda: err.append(process.stderr.read(8 << 20))),  # type: ignore[union-attr]
    ]
    for reader in readers:
        reader.start()
    if stdin is not None:
        with contextlib.suppress(BrokenPipeError):
            process.stdin.write(stdin)  # type: ignore[union-attr]
            process.stdin.close()  # type: ignore[union-attr]
    code: int | None = None
    usage = None
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            code = os.waitstatus_to_exitcode(status)
            break
        if time.monotonic() - started > limit:
            os.killpg(process.pid, signal.SIGKILL)
            _, status, usage = os.wait4(process.pid, 0)
            code = None
            break
        time.sleep(0.02)
    seconds = time.monotonic() - started
    process.returncode = code if code is not None else -9
    for stream in (process.stdout, process.stderr):
        with contextlib.suppress(OSError):
            stream.close()  # type: ignore[union-attr]
    for reader in readers:
        reader.join(timeout=5)
    try:
        peak = int(Path(rss.name).read_text().split()[-1]) / 1024
    except (ValueError, IndexError):  # killed at the limit: GNU time wrote nothing
        peak = usage.ru_maxrss / 1024 if usage is not None else 0.0
    os.unlink(rss.name)
    decode = lambda parts: b"".join(parts).decode("utf-8", "replace")  # noqa: E731
    return code, seconds, peak, decode(out), decode(err)


# Hostile servers -------------------------------------------------------------------------
@contextlib.contextmanager
def dripping() -> Iterator[str]:
    """HTTP on loopback whose every answer comes one byte a second."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def _drip(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            try:
                for _ in range(100):
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(1)
            except OSError:
                pass

        do_GET = _drip

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self._drip()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def silent_addresses(count: int) -> Iterator[list[str]]:
    """``count`` endpoints on 127.0.0.1..N that accept and then say nothing."""
    with contextlib.ExitStack() as stack:
        lines = []
        for n in range(1, count + 1):
            sock = stack.enter_context(socket.socket())
            sock.bind((f"127.0.0.{n}", 0))
            sock.listen(8)
            lines.append(f"127.0.0.{n}:{sock.getsockname()[1]}\n")
        yield lines


def limit_files(count: int) -> Callable[[], None]:
    return lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (count, count))


# The sweep -------------------------------------------------------------------------------
def sweep(src: Path, limit: float, folder: Path, only: set[str]) -> list[Outcome]:
    outcomes: list[Outcome] = []

    def wanted(kind: str) -> bool:
        return not only or kind in only

    def attack(kind: str, name: str, argv: list[str], **kwargs: object) -> None:
        if not wanted(kind):
            return
        code, seconds, peak, out, err = run(argv, src, limit, **kwargs)  # type: ignore[arg-type]
        leaked = ",".join(repr(r) for r in RAW if r in out + err)
        secret = "s3cret" in out + err
        outcome = Outcome(
            kind,
            name,
            code,
            round(seconds, 2),
            round(peak, 1),
            "Traceback" in out + err,
            leaked
            + (" password" if secret else "")
            + (" python-warning" if "Warning:" in err else ""),
            sum(1 for line in out.splitlines() if line.startswith("{")),
        )
        outcomes.append(outcome)
        print(
            f"{kind:<10} {name:<44} exit={code!s:<4} {seconds:6.2f}s {peak:7.1f}MB"
            f"{'  TRACEBACK' if outcome.traceback else ''}"
            f"{'  LEAKED ' + outcome.leaked if outcome.leaked else ''}"
            f"{f'  reports={outcome.reports}' if kind == 'many' else ''}",
            flush=True,
        )

    def write(name: str, data: bytes) -> str:
        path = folder / name
        path.write_bytes(data)
        return str(path)

    at = ["--at", "2026-06-01T12:00:00Z"]
    good = write("good.pem", hostile.terminal_free_pem())
    term = write("terminal.pem", hostile.terminal_names())
    homo = write("homoglyph.pem", hostile.homoglyph_name())

    # 1. Terminal injection
    for command in (["check", "--chain"], ["inspect"], ["fix", "chain", "--chain"]):
        attack("inject", f"{' '.join(command)} (CN with ESC/OSC/CSI/RLO)", [*command, term, *at])
    attack("inject", "check --chain --json", ["check", "--chain", term, "--json", *at])
    attack("inject", "check TARGET with ESC", ["check", "\x1b[2Jx.test\u202e", "--timeout", "1"])
    attack("inject", "explain pasted ESC text", ["explain", "\x1b]8;;http://x/\x07hi\x9b31m\u202e"])
    attack(
        "inject",
        "-f line with ESC",
        ["check", "-f", write("t-esc.txt", b"\x1b[2J\xe2\x80\xae a b c\n")],
    )
    if wanted("homoglyph"):
        code, _, _, out, _ = run(["inspect", homo], src, limit)
        flagged = "xn--pple-43d.com;" in out
        outcomes.append(Outcome("homoglyph", "inspect CN=аpple.com", code, 0, 0, False,
                                "" if flagged else "not flagged"))  # fmt: skip
        print(f"homoglyph  inspect CN=аpple.com flagged: {flagged}")
    if wanted("ssrf"):
        outcomes.append(ssrf(src, folder))

    # 3. One --timeout for the whole check
    root = make_root("Drip Root")
    issuing = root.issue_ca("Drip Issuing CA")
    with dripping() as base:
        for name in ("leaf", "lone"):  # three URLs of each kind, each dripping
            cert, key = hostile.leaf_with_urls(
                issuing.cert,
                issuing.key,  # type: ignore[arg-type]
                [f"{base}/{name}/aia{n}" for n in range(3)],
                [f"{base}/{name}/crl{n}" for n in range(3)],
                [f"{base}/{name}/ocsp{n}" for n in range(3)],
            )
            write(f"{name}.pem", cert.public_bytes(serialization.Encoding.PEM))
            pkcs8 = serialization.PrivateFormat.PKCS8
            write(f"{name}.key", key.private_bytes(
                serialization.Encoding.PEM, pkcs8, serialization.NoEncryption()))  # fmt: skip
        write("issuing.pem", issuing.pem())
        write("root.pem", root.pem())
        with s_server(
            folder / "leaf.pem", folder / "leaf.key", chain=folder / "issuing.pem"
        ) as port:
            attack("timeout", "check --timeout 5, 3 CRL + 3 OCSP drip 1 B/s",
                   ["check", f"www.example.test:{port}", "--connect", "127.0.0.1",
                    "--ca-file", str(folder / "root.pem"), "--timeout", "5", "--json"])  # fmt: skip
        with s_server(folder / "lone.pem", folder / "lone.key") as port:
            attack("timeout", "check --timeout 5, 3 AIA drip 1 B/s (no issuer)",
                   ["check", f"www.example.test:{port}", "--connect", "127.0.0.1",
                    "--ca-file", str(folder / "root.pem"), "--timeout", "5", "--json"])  # fmt: skip

    # 4. Files that are not files
    fifo = folder / "fifo"
    os.mkfifo(fifo)
    sock_path = folder / "sock"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(sock_path))
    for special, label in (
        (str(fifo), "FIFO"),
        ("/dev/zero", "/dev/zero"),
        (str(sock_path), "socket"),
    ):
        for argv in (
            ["check", "--chain", special],
            ["check", "--chain", good, "--crl", special],
            ["check", "--chain", good, "--ca-file", special],
            ["check", "-f", special],
            ["inspect", special],
            ["fix", "chain", "--chain", good, "--key", special],
        ):
            flag = argv[-2] if argv[-2].startswith("-") else argv[0]
            attack("file", f"{argv[0]} {flag} {label}", argv)

    # 5. Costly files
    p12 = write("rounds.p12", hostile.pkcs12_rounds())
    attack(
        "cost",
        "check --chain PKCS#12 2^31-1 rounds (1 KB)",
        ["check", "--chain", p12, "--password", "x"],
    )
    attack("cost", "inspect PKCS#12 2^31-1 rounds (1 KB)", ["inspect", p12, "--password", "x"])
    many = folder / "many.pem"
    one = hostile.terminal_free_pem()
    with many.open("wb") as handle:
        for _ in range(110_000):
            handle.write(one)
    attack(
        "cost",
        f"check --chain 110,000 certs ({many.stat().st_size >> 20} MB)",
        ["check", "--chain", str(many), *at],
    )
    attack(
        "cost",
        "inspect PKCS#7 of 10,000 certs",
        ["inspect", write("many.p7b", hostile.pkcs7_of(10_000))],
    )
    long_line = folder / "long.txt"
    long_line.write_bytes(b"A" * 10_000_000 + b"\n")
    attack("cost", "check -f with a 10 MB line", ["check", "-f", str(long_line)])
    endless = folder / "endless.txt"
    with endless.open("wb") as handle:  # a regular file of 200 MB without a newline
        handle.truncate(200 << 20)
    attack("cost", "check -f 200 MB without a newline", ["check", "-f", str(endless)])

    # 6. Parser trips
    for name, data in (
        ("unknown signature OID", hostile.unknown_signature_oid()),
        ("notBefore year 0000", hostile.year_zero()),
        ("invalid UTF-8 in CN", hostile.invalid_utf8_name()),
        ("broken cert beside a good one", hostile.broken_beside_good()),
    ):
        path = write(name.replace(" ", "_"), data)
        for command in (["check", "--chain"], ["inspect"], ["fix", "chain", "--chain"]):
            attack("parse", f"{command[0]}: {name}", [*command, path, *at])

    # 7. Values
    for name, argv in (
        ("check a:b:c", ["check", "a:b:c"]),
        ("check --connect a:b:c", ["check", "x.test", "--connect", "a:b:c"]),
        ("check https://[::1", ["check", "https://[::1"]),
        (
            "--at 9999-12-31T23:59:59-23:59",
            ["check", "--chain", good, "--at", "9999-12-31T23:59:59-23:59"],
        ),
        ("--warn-days 10000000000", ["check", "--chain", good, "--warn-days", "10000000000", *at]),
        ("--servername a..b", ["check", "127.0.0.1:1", "--servername", "a..b"]),
        ("fix -o FILE", ["fix", "chain", "--chain", good, "-o", good]),
        ("fix -o dangling link", ["fix", "chain", "--chain", good, "-o", _dangling(folder)]),
        ("-f invalid UTF-8", ["check", "-f", write("bad-utf8.txt", b"127.0.0.1:1\n\xff\xfe\n")]),
        ("URL with password", ["check", "https://user:s3cret@127.0.0.1:1/"]),
        ("inspect negative serial", ["inspect", write("negative.pem", hostile.negative_serial())]),
    ):
        attack("value", name, argv)

    # 9. A hostile TLS server: a junk certificate beside the real one, Date 9999 -23:59
    if wanted("server"):
        binary = folder / "hostile_server"
        subprocess.run(["go", "build", "-o", str(binary), str(TESTS / "hostile_server.go")],
                       check=True, timeout=300, capture_output=True,
                       env=dict(os.environ, GOFLAGS="", GO111MODULE="off"))  # fmt: skip
        leaf = issuing.issue_leaf()
        write("srv-chain.pem", leaf.pem() + issuing.pem())
        write("srv.key", leaf.key_pem())
        server = subprocess.Popen(
            [str(binary), "-cert", str(folder / "srv-chain.pem"), "-key", str(folder / "srv.key"),
             "-junk", "-date", "Fri, 31 Dec 9999 23:59:59 -2359"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        try:
            port = int(server.stdout.readline().rsplit(":", 1)[1])  # type: ignore[union-attr]
            target = f"www.example.test:{port}"
            base_argv = [target, "--connect", "127.0.0.1", "--ca-file", str(folder / "root.pem")]
            attack("server", "check (junk cert, Date 9999 -2359)", ["check", *base_argv])
            attack("server", "check --json", ["check", *base_argv, "--json"])
            attack("server", "check --no-sni", ["check", *base_argv, "--no-sni"])
            attack("server", "fix chain HOST", ["fix", "chain", *base_argv])
        finally:
            server.terminate()
            server.wait(timeout=10)
            server.stdout.close()  # type: ignore[union-attr]

    # 8. Many targets
    with silent_addresses(100) as lines:  # 100 loopback addresses: no per-host limit
        targets = write("silent.txt", "".join(lines).encode())
        attack("many", "--concurrency 500, ulimit -n 64, 100 silent targets",
               ["check", "-f", targets, "--concurrency", "500", "--timeout", "0.5", "--json"],
               preexec=limit_files(64))  # fmt: skip
    lines = [b"127.0.0.1:1\n"] * 2000 + [b"bad line with four fields\n"] + [b"127.0.0.1:2\n"] * 10
    attack(
        "many",
        "bad line 2001 of 2011",
        ["check", "-f", write("badline.txt", b"".join(lines)), "--json"],
    )
    return outcomes


def ssrf(src: Path, folder: Path) -> Outcome:
    """A check of 10.9.0.1 inside a private network namespace, its CRL on loopback and
    its OCSP responder on 169.254.169.254: which of them were reached."""
    done = subprocess.run(
        ["unshare", "-rn", sys.executable, str(TESTS / "netns_ssrf.py"), str(folder),
         "--end-to-end"],
        capture_output=True, text=True, timeout=180, env=dict(os.environ, PYTHONPATH=str(src)),
    )  # fmt: skip
    try:
        result = json.loads(done.stdout)
        metadata_hits = [h for h in result["hits"] if h.startswith("169.254.169.254")]
        loopback_hits = [h for h in result["hits"] if h.startswith("127.0.0.1")]
        leaked = f"metadata hits {len(metadata_hits)}, loopback hits {len(loopback_hits)}"
    except (ValueError, KeyError):
        leaked = f"could not run: {done.stderr[-300:]}"
    print(f"ssrf       {leaked}")
    name = "check 10.9.0.1 (CRL loopback, OCSP metadata)"
    return Outcome("ssrf", name, None, 0, 0, "Traceback" in done.stderr, leaked)


def _dangling(folder: Path) -> str:
    link = folder / "dangling"
    link.symlink_to(folder / "nowhere")
    return str(link)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, default=HERE.parent / "src")
    parser.add_argument("--limit", type=float, default=90.0)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--only", action="append", default=[], help="inject, ssrf, timeout, ...")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        outcomes = sweep(args.src.resolve(), args.limit, Path(folder), set(args.only))
    summary = [asdict(o) for o in outcomes]
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1))
    kinds: dict[str, int] = {}
    for outcome in outcomes:
        kinds[outcome.kind] = kinds.get(outcome.kind, 0) + 1
    print(json.dumps({"attacks": len(outcomes), "by_kind": kinds}))


if __name__ == "__main__":
    main()
