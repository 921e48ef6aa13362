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
            # What the user reads first, or the catalogue's own first cause (what the example
            # carries, a local address say, may re-rank an ambiguous entry).
            firsts = {explanation.causes[0].code, explanation.entry.causes[0].code}
            assert entry.causes[0].code in firsts, (entry.id, explanation.entry.id)


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


# Whole traces: the innermost TLS cause, and the host and port ---------------------------

JAVA_TRACE = (
    "2026-12-06 04:00:00.123 ERROR 4242 --- [main] c.e.Client : call failed\n"
    "org.springframework.web.client.ResourceAccessException: I/O error on GET request for "
    '"https://billing.internal.example:8443/v1/invoices": (certificate_expired) PKIX path '
    "validation failed: java.security.cert.CertPathValidatorException: validity check failed\n"
    "\tat org.springframework.web.client.RestTemplate.doExecute(RestTemplate.java:791)\n"
    "Caused by: javax.net.ssl.SSLHandshakeException: (certificate_expired) PKIX path "
    "validation failed: java.security.cert.CertPathValidatorException: validity check failed\n"
    "\tat java.base/sun.security.ssl.Alert.createSSLException(Alert.java:131)\n"
    "Caused by: java.security.cert.CertPathValidatorException: validity check failed\n"
    "Caused by: java.security.cert.CertificateExpiredException: NotAfter: Sun Dec 01 00:00:00 "
    "UTC 2026\n"
)
DOTNET_TRACE = (
    "Unhandled exception. System.Net.Http.HttpRequestException: The SSL connection could not "
    "be established, see inner exception.\n"
    " ---> System.Security.Authentication.AuthenticationException: The remote certificate is "
    "invalid according to the validation procedure: RemoteCertificateNameMismatch\n"
    "   at System.Net.Security.SslStream.SendAuthResetSignal(ProtocolToken message)\n"
    "   --- End of inner exception stack trace ---\n"
    "   at System.Net.Http.ConnectHelper.EstablishSslConnectionAsync(...)\n"
    "   at Program.Main() in /src/Program.cs:line 9 (requesting https://orders.example.net/)"
)
PYTHON_CHAINED = (
    "Traceback (most recent call last):\n"
    '  File "/usr/lib/python3/dist-packages/urllib3/connectionpool.py", line 467, in '
    "_make_request\n"
    "ssl.SSLCertVerificationError: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: "
    "Hostname mismatch, certificate is not valid for 'shop.example.org'. (_ssl.c:1006)\n\n"
    "The above exception was the direct cause of the following exception:\n\n"
    "urllib3.exceptions.MaxRetryError: HTTPSConnectionPool(host='shop.example.org', port=8443): "
    'Max retries exceeded with url: / (Caused by SSLError(SSLCertVerificationError(1, "[SSL: '
    "CERTIFICATE_VERIFY_FAILED] certificate verify failed: Hostname mismatch, certificate is "
    "not valid for 'shop.example.org'. (_ssl.c:1006)\")))\n"
)

POWERSHELL_RECORD = (
    "Invoke-WebRequest : The underlying connection was closed: Could not establish trust "
    "relationship for the SSL/TLS secure channel.\n"
    "At C:\\deploy\\fetch.ps1:3 char:1\n"
    "+ Invoke-WebRequest -Uri https://packages.corp.example:8443/feed -UseBasicParsing\n"
    "+ ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~\n"
    "    + CategoryInfo          : InvalidOperation: (System.Net.HttpWebRequest:HttpWebRequest) "
    "[Invoke-WebRequest], WebException\n"
    "    + FullyQualifiedErrorId : WebCmdletWebResponseException,"
    "Microsoft.PowerShell.Commands.InvokeWebRequestCommand\n"
)


@pytest.mark.parametrize(
    ("trace", "cause", "host", "port"),
    [
        (JAVA_TRACE, "expired", "billing.internal.example", 8443),
        (DOTNET_TRACE, "hostname_mismatch", "orders.example.net", None),
        (PYTHON_CHAINED, "hostname_mismatch", "shop.example.org", 8443),
        (POWERSHELL_RECORD, "untrusted_root", "packages.corp.example", 8443),
    ],
    ids=["java-caused-by", "dotnet-inner-exception", "python-chained", "powershell-record"],
)
def test_traces_give_the_innermost_cause_and_the_host(
    trace: str, cause: str, host: str, port: int | None
) -> None:
    explanation = explain_text(trace)
    assert explanation.confidence == "high"
    assert explanation.causes[0].code == cause
    assert (explanation.host, explanation.port) == (host, port)
    assert explanation.target == (f"{host}:{port}" if port else host)
    assert explanation.next_step.endswith(explanation.target)


def test_an_inner_message_beats_the_wrapper_around_it() -> None:
    wrapper_only = explain_text(DOTNET_TRACE.split("\n")[0])
    assert wrapper_only.entry is not None and wrapper_only.entry.wrapper
    inner = explain_text(DOTNET_TRACE)
    assert inner.entry is not None and not inner.entry.wrapper


# Ambiguity: what the message carries re-ranks the causes --------------------------------


def test_what_the_message_carries_reranks_an_ambiguous_message() -> None:
    go = "x509: certificate signed by unknown authority"
    plain = [c.code for c in explain_text(f'Get "https://api.example.com/": {go}').causes]
    assert plain[0] == "untrusted_root"
    assert len(plain) >= 4  # every plausible cause, not only three
    local = explain_text(f'Get "https://localhost:8443/": {go}')
    assert local.causes[0].code == "self_signed"
    assert any("localhost" in note for note in local.notes)
    proxy = explain_text(f"{go} (issuer: CN=Zscaler Root CA, O=Zscaler Inc.)")
    assert proxy.causes[0].code == "interception_proxy"
    bad = explain_text(
        f'{go} while trying to verify candidate authority certificate "Superfish, Inc."'
    )
    assert bad.causes[0].code == "known_bad_root"


def test_s_client_chain_and_depth_decide_between_missing_and_untrusted() -> None:
    one = (
        "CONNECTED(00000003)\n---\nCertificate chain\n 0 s:CN = shop.example.org\n"
        "   i:CN = Example Issuing CA\n---\nVerify return code: 20 (unable to get local "
        "issuer certificate)\n"
    )
    two = one.replace(
        "   i:CN = Example Issuing CA\n",
        "   i:CN = Example Issuing CA\n 1 s:CN = Example Issuing CA\n   i:CN = Example Root\n",
    )
    assert explain_text(one).causes[0].code == "missing_intermediate"
    assert explain_text(two).causes[0].code == "untrusted_root"
    deep = (
        "depth=1 CN = Example Issuing CA\n"
        "verify error:num=20:unable to get local issuer certificate"
    )
    assert explain_text(deep).causes[0].code == "untrusted_root"
    # The error's depth is the last "depth=" before it, not the first of the output.
    leaf = (
        "depth=2 CN = Example Root\nverify return:1\ndepth=1 CN = Example Issuing CA\n"
        "verify return:1\ndepth=0 CN = shop.example.org\n"
        "verify error:num=20:unable to get local issuer certificate"
    )
    assert explain_text(leaf).causes[0].code == "missing_intermediate"


# The TLS words, when no message matches ------------------------------------------------


@pytest.mark.parametrize(
    ("text", "cause"),
    [
        ("Schannel returned 0x800B010D for the connection", "untrusted_root"),
        ("chain engine status CERT_E_PURPOSE", "invalid_chain"),
        ("error -2146762495 from the certificate engine", "expired"),
        ("tls: peer sent alert 70 during the exchange", "protocol_mismatch"),
        ("handshake aborted: the peer's certificate has been revoked", "revoked"),
        ("our gateway says: upstream certificate expired last night", "expired"),
    ],
)
def test_tls_words_answer_with_lower_confidence(text: str, cause: str) -> None:
    explanation = explain_text(text)
    assert explanation.entry is None
    assert explanation.confidence in ("medium", "low")
    assert explanation.causes[0].code == cause
    assert explanation.tell_apart and "tlsdoctor check" in explanation.tell_apart


@pytest.mark.parametrize(
    "text",
    [
        "the printer is on fire",
        "disk quota exceeded for user bob",
        "Segmentation fault",
        "GET https://shop.example.com/cart returned 500 Internal Server Error",
        "the nightly build timed out after 60 minutes",
        "Your session has expired, please log in again",
        "proxy error: upstream returned 502",
    ],
)
def test_text_without_tls_words_is_not_recognised(text: str) -> None:
    assert not explain_text(text).recognised


def test_words_exit_0_and_nothing_tls_exits_3(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "upstream returned SEC_E_ISSUING_CA_UNTRUSTED", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["recognised"] and data["id"] is None and data["confidence"] in ("low", "medium")
    assert data["causes"][0]["code"] == "untrusted_root"
    assert main(["explain", "disk quota exceeded", "--json"]) == 3
    assert json.loads(capsys.readouterr().out)["recognised"] is False


# Hostile input ----------------------------------------------------------------------------


def test_patterns_that_could_backtrack_are_refused() -> None:
    from tlsdoctor.textmatch import PatternError, compile_pattern

    with pytest.raises(PatternError):
        compile_pattern(r"(\w+)\s\1")  # a backreference: not linear-time
    with pytest.raises(PatternError):
        compile_pattern(r"expired(?! or not)")  # a lookahead
    assert compile_pattern(r"(a+)+b").search(b"a" * 50_000 + b"c") is None  # linear in RE2


def _crafted(example: str) -> list[str]:
    """Worst cases for a pattern: its message cut short, repeated to 100 KB (every
    repetition starts a match that fails late), and a lone quote before each."""
    flat = " ".join(example.split())
    cuts = {max(1, len(flat) // 2), max(1, len(flat) - 1)}
    return [((("'" + flat[:cut] + " ") * (100_000 // (cut + 2) + 1))[:100_000]) for cut in cuts]


def test_crafted_worst_cases_for_every_pattern_stay_fast() -> None:
    """Each entry's message, cut and repeated to 100 KB: the old backtracking engine took
    111 s on 200 KB of one of them; RE2 stays linear. The bound is loose (shared CI
    machine); bench/bench_explain.py has the timing."""
    import time

    slowest = (0.0, "")
    for entry in message_catalogue():
        for example in entry.examples[:1]:
            for text in _crafted(example):
                started = time.perf_counter()
                explain_text(text)
                slowest = max(slowest, (time.perf_counter() - started, entry.id))
    assert slowest[0] < 2.0, slowest


def test_a_megabyte_where_every_pattern_matches_late_stays_fast() -> None:
    """Every entry's example at the end of 1 MB: every pattern matches, and each is searched
    again for its span in one window, not the whole text (it took 13 s when each search
    re-read the megabyte). Loose bound; bench/bench_explain.py has the timing."""
    import time

    examples = " ".join(x for entry in message_catalogue() for x in entry.examples)
    text = "x" * (1024 * 1024 - len(examples)) + examples
    started = time.perf_counter()
    explanation = explain_text(text)
    assert time.perf_counter() - started < 5.0
    assert explanation.entry is not None


def test_a_one_megabyte_log_is_cut_and_answered() -> None:
    line = "2026-12-06T04:00:00Z INFO GET /api 200 12ms\n"
    log = (
        line * (1024 * 1024 // len(line))
        + "curl: (60) SSL certificate problem: certificate has expired\n"
    )
    explanation = explain_text(log)
    assert explanation.causes[0].code == "expired"
    assert explain_text(line * 30_000).recognised is False


def test_pasted_control_characters_never_reach_the_terminal(
    capsys: pytest.CaptureFixture[str],
) -> None:
    hostile = (
        "curl: (60) SSL certificate problem: self-signed certificate \x1b]0;owned\x07"
        "\x1b[2J\u202e https://evil.example/\x1b[31m"
    )
    assert main(["explain", hostile]) == 0
    shown = capsys.readouterr().out
    assert "\x1b" not in shown and "\x07" not in shown and "\u202e" not in shown
    assert main(["explain", "x509: certificate signed by unknown authority \x1b[2J"]) == 0
    assert "\x1b" not in capsys.readouterr().out


def test_a_pasted_hint_that_a_proxy_inspects_tls_puts_the_proxy_first() -> None:
    python = (
        "HTTPSConnectionPool(host='management.azure.com', port=443): Max retries exceeded with "
        "url: / (Caused by SSLError(SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_FAILED]"
        " certificate verify failed: unable to get local issuer certificate (_ssl.c:1006)')))"
    )
    azure = (
        "Certificate verification failed. This typically happens when using Azure CLI behind a "
        "proxy that intercepts traffic with a self-signed certificate. Please add this "
        "certificate to the trusted CA bundle."
    )
    assert explain_text(python).causes[0].code == "missing_intermediate"
    with_hint = explain_text(f"{python}\n{azure}")
    assert with_hint.causes[0].code == "interception_proxy"
    assert "the text says a proxy inspects TLS" in with_hint.notes
    # The hint does not override a message whose cause is not about trust.
    expired = python.replace("unable to get local issuer certificate", "certificate has expired")
    assert explain_text(f"{expired}\n{azure}").causes[0].code == "expired"


@pytest.mark.parametrize(
    ("text", "cause"),
    [
        (
            "The target principal name is incorrect. Cannot generate SSPI context.",
            "not_a_tls_problem",
        ),
        (
            "A connection was successfully established with the server, but then an error "
            "occurred during the login process. (provider: SSL Provider, error: 0 - The target "
            "principal name is incorrect.)",
            "hostname_mismatch",
        ),
    ],
    ids=["kerberos-look-alike", "sqlclient-certificate-name"],
)
def test_the_same_words_in_two_meanings(text: str, cause: str) -> None:
    assert explain_text(text).causes[0].code == cause


def test_a_loopback_address_reorders_chain_causes_only() -> None:
    """What the text carries decides between the causes of a refused chain; it does not
    put self_signed ahead of a refused connection on 127.0.0.1."""
    refused = "loaded 1 CA certificate; TLS connect to 127.0.0.1:8443 failed: Connection refused"
    explanation = explain_text(refused)
    assert explanation.causes[0].code == "connection_refused"
    codes = [cause.code for cause in explanation.causes]
    assert codes.index("self_signed") < codes.index("untrusted_root")  # still moved up


@pytest.mark.parametrize(
    ("mnemonic", "first"),
    [
        ("WRONG_VERSION_NUMBER", "not_tls"),
        ("[SSL: WRONG_VERSION_NUMBER]", "not_tls"),
        ("UNSAFE_LEGACY_RENEGOTIATION_DISABLED", "protocol_mismatch"),
        ("DH_KEY_TOO_SMALL", "weak_key"),
        ("CA_MD_TOO_WEAK", "weak_signature"),
    ],
)
def test_an_openssl_reason_mnemonic_alone_reads_as_its_message(mnemonic: str, first: str) -> None:
    """People paste the mnemonic (OpenSSL's reason name, as Python shows it in brackets):
    its words are those of the message, so it gets that message's causes."""
    explanation = explain_text(mnemonic)
    assert explanation.causes and explanation.causes[0].code == first


def test_underscores_in_text_with_nothing_tls_still_say_nothing() -> None:
    assert not explain_text("hello_world and some_other_name").causes
