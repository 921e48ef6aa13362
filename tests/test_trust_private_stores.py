"""`trust add` and `trust remove` on this machine's real stores, in a private mount
namespace (tests/privatestores.py): the system store with Debian's update-ca-certificates
and its Java hook, an NSS database, certifi; then the real clients (tests/trustmatrix.py).

What a user relies on: every client tlsdoctor names as trusting the CA connects, every
client it names as not trusting fails; after remove every client fails again; and every
store holds exactly what it held before add (certificates, aliases, links; not dates).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from privatestores import private_stores, unavailable
from servers import free_port

HOST = "matrix.trust.tlsdoctor.test"
MATRIX = Path(__file__).parent / "trustmatrix.py"
pytestmark = pytest.mark.skipif(unavailable() is not None, reason=str(unavailable()))
_DROPPED = {"SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"}
_DROPPED |= {"NODE_EXTRA_CA_CERTS", "NODE_OPTIONS", "PIP_CERT", "GIT_SSL_CAINFO"}


def _sha(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("trust-matrix")
    home = work / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in _DROPPED}
    env.update(HOME=str(home), LC_ALL="C", XDG_DATA_HOME="", XDG_CACHE_HOME="")
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(Path(__file__).parent)
    real = {
        p: _sha(p) for p in ("/etc/ssl/certs/ca-certificates.crt", "/etc/ssl/certs/java/cacerts")
    }
    done = private_stores(
        [sys.executable, str(MATRIX), str(work), HOST, str(free_port())],
        work,
        hosts=[f"127.0.0.1 {HOST}"],
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    # The real machine's stores were not touched.
    assert {p: _sha(p) for p in real} == real
    result = json.loads(done.stdout)
    if os.environ.get("TRUST_MATRIX_OUT"):  # to read the whole matrix
        Path(os.environ["TRUST_MATRIX_OUT"]).write_text(json.dumps(result, indent=1))
    return result


def _claimed(find: dict[str, Any]) -> dict[str, bool | None]:
    return {c["client"]: c["trusts"] for c in find["claims"]["clients"]}


def test_every_client_fails_before_add_and_after_remove(matrix: dict[str, Any]) -> None:
    assert not any(matrix["before"].values()), matrix["before"]
    assert not any(matrix["after_remove"].values()), matrix["after_remove"]
    assert matrix["add"]["exit"] == 0, matrix["add"]["output"]
    assert matrix["remove"]["exit"] == 0, matrix["remove"]["output"]


def test_after_add_each_claim_is_what_the_real_client_does(matrix: dict[str, Any]) -> None:
    from trustmatrix import CLAIMED_AS

    claimed = _claimed(matrix["find_after_add"])
    real = matrix["after_add"]
    wrong = {
        client: (claimed.get(claim), real[client])
        for client, claim in CLAIMED_AS.items()
        if client in real and claimed.get(claim) is not real[client]
    }
    assert not wrong, wrong
    # Not a vacuous match: the system and NSS clients connect, certifi's do not.
    assert real["curl"] and real["java"] and real["chromium"]
    assert real["requests"] is False and real["httpx"] is False and real["node"] is False


def test_node_advice_is_right_for_this_node(matrix: dict[str, Any]) -> None:
    """The advice names --use-openssl-ca on Node 20: it really makes node connect."""
    claims = {c["client"]: c for c in matrix["find_after_add"]["claims"]["clients"]}
    assert "--use-openssl-ca" in claims["node"]["advice"]
    assert matrix["after_add"]["node --use-openssl-ca"] is True
    assert matrix["after_remove"]["node --use-openssl-ca"] is False


def test_after_remove_no_client_is_claimed(matrix: dict[str, Any]) -> None:
    claimed = _claimed(matrix["find_after_remove"])
    assert not any(claimed.values()), claimed
    assert matrix["find_after_remove"]["exit"] == 2


def test_remove_restores_every_store_exactly(matrix: dict[str, Any]) -> None:
    before, added, after = (
        matrix["before_snapshot"],
        matrix["after_add_snapshot"],
        matrix["after_snapshot"],
    )
    assert before == after
    # The add did change them, with one Java alias (Debian's hook), not two.
    assert added["etc-ssl-certs"] != before["etc-ssl-certs"]
    new_aliases = sorted(
        set(map(tuple, added["java-cacerts"])) - set(map(tuple, before["java-cacerts"]))
    )
    assert len(new_aliases) == 1 and new_aliases[0][0].startswith("debian:"), new_aliases
    assert len(added["nss"]) == len(before["nss"]) + 1
