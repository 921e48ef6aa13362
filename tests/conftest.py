"""Shared fixtures: a test PKI made per session, and schema validation of every report.

Every report the suite produces goes through ``tlsdoctor.check.check_chain`` (files) or
``tlsdoctor.live.check_endpoint_async`` (endpoints); the wrappers installed here validate
each one against the committed JSON Schema, so a field that drifts from the schema fails
whichever test produced it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest

import tlsdoctor.check
import tlsdoctor.live
from pki import NOW, Issued, make_root
from tlsdoctor.anchors import CUSTOM, TrustAnchors
from tlsdoctor.models import Report, TrustAnchorSource
from tlsdoctor.render.json_report import report_to_dict

REPORT_SCHEMA = json.loads(
    resources.files("tlsdoctor").joinpath("schema/report.schema.json").read_text()
)
_VALIDATOR = jsonschema.Draft202012Validator(REPORT_SCHEMA)
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "badssl"
VALIDATED_REPORTS: list[int] = [0]


def validate_report_json(data: dict[str, Any]) -> None:
    """Fail with the schema's own words when ``data`` is not a valid report."""
    errors = sorted(_VALIDATOR.iter_errors(data), key=lambda e: list(e.path))
    assert not errors, "; ".join(f"{list(e.path)}: {e.message}" for e in errors)


_original_check_chain = tlsdoctor.check.check_chain


def _validating_check_chain(*args: Any, **kwargs: Any) -> Report:
    report = _original_check_chain(*args, **kwargs)
    data = report_to_dict(report)
    validate_report_json(json.loads(json.dumps(data)))
    VALIDATED_REPORTS[0] += 1
    return report


tlsdoctor.check.check_chain = _validating_check_chain  # type: ignore[assignment]

_original_check_endpoint_async = tlsdoctor.live.check_endpoint_async


async def _validating_check_endpoint_async(*args: Any, **kwargs: Any) -> Report:
    report = await _original_check_endpoint_async(*args, **kwargs)
    validate_report_json(json.loads(json.dumps(report_to_dict(report))))
    VALIDATED_REPORTS[0] += 1
    return report


# Installed before any test imports tlsdoctor.scan, which binds the name at import.
tlsdoctor.live.check_endpoint_async = _validating_check_endpoint_async  # type: ignore[assignment]


def anchors_of(*roots: Issued, name: str = "test roots") -> TrustAnchors:
    """Trust anchors holding exactly ``roots``, as --ca-file would make them."""
    certs = [root.cert for root in roots]
    return TrustAnchors([(TrustAnchorSource(name, "<test>", len(certs), CUSTOM), certs)])


@pytest.fixture(scope="session")
def root() -> Issued:
    return make_root("tlsdoctor Test Root CA", org="tlsdoctor tests")


@pytest.fixture(scope="session")
def intermediate(root: Issued) -> Issued:
    return root.issue_ca("tlsdoctor Test Issuing CA 1", aia_url="http://ca.example.test/root.der")


@pytest.fixture(scope="session")
def anchors(root: Issued) -> TrustAnchors:
    return anchors_of(root)


Check = Callable[..., Report]


@pytest.fixture
def check(anchors: TrustAnchors) -> Check:
    """check_chain with the test root as the only anchor (and as the 'public' roots) at NOW."""

    def run(*issued: Issued, host: str | None = "www.example.test", **kwargs: Any) -> Report:
        kwargs.setdefault("anchors", anchors)
        kwargs.setdefault("public_roots", anchors_of())
        kwargs.setdefault("at", NOW)
        return tlsdoctor.check.check_chain([i.cert for i in issued], host, **kwargs)

    return run


@pytest.fixture
def tmp_files(tmp_path: Path) -> Callable[[str, bytes], Path]:
    def write(filename: str, data: bytes) -> Path:
        path = tmp_path / filename
        path.write_bytes(data)
        return path

    return write
