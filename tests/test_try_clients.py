"""``check --try-clients``: the real clients of this machine against every lab endpoint,
beside tlsdoctor's predictions (``tlsdoctor.tryclients``), on 127.0.0.1 only.

The matrix (client x endpoint: what the client really did, what tlsdoctor predicted, agree?)
is written to bench/results/try_clients_matrix.txt and .json. Each client's agreement test
lists every endpoint where it disagrees; a client that is not installed skips with the
reason. Twins: the same client refuses the good endpoint when given another CA, and a
deliberately wrong prediction is flagged as a disagreement.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import validate_report_json
from tlsdoctor.anchors import anchors_from_files
from tlsdoctor.cli.lab import endpoint_of
from tlsdoctor.cli.main import main
from tlsdoctor.cli.tryclients import render_trials, shown
from tlsdoctor.lab import Lab, LabEndpoint
from tlsdoctor.live import LiveOptions, check_endpoint
from tlsdoctor.models import Report
from tlsdoctor.tryclients import CLIENTS, Dial, Trials, builds, runners, try_clients
from tlsdoctor.tryclients.process import run_group
from tlsdoctor.tryclients.runners import Workspace

RESULTS = Path(__file__).resolve().parents[1] / "bench" / "results"
TIMEOUT = 20.0
LOOPBACK = "127.0.0.1"


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with Lab() as running:
        yield running


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("client-cache")


def report_for(lab: Lab, endpoint: LabEndpoint, ca_file: Path) -> Report:
    options = LiveOptions(anchors=anchors_from_files([ca_file]), timeout=10)
    return check_endpoint(endpoint_of(endpoint), options)


def dial_for(endpoint: LabEndpoint, ca_file: Path) -> Dial:
    return Dial(endpoint.host, endpoint.port, endpoint.address, str(ca_file))


@pytest.fixture(scope="module")
def matrix(lab: Lab, cache: Path) -> dict[str, Trials]:
    """endpoint name: every client's run there, beside the prediction."""
    started = time.monotonic()
    result: dict[str, Trials] = {}
    for endpoint in lab.endpoints:
        report = report_for(lab, endpoint, lab.ca_file)
        result[endpoint.name] = try_clients(
            report, dial_for(endpoint, lab.ca_file), timeout=TIMEOUT, cache=cache
        )
    seconds = time.monotonic() - started
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "try_clients_matrix.txt").write_text(render(result, seconds), encoding="utf-8")
    (RESULTS / "try_clients_matrix.json").write_text(
        json.dumps(as_json(result, seconds), indent=1) + "\n", encoding="utf-8"
    )
    return result


def not_run(matrix: dict[str, Trials], client: str) -> str | None:
    reasons = {why for trials in matrix.values() for name, why in trials.not_run if name == client}
    return "; ".join(sorted(reasons)) or None


# --------------------------------------------------------------------------------------
# The matrix


@pytest.mark.parametrize("client", CLIENTS)
def test_real_client_does_what_tlsdoctor_predicts(matrix: dict[str, Trials], client: str) -> None:
    """On every lab endpoint, the client's real outcome (connected and verified, or not)
    is tlsdoctor's prediction for it, made with this machine's build facts."""
    reason = not_run(matrix, client)
    if reason is not None:
        pytest.skip(f"{client}: {reason}")
    wrong = []
    for name, trials in matrix.items():
        trial = next(t for t in trials.trials if t.outcome.client == client)
        assert trial.agrees is not None, f"{name}: no prediction for {client}"
        if not trial.agrees:
            wrong.append(
                f"  {name}: real {'connects' if trial.outcome.ok else 'fails'} "
                f"(exit {trial.outcome.exit_code}: {trial.outcome.message}); predicted "
                f"{'connects' if trial.prediction.trusted else 'fails'} "
                f"{[code.value for code in trial.prediction.codes]}"
            )
    assert not wrong, f"{client} disagrees with tlsdoctor:\n" + "\n".join(wrong)


@pytest.mark.parametrize("client", CLIENTS)
def test_disagreement_is_flagged(lab: Lab, cache: Path, client: str) -> None:
    """Twin: with another CA the client refuses the good endpoint, the prediction made with
    that CA agrees, and the prediction made with the lab CA (connects) is flagged."""
    if (reason := runners.unavailable(client)) is not None:
        pytest.skip(f"{client}: {reason}")
    good = lab.endpoint("good")
    other_ca = lab.directory / "client-ca.pem"  # a real CA, but not the servers'
    dial = dial_for(good, other_ca)
    honest = try_clients(report_for(lab, good, other_ca), dial, [client], cache=cache)
    wrong = try_clients(report_for(lab, good, lab.ca_file), dial, [client], cache=cache)
    if honest.not_run:
        pytest.skip(f"{client}: {honest.not_run[0][1]}")
    (trial,) = honest.trials
    assert not trial.outcome.ok, trial.outcome.output
    assert trial.prediction.trusted is False
    assert trial.agrees is True
    (flagged,) = wrong.trials
    assert flagged.prediction.trusted is True
    assert flagged.agrees is False
    assert flagged in wrong.disagreements
    assert any("DISAGREES" in line for line in render_trials(wrong))


def test_tls10_prediction_uses_the_local_python_build(matrix: dict[str, Trials]) -> None:
    """The python client's predicted message against the TLS 1.0-only server comes from the
    local build (Debian: "legacy sigalg"), and what it printed fits it."""
    trial = next(t for t in matrix["tls1.0-only"].trials if t.outcome.client == "python")
    build = builds.python_build()
    assert trial.build == build
    assert not trial.outcome.ok
    assert trial.message_fits, (trial.outcome.message, trial.prediction.expected_error)
    if "legacy sigalg" in trial.outcome.message:
        assert trial.prediction.local is not None
        assert "security level" in trial.prediction.local


# --------------------------------------------------------------------------------------
# Time bounds


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP server on 127.0.0.1 that accepts and never says a word (a hung TLS server)."""
    listener = socket.create_server((LOOPBACK, 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=5)
        for sock in held:
            sock.close()
        listener.close()


def test_a_hanging_client_is_killed_at_its_time_bound(silent_server: int, cache: Path) -> None:
    """openssl s_client has no handshake timeout of its own: against a silent server it
    waits forever, and is killed (with its process group) at the bound."""
    if (reason := runners.unavailable("openssl-s_client")) is not None:
        pytest.skip(reason)
    dial = Dial("hung.test", silent_server, LOOPBACK, None)
    started = time.monotonic()
    outcome = runners.run_client("openssl-s_client", dial, Workspace(cache), timeout=2.0)
    elapsed = time.monotonic() - started
    assert outcome.killed
    assert outcome.exit_code == -1
    assert not outcome.ok
    assert "killed after 2 s" in outcome.message
    assert 2.0 <= elapsed < 8.0


def test_a_client_that_answers_in_time_is_not_killed(lab: Lab, cache: Path) -> None:
    """Twin: the same bound, a server that answers: the client's own exit code stands."""
    if (reason := runners.unavailable("openssl-s_client")) is not None:
        pytest.skip(reason)
    dial = dial_for(lab.endpoint("good"), lab.ca_file)
    outcome = runners.run_client("openssl-s_client", dial, Workspace(cache), timeout=10.0)
    assert not outcome.killed
    assert outcome.ok, outcome.output
    assert outcome.exit_code == 0


def test_the_whole_process_group_is_killed() -> None:
    """A client that leaves a helper behind (sh starting a background sleep): both die."""
    done = run_group(["sh", "-c", "sleep 60 & echo $!; sleep 60"], timeout=1.0)
    assert done.killed
    helper = int(done.output.split()[0])
    time.sleep(0.2)
    assert not _alive(helper), f"helper {helper} outlived its group"


def test_a_finished_client_keeps_its_exit_code_and_output() -> None:
    """Twin: nothing is killed early; exit code and output are the program's own."""
    done = run_group(["sh", "-c", "echo said; exit 7"], timeout=10.0)
    assert not done.killed
    assert done.exit_code == 7
    assert done.output == "said\n"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie not yet reaped by init counts as gone.
    status = Path(f"/proc/{pid}/stat")
    return status.exists() and status.read_text().split()[2] != "Z"


def test_output_is_bounded() -> None:
    done = run_group(["sh", "-c", "yes tlsdoctor | head -c 2000000"], timeout=20.0)
    assert done.exit_code == 0
    assert done.truncated
    assert len(done.output) <= 256 * 1024


# --------------------------------------------------------------------------------------
# Missing clients, build facts, escaping


def test_a_missing_client_is_not_run_and_says_why(
    lab: Lab, cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a PATH where curl is not, curl is listed as not run with the package to install;
    the report still comes."""
    monkeypatch.setenv("PATH", str(tmp_path))
    good = lab.endpoint("good")
    trials = try_clients(
        report_for(lab, good, lab.ca_file), dial_for(good, lab.ca_file), ["curl"], cache=cache
    )
    assert trials.trials == ()
    assert trials.not_run == (("curl", "curl not installed (apt: curl)"),)


def test_an_installed_client_is_run(lab: Lab, cache: Path) -> None:
    """Twin: with the normal PATH the same call runs curl."""
    if (reason := runners.unavailable("curl")) is not None:
        pytest.skip(reason)
    good = lab.endpoint("good")
    trials = try_clients(
        report_for(lab, good, lab.ca_file), dial_for(good, lab.ca_file), ["curl"], cache=cache
    )
    assert trials.not_run == ()
    assert trials.trials[0].outcome.ok


def test_openssl_configuration_is_read() -> None:
    """MinProtocol and @SECLEVEL of the section OpenSSL applies to every context."""
    text = """
openssl_conf = init
[ init ]
ssl_conf = ssl_sect
[ssl_sect]
system_default = defaults
[ defaults ]
MinProtocol = TLSv1.2
CipherString = DEFAULT@SECLEVEL=1  # a comment
"""
    assert builds.system_default(builds.parse_conf(text)) == ("TLSv1.2", 1)


def test_an_unapplied_section_is_ignored() -> None:
    """Twin: the same settings in a section nothing points to change nothing."""
    text = "[ defaults ]\nMinProtocol = TLSv1.2\nCipherString = DEFAULT@SECLEVEL=1\n"
    assert builds.system_default(builds.parse_conf(text)) == (None, None)


_PLAIN_CHECK = """
import sys
from tlsdoctor.cli.main import main
from tlsdoctor.tryclients import builds
code = main(sys.argv[1:])
readers = [builds.openssl_config, builds.python_build, builds.curl_build, builds.node_build,
           builds.java_build, builds.go_build, builds.wget_build, builds.requests_build]
print("read:", sum(reader.cache_info().currsize for reader in readers))
"""


@pytest.mark.parametrize(("extra", "read"), [([], False), (["--clients", "curl"], True)])
def test_build_facts_are_read_only_with_try_clients(lab: Lab, extra: list[str], read: bool) -> None:
    """A plain check reads no build facts (nothing of --try-clients runs); the twin with
    --clients reads them."""
    if read and (reason := runners.unavailable("curl")) is not None:
        pytest.skip(reason)
    endpoint = lab.endpoint("good")
    argv = ["check", f"{endpoint.host}:{endpoint.port}", "--connect", LOOPBACK,
            "--ca-file", str(lab.ca_file), "--json", *extra]  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-c", _PLAIN_CHECK, *argv],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    counted = int(done.stdout.rsplit("read:", 1)[1])
    assert (counted > 0) is read, done.stdout[-500:]


def test_python_build_is_the_running_interpreter() -> None:
    import ssl

    build = builds.python_build()
    assert build.library == " ".join(ssl.OPENSSL_VERSION.split()[:2])
    assert build.security_level == ssl.create_default_context().security_level
    assert build.min_protocol in builds.PROTOCOLS


def test_shown_makes_terminal_controls_visible() -> None:
    hostile = "curl: (60) \x1b[2J\x1b]0;owned\x07 bad\u202ecert\u200b" + "x" * 1000
    text = shown(hostile)
    assert "\x1b" not in text
    assert "\x07" not in text
    assert "\u202e" not in text
    assert "\\x1b[2J" in text
    assert "\\u202e" in text
    assert len(text) <= 300


def test_shown_keeps_ordinary_text() -> None:
    message = "curl: (60) SSL certificate problem: certificate has expired — café"
    assert shown(message) == message


# --------------------------------------------------------------------------------------
# The command line


def test_cli_json_has_every_run_and_is_valid(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    endpoint = lab.endpoint("expired")
    code = main(
        ["check", f"{endpoint.host}:{endpoint.port}", "--connect", LOOPBACK, "--ca-file",
         str(lab.ca_file), "--clients", "curl,python", "--json"]
    )  # fmt: skip
    data = json.loads(capsys.readouterr().out)
    validate_report_json(data)
    assert code == 2
    tried = data["tried_clients"]
    assert {run["client"] for run in tried["runs"]} | {
        item["client"] for item in tried["not_run"]
    } == {"curl", "python"}
    for run in tried["runs"]:
        assert run["verified"] is False
        assert run["predicted_trusted"] is False
        assert run["agrees"] is True
        assert "expired" in run["causes"]


def test_cli_json_without_try_clients_has_no_such_member(
    lab: Lab, capsys: pytest.CaptureFixture[str]
) -> None:
    """Twin: a plain check's report is unchanged (and valid)."""
    endpoint = lab.endpoint("expired")
    main(["check", f"{endpoint.host}:{endpoint.port}", "--connect", LOOPBACK, "--ca-file",
          str(lab.ca_file), "--json"])  # fmt: skip
    data = json.loads(capsys.readouterr().out)
    validate_report_json(data)
    assert "tried_clients" not in data


def test_cli_text_shows_each_client(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    endpoint = lab.endpoint("good")
    code = main(
        ["check", f"{endpoint.host}:{endpoint.port}", "--connect", LOOPBACK, "--ca-file",
         str(lab.ca_file), "--clients", "curl"]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    if runners.unavailable("curl") is None:
        assert "✓ curl" in out
        assert "1 of 1 clients did what tlsdoctor predicted" in out


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["--clients", "curl,nosuch"], "unknown client(s) 'nosuch'"),
        (["--try-clients", "--no-sni"], "always send SNI"),
        (["--try-clients", "example.test"], "checks one target"),
        (["--try-clients", "--starttls", "smtp"], "HTTPS clients"),
        (["--try-clients", "--servername", "a.test"], "verify the name they send"),
        (["--try-clients", "--connect", "127.0.0.2"], "HOST is an IP address"),
        (["--try-clients", "--chain", "x.pem"], "not --chain"),
    ],
)
def test_cli_refuses_what_it_cannot_do(
    argv: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Bad usage: exit 3 and one sentence, before anything is dialed."""
    target = [] if "--chain" in argv else ["127.0.0.1:1"]
    code = main(["check", *target, *argv])
    err = capsys.readouterr().err
    assert code == 3
    assert said in err
    assert "Traceback" not in err


# --------------------------------------------------------------------------------------
# Rendering of the matrix


def render(matrix: dict[str, Trials], seconds: float) -> str:
    clients = [c for c in CLIENTS if any(t.outcome.client == c for m in matrix.values()
                                          for t in m.trials)]  # fmt: skip
    width = max(len(name) for name in matrix) + 2
    short = {"openssl-s_client": "s_client", "python-requests": "requests",
             "python-httpx": "httpx"}  # fmt: skip
    lines = [
        "check --try-clients against every lab endpoint (each client trusting only the lab CA)",
        "✓/✗ agrees with tlsdoctor's prediction; then the real outcome: ok = connected and "
        "verified, FAIL = refused",
        "",
        " " * width + "".join(f"{short.get(c, c):<11}" for c in clients),
    ]
    agree = compared = 0
    for name, trials in matrix.items():
        row = f"{name:<{width}}"
        for client in clients:
            trial = next((t for t in trials.trials if t.outcome.client == client), None)
            if trial is None:
                row += f"{'-':<11}"
                continue
            compared += trial.agrees is not None
            agree += trial.agrees is True
            mark = {True: "✓", False: "✗", None: "?"}[trial.agrees]
            row += f"{mark} {'ok' if trial.outcome.ok else 'FAIL':<9}"
        lines.append(row.rstrip())
    lines += ["", f"{agree} of {compared} cells agree; {seconds:.1f} s for the whole matrix."]
    lines += ["", "Per endpoint (seconds for all clients of one endpoint)"]
    for name, trials in matrix.items():
        lines.append(f" {name}: {trials.seconds:.1f} s")
        lines += [f"   {line}" for line in render_trials(trials)[2:-1]]
    not_run = {c: why for trials in matrix.values() for c, why in trials.not_run}
    lines += ["", "Not run"] + ([f"  {c}: {why}" for c, why in not_run.items()] or ["  none"])
    return "\n".join(lines) + "\n"


def as_json(matrix: dict[str, Trials], seconds: float) -> dict[str, object]:
    from tlsdoctor.tryclients import trials_to_dict

    return {
        "seconds": round(seconds, 1),
        "endpoints": {name: trials_to_dict(trials) for name, trials in matrix.items()},
    }


# --------------------------------------------------------------------------------------
# The OpenSSL configuration decides, and the prediction follows it

_OPENSSL_CONF = """\
openssl_conf = openssl_init
[openssl_init]
ssl_conf = ssl_sect
[ssl_sect]
system_default = system_default_sect
[system_default_sect]
MinProtocol = {minimum}
CipherString = DEFAULT@SECLEVEL={level}
"""


def _clear_build_caches() -> None:
    for reader in (builds.openssl_config, builds.openssl_cli_build, builds.curl_build):
        reader.cache_clear()


@pytest.mark.parametrize(
    ("minimum", "level", "connects", "said"),
    [
        ("TLSv1.2", 2, False, "alert protocol version"),  # MinProtocol rules out TLS 1.0
        ("TLSv1", 2, False, "legacy sigalg"),  # TLS 1.0 offered, its signature refused
        ("TLSv1", 0, True, ""),  # the twin: level 0 lets TLS 1.0 through
    ],
)
@pytest.mark.parametrize("client", ["openssl-s_client", "curl"])
def test_openssl_config_changes_the_real_client_and_the_prediction(
    lab: Lab,
    cache: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    client: str,
    minimum: str,
    level: int,
    connects: bool,
    said: str,
) -> None:
    """Against the TLS 1.0-only endpoint, with OPENSSL_CONF pointing at a configuration:
    the real client does what that configuration says, and the prediction (read from the
    same configuration) agrees, message included."""
    if (reason := runners.unavailable(client)) is not None:
        pytest.skip(reason)
    conf = tmp_path / "openssl.cnf"
    conf.write_text(_OPENSSL_CONF.format(minimum=minimum, level=level))
    monkeypatch.setenv("OPENSSL_CONF", str(conf))
    _clear_build_caches()
    try:
        endpoint = lab.endpoint("tls1.0-only")
        trials = try_clients(
            report_for(lab, endpoint, lab.ca_file),
            dial_for(endpoint, lab.ca_file),
            [client],
            cache=cache,
        )
    finally:
        monkeypatch.undo()
        _clear_build_caches()
    (trial,) = trials.trials
    assert trial.build is not None
    assert trial.build.min_protocol == minimum
    assert trial.build.security_level == level
    assert trial.outcome.ok is connects, trial.outcome.output[-2000:]
    assert said in trial.outcome.message
    assert trial.agrees is True, (trial.outcome.message, trial.prediction)
    if not connects:
        assert trial.message_fits, (trial.outcome.message, trial.prediction.expected_error)
