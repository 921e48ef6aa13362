"""The command line as scripts use it: exit codes, JSON on stdout, one sentence on stderr."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import FIXTURES, validate_report_json
from pki import DAY, NOW, Issued, make_root, self_signed_leaf
from tlsdoctor.cli.main import main

Write = Callable[[str, bytes], Path]
AT = NOW.strftime("%Y-%m-%dT%H:%M:%SZ")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def check_argv(*chains: str, **options: str) -> list[str]:
    """`check --chain A --chain B --host-name x ...`: keyword options become flags."""
    argv = ["check"]
    for chain in chains:
        argv += ["--chain", chain]
    for option, value in options.items():
        argv += [f"--{option.replace('_', '-')}", value]
    return argv


@pytest.fixture
def files(root: Issued, intermediate: Issued, tmp_files: Write) -> dict[str, str]:
    leaf = intermediate.issue_leaf(["www.example.test", "example.test"])
    expiring = intermediate.issue_leaf(not_before=NOW - 80 * DAY, not_after=NOW + 5 * DAY)
    return {
        "root": str(tmp_files("root.pem", root.pem())),
        "leaf": str(tmp_files("leaf.pem", leaf.pem())),
        "intermediate": str(tmp_files("intermediate.pem", intermediate.pem())),
        "fullchain": str(tmp_files("fullchain.pem", leaf.pem() + intermediate.pem())),
        "expiring": str(tmp_files("expiring.pem", expiring.pem() + intermediate.pem())),
        "self_signed": str(tmp_files("self.pem", self_signed_leaf().pem())),
        "garbage": str(tmp_files("garbage.pem", b"\x00\x01 not a certificate")),
    }


def test_trusted_exit_0_and_json_per_spec(
    capsys: pytest.CaptureFixture[str], files: dict[str, str]
) -> None:
    code, out, err = run(
        capsys,
        *check_argv(files["fullchain"], host="www.example.test", ca_file=files["root"], at=AT),
        "--json",
    )
    assert code == 0, err
    data = json.loads(out)
    validate_report_json(data)
    assert data["verdict"] == "trusted"
    assert data["target"] == {
        "host": "www.example.test",
        "port": None,
        "sni": None,
        "source": "file",
        "files": [files["fullchain"]],
    }
    assert data["evaluated_at"] == AT
    assert data["trust_anchors"][0]["kind"] == "custom"
    assert {c["client"] for c in data["clients"]} == {
        "chrome",
        "edge",
        "firefox",
        "safari",
        "curl",
        "wget",
        "python",
        "python-requests",
        "node",
        "java",
        "go",
        "dotnet-windows",
        "dotnet-linux",
    }


def test_leaf_and_intermediate_in_separate_files(
    capsys: pytest.CaptureFixture[str], files: dict[str, str]
) -> None:
    argv = check_argv(
        files["leaf"], files["intermediate"], host="example.test", ca_file=files["root"], at=AT
    )
    code, out, _ = run(capsys, *argv, "--json")
    assert code == 0
    assert [c["role"] for c in json.loads(out)["path"]] == ["leaf", "intermediate", "root"]


def test_warnings_exit_1(capsys: pytest.CaptureFixture[str], files: dict[str, str]) -> None:
    code, out, _ = run(
        capsys, *check_argv(files["expiring"], ca_file=files["root"], at=AT), "--json"
    )
    assert code == 1
    assert [f["code"] for f in json.loads(out)["findings"]] == ["expiring_soon"]


def test_untrusted_exit_2_with_text_report(
    capsys: pytest.CaptureFixture[str], files: dict[str, str]
) -> None:
    code, out, _ = run(
        capsys, *check_argv(files["leaf"], host="www.example.test", ca_file=files["root"], at=AT)
    )
    assert code == 2
    first = out.splitlines()[0]
    assert "UNTRUSTED" in first and "www.example.test" in first
    assert "missing_intermediate" in out or "untrusted_root" in out
    assert "fix:" in out
    assert "Who fails" in out
    assert "curl: (60) SSL certificate problem" in out


def test_hostname_mismatch_from_the_command_line(
    capsys: pytest.CaptureFixture[str], files: dict[str, str]
) -> None:
    code, out, _ = run(
        capsys,
        *check_argv(files["fullchain"], host="shop.example.test", ca_file=files["root"], at=AT),
        "--json",
    )
    assert code == 2
    assert json.loads(out)["findings"][0]["code"] == "hostname_mismatch"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["check"], "give a target (HOST[:PORT] or URL), -f FILE, or --chain FILE"),
        (["check", "--chain", "/nonexistent/chain.pem"], "/nonexistent/chain.pem: no such file"),
        (["check", "--chain", "GARBAGE"], "holds no certificate"),
        (["check", "--chain", "LEAF", "--at", "yesterday"], "--at 'yesterday' is not a time"),
        (["check", "--chain", "LEAF", "--ca-file", "GARBAGE"], "--ca-file"),
        (["check", "--chain", "LEAF", "--host", "bad host"], "'bad host' is not a host name"),
        (["check", "--chain", "LEAF", "--warn-days", "-4"], "-4"),
        (["check", "--nonsense"], "No such option"),
        (["inspect"], "Missing argument"),
        (["check", "www.example.test", "--host", "x"], "--host goes with --chain"),
        (["check", "www.example.test", "--chain", "LEAF"], "either --chain files or targets"),
        (["check", "http://www.example.test/"], "plain HTTP: there is no TLS to check"),
        (["check", "www.example.test:99999"], "'99999' is not a port number"),
        (["check", "-f", "/nonexistent/targets.txt"], "/nonexistent/targets.txt: no such file"),
    ],
)
def test_bad_usage_and_input_exit_3_without_traceback(
    capsys: pytest.CaptureFixture[str], files: dict[str, str], argv: list[str], message: str
) -> None:
    argv = [{"GARBAGE": files["garbage"], "LEAF": files["leaf"]}.get(a, a) for a in argv]
    code, out, err = run(capsys, *argv)
    assert code == 3
    assert message in err
    assert "Traceback" not in err
    assert out == ""


def test_self_signed_default_store(
    capsys: pytest.CaptureFixture[str], files: dict[str, str]
) -> None:
    code, out, _ = run(capsys, "check", "--chain", files["self_signed"], "--json")
    data = json.loads(out)
    assert code == 2
    assert data["findings"][0]["code"] == "self_signed"
    assert {a["kind"] for a in data["trust_anchors"]} >= {"mozilla"}


def test_json_lines_one_object_per_line(
    capsys: pytest.CaptureFixture[str], files: dict[str, str]
) -> None:
    _, out, _ = run(
        capsys, "check", "--chain", files["fullchain"], "--ca-file", files["root"], "--json"
    )
    assert out.count("\n") == 1


def test_inspect_text_and_json(capsys: pytest.CaptureFixture[str], files: dict[str, str]) -> None:
    code, out, _ = run(capsys, "inspect", files["fullchain"], "--at", AT)
    assert code == 0
    assert "Certificate 1 of" in out and "Certificate 2 of" in out
    assert "single-domain" in out
    assert "intermediate CA" in out
    code, out, _ = run(capsys, "inspect", files["fullchain"], "--json", "--at", AT)
    data = json.loads(out)
    assert [c["certificate_type"] for c in data["certificates"]] == [
        "single-domain",
        "intermediate CA",
    ]
    assert data["certificates"][0]["days_left"] == 60


def test_real_process_and_python_dash_m(files: dict[str, str]) -> None:
    """The installed console script and `python -m tlsdoctor` behave the same."""
    argv = ["check", "--chain", files["leaf"], "--ca-file", files["root"], "--json"]
    module = subprocess.run(
        [sys.executable, "-m", "tlsdoctor", *argv], capture_output=True, text=True, timeout=60
    )
    script = subprocess.run(
        [str(Path(sys.executable).parent / "tlsdoctor"), *argv],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert module.returncode == script.returncode == 2
    assert (
        json.loads(module.stdout)["verdict"] == json.loads(script.stdout)["verdict"] == "untrusted"
    )
    help_run = subprocess.run(
        [sys.executable, "-m", "tlsdoctor", "--help"], capture_output=True, text=True, timeout=60
    )
    assert help_run.returncode == 0 and "check" in help_run.stdout and "inspect" in help_run.stdout


def test_ten_thousand_san_certificate(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(FIXTURES / "prod-chains" / "subdomain-10000-sans.pem")
    code, out, _ = run(
        capsys, *check_argv(path, host="nowhere.test", at="2020-10-11T00:00:00Z"), "--json"
    )
    data = json.loads(out)
    mismatch = next(f for f in data["findings"] if f["code"] == "hostname_mismatch")
    assert mismatch["evidence"]["valid_for_count"] == 10000
    assert len(data["chain"][0]["san"]) == 10000
    code, out, _ = run(capsys, "inspect", path)
    assert code == 0
    assert "10000 in all" in out


def test_fifty_certificate_chain_and_known_bad_private_key_root(
    capsys: pytest.CaptureFixture[str], root: Issued, tmp_files: Write
) -> None:
    cas = [root.issue_ca("Deep 0")]
    for depth in range(1, 49):
        cas.append(cas[-1].issue_ca(f"Deep {depth}"))
    leaf = cas[-1].issue_leaf()
    path = tmp_files("deep.pem", leaf.pem() + b"".join(ca.pem() for ca in reversed(cas)))
    anchor = tmp_files("root.pem", root.pem())
    code, out, err = run(
        capsys, "check", "--chain", str(path), "--ca-file", str(anchor), "--at", AT, "--json"
    )
    assert code == 2, err
    reasons = {f["evidence"].get("reason") for f in json.loads(out)["findings"]}
    assert "path_too_long" in reasons


def test_pkcs12_password_from_option_and_environment(
    capsys: pytest.CaptureFixture[str],
    intermediate: Issued,
    files: dict[str, str],
    tmp_files: Write,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    leaf = intermediate.issue_leaf()
    p12 = tmp_files(
        "server.p12",
        pkcs12.serialize_key_and_certificates(
            b"x",
            leaf.key,
            leaf.cert,
            [intermediate.cert],
            serialization.BestAvailableEncryption(b"pw"),
        ),
    )
    argv = ["check", "--chain", str(p12), "--ca-file", files["root"], "--at", AT, "--json"]
    code, _, err = run(capsys, *argv)
    assert code == 3 and "pass --password" in err
    assert run(capsys, *argv, "--password", "pw")[0] == 0
    monkeypatch.setenv("TLSDOCTOR_PASSWORD", "pw")
    assert run(capsys, *argv)[0] == 0


def test_known_bad_root_key_from_fixtures(
    capsys: pytest.CaptureFixture[str], tmp_files: Write
) -> None:
    """A leaf issued today with Superfish's published private key is caught by the root."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    folder = FIXTURES / "known-bad-roots"
    cert = x509.load_pem_x509_certificate((folder / "ca-superfish.crt").read_bytes())
    key = load_pem_private_key((folder / "ca-superfish.key").read_bytes(), None)
    superfish = Issued(cert, key)  # type: ignore[arg-type]
    leaf = superfish.issue_leaf(["bank.example.test"])
    path = tmp_files("mitm.pem", leaf.pem())
    code, out, _ = run(
        capsys, "check", "--chain", str(path), "--host", "bank.example.test", "--at", AT, "--json"
    )
    data = json.loads(out)
    assert code == 2
    assert data["findings"][0]["code"] == "known_bad_root"
    assert data["findings"][0]["evidence"]["id"] == "superfish"
    # Negative control: the same leaf from an ordinary private root is merely untrusted.
    ordinary = make_root("Ordinary Root").issue_leaf(["bank.example.test"])
    path = tmp_files("ordinary.pem", ordinary.pem())
    _, out, _ = run(
        capsys, "check", "--chain", str(path), "--host", "bank.example.test", "--at", AT, "--json"
    )
    assert json.loads(out)["findings"][0]["code"] == "untrusted_root"
