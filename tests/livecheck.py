"""`tlsdoctor check ... --json` run in process for the live tests: the exit code and the
report, validated against the JSON schema, its exit_code the same as the command's."""

from __future__ import annotations

import json
from typing import Any

import pytest

from conftest import validate_report_json
from tlsdoctor.cli.main import main


def run_check(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    code = main(["check", *argv, "--json"])
    out, err = capsys.readouterr()
    assert out, err
    assert "Traceback" not in err
    data = json.loads(out)
    validate_report_json(data)
    assert data["exit_code"] == code
    return code, data


def codes(data: dict[str, Any]) -> list[str]:
    return [finding["code"] for finding in data["findings"]]
