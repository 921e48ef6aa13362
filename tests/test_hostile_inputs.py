"""Hostile inputs: what strangers write into certificates, files and command lines is
shown escaped, bounded in size and time, and never ends in a traceback or a hang.

Every file here is made at test time (tests/hostile.py); FIFOs, sockets and devices are
real ones; commands that could hang run in a child process with a timeout.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import hostile
from tlsdoctor.cli.main import main
from tlsdoctor.errors import CertificateParseError
from tlsdoctor.pem import MAX_CERTIFICATES, load_certificates, parse_certificates
from tlsdoctor.render.safe import (
    json_visible,
    make_visible,
    safe_dn,
    safe_host,
    safe_text,
    safe_url,
)

TLSDOCTOR = [sys.executable, "-m", "tlsdoctor"]
STEERING = hostile.STEERING


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def child(*argv: str, timeout: float = 30, **kwargs: object) -> subprocess.CompletedProcess[str]:
    """tlsdoctor in a child process: a hang fails the test instead of stopping the suite."""
    if "input" not in kwargs:
        kwargs["stdin"] = subprocess.DEVNULL
    return subprocess.run(
        [*TLSDOCTOR, *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        **kwargs,  # type: ignore[call-overload]
    )


# safe_text -------------------------------------------------------------------------------
@pytest.mark.parametrize("char", STEERING)
def test_every_steering_character_is_made_visible(char: str) -> None:
    shown = safe_text(f"a{char}b")
    assert char not in shown
    assert shown.startswith("a\\") and shown.endswith("b")


def test_ordinary_text_and_letters_of_any_script_stay_as_they_are() -> None:
    for text in ("www.example.com", "Zürich Root CA", "日本語の証明書", "a [b] c"):
        assert safe_text(text) == text
    assert make_visible("two\nlines\tand a tab", keep="\n\t") == "two\nlines\tand a tab"
    assert make_visible("two\nlines") == "two\\x0alines"


def test_long_text_is_cut_with_a_visible_ellipsis() -> None:
    shown = safe_text("x" * 10_000, 80)
    assert shown.startswith("x" * 80) and "…" in shown and "9920 characters" in shown
    assert safe_text("x" * 80, 80) == "x" * 80


def test_look_alike_host_names_show_their_a_label_and_a_warning() -> None:
    shown = safe_host(hostile.HOMOGLYPH)
    assert "xn--pple-43d.com" in shown and "CYRILLIC" in shown and "LATIN" in shown
    assert safe_host("apple.com") == "apple.com"
    assert "xn--" in safe_dn(f"CN={hostile.HOMOGLYPH},O=Evil")
    assert safe_dn("CN=Zürich Root CA,O=Zürich") == "CN=Zürich Root CA,O=Zürich"
    assert "not plain ASCII" in safe_host("bücher.example")


def test_credentials_in_urls_are_never_shown() -> None:
    assert safe_url("https://user:secret@ca.example/x.crl") == "https://***@ca.example/x.crl"
    assert safe_url("http://ca.example/a@b") == "http://ca.example/a@b"


def test_json_escapes_c1_bidi_and_invisible_characters_but_keeps_letters() -> None:
    text = json.dumps({"cn": "é\x9b\u202e\u200b\U000e0041"}, ensure_ascii=False)
    shown = json_visible(text)
    assert all(c not in shown for c in "\x9b\u202e\u200b\U000e0041")
    assert "é" in shown
    assert json.loads(shown) == json.loads(text)


# Terminal injection through a certificate -------------------------------------------------
@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    made = {
        "terminal": hostile.terminal_names(),
        "homoglyph": hostile.homoglyph_name(),
        "year0": hostile.year_zero(),
        "utf8": hostile.invalid_utf8_name(),
        "oid": hostile.unknown_signature_oid(),
        "broken": hostile.broken_beside_good(),
        "good": hostile.terminal_free_pem(),
    }
    paths = {}
    for name, data in made.items():
        paths[name] = tmp_path / name
        paths[name].write_bytes(data)
    return paths


@pytest.mark.parametrize("force_color", [False, True])
@pytest.mark.parametrize(
    "command", [["check", "--chain"], ["inspect"], ["fix", "chain", "--chain"]]
)
def test_certificate_fields_cannot_drive_the_terminal(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    files: dict[str, Path],
    command: list[str],
    force_color: bool,
) -> None:
    if force_color:  # as on a terminal: Rich writes its own colours, nothing else
        monkeypatch.setenv("FORCE_COLOR", "1")
        monkeypatch.setenv("COLUMNS", "400")  # the escaped name on one line, to find it
    code, out, err = run(capsys, *command, str(files["terminal"]))
    assert code in (0, 2)
    for raw in ("\x1b[2J", "\x1b]8;;", "\x9b", "\u202e", "\x07"):
        assert raw not in out + err
    assert "\\x1b[2J" in out and "\\u202e" in out


def test_json_report_escapes_what_the_certificate_holds(
    capsys: pytest.CaptureFixture[str], files: dict[str, Path]
) -> None:
    code, out, _ = run(capsys, "check", "--chain", str(files["terminal"]), "--json")
    assert code == 2
    assert all(c not in out for c in "\x1b\x07\x9b\u202e")
    subject = json.loads(out)["chain"][0]["subject"]
    assert "\x1b[2J" in subject and "\u202e" in subject  # the data itself is intact


def test_look_alike_name_is_flagged_in_check_and_inspect(
    capsys: pytest.CaptureFixture[str], files: dict[str, Path]
) -> None:
    for command in (["check", "--chain"], ["inspect"]):
        _, out, _ = run(capsys, *command, str(files["homoglyph"]))
        assert "xn--pple-43d.com; mixes CYRILLIC and LATIN letters" in out
    _, out, _ = run(capsys, "inspect", str(files["good"]))
    assert "look-alike" not in out


# Certificates a parser trips on -----------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("year0", "certificate 1 cannot be parsed (year 0 is out of range)"),
        ("utf8", "certificate 1 cannot be parsed"),
        ("broken", "certificate 2 cannot be parsed"),
    ],
)
@pytest.mark.parametrize(
    "command", [["check", "--chain"], ["inspect"], ["fix", "chain", "--chain"]]
)
def test_unreadable_certificates_are_one_sentence_and_exit_3(
    capsys: pytest.CaptureFixture[str],
    files: dict[str, Path],
    name: str,
    reason: str,
    command: list[str],
) -> None:
    code, out, err = run(capsys, *command, str(files[name]))
    assert code == 3
    assert f"{files[name]}: {reason}" in err
    assert err.count("\n") == 1 and out == ""


def test_unknown_signature_algorithm_is_judged_not_crashed(
    capsys: pytest.CaptureFixture[str], files: dict[str, Path]
) -> None:
    code, out, err = run(capsys, "check", "--chain", str(files["oid"]), "--json")
    assert code == 2 and err == ""
    assert json.loads(out)["verdict"] == "untrusted"
    code, out, _ = run(capsys, "inspect", str(files["oid"]))
    assert code == 0 and "1.2.840.10045.4.3.9" in out


# Files that are not files ------------------------------------------------------------------
def _special(kind: str, folder: Path) -> str:
    if kind == "fifo":
        path = folder / "fifo"
        os.mkfifo(path)
        return str(path)
    if kind == "socket":
        path = folder / "sock"
        with socket.socket(socket.AF_UNIX) as sock:
            sock.bind(str(path))  # the socket file stays when the socket is closed
        return str(path)
    return "/dev/zero"


@pytest.mark.parametrize("kind", ["fifo", "socket", "device"])
@pytest.mark.parametrize(
    "argv",
    [
        ["check", "--chain", "X"],
        ["check", "--chain", "GOOD", "--crl", "X"],
        ["check", "--chain", "GOOD", "--ca-file", "X"],
        ["check", "-f", "X"],
        ["inspect", "X"],
        ["fix", "chain", "--chain", "GOOD", "--key", "X"],
    ],
)
def test_fifo_socket_and_device_are_refused_before_reading(
    tmp_path: Path, files: dict[str, Path], kind: str, argv: list[str]
) -> None:
    special = _special(kind, tmp_path)
    argv = [{"X": special, "GOOD": str(files["good"])}.get(a, a) for a in argv]
    started = time.monotonic()
    done = child(*argv, timeout=30)
    assert done.returncode == 3, done.stderr
    assert "not a file: tlsdoctor reads regular files only" in done.stderr
    assert "Traceback" not in done.stderr
    assert time.monotonic() - started < 20


def test_a_regular_file_and_stdin_are_read(files: dict[str, Path]) -> None:
    done = child("inspect", "-", input=files["good"].read_text(), timeout=60)
    assert done.returncode == 0 and "www.example.test" in done.stdout


# Costly files ------------------------------------------------------------------------------
def test_pkcs12_asking_for_millions_of_rounds_is_refused_before_decryption(tmp_path: Path) -> None:
    path = tmp_path / "slow.p12"
    path.write_bytes(hostile.pkcs12_rounds())
    started = time.monotonic()
    with pytest.raises(CertificateParseError, match="2147483647 rounds, more than the 1000000"):
        load_certificates(path, b"x")
    assert time.monotonic() - started < 2


def test_pkcs12_with_usual_rounds_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "usual.p12"
    path.write_bytes(hostile.pkcs12_rounds(rounds_claimed=None))
    assert len(load_certificates(path, b"x")) == 1


def test_certificates_per_input_are_capped_with_a_message() -> None:
    with pytest.raises(CertificateParseError, match=f"more than {MAX_CERTIFICATES} certificates"):
        parse_certificates(hostile.pkcs7_of(MAX_CERTIFICATES + 1), "big.p7b")
    assert len(parse_certificates(hostile.pkcs7_of(50), "small.p7b")) == 50
    pem = hostile.terminal_free_pem()
    with pytest.raises(CertificateParseError, match="more than"):
        parse_certificates(pem * (MAX_CERTIFICATES + 1), "big.pem")
    assert len(parse_certificates(pem * 3, "three.pem")) == 3


# Target files ------------------------------------------------------------------------------
def test_bad_lines_are_reported_and_the_scan_goes_on(tmp_path: Path) -> None:
    targets = tmp_path / "targets.txt"
    with targets.open("wb") as handle:
        handle.write(b"127.0.0.1:1\n")
        handle.write(b"a:b:c\n")
        handle.write(b"x\xff\xfe.example\n")
        handle.write(b"\x1b[2J" + b"A" * 10_000_000 + b"\n")  # a 10 MB line
        handle.write(b"127.0.0.1:2 127.0.0.1 extra\n")
        handle.write(b"https://user:secret@127.0.0.1:3/\n")
    done = child("check", "-f", str(targets), "--timeout", "2", timeout=60)
    assert done.returncode == 3
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert (
        f"tlsdoctor: skipped: {targets}:2: 'a:b:c': neither HOST:PORT nor an IPv6 address" in lines
    )
    assert any(":3: not UTF-8 text (x\\xff\\xfe.example)" in line for line in lines)
    assert any(":4: a line longer than 4096 bytes" in line for line in lines)
    assert len(done.stderr) < 2000 and "\x1b" not in done.stderr
    # The good lines were checked, the summary counts everything, no secret is shown.
    assert "127.0.0.1:1" in done.stdout and "127.0.0.1:3" in done.stdout
    assert "Summary" in done.stdout and "unreadable lines, skipped" in done.stdout
    assert "secret" not in done.stdout + done.stderr


def test_a_clean_target_file_has_no_skipped_line(tmp_path: Path) -> None:
    targets = tmp_path / "targets.txt"
    targets.write_text("# comment\n127.0.0.1:1\n\n127.0.0.1:2  # second\n")
    done = child("check", "-f", str(targets), "--timeout", "2", timeout=60)
    assert done.returncode == 3  # both refused: could not check
    assert "skipped" not in done.stderr and "unreadable" not in done.stdout


def test_concurrency_above_the_file_limit_is_lowered_not_blamed_on_targets(tmp_path: Path) -> None:
    """80 silent endpoints on 80 loopback addresses (the per-host limit does not apply),
    500 checks at once asked for, 64 descriptors allowed."""
    import resource

    with contextlib.ExitStack() as stack:
        lines = []
        for n in range(1, 81):
            silent = stack.enter_context(socket.socket())
            silent.bind((f"127.0.0.{n}", 0))
            silent.listen(8)
            lines.append(f"127.0.0.{n}:{silent.getsockname()[1]}\n")
        targets = tmp_path / "targets.txt"
        targets.write_text("".join(lines))

        def limit() -> None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))

        done = subprocess.run(
            [*TLSDOCTOR, "check", "-f", str(targets), "--concurrency", "500",
             "--timeout", "0.3", "--json"],
            capture_output=True, text=True, timeout=120, preexec_fn=limit,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
    assert "checking" in done.stderr and "not 500" in done.stderr
    reports = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(reports) == 80
    assert "Too many open files" not in done.stdout + done.stderr
    assert {f["code"] for r in reports for f in r["findings"]} == {"timeout"}


# Command-line values -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["check", "a:b:c"], "'a:b:c': neither HOST:PORT nor an IPv6 address"),
        (["check", "x.test", "--connect", "a:b:c"], "'a:b:c': neither HOST:PORT"),
        (["check", "https://[::1"], "'https://[::1' is not a URL"),
        (["check", "--chain", "GOOD", "--at", "9999-12-31T23:59:59-23:59"], "is out of range"),
        (["check", "--chain", "GOOD", "--warn-days", "10000000000"], "not in the range"),
        (["check", "127.0.0.1:1", "--servername", "a..b"], "'a..b' is not a host name"),
        (["fix", "chain", "--chain", "GOOD", "-o", "FILE"], "is a file, not a directory"),
        (["fix", "chain", "--chain", "GOOD", "-o", "DANGLING"], "which does not exist"),
        (["check", "\x1b[2Jevil.example\u202e"], "\\x1b[2Jevil.example\\u202e"),
    ],
)
def test_bad_values_are_one_sentence_and_exit_3(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    files: dict[str, Path],
    argv: list[str],
    message: str,
) -> None:
    (tmp_path / "file").write_text("x")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    names = {"GOOD": str(files["good"]), "FILE": str(tmp_path / "file")}
    names["DANGLING"] = str(tmp_path / "dangling")
    code, _out, err = run(capsys, *[names.get(a, a) for a in argv])
    assert code == 3
    assert message in err
    assert "Traceback" not in err and "not handled yet" not in err
    assert "\x1b" not in err and "\u202e" not in err


def test_pkcs7_of_an_unsupported_content_type_is_one_sentence(tmp_path: Path) -> None:
    """Found by the fuzz test: cryptography raises UnsupportedAlgorithm, not ValueError."""
    data = bytearray(hostile.pkcs7_of(2))
    signed_data = bytes.fromhex("06092a864886f70d010702")
    data[data.find(signed_data) + len(signed_data) - 1] = 0x05  # now "digestedData"
    with pytest.raises(CertificateParseError, match="not a certificate, PKCS#7 or PKCS#12"):
        parse_certificates(bytes(data), "odd.p7b")


@pytest.mark.parametrize("command", [["check", "--chain"], ["inspect"]])
def test_python_warnings_never_reach_the_user(tmp_path: Path, command: list[str]) -> None:
    path = tmp_path / "negative.pem"
    path.write_bytes(hostile.negative_serial())
    done = child(*command, str(path), "--at", "2026-06-01T12:00:00Z", timeout=60)
    assert done.returncode in (0, 2), done.stderr
    assert "Warning" not in done.stderr and "site-packages" not in done.stderr
    assert done.stderr == ""


def test_explain_reads_a_bounded_paste() -> None:
    with open("/dev/zero", "rb") as zero:
        done = subprocess.run(
            [*TLSDOCTOR, "explain", "-"], stdin=zero, capture_output=True, text=True, timeout=60
        )
    # An endless pipe stops at the read bound: nothing TLS in the kept end, so exit 3.
    assert done.returncode == 3 and "explaining the last 1024 KiB" in done.stderr
    assert "Traceback" not in done.stderr
    ok = child("explain", "-", input="x509: certificate signed by unknown authority\n")
    assert ok.returncode == 0 and "go says" in ok.stdout


def test_explain_of_a_long_log_reads_its_end() -> None:
    """A log longer than the paste bound: the innermost cause, at its end, is explained."""
    noise = "INFO request served in 3 ms\n" * 80_000  # about 2.2 MB
    log = noise + "x509: certificate signed by unknown authority\n"
    done = child("explain", "-", input=log)
    assert done.returncode == 0 and "go says" in done.stdout
    assert "explaining the last 1024 KiB" in done.stderr


def test_dashboard_html_shows_steering_characters_as_escapes() -> None:
    from tlsdoctor.web._pages import escape

    html = str(escape(f"<b>{hostile.TERMINAL_ATTACK}</b>"))
    assert "&lt;b&gt;" in html and "\\x1b[2J" in html and "\\u202e" in html
    assert all(c not in html for c in "\x1b\x9b\u202e\x07")
    assert str(escape("Zürich")) == "Zürich"
