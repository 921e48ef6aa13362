"""Independent validators run on a generated :class:`pathcases.Case`: each answers
(accepted, what it said). None of them shares code with tlsdoctor.

- ``openssl verify`` (the OpenSSL of curl, wget and Python here), with the flags given;
- Go's ``crypto/x509`` through tests/oracles/goverify.go, built once per session;
- Python's ``ssl``: a real TLS handshake over memory BIOs, the server sending the case's
  chain and the client trusting the case's roots (Python cannot verify at another time,
  which is why the cases are made relative to the real clock).
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from pathcases import Case

HERE = Path(__file__).resolve().parent


def _pem(certs: list[object]) -> bytes:
    return b"".join(cert.public_bytes(serialization.Encoding.PEM) for cert in certs)  # type: ignore[attr-defined]


def write_case(case: Case, directory: Path) -> dict[str, Path]:
    """The case as the PEM files the command-line validators read."""
    directory.mkdir(parents=True, exist_ok=True)
    files = {
        "roots": directory / "roots.pem",
        "chain": directory / "chain.pem",
        "leaf": directory / "leaf.pem",
        "untrusted": directory / "untrusted.pem",
        "key": directory / "key.pem",
    }
    files["roots"].write_bytes(_pem(case.roots))
    files["chain"].write_bytes(_pem(case.sent))
    files["leaf"].write_bytes(_pem(case.sent[:1]))
    files["untrusted"].write_bytes(_pem(case.sent[1:]) or _pem(case.sent[:1]))
    files["key"].write_bytes(
        case.leaf_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return files


def _is_ip(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def openssl_verify(case: Case, files: dict[str, Path], *flags: str) -> tuple[bool, str]:
    """``openssl verify`` as a TLS client uses it: server purpose, host name, time."""
    host_flag = ["-verify_ip", case.host] if _is_ip(case.host) else ["-verify_hostname", case.host]
    command = [
        "openssl",
        "verify",
        "-CAfile",
        str(files["roots"]),
        "-untrusted",
        str(files["untrusted"]),
        "-purpose",
        "sslserver",
        "-attime",
        str(int(case.at.timestamp())),
        *host_flag,
        *flags,
        str(files["leaf"]),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    said = (done.stdout + done.stderr).strip().replace("\n", " | ")
    return done.returncode == 0, said[:400]


def build_go_oracle(work: Path) -> Path | None:
    """goverify built with the stdlib only (no module download); None without Go."""
    go = shutil.which("go")
    if go is None:
        return None
    binary = work / "goverify"
    env = {
        "PATH": "/usr/bin:/bin:/usr/local/bin:/usr/lib/go/bin",
        "HOME": str(work),
        "GOCACHE": str(work / "gocache"),
        "GOPATH": str(work / "gopath"),
        "GOFLAGS": "",
        "GO111MODULE": "off",
        "GOPROXY": "off",
        "CGO_ENABLED": "0",
    }
    subprocess.run(
        [go, "build", "-o", str(binary), str(HERE / "goverify.go")],
        env=env,
        cwd=work,
        capture_output=True,
        timeout=300,
        check=True,
    )
    return binary


def go_verify(binary: Path, case: Case, files: dict[str, Path]) -> tuple[bool, str]:
    command = [
        str(binary),
        str(files["roots"]),
        str(files["chain"]),
        str(int(case.at.timestamp())),
        case.host,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    said = done.stdout.strip()
    return said == "ok", said[:400]


# Rounds of the in-memory handshake: a TLS 1.3 handshake needs three; bounded anyway.
_HANDSHAKE_ROUNDS = 12


def python_ssl(case: Case, files: dict[str, Path]) -> tuple[bool, str]:
    """A real TLS handshake between two ``ssl`` objects over memory BIOs."""
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(str(files["chain"]), str(files["key"]))
    client_context = ssl.create_default_context(cafile=str(files["roots"]))
    to_server, to_client = ssl.MemoryBIO(), ssl.MemoryBIO()
    server_in, server_out = ssl.MemoryBIO(), ssl.MemoryBIO()
    client = client_context.wrap_bio(to_client, to_server, server_hostname=case.host)
    server = server_context.wrap_bio(server_in, server_out, server_side=True)
    client_done = server_done = False
    for _ in range(_HANDSHAKE_ROUNDS):
        if not client_done:
            try:
                client.do_handshake()
                client_done = True
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLCertVerificationError as exc:
                return False, str(exc.verify_message)
            except ssl.SSLError as exc:
                return False, f"ssl error: {exc}"
        server_in.write(to_server.read())
        if not server_done:
            try:
                server.do_handshake()
                server_done = True
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLError:
                pass  # the client's alert; the client's side says why
        to_client.write(server_out.read())
        if client_done:
            return True, "ok"
    return False, "handshake did not finish"
