"""`tlsdoctor explain`: matching (pure) and the command, with and without a live check."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tlsdoctor.cli.main import main
from tlsdoctor.explain import explain_text, host_in, match
from tlsdoctor.knowledge import load_messages, message_catalogue
from tlsdoctor.lab import Lab

TOY = load_messages(
    {
        "messages": [
            {
                "id": "toy-self-signed",
                "client": "toy",
                "patterns": [r"self-signed certificate"],
                "meaning": "m1",
                "causes": [{"code": "self_signed", "why": "w"}],
            },
            {
                "id": "toy-self-signed-in-chain",
                "client": "toy",
                "patterns": [r"self-signed certificate in certificate chain"],
                "meaning": "m2",
                "causes": [{"code": "untrusted_root", "why": "w"}],
            },
        ]
    }
)


def test_longest_match_wins_and_whitespace_is_folded() -> None:
    text = (
        "Traceback ...\n  ssl.SSLError: self-signed\n   certificate in certificate chain"
        " (_ssl.c:1006)"
    )
    found = match(text, TOY)
    assert found is not None
    assert found[0].id == "toy-self-signed-in-chain"
    assert found[1] == "self-signed certificate in certificate chain"
    assert match("self-signed certificate", TOY)[0].id == "toy-self-signed"  # type: ignore[index]


def test_unknown_message() -> None:
    explanation = explain_text("the printer is on fire", catalogue=TOY)
    assert not explanation.recognised
    assert explanation.next_step == "tlsdoctor check HOST"


@pytest.mark.parametrize(
    ("text", "host"),
    [
        ("HTTPSConnectionPool(host='api.example.com', port=443): Max retries", "api.example.com"),
        ("curl: (6) Could not resolve host: nowhere.example", "nowhere.example"),
        ("Hostname mismatch, certificate is not valid for 'www.shop.test'.", "www.shop.test"),
        ("no host here", None),
    ],
)
def test_host_found_in_the_message(text: str, host: str | None) -> None:
    assert host_in(text) == host


# With the real catalogue --------------------------------------------------------------


def test_every_catalogue_example_is_recognised_as_its_own_entry() -> None:
    catalogue = message_catalogue()
    assert len(catalogue) >= 50
    for entry in catalogue:
        for example in entry.examples:
            explanation = explain_text(example)
            assert explanation.entry is not None, (entry.id, example)
            # (the catalogue's own ranking: what the example carries may re-rank it)
            assert explanation.entry.causes[0].code == entry.causes[0].code, (
                entry.id,
                explanation.entry.id,
            )


def test_the_seed_messages(capsys: pytest.CaptureFixture[str]) -> None:
    dotnet = (
        "The underlying connection was closed: Could not establish trust relationship for the "
        "SSL/TLS secure channel."
    )
    assert main(["explain", dotnet, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["client"] is not None
    assert {c["code"] for c in data["causes"]} & {"untrusted_root", "missing_intermediate"}
    curl = "curl: (60) SSL certificate problem: unable to get local issuer certificate"
    assert main(["explain", curl, "--json"]) == 0
    codes = [c["code"] for c in json.loads(capsys.readouterr().out)["causes"]]
    assert {"missing_intermediate", "untrusted_root", "interception_proxy"} <= set(codes)
    ad = "The trust relationship between this workstation and the primary domain failed."
    assert main(["explain", ad, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["causes"][0]["code"] == "not_a_tls_problem"


def test_unknown_message_exits_3_and_suggests_a_check(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "the printer is on fire"]) == 3
    assert "tlsdoctor check" in capsys.readouterr().out


def test_stdin(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    trace = (
        "Traceback (most recent call last):\n"
        '  File "app.py", line 3, in <module>\n'
        "requests.exceptions.SSLError: HTTPSConnectionPool(host='api.example.com', port=443): "
        "Max retries exceeded with url: / (Caused by SSLError(SSLCertVerificationError(1, "
        "'[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: certificate has expired "
        "(_ssl.c:1017)')))\n"
    )
    monkeypatch.setattr("sys.stdin", io.StringIO(trace))
    assert main(["explain", "-", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["causes"][0]["code"] in ("expired", "client_clock")
    assert data["host"] == "api.example.com"


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with Lab() as running:
        yield running


def test_with_host_the_check_says_which_cause(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    item = lab.endpoint("missing-intermediate")
    message = "curl: (60) SSL certificate problem: unable to get local issuer certificate"
    argv = [
        "explain",
        message,
        "--host",
        f"{item.host}:{item.port}",
        "--connect",
        item.address,
        "--ca-file",
        str(lab.ca_file),
        "--json",
    ]
    assert main(argv) == 2
    data = json.loads(capsys.readouterr().out)
    assert data["diagnosis"]["code"] == "missing_intermediate"
    assert data["report"]["verdict"] == "untrusted"
