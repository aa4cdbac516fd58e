"""The OpenAPI 3.1 description of the HTTP API, built around the published JSON Schemas."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from portal import __version__
from portal.intake import EVENT_TYPES
from portal.resources import data_dir
from portal.staff.openapi import SECURITY_SCHEMES as STAFF_SECURITY
from portal.staff.openapi import staff_paths
from portal.web.openapi_two_way import two_way_paths


def _schemas() -> dict[str, Any]:
    root = data_dir("webhooks") / "schemas"
    found = {"common": json.loads((root / "common.json").read_text())}
    for kind in EVENT_TYPES:
        found[kind] = json.loads((root / "inbound" / f"{kind}.json").read_text())
    return found


def _json(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    content = {"application/json": {"schema": schema or {"type": "object"}}}
    return {"description": description, "content": content}


def _html(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"text/html": {"schema": {"type": "string"}}}}


TOKEN = {"name": "token", "in": "path", "required": True, "schema": {"type": "string"}}
LINK_ERRORS = {
    "404": {"description": "Forged or tampered link."},
    "410": {"description": "Revoked link, or past PORTAL_LINK_TTL_DAYS after completion."},
    "429": {"description": "Too many bad links from this client."},
}
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
                    "202": _json("Accepted and durably stored."),
                    "200": _json("Duplicate webhook-id; nothing changed."),
                    "400": _json("Invalid payload or unknown type.", detail),
                    "401": {"description": "Missing or wrong signature, or a stale timestamp."},
                    "413": {"description": "Body over 256 KiB."},
                    "415": {"description": "Not application/json."},
                    "503": {"description": "Store unavailable or no webhook secret configured; retry."},
                },
            }
        },
        "/t/{token}": {
            "get": {
                "summary": "Tracking page",
                "parameters": [TOKEN],
                "responses": {"200": _html("The page."), **LINK_ERRORS},
            }
        },
        "/t/{token}/state": {
            "get": {
                "summary": "Public state as JSON",
                "parameters": [TOKEN],
                "responses": {"200": _json("The public state."), **LINK_ERRORS},
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
                        "content": {"text/event-stream": {"schema": {"type": "string"}}},
                    },
                    **LINK_ERRORS,
                    "429": _json("Too many bad tokens, or too many open streams from this client."),
                },
            }
        },
        "/healthz": {"get": {"summary": "Process alive", "responses": {"200": _json("Alive.")}}},
        "/readyz": {
            "get": {
                "summary": "Store reachable",
                "responses": {"200": _json("Ready."), "503": _json("Store unreachable.")},
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
        "/openapi.json": {"get": {"summary": "This document", "responses": {"200": _json("OpenAPI 3.1.")}}},
        **staff_paths(),
        **two_way_paths(),
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "Field-service customer portal", "version": __version__},
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": STAFF_SECURITY},
    }
