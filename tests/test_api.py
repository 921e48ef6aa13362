"""The library, used only through ``import tlsdoctor`` as its documentation shows, against
the real lab on 127.0.0.1: a live check, a concurrent scan, explain, the trust-store
plan/apply (in an NSS database of a sandbox home), the JSON report; and the command line
gives the same answers, since it calls these same functions."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import tlsdoctor
from conftest import validate_report_json
from tlsdoctor.lab import Lab, LabEndpoint

TIMEOUT = 10.0


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with Lab() as running:
        yield running


def where(item: LabEndpoint) -> str:
    return f"{item.host}:{item.port}"


def test_check_endpoint_trusted_and_untrusted(lab: Lab) -> None:
    options = tlsdoctor.check_options(ca_files=[str(lab.ca_file)], timeout=TIMEOUT)
    good = tlsdoctor.check_endpoint(where(lab.endpoint("good")), options, connect="127.0.0.1")
    assert good.verdict is tlsdoctor.Verdict.TRUSTED and good.exit_code == 0
    expired = tlsdoctor.check_endpoint(where(lab.endpoint("expired")), options, connect="127.0.0.1")
    assert expired.verdict is tlsdoctor.Verdict.UNTRUSTED and expired.exit_code == 2
    assert expired.codes[0] is tlsdoctor.FindingCode.EXPIRED
    data = tlsdoctor.report_to_dict(expired)
    validate_report_json(data)
    assert data["findings"][0]["code"] == "expired"


def test_check_endpoint_takes_option_keywords_too(lab: Lab) -> None:
    item = lab.endpoint("good")
    with_keywords = tlsdoctor.check_endpoint(
        where(item), connect=item.address, ca_files=[str(lab.ca_file)], timeout=TIMEOUT
    )
    assert with_keywords.verdict is tlsdoctor.Verdict.TRUSTED
    # Without the lab CA the same endpoint is untrusted: the keywords were used.
    without = tlsdoctor.check_endpoint(where(item), connect=item.address, timeout=TIMEOUT)
    assert without.verdict is tlsdoctor.Verdict.UNTRUSTED
    with pytest.raises(TypeError):
        tlsdoctor.check_endpoint(where(item), tlsdoctor.check_options(), timeout=TIMEOUT)


def test_a_bad_target_raises_input_error_and_a_dead_one_is_a_report(lab: Lab) -> None:
    with pytest.raises(tlsdoctor.InputError):
        tlsdoctor.check_endpoint("host:99999")
    with pytest.raises(tlsdoctor.InputError):
        tlsdoctor.endpoint("good.lab.tlsdoctor.test", starttls="carrier-pigeon")
    with pytest.raises(tlsdoctor.InputError):
        tlsdoctor.check_options(resolve=["example.com:443:not-an-address"])
    closed = tlsdoctor.check_endpoint("127.0.0.1:1", timeout=TIMEOUT, local_stores=False)
    assert closed.verdict is tlsdoctor.Verdict.ERROR and closed.exit_code == 3


def test_scan_endpoints_streams_reports_in_input_order(lab: Lab) -> None:
    names = ["expired", "good", "wrong-host", "missing-intermediate"]
    lines = ["# a target file, as check -f reads it", ""]
    lines += [f"{where(lab.endpoint(name))} 127.0.0.1" for name in names]
    options = tlsdoctor.check_options(ca_files=[str(lab.ca_file)], timeout=TIMEOUT)

    async def collect() -> list[tlsdoctor.Report]:
        return [report async for report in tlsdoctor.scan_endpoints(lines, options)]

    reports = asyncio.run(collect())
    assert [r.target.host for r in reports] == [lab.endpoint(n).host for n in names]
    assert [r.codes[:1] for r in reports] == [
        (tlsdoctor.FindingCode.EXPIRED,),
        (),
        (tlsdoctor.FindingCode.HOSTNAME_MISMATCH,),
        (tlsdoctor.FindingCode.MISSING_INTERMEDIATE,),
    ]


def test_scan_endpoints_refuses_a_malformed_line(lab: Lab) -> None:
    async def collect() -> list[tlsdoctor.Report]:
        return [r async for r in tlsdoctor.scan_endpoints(["a.example b c d"])]

    with pytest.raises(tlsdoctor.InputError):
        asyncio.run(collect())


def test_explain_message_offline_and_with_a_live_check(lab: Lab) -> None:
    known = tlsdoctor.explain_message("curl: (60) SSL certificate problem: certificate has expired")
    assert known.recognised and tlsdoctor.explanation_exit_code(known) == 0
    assert "expired" in [cause.code for cause in known.causes]
    unknown = tlsdoctor.explain_message("the printer is on fire")
    assert not unknown.recognised and tlsdoctor.explanation_exit_code(unknown) == 3
    item = lab.endpoint("expired")
    checked = tlsdoctor.explain_message(
        "certificate has expired",
        host=where(item),
        connect=item.address,
        options=tlsdoctor.check_options(ca_files=[str(lab.ca_file)], timeout=TIMEOUT),
    )
    assert checked.diagnosis is not None
    assert checked.diagnosis.code is tlsdoctor.FindingCode.EXPIRED
    assert tlsdoctor.explanation_exit_code(checked) == 2
    assert tlsdoctor.explanation_to_dict(checked)["recognised"] is True


@pytest.mark.skipif(shutil.which("certutil") is None, reason="needs certutil (libnss3-tools)")
def test_plan_and_apply_trust_in_an_nss_database(
    lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nssdb = tmp_path / "home" / ".pki" / "nssdb"
    nssdb.mkdir(parents=True)
    subprocess.run(
        ["certutil", "-N", "--empty-password", "-d", f"sql:{nssdb}"], check=True, timeout=30
    )
    monkeypatch.setenv("TLSDOCTOR_HOME", str(tmp_path / "home"))
    store = f"nss:{nssdb}"
    plan = tlsdoctor.plan_trust(str(lab.ca_file), stores=[store])
    [planned] = plan.planned
    assert planned.plan is not None and not planned.plan.already
    assert any("certutil -A" in step.shown() for step in planned.plan.steps)
    dry = tlsdoctor.apply_trust(plan, dry_run=True)
    assert [o.state.value for o in dry] == ["planned"]
    assert not tlsdoctor.plan_trust(str(lab.ca_file), stores=[store]).planned[0].plan.already  # type: ignore[union-attr]
    done = tlsdoctor.apply_trust(plan)
    assert [o.state.value for o in done] == ["done"] and tlsdoctor.trust_exit_code(done) == 0
    again = tlsdoctor.plan_trust(str(lab.ca_file), stores=[store])
    assert again.planned[0].plan is not None and again.planned[0].plan.already
    removal = tlsdoctor.plan_trust(str(lab.ca_file), action="remove", stores=[store])
    assert [o.state.value for o in tlsdoctor.apply_trust(removal)] == ["done"]
    with pytest.raises(ValueError, match="'add' or 'remove'"):
        tlsdoctor.plan_trust(str(lab.ca_file), action="replace")


def test_the_command_line_prints_what_the_library_returns(lab: Lab) -> None:
    item = lab.endpoint("wrong-host")
    argv = ["check", where(item), "--connect", item.address, "--ca-file", str(lab.ca_file)]
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    command = subprocess.run(
        [sys.executable, "-m", "tlsdoctor", *argv, "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    report = tlsdoctor.check_endpoint(
        where(item), connect=item.address, ca_files=[str(lab.ca_file)]
    )
    from_cli = json.loads(command.stdout)
    from_library = tlsdoctor.report_to_dict(report)
    assert command.returncode == report.exit_code == 2
    for key in ("verdict", "exit_code", "chain", "path", "clients"):
        assert from_cli[key] == from_library[key], key
    assert [f["code"] for f in from_cli["findings"]] == [
        f["code"] for f in from_library["findings"]
    ]
    text = subprocess.run(
        [sys.executable, "-m", "tlsdoctor", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        env=env | {"COLUMNS": "100"},
        check=False,
    ).stdout
    rendered = tlsdoctor.render_text(report, width=100)
    # The same text but for the moment of the check.
    assert text.splitlines()[2:] == rendered.splitlines()[2:]
    assert text.splitlines()[0] == rendered.splitlines()[0]
