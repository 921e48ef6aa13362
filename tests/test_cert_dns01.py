"""DNS-01 end to end on loopback: pebble asks a real authoritative server (Debian's BIND)
for `_acme-challenge` TXT records that tlsdoctor sets by RFC 2136 updates (dnspython,
TSIG-signed), through dns-lexicon, or through a hook; a wildcard is issued."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import dns.message
import dns.query
import dns.rdatatype
import pytest
from cryptography import x509

from bind import Bind, bind, bind_available
from pebble import Pebble, pebble, pebble_available
from servers import free_port
from tlsdoctor.cli.main import main

pytestmark = pytest.mark.skipif(
    not (pebble_available() and bind_available()), reason="needs pebble and bind9"
)


@pytest.fixture(scope="module")
def dns_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bind]:
    with bind(tmp_path_factory.mktemp("bind")) as server:
        yield server


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory, dns_server: Bind) -> Iterator[Pebble]:
    folder = tmp_path_factory.mktemp("pebble")
    with pebble(folder, free_port(), dns_server=dns_server.address) as server:
        yield server


@pytest.fixture(autouse=True)
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TLSDOCTOR_HOME", str(tmp_path / "home"))


@pytest.fixture
def root(ca: Pebble, tmp_path: Path) -> Path:
    path = tmp_path / "pebble-root.pem"
    path.write_bytes(ca.issuing_root())
    return path


def order(ca: Pebble, root: Path, out: Path, *extra: str) -> list[str]:
    return ["cert", "renew", "--acme-directory", ca.directory, "--directory-ca",
            str(ca.ca_file), "--ca-file", str(root), "--agree-tos", "-o", str(out),
            "--timeout", "30", "--dns-timeout", "10", *extra]  # fmt: skip


def txt(server: Bind, name: str) -> list[bytes]:
    query = dns.message.make_query(name + ".", dns.rdatatype.TXT)
    answer = dns.query.udp(query, "127.0.0.1", port=server.port, timeout=5)
    return [b"".join(r.strings) for rrset in answer.answer for r in rrset]


def sans(out: Path) -> list[str]:
    leaf = x509.load_pem_x509_certificate((out / "live" / "cert.pem").read_bytes())
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return list(names.get_values_for_type(x509.DNSName))


def test_wildcard_by_rfc2136_updates_to_bind(
    ca: Pebble, root: Path, dns_server: Bind, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "wild"
    argv = order(ca, root, out, "--dns-rfc2136", dns_server.address, "--dns-tsig-key",
                 str(dns_server.key_file), "--domain", "*.example.test", "--domain",
                 "example.test", "--json")  # fmt: skip
    code = main(argv)
    result = json.loads(capsys.readouterr().out)
    assert code == 0, result
    assert sans(out) == ["*.example.test", "example.test"]
    assert txt(dns_server, "_acme-challenge.example.test") == [], "challenge records removed"
    # Renewed from the stored settings alone (a timer's command line).
    code = main(["cert", "renew", "-o", str(out), "--json"])
    assert code == 0 and json.loads(capsys.readouterr().out)["renewed"] is True


def test_a_wrong_tsig_key_is_refused_by_the_server_in_one_sentence(
    ca: Pebble, root: Path, dns_server: Bind, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = tmp_path / "wrong.key"
    wrong.write_text(dns_server.key_file.read_text().replace('secret "', 'secret "AAAA', 1))
    argv = order(ca, root, tmp_path / "x", "--dns-rfc2136", dns_server.address,
                 "--dns-tsig-key", str(wrong), "--domain", "a.example.test")  # fmt: skip
    assert main(argv) == 3
    said = capsys.readouterr().err
    assert "refused the update" in said or "update" in said, said
    assert len(said.strip().splitlines()) == 1 and "Traceback" not in said
    assert not (tmp_path / "x").exists()
    # A name outside every zone the server holds: said before the CA is asked to look.
    argv = order(ca, root, tmp_path / "y", "--dns-rfc2136", dns_server.address,
                 "--dns-tsig-key", str(dns_server.key_file),
                 "--domain", "www.other.test")  # fmt: skip
    assert main(argv) == 3
    assert "serves no zone above" in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("nsupdate") is None, reason="needs nsupdate (bind9-dnsutils)")
def test_wildcard_through_a_hook_with_nsupdate(
    ca: Pebble, root: Path, dns_server: Bind, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hook = tmp_path / "hook.sh"
    hook.write_text(
        "#!/bin/sh\n"
        'verb=add; [ "$TLSDOCTOR_DNS_ACTION" = cleanup ] && verb=delete\n'
        f"printf 'server 127.0.0.1 {dns_server.port}\\nupdate %s %s. 60 TXT \"%s\"\\nsend\\n' "
        '"$verb" "$TLSDOCTOR_DNS_RECORD" "$CERTBOT_VALIDATION" '
        f"| nsupdate -k {dns_server.key_file}\n"
    )
    hook.chmod(0o755)
    out = tmp_path / "hooked"
    argv = order(ca, root, out, "--dns-hook", str(hook), "--domain", "*.hook.example.test")
    code = main([*argv, "--json"])
    result = json.loads(capsys.readouterr().out)
    assert code == 0, result
    assert sans(out) == ["*.hook.example.test"]
    assert txt(dns_server, "_acme-challenge.hook.example.test") == []
    # A hook that fails: its exit code and words, one sentence.
    argv = order(ca, root, tmp_path / "z", "--dns-hook", "echo no credentials >&2; exit 7",
                 "--domain", "b.example.test")  # fmt: skip
    assert main(argv) == 3
    said = capsys.readouterr().err
    assert "DNS (present) hook failed with exit code 7: no credentials" in said


LEXICON_SCRIPT = """
import sys
from tlsdoctor.certs.dns_challenge import LexiconResponder
zone = sys.argv[1]
responder = LexiconResponder("localzone", 10)
responder.publish("a.example.com", "token", "VALUE-1")
print(open(zone).read())
print("----")
responder.withdraw("a.example.com", "token")
print(open(zone).read())
"""


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare")
def test_dns_lexicon_sets_and_removes_the_record_with_a_real_provider(tmp_path: Path) -> None:
    """dns-lexicon's localzone provider edits a zone file; in a network namespace of its
    own, because lexicon's tldextract tries to download the public suffix list first."""
    pytest.importorskip("localzone")
    import subprocess
    import sys

    zone = tmp_path / "example.com.zone"
    zone.write_text(
        "$ORIGIN example.com.\n$TTL 60\n@ IN SOA ns hostmaster 1 3600 600 86400 60\n"
        "@ IN NS ns\nns IN A 127.0.0.1\n"
    )
    done = subprocess.run(
        ["unshare", "-n", sys.executable, "-c", LEXICON_SCRIPT, str(zone)],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "LEXICON_LOCALZONE_FILENAME": str(zone)},
    )  # fmt: skip
    if done.returncode != 0 and "unshare" in done.stderr:
        pytest.skip(f"no network namespace here: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    during, after = done.stdout.split("----")
    assert '_acme-challenge.a 60 IN TXT "VALUE-1"' in during
    assert "_acme-challenge" not in after
    assert "Traceback" not in done.stderr  # tldextract's download failure is not shown
