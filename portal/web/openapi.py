"""The OpenAPI 3.1 description of the HTTP API, built around the published JSON Schemas."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from portal import __version__
from portal.intake import EVENT_TYPES, inline_refs, load_registry
from portal.resources import data_dir
from portal.staff.openapi import SECURITY_SCHEMES as STAFF_SECURITY
from portal.staff.openapi import staff_paths
from portal.web.openapi_two_way import two_way_paths

# One server-sent event: before OpenAPI 3.2, the schema of an event stream describes each event.
# ``data`` is JSON (a public state for ``snapshot``, one change otherwise; CONTRACT §6).
SSE_EVENT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "event": {"type": "string"},
        "id": {"type": "string", "pattern": "^[0-9]+$"},
        "data": {"type": "string", "contentMediaType": "application/json"},
        "retry": {"type": "integer", "minimum": 0},
    },
    "required": ["event", "data"],
}


def _schemas() -> dict[str, Any]:
    """The webhook schemas with every reference to ``common.json`` inlined.

    The published files refer to each other by relative URL (``../common.json#/$defs/...``),
    which no reader of ``/openapi.json`` can resolve; the document carries them bundled.
    """
    root = data_dir("webhooks") / "schemas"
    registry = load_registry(root)
    found: dict[str, Any] = {}
    for kind in EVENT_TYPES:
        schema = json.loads((root / "inbound" / f"{kind}.json").read_text())
        flat = inline_refs(schema, registry, schema["$id"])
        found[kind] = {k: v for k, v in flat.items() if k != "$schema"}
    return {**found, **RESPONSE_SCHEMAS}


def _json(
    description: str, schema: dict[str, Any] | None = None, headers: dict[str, Any] | None = None
) -> dict[str, Any]:
    content = {"application/json": {"schema": schema or {"type": "object"}}}
    answer: dict[str, Any] = {"description": description, "content": content}
    if headers:
        answer["headers"] = headers
    return answer


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


STAMP = {"type": "string", "format": "date-time"}
NULLABLE_STAMP = {"type": ["string", "null"], "format": "date-time"}
SPAN = {"type": "object", "required": ["start", "end"], "properties": {"start": STAMP, "end": STAMP}}
POINT = {
    "type": "object",
    "required": ["lat", "lon"],
    "properties": {"lat": {"type": "number"}, "lon": {"type": "number"}},
}
RESPONSE_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {"type": "string"}, "detail": {}},
    },
    "PublicState": {
        "type": "object",
        "required": [
            "reference", "service", "status", "status_label", "window", "timezone", "technician", "eta",
            "location", "timeline", "can_reschedule", "slots", "reschedule", "rating", "invoice_url",
        ],
        "properties": {
            "reference": {"type": "string"},
            "service": {"type": ["string", "null"]},
            "status": {"enum": ["created", "scheduled", "dispatched", "en_route", "in_progress", "completed",
                                "cancelled", "on_hold"]},
            "status_label": {"type": "string"},
            "window": {"oneOf": [SPAN, {"type": "null"}]},
            "timezone": {"type": "string"},
            "technician": {
                "type": ["object", "null"],
                "properties": {"name": {"type": ["string", "null"]}, "photo_url": {"type": ["string", "null"]}},
            },
            "eta": {
                "type": ["object", "null"],
                "properties": {
                    "at": STAMP, "minutes": {"type": "integer"}, "range": SPAN, "stale": {"type": "boolean"},
                    "updated_at": STAMP, "source": {"enum": ["field", "route", "position"]},
                },
            },
            "location": {"oneOf": [POINT, {"type": "null"}]},
            "destination": {"oneOf": [POINT, {"type": "null"}]},
            "trail": {"type": ["array", "null"], "items": POINT},
            "progress": {"type": "array"},
            "timeline": {
                "type": "array",
                "items": {"type": "object", "required": ["status", "at"],
                          "properties": {"status": {"type": "string"}, "at": STAMP}},
            },
            "can_reschedule": {"type": "boolean"},
            "slots": {"type": "array", "items": SPAN},
            "reschedule": {"type": ["object", "null"]},
            "rating": {"type": ["object", "null"]},
            "invoice_url": {"type": ["string", "null"]},
        },
    },
    "Accepted": {"type": "object", "required": ["status"], "properties": {"status": {"const": "accepted"}}},
    "Duplicate": {"type": "object", "required": ["status"], "properties": {"status": {"const": "duplicate"}}},
    "Health": {"type": "object", "required": ["status"], "properties": {"status": {"const": "ok"}}},
    "Readiness": {
        "type": "object",
        "required": ["status"],
        "properties": {
            "status": {"enum": ["ready", "unavailable"]},
            "detail": {"type": "string"},
            "age_seconds": {"type": "number", "minimum": 0},
        },
    },
}  # fmt: skip
RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "string"}}}
UNAVAILABLE = {
    "description": "The store is unavailable (e.g. Redis restarting); retry after Retry-After seconds.",
    "headers": RETRY_AFTER,
    "content": {
        "application/json": {"schema": _ref("Error")},
        "text/html": {"schema": {"type": "string"}},
    },
}


def _html(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"text/html": {"schema": {"type": "string"}}}}


TOKEN = {"name": "token", "in": "path", "required": True, "schema": {"type": "string"}}


def _link_errors(media: str) -> dict[str, Any]:
    """A refused link answers in the media type of the endpoint: a page, or JSON for scripts."""
    schema = {"type": "string"} if media == "text/html" else _ref("Error")
    content = {media: {"schema": schema}}
    return {
        "404": {"description": "Forged or tampered link.", "content": content},
        "410": {"description": "Revoked link, or past PORTAL_LINK_TTL_DAYS after completion.", "content": content},
        "429": {"description": "Too many bad links from this client.", "content": content},
        "503": UNAVAILABLE,
    }


LINK_ERRORS = _link_errors("application/json")
PAGE_LINK_ERRORS = _link_errors("text/html")
SIGNATURE_HEADERS = [
    {"name": name, "in": "header", "required": True, "schema": {"type": "string"}}
    for name in ("webhook-id", "webhook-timestamp", "webhook-signature")
]


@cache
def openapi_document() -> dict[str, Any]:
    schemas = _schemas()
    refs = [{"$ref": f"#/components/schemas/{kind}"} for kind in EVENT_TYPES]
    detail = {
        "type": "object",
        "properties": {
            "error": {"const": "invalid_payload"},
            "detail": {
                "type": "array",
                "items": {"type": "object", "properties": {"loc": {"type": "string"}, "msg": {"type": "string"}}},
            },
        },
    }
    paths: dict[str, Any] = {
        "/webhooks/field": {
            "post": {
                "summary": "Field-system status webhook (Standard Webhooks signed)",
                "parameters": SIGNATURE_HEADERS,
                "requestBody": {"required": True, "content": {"application/json": {"schema": {"oneOf": refs}}}},
                "responses": {
                    "202": _json("Accepted and durably stored.", _ref("Accepted")),
                    "200": _json("Duplicate webhook-id; nothing changed.", _ref("Duplicate")),
                    "400": _json("Invalid payload, implausible values or unknown type.", detail),
                    "401": _json("Missing or wrong signature, or a stale timestamp.", _ref("Error")),
                    "413": _json("Body over 256 KiB.", _ref("Error")),
                    "415": _json("Not application/json.", _ref("Error")),
                    "503": _json(
                        "Store unavailable or no webhook secret configured; retry.", _ref("Error"), RETRY_AFTER
                    ),
                },
            }
        },
        "/t/{token}": {
            "get": {
                "summary": "Tracking page",
                "parameters": [TOKEN],
                "responses": {"200": _html("The page."), **PAGE_LINK_ERRORS},
            }
        },
        "/t/{token}/state": {
            "get": {
                "summary": "Public state as JSON",
                "parameters": [TOKEN],
                "responses": {"200": _json("The public state.", _ref("PublicState")), **LINK_ERRORS},
            }
        },
        "/t/{token}/events": {
            "get": {
                "summary": "Server-sent events: snapshot, then status, eta, location, job",
                "parameters": [
                    TOKEN,
                    {"name": "Last-Event-ID", "in": "header", "required": False, "schema": {"type": "string"}},
                ],
                "responses": {
                    "200": {
                        "description": "An event stream.",
                        "content": {"text/event-stream": {"schema": SSE_EVENT}},
                    },
                    **LINK_ERRORS,
                    "429": _json("Too many bad tokens, or too many open streams from this client."),
                },
            }
        },
        "/healthz": {"get": {"summary": "Process alive", "responses": {"200": _json("Alive.", _ref("Health"))}}},
        "/readyz": {
            "get": {
                "summary": "Store reachable, from a probe every 2 s in the background",
                "responses": {
                    "200": _json("Ready.", _ref("Readiness")),
                    "503": _json("Store unreachable at the last probe.", _ref("Readiness")),
                },
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics",
                "responses": {
                    "200": {
                        "description": "Prometheus text format.",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    },
                    "401": {"description": "PORTAL_METRICS_TOKEN is set and the bearer token is missing or wrong."},
                },
            }
        },
        "/openapi.json": {
            "get": {"summary": "This document", "responses": {"200": _json("OpenAPI 3.1, self-contained.")}}
        },
        **staff_paths(),
        **two_way_paths(),
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "Field-service customer portal", "version": __version__},
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": STAFF_SECURITY},
    }
