"""The OpenAPI 3.1 description of the dashboard's read-only API, written by hand.

Hand-written rather than generated so that it says what the fields mean; a test checks
it against the OpenAPI specification and against the routes the app really has.
"""

from __future__ import annotations

from typing import Any

_NULLABLE_TIME: dict[str, Any] = {"type": ["string", "null"], "format": "date-time"}
_CODES: dict[str, Any] = {
    "type": "array",
    "items": {"type": "string"},
    "description": "Finding codes of spec/findings.md, primary first.",
}
_VERDICT: dict[str, Any] = {"type": "string", "enum": ["trusted", "untrusted", "error"]}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


_ERROR = _json(_ref("Error"), "See the message.")
_HEALTH: dict[str, Any] = {
    "type": "object",
    "required": ["status", "targets", "overdue_targets", "last_sweep", "outbox_pending"],
    "properties": {
        "status": {"type": "string", "enum": ["ok", "unhealthy"]},
        "targets": {"type": "integer"},
        "overdue_targets": {"type": "integer"},
        "last_sweep": {"type": ["string", "null"], "format": "date-time"},
        "outbox_pending": {"type": "integer"},
    },
}
_UNAUTHORIZED = _json(
    _ref("Error"), "A token is required (the server was started with --token-env)."
)

_NAME_PARAMETER: dict[str, Any] = {
    "name": "name",
    "in": "path",
    "required": True,
    "description": "The target as watched, host:port (percent-encode anything else).",
    "schema": {"type": "string"},
    "example": "shop.example.com:443",
}
_LIMIT_PARAMETER: dict[str, Any] = {
    "name": "limit",
    "in": "query",
    "required": False,
    "description": "At most this many items, newest first.",
    "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
}

_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {"type": "string", "description": "One sentence."}},
    },
    "Target": {
        "type": "object",
        "description": "A watched target and the outcome of its latest check (null fields "
        "before the first check).",
        "required": ["name", "every_seconds", "labels", "verdict", "codes", "links"],
        "properties": {
            "name": {"type": "string", "description": "host:port"},
            "every_seconds": {"type": "integer", "description": "Check interval."},
            "starttls": {"type": ["string", "null"]},
            "servername": {"type": ["string", "null"], "description": "SNI, if not the host."},
            "labels": {"type": "array", "items": {"type": "string"}},
            "verdict": {**_VERDICT, "type": ["string", "null"], "enum": [*_VERDICT["enum"], None]},
            "exit_code": {
                "type": ["integer", "null"],
                "description": "0 trusted, 1 trusted with warnings, 2 untrusted, 3 error.",
            },
            "codes": _CODES,
            "checked_at": _NULLABLE_TIME,
            "expires_at": {
                **_NULLABLE_TIME,
                "description": "The earliest notAfter of the chain the server presented.",
            },
            "days_left": {
                "type": ["integer", "null"],
                "description": "Whole days until expires_at, rounded toward zero "
                "(negative once expired for a day or more).",
            },
            "expired": {
                "type": ["boolean", "null"],
                "description": "Whether expires_at has passed.",
            },
            "leaf_subject": {"type": ["string", "null"]},
            "leaf_sha256": {"type": ["string", "null"]},
            "leaf_not_after": _NULLABLE_TIME,
            "seconds": {"type": ["number", "null"], "description": "How long the check took."},
            "error": {
                "type": ["string", "null"],
                "description": "Why the check could not complete (verdict error).",
            },
            "links": {
                "type": "object",
                "properties": {
                    "self": {"type": "string"},
                    "html": {"type": "string"},
                    "history": {"type": "string"},
                },
            },
        },
    },
    "TargetDetail": {
        "allOf": [
            _ref("Target"),
            {
                "type": "object",
                "required": ["report"],
                "properties": {
                    "report": {
                        "oneOf": [_ref("Report"), {"type": "null"}],
                        "description": "The JSON report of the latest check; null before one.",
                    }
                },
            },
        ]
    },
    "Report": {
        "type": "object",
        "description": "The report of `tlsdoctor check --json` (its schema ships as "
        "tlsdoctor/schema/report.schema.json); the fields the dashboard shows are "
        "described here.",
        "additionalProperties": True,
        "properties": {
            "verdict": _VERDICT,
            "exit_code": {"type": "integer"},
            "checked_at": {"type": "string", "format": "date-time"},
            "findings": {"type": "array", "items": _ref("Finding")},
            "chain": {"type": "array", "items": _ref("Certificate")},
            "path": {"type": "array", "items": _ref("Certificate")},
            "clients": {"type": "array", "items": _ref("ClientVerdict")},
        },
    },
    "Finding": {
        "type": "object",
        "additionalProperties": True,
        "properties": {
            "code": {"type": "string"},
            "severity": {"type": "string", "enum": ["error", "warning"]},
            "message": {"type": "string"},
            "evidence": {"type": "object"},
            "fix": {"type": "array", "items": {"type": "string"}},
        },
    },
    "Certificate": {
        "type": "object",
        "additionalProperties": True,
        "properties": {
            "subject": {"type": "string"},
            "issuer": {"type": "string"},
            "not_before": {"type": "string", "format": "date-time"},
            "not_after": {"type": "string", "format": "date-time"},
            "sha256": {"type": "string"},
            "role": {"type": "string"},
            "presented": {"type": "boolean"},
        },
    },
    "ClientVerdict": {
        "type": "object",
        "additionalProperties": True,
        "properties": {
            "client": {"type": "string"},
            "trusted": {"type": "boolean"},
            "codes": _CODES,
            "expected_error": {"type": ["string", "null"]},
            "store": {"type": "string"},
        },
    },
    "StateRun": {
        "type": "object",
        "description": "Consecutive checks of one target that saw the same state.",
        "required": ["first_seen", "last_seen", "checks", "verdict", "codes"],
        "properties": {
            "first_seen": {"type": "string", "format": "date-time"},
            "last_seen": {"type": "string", "format": "date-time"},
            "checks": {"type": "integer", "minimum": 1},
            "verdict": _VERDICT,
            "exit_code": {"type": "integer"},
            "codes": _CODES,
            "leaf_sha256": {"type": ["string", "null"]},
            "leaf_subject": {"type": ["string", "null"]},
            "leaf_not_before": _NULLABLE_TIME,
            "leaf_not_after": _NULLABLE_TIME,
            "expires_at": _NULLABLE_TIME,
            "error": {"type": ["string", "null"]},
            "seconds": {"type": ["number", "null"]},
            "seconds_min": {"type": ["number", "null"]},
            "seconds_max": {"type": ["number", "null"]},
            "seconds_mean": {"type": ["number", "null"]},
            "report": {
                "oneOf": [_ref("Report"), {"type": "null"}],
                "description": "The first check's report; only with ?reports=true.",
            },
        },
    },
    "Delivery": {
        "type": "object",
        "properties": {
            "notifier": {"type": "string"},
            "status": {"type": "string", "enum": ["pending", "failed", "delivered", "gave_up"]},
            "attempts": {"type": "integer"},
            "next_attempt": _NULLABLE_TIME,
            "last_error": {"type": ["string", "null"]},
            "delivered_at": _NULLABLE_TIME,
        },
    },
    "Alert": {
        "type": "object",
        "required": ["id", "target", "kind", "severity", "raised_at", "title", "active"],
        "properties": {
            "id": {"type": "integer"},
            "target": {"type": "string"},
            "kind": {
                "type": "string",
                "enum": ["expiry", "broken", "recovered", "certificate_changed", "new_finding"],
            },
            "severity": {"type": "string", "enum": ["info", "warning", "critical"]},
            "key": {"type": "string"},
            "raised_at": {"type": "string", "format": "date-time"},
            "title": {"type": "string"},
            "body": {"type": "string"},
            "facts": {"type": "object"},
            "active": {
                "type": "boolean",
                "description": "True while the same alert would not be raised again.",
            },
            "deliveries": {"type": "array", "items": _ref("Delivery")},
        },
    },
}


def _get(
    summary: str,
    responses: dict[str, Any],
    *,
    operation: str,
    parameters: list[dict[str, Any]] | None = None,
    public: bool = False,
) -> dict[str, Any]:
    operation_object: dict[str, Any] = {
        "operationId": operation,
        "summary": summary,
        "responses": responses,
    }
    if parameters:
        operation_object["parameters"] = parameters
    if public:
        operation_object["security"] = []
    else:
        operation_object["responses"] = {**responses, "401": _UNAUTHORIZED}
    return {"get": operation_object}


def _text(media_type: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {media_type: {"schema": {"type": "string"}}}}


def openapi_document(*, token_required: bool, version: str) -> dict[str, Any]:
    """The description of the API; ``token_required`` says whether this server wants
    a bearer token (it is always described, so clients can be written for both)."""
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "tlsdoctor watch",
            "version": version,
            "description": "Read-only API of `tlsdoctor watch serve`: the watched TLS "
            "endpoints, their latest reports, their history and the alerts raised. "
            "With --token-env, send `Authorization: Bearer TOKEN` on every request "
            "except /healthz.",
        },
        "paths": {
            "/api/targets": _get(
                "Every watched target with its latest check, worst first",
                {"200": _json({"type": "array", "items": _ref("Target")}, "The targets.")},
                operation="listTargets",
            ),
            "/api/targets/{name}": _get(
                "One target, with the full report of its latest check",
                {"200": _json(_ref("TargetDetail"), "The target."), "404": _ERROR},
                operation="getTarget",
                parameters=[_NAME_PARAMETER],
            ),
            "/api/targets/{name}/history": _get(
                "The state runs of one target, newest first",
                {
                    "200": _json({"type": "array", "items": _ref("StateRun")}, "Its history."),
                    "400": _ERROR,
                    "404": _ERROR,
                },
                operation="getTargetHistory",
                parameters=[
                    _NAME_PARAMETER,
                    _LIMIT_PARAMETER,
                    {
                        "name": "reports",
                        "in": "query",
                        "required": False,
                        "description": "Include the report of the first check of each run.",
                        "schema": {"type": "boolean", "default": False},
                    },
                ],
            ),
            "/api/alerts": _get(
                "Raised alerts, newest first, with where each delivery stands",
                {
                    "200": _json({"type": "array", "items": _ref("Alert")}, "The alerts."),
                    "400": _ERROR,
                },
                operation="listAlerts",
                parameters=[
                    {
                        "name": "target",
                        "in": "query",
                        "required": False,
                        "description": "Only this target's alerts.",
                        "schema": {"type": "string"},
                    },
                    _LIMIT_PARAMETER,
                ],
            ),
            "/metrics": _get(
                "Prometheus metrics (ssl_exporter and blackbox_exporter names)",
                {"200": _text("text/plain", "Prometheus text format 0.0.4.")},
                operation="getMetrics",
            ),
            "/calendar.ics": _get(
                "Certificate expiries as an iCalendar feed",
                {"200": _text("text/calendar", "One all-day event per certificate.")},
                operation="getCalendar",
            ),
            "/openapi.json": _get(
                "This document",
                {"200": _json({"type": "object"}, "OpenAPI 3.1.")},
                operation="getOpenApi",
            ),
            "/healthz": _get(
                "Health: the history answers and a watch is sweeping it (unhealthy, 503,"
                " when targets went unchecked for two of their intervals)",
                {
                    "200": _json(_HEALTH, "Healthy."),
                    "503": _json(
                        {"oneOf": [_HEALTH, _ref("Error")]},
                        "Unhealthy, or the history cannot be read.",
                    ),
                },
                operation="getHealth",
                public=True,
            ),
        },
        "components": {
            "schemas": _SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
    if token_required:
        document["security"] = [{"bearer": []}]
    return document
