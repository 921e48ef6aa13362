"""Benchmark of live checks: `tlsdoctor check -f` against a local nginx serving 1,000 SNI names.

Run: python bench/bench_live.py [--names 1000] [--concurrency 50] [--sslyze-sample N]
                                [--skip-sslyze] [--keep] [--runs 3] [--port 18443]

Sets up, in a temporary folder: a bench root CA and one intermediate, one EC P-256 leaf per
name (site0000.bench.test ...), made with `cryptography` at run time; its own nginx master
(`nginx -p DIR -c DIR/nginx.conf`, not the system service) on 127.0.0.1:PORT with one
`server` block per name (leaf + intermediate) and a default_server with another certificate.
Then, side by side in one run, over the same targets:
- tlsdoctor: `tlsdoctor check -f targets.txt --json --ca-file root.pem --concurrency N`
  (1,000 JSON lines with a "verdict" expected), and one `tlsdoctor check HOST:PORT --connect
  127.0.0.1:PORT --ca-file root.pem`, median of 11 process runs;
- sslyze, certificate information only (`--certinfo`), from its own venv bench/.venv-sslyze
  (it pins its own cryptography), on all targets or a sample (then extrapolated, and said so);
- the ceiling for a Python client: bare asyncio handshakes (bench/live_handshake_ceiling.py),
  and for reference the same handshakes with blocking sockets in a pool of threads.
Every contender runs as its own process, timed from spawn to exit, with its peak RSS (GNU
time), its CPU time (wait4) and the CPU time nginx spent serving it (/proc). Last, the peak
RSS of `tlsdoctor check -f` over 10 x the targets.
Goals (issue 3): tlsdoctor >= 10x sslyze's targets/s; >= 0.5x the ceiling's targets/s;
peak RSS < 250 MB over 10,000 targets.
Only 127.0.0.1 is contacted. nginx is stopped at the end, also on Ctrl-C and on SIGTERM.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ADDR = "127.0.0.1"  # the only address this benchmark ever connects to
DOMAIN = "bench.test"
BENCH = Path(__file__).resolve().parent
SSLYZE_VENV = BENCH / ".venv-sslyze"
RESULTS = BENCH / "results"
CEILING = BENCH / "live_handshake_ceiling.py"
SINGLE_RUNS = 11
MEMORY_FACTOR = 10  # the memory run checks the names this many times over
MEMORY_GOAL_MB = 250
NGINX_CPU_TICK = os.sysconf("SC_CLK_TCK")


# --- PKI --------------------------------------------------------------------------------------


@dataclass
class Pki:
    root: Path
    intermediate: Path
    default_cert: Path
    default_key: Path
    sites: list[tuple[str, Path, Path]]  # (name, leaf + intermediate, key)
    seconds: float


def _build(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
    *,
    ca: bool,
    dns: str | None,
    now: dt.datetime,
    days: int,
) -> x509.Certificate:
    issuer_name, issuer_key = issuer or (None, key)
    subject_name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "tlsdoctor bench"),
            x509.NameAttribute(NameOID.COMMON_NAME, subject),
        ]
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject_name)
        .issuer_name(issuer_name or subject_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca and issuer else None), True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), False
        )
    )
    if dns is not None:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(dns)]), False
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
    return builder.sign(issuer_key, hashes.SHA256())


def make_pki(folder: Path, names: Sequence[str]) -> Pki:
    """Root -> intermediate -> one EC P-256 leaf per name, plus the default server's leaf."""
    start = time.perf_counter()
    now = dt.datetime.now(dt.timezone.utc)
    pem = serialization.Encoding.PEM
    no_password = serialization.NoEncryption()
    pkcs8 = serialization.PrivateFormat.PKCS8
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = _build("tlsdoctor Bench Root CA", root_key, None, ca=True, dns=None, now=now, days=3650)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _build(
        "tlsdoctor Bench Issuing CA",
        ca_key,
        (root.subject, root_key),
        ca=True,
        dns=None,
        now=now,
        days=1825,
    )
    ca_pem = ca.public_bytes(pem)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "root.pem").write_bytes(root.public_bytes(pem))
    (folder / "intermediate.pem").write_bytes(ca_pem)

    def leaf(name: str) -> tuple[Path, Path]:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _build(name, key, (ca.subject, ca_key), ca=False, dns=name, now=now, days=90)
        cert_path, key_path = folder / f"{name}.crt", folder / f"{name}.key"
        cert_path.write_bytes(cert.public_bytes(pem) + ca_pem)
        key_path.write_bytes(key.private_bytes(pem, pkcs8, no_password))
        return cert_path, key_path

    default_cert, default_key = leaf(f"default.{DOMAIN}")
    sites = [(name, *leaf(name)) for name in names]
    return Pki(
        root=folder / "root.pem",
        intermediate=folder / "intermediate.pem",
        default_cert=default_cert,
        default_key=default_key,
        sites=sites,
        seconds=time.perf_counter() - start,
    )


# --- nginx ------------------------------------------------------------------------------------

NGINX_HEAD = """\
# Generated by bench/bench_live.py. Own master, own prefix; not the system service.
worker_processes 2;          # one per core of this 2-core machine
daemon off;                  # stays the child of the benchmark, which stops it
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
worker_rlimit_nofile 8192;
events {{
    worker_connections 4096; # clients keep <= 50 (or sslyze's 10 x 5) connections open
}}
http {{
    access_log off;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    server_names_hash_max_size {hash_size};
    server_names_hash_bucket_size 64;
    ssl_protocols TLSv1.2 TLSv1.3;
    # Every check is a first contact: one full handshake per target, and no client here
    # resumes sessions. Cache off, tickets off: no shared-memory cache writes, no ticket
    # encryption. With tickets off, OpenSSL still sends two (stateful) TLS 1.3
    # NewSessionTickets after each handshake, useless without a cache: NumTickets 0 stops them.
    ssl_session_cache off;
    ssl_session_tickets off;
    ssl_conf_command NumTickets 0;

    server {{
        listen {addr}:{port} ssl default_server;
        server_name _;
        ssl_certificate {default_cert};
        ssl_certificate_key {default_key};
        return 421;
    }}
"""

NGINX_SERVER = """\
    server {{
        listen {addr}:{port} ssl;
        server_name {name};
        ssl_certificate {cert};
        ssl_certificate_key {key};
        return 204;
    }}
"""


def nginx_config(prefix: Path, pki: Pki, port: int) -> str:
    parts = [
        NGINX_HEAD.format(
            prefix=prefix,
            hash_size=max(512, 2 * len(pki.sites)),
            addr=ADDR,
            port=port,
            default_cert=pki.default_cert,
            default_key=pki.default_key,
        )
    ]
    parts.extend(
        NGINX_SERVER.format(addr=ADDR, port=port, name=name, cert=cert, key=key)
        for name, cert, key in pki.sites
    )
    parts.append("}\n")
    return "".join(parts)


def nginx_command() -> str:
    """nginx, installed with apt when missing (root); only the binary is used, not the service."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists() and os.geteuid() == 0 and shutil.which("apt-get"):
        print("Installing nginx (apt-get install -y nginx-light) ...", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for argv in (
            ["apt-get", "update", "-qq"],
            ["apt-get", "install", "-y", "-qq", "nginx-light"],
        ):
            subprocess.run(argv, capture_output=True, timeout=600, env=env)
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        raise SystemExit("nginx is not installed: apt-get update && apt-get install -y nginx-light")
    return nginx


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((ADDR, port)) == 0


@contextmanager
def nginx_running(prefix: Path, pki: Pki, port: int) -> Iterator[subprocess.Popen[bytes]]:
    """Our own nginx master in the foreground (daemon off), in its own session; always stopped."""
    nginx = nginx_command()
    if port_open(port):
        raise SystemExit(f"{ADDR}:{port} is already in use; pick another with --port")
    (prefix / "tmp").mkdir(parents=True, exist_ok=True)
    conf = prefix / "nginx.conf"
    conf.write_text(nginx_config(prefix, pki, port))
    error_log = prefix / "error.log"
    argv = [nginx, "-p", str(prefix), "-c", str(conf), "-e", str(error_log)]
    test = subprocess.run([*argv, "-t", "-q"], capture_output=True, text=True, timeout=60)
    if test.returncode != 0:
        raise SystemExit(f"nginx -t refused the configuration:\n{test.stderr}")
    with (prefix / "nginx.stderr").open("wb") as stderr:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=stderr, stderr=stderr, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 30
        while not port_open(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                log = error_log.read_text() if error_log.exists() else ""
                raise SystemExit(f"nginx did not start (exit {proc.returncode}):\n{log[-2000:]}")
            time.sleep(0.05)
        yield proc
    finally:
        stop_nginx(proc)


def stop_nginx(proc: subprocess.Popen[bytes]) -> None:
    """Graceful quit, then TERM, then KILL of its own process group (master + workers)."""
    for sig, wait in ((signal.SIGQUIT, 10), (signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        if proc.poll() is not None:
            break
        try:
            if sig == signal.SIGKILL:
                os.killpg(proc.pid, sig)  # the group is ours: start_new_session made it
            else:
                proc.send_signal(sig)
            proc.wait(timeout=wait)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            continue


def nginx_cpu_seconds(master_pid: int) -> float:
    """User + system CPU time of the master and its workers, from /proc."""
    total = 0.0
    pids = [master_pid]
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children")
    try:
        pids += [int(pid) for pid in children.read_text().split()]
    except OSError:
        return float("nan")
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / NGINX_CPU_TICK  # utime, stime
    return total


def sanity_check(pki: Pki, port: int) -> None:
    """The right certificate for a name, verified to the bench root through the intermediate
    nginx sends; the default certificate for an unknown name."""
    ctx = ssl.create_default_context(cafile=str(pki.root))
    for name, _, _ in (pki.sites[0], pki.sites[-1]):
        with (
            socket.create_connection((ADDR, port), timeout=10) as raw,
            ctx.wrap_socket(raw, server_hostname=name) as tls,
        ):
            cert = tls.getpeercert()
            assert cert is not None
            alt_names = cert.get("subjectAltName", ())
            sans = [str(entry[1]) for entry in alt_names if entry[0] == "DNS"]
            if sans != [name]:
                raise SystemExit(f"nginx served {sans} for {name}")
    bare = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    bare.check_hostname = False
    bare.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection((ADDR, port), timeout=10) as raw,
        bare.wrap_socket(raw, server_hostname=f"unknown.{DOMAIN}") as tls,
    ):
        der = tls.getpeercert(binary_form=True)
        assert der is not None
        cn = x509.load_der_x509_certificate(der).subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        if cn[0].value != f"default.{DOMAIN}":
            raise SystemExit(f"default_server served {cn[0].value!r}")


# --- running a contender ----------------------------------------------------------------------


@dataclass
class Measured:
    argv: list[str]
    wall: float
    returncode: int | None  # None: timed out and killed
    max_rss_mb: float
    cpu: float  # user + system seconds of the process (and its waited-for children)
    nginx_cpu: float
    stderr: str

    @property
    def timed_out(self) -> bool:
        return self.returncode is None

    def last_error_line(self) -> str:
        lines = [line.strip() for line in self.stderr.strip().splitlines() if line.strip()]
        return lines[-1] if lines else ""


def gnu_time() -> str | None:
    """GNU time, installed with apt when missing (the machine is ours; root)."""
    path = shutil.which("time") or ("/usr/bin/time" if Path("/usr/bin/time").exists() else None)
    if path is None and os.geteuid() == 0 and shutil.which("apt-get"):
        print("Installing GNU time (apt-get install -y time) ...", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for argv in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "time"]):
            subprocess.run(argv, capture_output=True, timeout=600, env=env)
        path = shutil.which("time")
    return path


GNU_TIME: list[str] = []  # found once by main()


def run_measured(
    argv: Sequence[str],
    *,
    stdout: Path | None,
    timeout: float,
    nginx_pid: int,
) -> Measured:
    """Spawn under GNU time, wait with wait4 (exact exit time, CPU), kill the process group on
    timeout, Ctrl-C or SIGTERM. stderr goes to a file: nothing can block on a pipe.

    Peak RSS comes from GNU time, not from wait4: subprocess spawns with vfork, and Linux
    counts the RSS of the (vforked) parent's address space in the child's ru_maxrss, so wait4
    and getrusage(RUSAGE_CHILDREN) report the benchmark's own RSS when it is the larger."""
    nginx_before = nginx_cpu_seconds(nginx_pid)
    done: dict[str, object] = {}
    with (
        tempfile.NamedTemporaryFile(prefix="time-", suffix=".txt") as time_file,
        tempfile.TemporaryFile() as err,
        stdout.open("wb") if stdout else open(os.devnull, "wb") as out,
    ):
        wrapper = [GNU_TIME[0], "-f", "%M", "-o", time_file.name] if GNU_TIME else []
        start = time.perf_counter()
        proc = subprocess.Popen(
            [*wrapper, *argv],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )

        def reap() -> None:
            _, status, usage = os.wait4(proc.pid, 0)
            done.update(end=time.perf_counter(), status=status, usage=usage)

        waiter = threading.Thread(target=reap, daemon=True)
        waiter.start()
        timed_out = False
        try:
            waiter.join(timeout)
            timed_out = waiter.is_alive()
        finally:
            if waiter.is_alive():  # timed out, or Ctrl-C / SIGTERM while waiting
                with suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                waiter.join(10)
        end = done.get("end", time.perf_counter())
        assert isinstance(end, float)
        usage = done.get("usage")
        status = done.get("status")
        returncode = os.waitstatus_to_exitcode(status) if isinstance(status, int) else -9
        proc.returncode = returncode  # reaped by wait4: Popen must not wait for it again
        err.seek(0)
        stderr = err.read().decode(errors="replace")
        max_rss_kb = float(getattr(usage, "ru_maxrss", 0))  # an upper bound: see above
        if GNU_TIME:
            # GNU time writes "Command exited with non-zero status N" before the number.
            lines = Path(time_file.name).read_text().split()
            max_rss_kb = float(lines[-1]) if lines and lines[-1].isdigit() else float("nan")
    cpu = getattr(usage, "ru_utime", 0.0) + getattr(usage, "ru_stime", 0.0)
    return Measured(
        argv=list(argv),
        wall=end - start,
        returncode=None if timed_out else returncode,
        max_rss_mb=max_rss_kb / 1024,
        cpu=cpu,
        nginx_cpu=nginx_cpu_seconds(nginx_pid) - nginx_before,
        stderr=stderr,
    )


@dataclass
class Outcome:
    """One contender over the targets: the median run, and whether its output was complete."""

    label: str
    targets: int
    runs: list[Measured] = field(default_factory=list)
    valid: bool = False
    note: str = ""
    extrapolated_wall: float | None = None  # set when only a sample was measured
    measured_targets: int | None = None

    @property
    def median(self) -> Measured:
        return sorted(self.runs, key=lambda run: run.wall)[len(self.runs) // 2]

    @property
    def wall(self) -> float:
        return self.extrapolated_wall if self.extrapolated_wall is not None else self.median.wall

    @property
    def rate(self) -> float:
        return self.targets / self.wall


def write_targets(path: Path, names: Sequence[str], port: int, repeat: int = 1) -> Path:
    path.write_text("".join(f"{name}:{port} {ADDR}\n" for _ in range(repeat) for name in names))
    return path


TLSDOCTOR: list[str] = []  # set by --tlsdoctor


def tlsdoctor_command() -> str:
    if TLSDOCTOR:
        return TLSDOCTOR[0]
    beside = Path(sys.executable).parent / "tlsdoctor"
    return str(beside) if beside.exists() else (shutil.which("tlsdoctor") or "tlsdoctor")


def process_timeout(targets: int, per_target: float) -> float:
    return 120 + per_target * targets


# --- contenders -------------------------------------------------------------------------------


def check_tlsdoctor_output(path: Path, names: Sequence[str], repeat: int) -> tuple[bool, str]:
    expected = len(names) * repeat
    verdicts: Counter[str] = Counter()
    hosts: Counter[str] = Counter()
    bad_json = 0
    first_untrusted = ""
    text = path.read_text(errors="replace") if path.exists() else ""
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            report = json.loads(line)
        except ValueError:
            bad_json += 1
            continue
        if not isinstance(report, dict) or "verdict" not in report:
            bad_json += 1
            continue
        verdicts[str(report["verdict"])] += 1
        target = report.get("target") or {}
        if isinstance(target, dict) and target.get("host"):
            hosts[str(target["host"])] += 1
        if report["verdict"] != "trusted" and not first_untrusted:
            codes = [f.get("code") for f in report.get("findings", []) if isinstance(f, dict)]
            first_untrusted = f"{target.get('host') if isinstance(target, dict) else '?'}: {codes}"
    total = sum(verdicts.values())
    summary = ", ".join(f"{count} {verdict}" for verdict, count in verdicts.most_common())
    note = f"{total}/{expected} JSON lines with a verdict ({summary or 'none'})"
    if bad_json:
        note += f", {bad_json} other lines"
    if hosts and set(hosts) != set(names):
        note += f", {len(set(names) - set(hosts))} names missing from target.host"
    if first_untrusted:
        note += f"; first not trusted: {first_untrusted}"
    return total == expected, note


def tlsdoctor_once(
    outcome: Outcome,
    work: Path,
    targets_file: Path,
    pki: Pki,
    names: Sequence[str],
    args: argparse.Namespace,
    nginx_pid: int,
    repeat: int = 1,
) -> None:
    """One run of `tlsdoctor check -f` (none after a failed one), its output checked."""
    if outcome.runs and not outcome.valid:
        return
    argv = [
        tlsdoctor_command(),
        "check",
        "-f",
        str(targets_file),
        "--json",
        "--ca-file",
        str(pki.root),
        "--concurrency",
        str(args.concurrency),
    ]
    out = work / f"tlsdoctor-{outcome.targets}.jsonl"
    run = run_measured(
        argv, stdout=out, timeout=process_timeout(outcome.targets, 0.2), nginx_pid=nginx_pid
    )
    outcome.runs.append(run)
    valid, note = check_tlsdoctor_output(out, names, repeat)
    outcome.valid = valid and not run.timed_out
    if run.timed_out:
        outcome.note = f"timed out after {run.wall:.0f} s; {note}"
    elif not valid:
        head = "tlsdoctor check -f not available yet" if note.startswith("0/") else "incomplete"
        error = run.last_error_line() or "no message"
        outcome.note = f"{head} (exit {run.returncode}: {error}); {note}"
    else:
        outcome.note = f"exit {run.returncode}; {note}"


def ceiling_once(
    outcome: Outcome,
    targets_file: Path,
    distinct: int,
    args: argparse.Namespace,
    nginx_pid: int,
    *,
    threads: bool = False,
) -> None:
    """One run of the bare handshake loop (none after a failed one): all handshakes made,
    one distinct leaf per name (SNI routed every name to its own server block)."""
    if outcome.runs and not outcome.valid:
        return
    argv = [
        sys.executable,
        str(CEILING),
        str(targets_file),
        "--concurrency",
        str(args.concurrency),
        *(["--threads"] if threads else []),
    ]
    out = targets_file.with_suffix(".threads.json" if threads else ".ceiling.json")
    run = run_measured(
        argv, stdout=out, timeout=process_timeout(outcome.targets, 0.1), nginx_pid=nginx_pid
    )
    outcome.runs.append(run)
    try:
        summary = json.loads(out.read_text())
    except ValueError:
        summary = {}
    complete = summary.get("ok") == outcome.targets and summary.get("distinct_leaves") == distinct
    outcome.valid = complete and run.returncode == 0
    outcome.note = (
        f"{summary.get('ok')}/{outcome.targets} handshakes, {summary.get('distinct_leaves')}"
        f" distinct leaves (expected {distinct}), {summary.get('seconds')} s in process"
    )
    if not outcome.valid:
        outcome.note += f"; exit {run.returncode}: {run.last_error_line()}"


def sslyze_command() -> Path:
    return SSLYZE_VENV / "bin" / "sslyze"


def ensure_sslyze() -> tuple[Path, str]:
    """sslyze in its own venv (it pins its own cryptography); made once, then reused."""
    sslyze = sslyze_command()
    if not sslyze.exists():
        print(f"Installing sslyze into {SSLYZE_VENV} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(SSLYZE_VENV)], check=True, timeout=300)
        # The venv must never show up in git status: it ignores itself, as virtualenv's do.
        (SSLYZE_VENV / ".gitignore").write_text("*\n")
        subprocess.run(
            [str(SSLYZE_VENV / "bin" / "pip"), "install", "-q", "sslyze"],
            check=True,
            timeout=900,
        )
    probe = subprocess.run(
        [
            str(SSLYZE_VENV / "bin" / "python"),
            "-c",
            "import importlib.metadata as m; print(m.version('sslyze'), m.version('nassl'),"
            " m.version('cryptography'))",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    sslyze_version, nassl, crypto = ([*probe.stdout.split(), "?", "?", "?"])[:3]
    return sslyze, f"sslyze {sslyze_version} (nassl {nassl}, cryptography {crypto})"


def check_sslyze_output(path: Path, names: Sequence[str]) -> tuple[bool, str, float | None]:
    """Every name scanned, its certificate info complete, the right leaf, valid under
    --certinfo_ca_file. Returns (complete, note, seconds sslyze spent scanning)."""
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        return False, f"no JSON output ({error})", None
    results = document.get("server_scan_results") or []
    good: set[str] = set()
    problems: Counter[str] = Counter()
    for result in results:
        host = (result.get("server_location") or {}).get("hostname", "?")
        if result.get("scan_status") != "COMPLETED":
            problems[f"scan {result.get('scan_status')}"] += 1
            continue
        certinfo = (result.get("scan_result") or {}).get("certificate_info") or {}
        if certinfo.get("status") != "COMPLETED":
            problems[f"certinfo {certinfo.get('status')}"] += 1
            continue
        deployments = (certinfo.get("result") or {}).get("certificate_deployments") or []
        if not deployments:
            problems["no certificate"] += 1
            continue
        deployment = deployments[0]
        chain = deployment.get("received_certificate_chain") or []
        sans = (
            ((chain[0].get("subject_alternative_name") or {}).get("dns_names") or [])
            if chain
            else []
        )
        if host not in sans:
            problems["wrong leaf"] += 1
            continue
        custom = [
            validation
            for validation in deployment.get("path_validation_results") or []
            # sslyze 6 names the --certinfo_ca_file store "Supplied CA file"
            if (validation.get("trust_store") or {}).get("name") == "Supplied CA file"
        ]
        if not custom or not all(v.get("was_validation_successful") for v in custom):
            problems["not valid under --certinfo_ca_file"] += 1
            continue
        good.add(host)
    seconds = None
    try:
        started = dt.datetime.fromisoformat(document["date_scans_started"])
        completed = dt.datetime.fromisoformat(document["date_scans_completed"])
        seconds = (completed - started).total_seconds()
    except (KeyError, TypeError, ValueError):
        pass
    complete = good == set(names)
    note = f"{len(good)}/{len(names)} names checked and valid under --certinfo_ca_file"
    if problems:
        note += " (" + ", ".join(f"{n} {p}" for p, n in problems.most_common()) + ")"
    return complete, note, seconds


def run_sslyze(
    work: Path, pki: Pki, names: Sequence[str], sample: int, port: int, nginx_pid: int
) -> tuple[Outcome, list[str], str]:
    sslyze, version = ensure_sslyze()
    measured = list(names[:sample])
    targets_file = work / "sslyze-targets.txt"
    targets_file.write_text("".join(f"{name}:{port}{{{ADDR}}}\n" for name in measured))
    json_out = work / "sslyze.json"
    argv = [
        str(sslyze),
        "--quiet",
        "--mozilla_config",
        "disable",
        "--certinfo",
        "--certinfo_ca_file",
        str(pki.root),
        "--targets_in",
        str(targets_file),
        "--json_out",
        str(json_out),
    ]
    outcome = Outcome("sslyze --certinfo", len(names), measured_targets=len(measured))
    run = run_measured(
        argv, stdout=None, timeout=process_timeout(len(measured), 2.0), nginx_pid=nginx_pid
    )
    outcome.runs.append(run)
    complete, note, scanning = check_sslyze_output(json_out, measured)
    outcome.valid = complete and not run.timed_out
    outcome.note = f"exit {run.returncode}; {note}"
    if run.timed_out:
        outcome.note = f"timed out after {run.wall:.0f} s; {note}"
    elif not complete and run.last_error_line():
        outcome.note += f"; {run.last_error_line()}"
    if len(measured) < len(names):
        # Start-up (imports, trust stores) once, scanning in proportion to the targets.
        # sslyze's own JSON says how long the scans took; the rest of the wall time is fixed.
        fixed = run.wall - scanning if scanning is not None else 0.0
        per_target = (run.wall - fixed) / len(measured)
        outcome.extrapolated_wall = fixed + per_target * len(names)
        outcome.note += (
            f"; EXTRAPOLATED from {len(measured)} targets: {run.wall:.1f} s measured"
            f" = {fixed:.1f} s start-up + {run.wall - fixed:.1f} s of scans"
        )
    return outcome, argv, version


def single_check(
    work: Path, pki: Pki, name: str, port: int, nginx_pid: int
) -> tuple[str, list[float], str]:
    """SINGLE_RUNS process runs of one live check. The chain is healthy, so the one right
    answer is exit 0 with a report on stdout; anything else is said, with the times if it ran."""
    argv = [
        tlsdoctor_command(),
        "check",
        f"{name}:{port}",
        "--connect",
        f"{ADDR}:{port}",
        "--ca-file",
        str(pki.root),
    ]
    out = work / "single.txt"
    times: list[float] = []
    problem = ""
    for _ in range(SINGLE_RUNS):
        run = run_measured(argv, stdout=out, timeout=60, nginx_pid=nginx_pid)
        first = next((line for line in out.read_text(errors="replace").splitlines() if line), "")
        if run.returncode not in (0, 1, 2) or not first:
            error = run.last_error_line() or "no message"
            return " ".join(argv), [], f"not available yet (exit {run.returncode}: {error})"
        if run.returncode != 0 and not problem:
            problem = f"exit {run.returncode}, expected 0 (trusted): {first.strip()[:120]}"
        times.append(run.wall)
    return " ".join(argv), times, problem


# --- report -----------------------------------------------------------------------------------


def row(outcome: Outcome) -> str:
    if not outcome.runs:
        return f"  {outcome.label:34s} not run"
    run = outcome.median
    if not outcome.valid:
        return f"  {outcome.label:34s} {'n/a':>9s}  (below)"
    wall = outcome.wall
    shown = f"{'~' if outcome.extrapolated_wall is not None else ''}{wall:.2f}"
    measured = outcome.measured_targets or outcome.targets
    return (
        f"  {outcome.label:34s} {shown:>8s} s {outcome.rate:8.0f}/s"
        f" {run.max_rss_mb:7.0f} MB {run.cpu:7.2f} s {1000 * run.cpu / measured:6.2f} ms"
        f" {run.nginx_cpu:7.2f} s"
    )


HEADER = (
    f"  {'contender':34s} {'wall':>10s} {'targets':>10s} {'peak RSS':>10s} {'its CPU':>9s}"
    f" {'CPU/target':>9s} {'nginx CPU':>9s}"
)


def ratio(numerator: Outcome | None, denominator: Outcome | None) -> float | None:
    if numerator is None or denominator is None:
        return None
    if not (numerator.valid and denominator.valid):
        return None
    return numerator.rate / denominator.rate


def print_ratio(label: str, value: float | None, goal: str, why: str) -> None:
    shown = f"{value:.2f}x" if value is not None else f"n/a ({why})"
    print(f"  {label:40s} {shown}   goal {goal}")


def interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--names", type=int, default=1000, help="SNI names (server blocks)")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument(
        "--sslyze-sample",
        type=int,
        default=0,
        metavar="N",
        help="run sslyze on the first N names only and extrapolate (default: all names)",
    )
    parser.add_argument("--skip-sslyze", action="store_true")
    parser.add_argument("--runs", type=int, default=3, help="runs of tlsdoctor -f and ceiling")
    parser.add_argument("--port", type=int, default=18443)
    parser.add_argument("--keep", action="store_true", help="keep the work folder; print it")
    parser.add_argument(
        "--tlsdoctor",
        metavar="PATH",
        help="the tlsdoctor command to measure (default: the one beside this Python)",
    )
    args = parser.parse_args()
    if args.tlsdoctor:
        TLSDOCTOR.append(args.tlsdoctor)
    time_command = gnu_time()
    if time_command:
        GNU_TIME.append(time_command)
    else:
        print("GNU time not found: peak RSS from wait4 is only an upper bound", file=sys.stderr)
    if args.names < 1 or args.concurrency < 1 or args.runs < 1:
        parser.error("--names, --concurrency and --runs must be >= 1")

    # SIGTERM unwinds like Ctrl-C, so the finally blocks stop nginx and the running contender.
    signal.signal(signal.SIGTERM, interrupt)

    width = max(4, len(str(args.names - 1)))
    names = [f"site{i:0{width}d}.{DOMAIN}" for i in range(args.names)]
    # Memory-backed when possible: 2,000 small files are made in a fraction of the time, and
    # the contenders' output files (tens of MB of JSON) cost no disk I/O while timed.
    shm = Path("/dev/shm")
    where = str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None
    work = Path(tempfile.mkdtemp(prefix="tlsdoctor-bench-live-", dir=where))
    try:
        bench(work, names, args)
    except KeyboardInterrupt:
        print("\ninterrupted; nginx stopped", file=sys.stderr)
        sys.exit(130)
    finally:
        if args.keep:
            print(f"\nwork folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def bench(work: Path, names: list[str], args: argparse.Namespace) -> None:
    pki = make_pki(work / "certs", names)
    nginx_version = subprocess.run(
        [nginx_command(), "-v"],
        capture_output=True,
        text=True,
        timeout=30,
    ).stderr.strip()
    print(
        f"PKI: root + intermediate + {len(names) + 1} EC P-256 leaves in {pki.seconds:.2f} s"
        f"\n{nginx_version}, {ADDR}:{args.port}, {len(names)} server blocks + default_server,"
        " worker_processes 2, ssl_session_cache off, no session tickets"
        f"\n{os.cpu_count()} cores; Python {sys.version.split()[0]}; concurrency {args.concurrency}"
    )
    targets = write_targets(work / "targets.txt", names, args.port)
    big_targets = write_targets(work / "targets-10x.txt", names, args.port, MEMORY_FACTOR)
    summary: dict[str, object] = {"names": len(names), "concurrency": args.concurrency}
    sslyze_label = ""
    with nginx_running(work / "nginx", pki, args.port) as nginx:
        start = time.perf_counter()
        sanity_check(pki, args.port)
        print(f"nginx up; SNI routing and chain verified ({time.perf_counter() - start:.2f} s)")

        # 1. One target, as a person types it.
        command, times, problem = single_check(work, pki, names[1], args.port, nginx.pid)
        floor_file = write_targets(work / "one.txt", names[1:2], args.port)
        floor = [
            run_measured(
                [sys.executable, str(CEILING), str(floor_file)],
                stdout=None,
                timeout=60,
                nginx_pid=nginx.pid,
            ).wall
            for _ in range(SINGLE_RUNS)
        ]
        print(f"\nOne target, process wall time, {SINGLE_RUNS} runs (median, min, max in ms):")
        print(f"  $ {command}")
        if times:
            print(
                f"  {'tlsdoctor check HOST --connect':44s} {1000 * statistics.median(times):7.1f}"
                f" {1000 * min(times):7.1f} {1000 * max(times):7.1f}"
            )
            summary["single_median_ms"] = round(1000 * statistics.median(times), 1)
        if problem:
            print(f"  tlsdoctor check HOST --connect: {problem}")
        print(
            f"  {'python asyncio handshake, 1 target (floor)':44s}"
            f" {1000 * statistics.median(floor):7.1f}"
            f" {1000 * min(floor):7.1f} {1000 * max(floor):7.1f}"
        )

        # 2. The same targets, side by side; runs interleaved, so that a change in the
        # machine's load during the benchmark falls on every contender alike.
        count = len(names)
        tlsdoctor = Outcome("tlsdoctor check -f", count)
        ceiling = Outcome("asyncio handshakes (ceiling)", count)
        threaded = Outcome("threaded handshakes (reference)", count)
        for _ in range(args.runs):
            ceiling_once(ceiling, targets, count, args, nginx.pid)
            tlsdoctor_once(tlsdoctor, work, targets, pki, names, args, nginx.pid)
            ceiling_once(threaded, targets, count, args, nginx.pid, threads=True)
        sslyze = None
        sslyze_argv: list[str] = []
        if not args.skip_sslyze:
            sample = args.sslyze_sample or count
            sslyze, sslyze_argv, sslyze_label = run_sslyze(
                work, pki, names, min(sample, count), args.port, nginx.pid
            )

        # 3. Peak memory over 10x the targets.
        memory = Outcome(f"tlsdoctor check -f x{MEMORY_FACTOR}", count * MEMORY_FACTOR)
        tlsdoctor_once(memory, work, big_targets, pki, names, args, nginx.pid, MEMORY_FACTOR)
        memory_ceiling = Outcome(f"asyncio handshakes x{MEMORY_FACTOR}", count * MEMORY_FACTOR)
        ceiling_once(memory_ceiling, big_targets, count, args, nginx.pid)
        stopping = time.perf_counter()
    print(f"nginx stopped ({time.perf_counter() - stopping:.2f} s)")

    print(
        f"\n{len(names)} targets, concurrency {args.concurrency}; median of {args.runs} runs"
        " (sslyze: 1 run)"
    )
    print(HEADER)
    contenders = [tlsdoctor, *([sslyze] if sslyze else []), ceiling, threaded]
    for outcome in contenders:
        print(row(outcome))
    for outcome in contenders:
        print(f"    {outcome.label}: {outcome.note}")
    if sslyze is not None:
        print(f"    {sslyze_label}; $ {' '.join(sslyze_argv)}")
        print("    sslyze's CLI scans 10 servers at a time, 5 connections each (not settable)")
    elif args.skip_sslyze:
        print("    sslyze skipped (--skip-sslyze)")

    print("\nRatios (targets/s):")
    why = "tlsdoctor check -f not available yet" if not tlsdoctor.valid else "sslyze not valid"
    to_sslyze = ratio(tlsdoctor, sslyze)
    extrapolated = " (sslyze extrapolated)" if sslyze and sslyze.extrapolated_wall else ""
    print_ratio(
        "tlsdoctor / sslyze" + extrapolated,
        to_sslyze,
        ">= 10x",
        why if sslyze else "sslyze skipped",
    )
    to_ceiling = ratio(tlsdoctor, ceiling)
    print_ratio("tlsdoctor / ceiling", to_ceiling, ">= 0.5x", why)
    if tlsdoctor.valid:
        print_ratio("tlsdoctor / threaded handshakes", ratio(tlsdoctor, threaded), "-", "")
    print_ratio("threaded / asyncio handshakes", ratio(threaded, ceiling), "-", "not valid")
    if sslyze is not None and ratio(ceiling, sslyze) is not None:
        print_ratio("ceiling / sslyze (for scale)", ratio(ceiling, sslyze), "-", "")

    print(f"\nPeak memory, {len(names) * MEMORY_FACTOR} targets (each name {MEMORY_FACTOR}x):")
    print(HEADER)
    print(row(memory))
    print(row(memory_ceiling))
    print(f"    {memory.label}: {memory.note}")
    if memory.valid:
        rss = memory.median.max_rss_mb
        verdict = "met" if rss < MEMORY_GOAL_MB else "MISSED"
        print(f"  tlsdoctor peak RSS {rss:.0f} MB: goal < {MEMORY_GOAL_MB} MB {verdict}")

    for key, result in (
        ("tlsdoctor", tlsdoctor),
        ("sslyze", sslyze),
        ("ceiling", ceiling),
        ("threaded", threaded),
        ("tlsdoctor_10x", memory),
        ("ceiling_10x", memory_ceiling),
    ):
        if result is None or not result.runs:
            continue
        summary[key] = {
            "valid": result.valid,
            "note": result.note,
            "wall_s": round(result.wall, 3),
            "targets_per_s": round(result.rate, 1),
            "extrapolated": result.extrapolated_wall is not None,
            "peak_rss_mb": round(result.median.max_rss_mb, 1),
            "cpu_s": round(result.median.cpu, 2),
            "nginx_cpu_s": round(result.median.nginx_cpu, 2),
        }
    summary["ratio_tlsdoctor_sslyze"] = to_sslyze
    summary["ratio_tlsdoctor_ceiling"] = to_ceiling
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bench_live.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"\nSummary written to {RESULTS / 'bench_live.json'}")


if __name__ == "__main__":
    main()
