"""What a fleet needs of the watch: cron output that is quiet when all is well, a --db that
refuses a typo, and a load balancer with two certificates as one state."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import pytest

from pki import Issued, make_root
from servers import free_port
from tlsdoctor.check import utc_now
from tlsdoctor.cli.main import main
from tlsdoctor.codes import FindingCode, Verdict
from tlsdoctor.history.store import History
from tlsdoctor.monitor.rules import AlertPolicy, evaluate
from tlsdoctor.watch_model import AlertKind, Observation, WatchTarget
from watchsites import DAY, Endpoint


@pytest.fixture
def root(tmp_path: Path) -> Issued:
    issued = make_root("tlsdoctor Fleet Test Root", not_before=utc_now() - 400 * DAY)
    (tmp_path / "root.pem").write_bytes(issued.pem())
    return issued


def test_once_quiet_prints_only_problems(
    tmp_path: Path, root: Issued, capsys: pytest.CaptureFixture[str]
) -> None:
    good = Endpoint(tmp_path, root, not_after=utc_now() + 60 * DAY, name="good.example.test")
    down = f"down.example.test:{free_port()}"
    (tmp_path / "list.toml").write_text(
        f"""[defaults]
ca_files = ["root.pem"]
ignore = ["revocation_unknown"]
ignore_reason = "the test CA publishes no CRL"
[[target]]
name = "{good.target}"
connect = "127.0.0.1"
[[target]]
name = "{down}"
connect = "127.0.0.1"
"""
    )
    settings = tmp_path / "watch.toml"
    settings.write_text("[check]\ntimeout = 5\n")
    db = str(tmp_path / "watch.db")

    def watch(*argv: str) -> int:
        return main(["watch", "--db", db, "--config", str(settings), *argv])

    assert watch("import", str(tmp_path / "list.toml")) == 0
    capsys.readouterr()
    with good.up():
        assert watch("once", "--all", "--quiet") == 3
    printed = capsys.readouterr()
    assert down in printed.out and good.target not in printed.out
    assert printed.err == ""
    # The twin: without the broken one, a quiet run prints nothing at all.
    assert watch("remove", down) == 0
    capsys.readouterr()
    with good.up():
        assert watch("once", "--all", "--quiet") == 0
    assert capsys.readouterr() == ("", "")
    with good.up():  # and without --quiet it says what it did
        assert watch("once", "--all") == 0
    said = capsys.readouterr()
    assert good.target in said.out and said.err.startswith("checked 1 target,")


@pytest.mark.parametrize("given", ["not a url", "watchdb", "postgresql:/db.example.test/watch"])
def test_db_that_is_neither_a_path_nor_a_url_is_an_error(
    given: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["watch", "--db", given, "list"]) == 3
    assert "is not a database URL" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # no file of that name was made


def test_db_as_a_relative_path_is_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["watch", "--db", "watch.db", "list"]) == 0
    assert (tmp_path / "watch.db").is_file()


T0 = dt.datetime(2026, 5, 1, tzinfo=dt.timezone.utc)


def behind_a_balancer(at: dt.datetime, leaf: str, *, inconsistent: bool) -> Observation:
    codes = (FindingCode.INCONSISTENT_BACKENDS,) if inconsistent else ()
    return Observation(
        target="lb.example.test:443",
        checked_at=at,
        verdict=Verdict.TRUSTED,
        exit_code=1 if inconsistent else 0,
        codes=codes,
        leaf_sha256=leaf * 64,
        leaf_subject="CN=lb.example.test",
        leaf_not_before=T0 - 10 * DAY,
        leaf_not_after=T0 + (80 if leaf == "a" else 70) * DAY,
        expires_at=T0 + (80 if leaf == "a" else 70) * DAY,
        seconds=0.1,
    )


@pytest.mark.parametrize("inconsistent", [True, False])
def test_a_balancer_serving_two_certificates_is_one_state(
    tmp_path: Path, inconsistent: bool
) -> None:
    """Which backend answers is chance: with the finding, the history keeps one state
    and no "certificate changed" alert is raised; without it (the twin), every flip is
    a change, as a real replacement must be."""
    with History.open(str(tmp_path / "watch.db")) as history:
        history.add_targets([WatchTarget("lb.example.test:443")], T0)
        previous = None
        changes = 0
        for n, leaf in enumerate("abab"):
            seen = behind_a_balancer(
                T0 + n * dt.timedelta(hours=6), leaf, inconsistent=inconsistent
            )
            outcome = evaluate(previous, seen, AlertPolicy(), frozenset())
            changes += sum(a.kind is AlertKind.CERTIFICATE_CHANGED for a in outcome.alerts)
            history.record(seen, seen.checked_at + dt.timedelta(hours=6))
            previous = seen
        runs = history.history("lb.example.test:443", with_reports=False)
    if inconsistent:
        assert [run.seen_count for run in runs] == [4]
        assert changes == 0
    else:
        assert len(runs) == 4
        assert changes == 3


def test_state_keys_on_the_findings_not_the_leaf_when_backends_differ() -> None:
    one = behind_a_balancer(T0, "a", inconsistent=True)
    other = dataclasses.replace(one, leaf_sha256="b" * 64)
    assert one.state == other.state
    plain = behind_a_balancer(T0, "a", inconsistent=False)
    assert plain.state != dataclasses.replace(plain, leaf_sha256="b" * 64).state


def test_mute_for_maintenance_keeps_alerts_and_tells_nobody(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "alerts.jsonl"
    settings = tmp_path / "watch.toml"
    notify = f'[[notify]]\nkind = "log"\npath = "{log}"\n'
    settings.write_text(f"[check]\ntimeout = 5\n[alerts]\nconfirm_errors = 1\n{notify}")
    db = str(tmp_path / "watch.db")
    quiet, loud = f"quiet.example.test:{free_port()}", f"loud.example.test:{free_port()}"

    def watch(*argv: str) -> int:
        return main(["watch", "--db", db, "--config", str(settings), *argv])

    (tmp_path / "list.toml").write_text(
        f'[[target]]\nname = "{quiet}"\nconnect = "127.0.0.1"\nignore = ["timeout"]\n'
        f'ignore_reason = "kept"\n[[target]]\nname = "{loud}"\nconnect = "127.0.0.1"\n'
    )
    assert watch("import", str(tmp_path / "list.toml")) == 0
    assert watch("mute", quiet, "--for", "1d") == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith(f"muted: {quiet} until ")
    watch("once", "--all")  # both refused: only loud is told
    told = [json.loads(line)["target"] for line in log.read_text().splitlines()]
    assert told == [loud]
    capsys.readouterr()
    assert watch("history", quiet, "--json") == 0
    assert [a["kind"] for a in json.loads(capsys.readouterr().out)["alerts"]] == ["broken"]
    # Muting kept the target's other settings.
    with History.open(db) as history:
        target = history.target(quiet)
        assert target is not None and target.ignore == ("timeout",) and target.mute_until
    assert watch("mute", quiet, "--off") == 0
    assert capsys.readouterr().out == f"unmuted: {quiet}\n"
    with History.open(db) as history:
        assert history.target(quiet).mute_until is None  # type: ignore[union-attr]
    # Mistakes: one sentence each, exit 3.
    assert watch("mute", quiet) == 3
    assert "give one of --until DATE, --for DURATION or --off" in capsys.readouterr().err
    assert watch("mute", quiet, "--until", "31/12/2026") == 3
    assert "is not a date" in capsys.readouterr().err
    assert watch("mute", "nope.example.test", "--until", "2026-12-31") == 3
    assert "not watched: nope.example.test:443" in capsys.readouterr().out
