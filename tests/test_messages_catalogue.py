"""The error-message catalogue behind ``tlsdoctor explain`` (``knowledge/messages.json``).

Every entry must be well formed, every example must be recognised by its own entry (also when
pasted inside a stack trace or after a log prefix, and with its host names, ports, dates and
paths changed), and "the longest match wins" must pick the entry that explains it, or one that
gives the same first cause.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

import pytest

from tlsdoctor import knowledge
from tlsdoctor.codes import FindingCode
from tlsdoctor.textmatch import PatternSet, compile_pattern, encode

CATALOGUE = Path(knowledge.__file__).with_name("messages.json")

FAMILIES = {
    "curl",
    "wget",
    "openssl",
    "gnutls",
    "python",
    "python-requests",
    "pip",
    "httpx",
    "aiohttp",
    "node",
    "npm",
    "go",
    "docker",
    "java",
    "dotnet",
    "sqlserver",
    "powershell",
    "windows",
    "chrome",
    "firefox",
    "safari",
    "apple",
    "git",
    "ruby",
    "php",
    "active-directory",
    "android",
    "postgresql",
    "mysql",
    "ldap",
}
CODES = {code.value for code in FindingCode} | {"not_a_tls_problem"}
FIELDS = {
    "id",
    "client",
    "patterns",
    "examples",
    "meaning",
    "causes",
    "tell_apart",
    "next",
    "source",
}
OPTIONAL_FIELDS = {"wrapper"}
KEBAB = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


@functools.lru_cache(maxsize=1)
def catalogue() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(CATALOGUE.read_text(encoding="utf-8"))
    return data


def entries() -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = catalogue()["messages"]
    return messages


@functools.cache
def compiled(entry_id: str) -> PatternSet:
    entry = next(e for e in entries() if e["id"] == entry_id)
    return PatternSet(entry["patterns"])


def normalize(text: str) -> str:
    """What the engine matches against: whitespace collapsed to single spaces."""
    return " ".join(text.split())


def longest_match(entry_id: str, text: str) -> int:
    """The length of the entry's longest match in ``text`` (normalized), -1 without one."""
    return max((hit.length for hit in compiled(entry_id).hits(encode(text))), default=-1)


def examples() -> list[tuple[str, int, str]]:
    return [(e["id"], i, ex) for e in entries() for i, ex in enumerate(e["examples"])]


EXAMPLES = examples()
EXAMPLE_IDS = [f"{entry_id}[{index}]" for entry_id, index, _ in EXAMPLES]


# ---------------------------------------------------------------------------------------
# The file and each entry's form


def test_the_catalogue_loads_with_its_version() -> None:
    data = catalogue()
    assert data["version"] == 1
    assert len(data["messages"]) >= 80


def test_ids_are_unique_and_kebab_case() -> None:
    ids = [e["id"] for e in entries()]
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})
    assert [i for i in ids if not KEBAB.fullmatch(i)] == []


@pytest.mark.parametrize("entry", entries(), ids=lambda e: e["id"])
def test_every_entry_is_well_formed(entry: dict[str, Any]) -> None:
    assert FIELDS <= set(entry) <= FIELDS | OPTIONAL_FIELDS
    assert isinstance(entry["source"], str) and len(entry["source"]) > 10
    assert entry["client"] in FAMILIES
    for key in ("patterns", "examples", "causes"):
        assert isinstance(entry[key], list) and entry[key], key
    assert all(isinstance(p, str) and p for p in entry["patterns"])
    assert all(isinstance(x, str) and x.strip() for x in entry["examples"])
    for key in ("meaning", "tell_apart", "next"):
        assert isinstance(entry[key], str) and entry[key].strip(), key
    for cause in entry["causes"]:
        assert set(cause) == {"code", "why"}
        assert cause["code"] in CODES, cause["code"]
        assert isinstance(cause["why"], str) and cause["why"].strip()
    codes = [cause["code"] for cause in entry["causes"]]
    assert len(codes) == len(set(codes)), f"a code is listed twice: {codes}"
    if len(codes) > 1:
        # An ambiguous message has to say how to tell its causes apart.
        assert len(entry["tell_apart"]) > 40


@pytest.mark.parametrize("entry", entries(), ids=lambda e: e["id"])
def test_every_pattern_compiles_in_linear_time_syntax(entry: dict[str, Any]) -> None:
    """RE2 accepts only patterns it can run in time linear in the text (no lookaround, no
    backreference): pasted text cannot make explain backtrack."""
    for pattern in entry["patterns"]:
        compile_pattern(pattern)


def test_every_family_is_used_and_the_look_alike_is_there() -> None:
    assert {e["client"] for e in entries()} == FAMILIES
    look_alikes = {e["id"]: e for e in entries() if e["causes"][0]["code"] == "not_a_tls_problem"}
    assert set(look_alikes) == {
        "ad-trust-relationship-failed",
        "sqlserver-cannot-generate-sspi-context",
    }
    assert (
        "Test-ComputerSecureChannel -Repair"
        in look_alikes["ad-trust-relationship-failed"]["meaning"]
    )
    assert "Kerberos" in look_alikes["sqlserver-cannot-generate-sspi-context"]["meaning"]


# ---------------------------------------------------------------------------------------
# Each example is recognised by its own entry


@pytest.mark.parametrize(("entry_id", "index", "example"), EXAMPLES, ids=EXAMPLE_IDS)
def test_example_matches_its_own_entry(entry_id: str, index: int, example: str) -> None:
    assert longest_match(entry_id, normalize(example)) > 0


SURROUNDINGS = {
    "python traceback": (
        "Traceback (most recent call last):\n"
        '  File "/srv/app/client.py", line 12, in <module>\n'
        "    response = fetch(url)\n",
        "\n\nDuring handling of the above exception, another exception occurred:\n",
    ),
    "java stack trace": (
        "2026-11-27 10:00:00.123 ERROR 4242 --- [main] c.e.Client : request failed\n",
        "\n\tat sun.security.ssl.Alert.createSSLException(Alert.java:131)"
        "\n\tat java.base/java.lang.Thread.run(Thread.java:833)\n",
    ),
    "node stack trace": (
        "Uncaught exception in worker 3:\n",
        "\n    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)\n",
    ),
    "log prefix": ("2026-11-27T10:00:00Z ERROR [deploy] ", "\n"),
    "npm prefix": ("npm ERR! ", ""),
    "indented paste": ("    > ", "\n\n"),
}


@pytest.mark.parametrize("surrounding", sorted(SURROUNDINGS))
def test_examples_match_inside_traces_and_after_log_prefixes(surrounding: str) -> None:
    before, after = SURROUNDINGS[surrounding]
    missed = [
        f"{entry_id}[{index}]"
        for entry_id, index, example in EXAMPLES
        if longest_match(entry_id, normalize(before + example + after)) <= 0
    ]
    assert missed == []


# ---------------------------------------------------------------------------------------
# Variable parts changed: other hosts, ports, IPs, dates, paths, line numbers, versions

_TLDS = "com|net|org|io|test|invalid|se|cn|ca|me|ru|app|online|cloud|xyz|in|ai|gov|local|lan|de|uk"
_IP = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")
_HOST = re.compile(
    rf"(?<![\w.@-])(?:\*\.)?(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+(?:{_TLDS})(?![\w-]|\.[A-Za-z0-9])"
)
_PORT_AFTER_HOST = re.compile(r"(mutated\.example\.net|203\.0\.113\.7)(\|?):\d{1,5}")
_PORT_WORDS = re.compile(r"\b(port(?:=| |: ))\d{1,5}\b")
_UNIX_PATH = re.compile(r"(?<![\w:/.~-])/(?:[\w.-]+/)+[\w.-]+")
_WINDOWS_PATH = re.compile(r"\b[A-Z]:\\(?:[\w .-]+\\)*[\w.-]+")
_ISO_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}([T ])\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(Z?)")
_JAVA_DATE = re.compile(
    r"\b(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
    r"\d{1,2} \d{2}:\d{2}:\d{2} [A-Z]{2,5} \d{4}"
)
_SSL_LINE = re.compile(r"_ssl\.c:\d+")
_OPENSSL_VERSION = re.compile(r"OpenSSL/\d+(?:\.\d+)+")
_OPENSSL_ERROR = re.compile(r"error:[0-9A-F]{8}")


def mutate(text: str) -> str:
    """The same message from another machine: every variable part replaced."""
    text = _ISO_DATE.sub(r"2031-01-02\g<1>03:04:05\g<2>", text)
    text = _JAVA_DATE.sub("Thu Jan 02 03:04:05 CET 2031", text)
    text = _IP.sub("203.0.113.7", text)
    text = _HOST.sub("mutated.example.net", text)
    text = _PORT_AFTER_HOST.sub(r"\g<1>\g<2>:8443", text)
    text = _PORT_WORDS.sub(r"\g<1>8443", text)
    text = _UNIX_PATH.sub("/srv/other-place/bundle.pem", text)
    text = _WINDOWS_PATH.sub(r"D:\\other place\\bundle.pem", text)
    text = _SSL_LINE.sub("_ssl.c:1234", text)
    text = _OPENSSL_VERSION.sub("OpenSSL/3.5.1", text)
    return _OPENSSL_ERROR.sub("error:1416F086", text)


def test_the_mutator_changes_what_it_should() -> None:
    sample = (
        "requests.exceptions.SSLError: HTTPSConnectionPool(host='good.lab.tlsdoctor.test', "
        "port=41925): Max retries exceeded with url: / (Caused by SSLError(...(_ssl.c:1006)'))) "
        "curl: (7) Failed to connect to 127.0.0.1 port 1 after 0 ms, CAfile: /etc/ssl/ca.crt "
        "javax.net.ssl.SSLHandshakeException NotAfter: Wed Oct 28 08:53:35 UTC 2026"
    )
    mutated = mutate(sample)
    for gone in ("good.lab.tlsdoctor.test", "41925", "127.0.0.1", "_ssl.c:1006", "/etc/ssl/ca.crt"):
        assert gone not in mutated
    for kept in ("javax.net.ssl.SSLHandshakeException", "Max retries exceeded", "port 8443"):
        assert kept in mutated
    assert "Thu Jan 02 03:04:05 CET 2031" in mutated


def test_most_examples_have_variable_parts_to_change() -> None:
    changed = sum(mutate(example) != example for _, _, example in EXAMPLES)
    assert changed >= len(EXAMPLES) // 2, (changed, len(EXAMPLES))


@pytest.mark.parametrize(("entry_id", "index", "example"), EXAMPLES, ids=EXAMPLE_IDS)
def test_example_still_matches_with_variable_parts_changed(
    entry_id: str, index: int, example: str
) -> None:
    assert longest_match(entry_id, normalize(mutate(example))) > 0, normalize(mutate(example))


# ---------------------------------------------------------------------------------------
# "The longest match wins" picks this entry, or one with the same first cause


def competitors(entry_id: str, text: str) -> dict[str, int]:
    """The other entries whose patterns also match ``text``, with their longest match."""
    # An outer message ("see inner exception") loses to any inner one, whatever its length.
    own_is_wrapper = next(e for e in entries() if e["id"] == entry_id).get("wrapper", False)
    lengths = {
        e["id"]: longest_match(e["id"], text)
        for e in entries()
        if e["id"] != entry_id and (own_is_wrapper or not e.get("wrapper", False))
    }
    return {other: length for other, length in lengths.items() if length > 0}


def first_cause(entry_id: str) -> str:
    entry = next(e for e in entries() if e["id"] == entry_id)
    code: str = entry["causes"][0]["code"]
    return code


@pytest.mark.parametrize(("entry_id", "index", "example"), EXAMPLES, ids=EXAMPLE_IDS)
def test_longest_match_picks_the_right_explanation(entry_id: str, index: int, example: str) -> None:
    for variant in (example, mutate(example)):
        text = normalize(variant)
        own = longest_match(entry_id, text)
        wrong = {
            other: length
            for other, length in competitors(entry_id, text).items()
            if length > own and first_cause(other) != first_cause(entry_id)
        }
        assert wrong == {}, f"{entry_id} matches {own} characters of {text!r}"
