"""Every CLI entry point, fed generated input of each kind: the exit code is one of the
spec's (0, 1, 2, 3) and no traceback, and no input reaches the last-resort net of
``main()`` ("this input is not handled yet"): each must have its own one sentence.

Inputs: mutated certificates (DER, PEM, PKCS#7, PKCS#12: bytes flipped, cut, inserted),
random bytes, text of any Unicode (controls, bidi, surrogate-escaped bytes), and option
values (times, numbers, names, addresses). Nothing leaves the machine: the only target
checked is dialled at 127.0.0.1 port 1 (refused at once), and generated --connect values
are only used when they cannot be dialled. Runs in-process; the number of examples per
entry point is bounded (FUZZ_EXAMPLES) so the whole file takes well under a minute.
"""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import hostile
from tlsdoctor.cli.main import INTERNAL, main
from tlsdoctor.errors import InputError
from tlsdoctor.probe.targets import parse_target

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "40"))
FUZZ = settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.filter_too_much,
    ],
)


def _seeds() -> list[bytes]:
    key = hostile._key()
    cert = hostile.certificate(key=key, aia="http://127.0.0.1:1/a", crl="http://127.0.0.1:1/c")
    der = hostile.der(cert)
    p12 = pkcs12.serialize_key_and_certificates(
        b"k",
        key,
        cert,
        None,
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(2048)
        .hmac_hash(hashes.SHA256())
        .build(b"x"),
    )
    return [
        der,
        hostile.pem_of_der(der),
        pkcs7.serialize_certificates([cert, cert], serialization.Encoding.DER),
        pkcs7.serialize_certificates([cert], serialization.Encoding.PEM),
        p12,
        hostile.unknown_signature_oid(),
        hostile.terminal_names(),
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    ]


SEEDS = _seeds()


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A seed with a few bytes flipped, cut or inserted; or random bytes."""
    if draw(st.booleans()) and draw(st.booleans()):
        return draw(st.binary(max_size=4096))
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from(["flip", "cut", "insert", "truncate"]))
        where = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip" and data:
            data[where] ^= draw(st.integers(1, 255))
        elif kind == "cut":
            del data[where : where + draw(st.integers(1, 64))]
        elif kind == "insert":
            data[where:where] = draw(st.binary(min_size=1, max_size=64))
        else:
            data = data[:where]
    return bytes(data)


# Text of any kind, including what terminals and parsers choke on.
hostile_text = st.text(
    st.characters(codec=None, exclude_categories=("Cs",)) | st.sampled_from(hostile.STEERING),
    max_size=300,
)


def run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def assert_clean(argv: list[str]) -> None:
    code, out, err = run(argv)
    assert code in (0, 1, 2, 3), (argv, code, err)
    assert "Traceback" not in out + err, (argv, err)
    assert INTERNAL not in err, (argv, err)


def _file(folder: Path, data: bytes, name: str = "input") -> str:
    path = folder / name
    path.write_bytes(data)
    return str(path)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path


@pytest.mark.parametrize(
    "command",
    [
        ["check", "--chain"],
        ["inspect"],
        ["fix", "chain", "--no-fetch", "--chain"],
        ["trust", "find"],
        ["check", "--chain", "SEED", "--crl"],
        ["check", "--chain", "SEED", "--ocsp-response"],
        ["check", "--chain", "SEED", "--ca-file"],
        ["fix", "chain", "--no-fetch", "--chain", "SEED", "--key"],
    ],
    ids=lambda argv: "-".join(a.strip("-") for a in argv),
)
@FUZZ
@given(data=mutated())
def test_files(folder: Path, command: list[str], data: bytes) -> None:
    seed = _file(folder, SEEDS[1], "seed.pem")
    argv = [seed if a == "SEED" else a for a in command]
    assert_clean([*argv, _file(folder, data), "--at", "2026-06-01T12:00:00Z"])


@FUZZ
@given(text=hostile_text)
def test_check_target_text(text: str) -> None:
    assume(text.strip() and not text.startswith("-"))
    # Dialled at a port nothing listens on: no name is ever looked up, nothing sent out.
    assert_clean(["check", text, "--connect", "127.0.0.1:1", "--timeout", "2", "--no-fetch"])


@FUZZ
@given(text=st.text(":[]%.0123456789abcdefx- \x1b\u202e\x9b", max_size=40) | hostile_text)
def test_connect_text(text: str) -> None:
    assume(text.strip() and not text.startswith("-"))
    try:
        parse_target("127.0.0.1:1", connect=text)
    except InputError:
        pass
    else:
        assume(False)  # a value that could be dialled: not sent anywhere from a test
    assert_clean(["check", "127.0.0.1:1", "--connect", text, "--timeout", "2"])


@FUZZ
@given(
    option=st.sampled_from(["--at", "--warn-days", "--timeout", "--servername", "--password"]),
    value=hostile_text | st.integers().map(str) | st.floats().map(str),
)
def test_option_values(folder: Path, option: str, value: str) -> None:
    assume(not value.startswith("-") or value.lstrip("-")[:1].isdigit())
    chain = _file(folder, SEEDS[1], "seed.pem")
    assert_clean(["check", "--chain", chain, f"{option}={value}"])


@FUZZ
@given(text=hostile_text)
def test_explain_text(text: str) -> None:
    assume(text.strip() and not text.startswith("-"))
    assert_clean(["explain", text])


@FUZZ
@given(lines=st.lists(hostile_text | st.binary(max_size=200).map(repr), max_size=8))
def test_target_file_lines(folder: Path, lines: list[str]) -> None:
    raw = "\n".join(lines).encode("utf-8", "surrogateescape")
    path = _file(folder, raw, "targets.txt")
    # Every line is checked through --connect 127.0.0.1:1: refused at once, or skipped.
    assert_clean(["check", "-f", path, "--connect", "127.0.0.1:1", "--timeout", "2"])


@FUZZ
@given(data=st.binary(max_size=2000))
def test_target_file_bytes(folder: Path, data: bytes) -> None:
    path = _file(folder, data, "targets.bin")
    assert_clean(["check", "-f", path, "--connect", "127.0.0.1:1", "--timeout", "2"])
