"""The staff console's part of the OpenAPI description (CONTRACT §7)."""

from __future__ import annotations

from typing import Any

from portal.staff.openapi_insight import insight_paths

SESSION: list[dict[str, list[str]]] = [{"staffSession": []}]
JOB_ID = {"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}}
MESSAGE = {
    "type": "object",
    "required": ["channel", "direction", "body", "status", "error", "created_at"],
    "properties": {
        "channel": {"enum": ["sms", "email"]},
        "direction": {"enum": ["out", "in"]},
        "to": {"type": ["string", "null"]},
        "from": {"type": ["string", "null"]},
        "body": {"type": "string"},
        "status": {"enum": ["queued", "sent", "delivered", "failed", "undelivered", "received", "not_sent"]},
        "error": {"type": ["string", "null"]},
        "error_code": {"type": ["string", "null"]},
        "error_meaning": {"type": ["string", "null"]},
        "provider_id": {"type": ["string", "null"]},
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
    },
}
JOB_DOCUMENT = {
    "type": "object",
    "required": ["job", "timeline", "messages"],
    "properties": {
        "job": {"type": "object"},
        "timeline": {
            "type": "array",
            "items": {"type": "object", "properties": {"status": {"type": "string"}, "at": {"type": "string"}}},
        },
        "messages": {"type": "array", "items": MESSAGE},
    },
}


def _html(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"text/html": {"schema": {"type": "string"}}}}


def _form(*fields: str) -> dict[str, Any]:
    properties = {name: {"type": "string"} for name in fields}
    schema = {"type": "object", "required": list(fields), "properties": properties}
    return {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": schema}}}


SIGN_IN_NEEDED = {"303": {"description": "No session: redirect to /staff/login."}}
CSRF_REFUSED = {"403": {"description": "Missing or wrong csrf_token."}}


def staff_paths() -> dict[str, Any]:
    action = {
        "security": SESSION,
        "parameters": [JOB_ID],
        "requestBody": _form("csrf_token"),
        "responses": {"303": {"description": "Back to the job page."}, **CSRF_REFUSED, "404": _html("No such job.")},
    }
    return {
        "/staff/login": {
            "get": {"summary": "Staff sign-in form", "responses": {"200": _html("The form.")}},
            "post": {
                "summary": "Sign in",
                "requestBody": _form("username", "password", "csrf_token"),
                "responses": {
                    "303": {"description": "Signed in; sets the portal_staff session cookie."},
                    "401": _html("Wrong username or password (never saying which)."),
                    **CSRF_REFUSED,
                    "429": _html("Too many failed sign-ins for this username or client."),
                },
            },
        },
        "/staff/logout": {
            "post": {
                "summary": "Sign out",
                "security": SESSION,
                "requestBody": _form("csrf_token"),
                "responses": {"303": {"description": "Signed out."}, **CSRF_REFUSED},
            }
        },
        "/staff": {
            "get": {
                "summary": "Search by job id, reference, phone (any format), email or customer name",
                "security": SESSION,
                "parameters": [
                    {"name": "q", "in": "query", "required": False, "schema": {"type": "string"}},
                    {
                        "name": "page",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string"},
                        "description": "A page number from 1; anything else reads as the first page, as a"
                        " hand-edited URL should.",
                    },
                ],
                "responses": {"200": _html("Results, newest first."), **SIGN_IN_NEEDED},
            }
        },
        "/staff/jobs/{job_id}": {
            "get": {
                "summary": "Job page: timeline, messages, customer actions, link state",
                "security": SESSION,
                "parameters": [JOB_ID],
                "responses": {"200": _html("The job."), "404": _html("No such job."), **SIGN_IN_NEEDED},
            }
        },
        "/staff/jobs/{job_id}/resend": {"post": {"summary": "Queue the tracking link by SMS/email", **action}},
        "/staff/jobs/{job_id}/revoke": {"post": {"summary": "Revoke every earlier link of the job", **action}},
        "/staff/api/jobs/{job_id}": {
            "get": {
                "summary": "The job as JSON, for helpdesk integrations",
                "security": SESSION,
                "parameters": [JOB_ID],
                "responses": {
                    "200": {"description": "The job.", "content": {"application/json": {"schema": JOB_DOCUMENT}}},
                    "401": {"description": "No session."},
                    "404": {"description": "No such job."},
                },
            }
        },
        "/staff/rejected": {
            "get": {
                "summary": "Recent rejected field webhooks",
                "security": SESSION,
                "responses": {"200": _html("The list."), **SIGN_IN_NEEDED},
            }
        },
        "/staff/audit": {
            "get": {
                "summary": "Audit log of staff actions and job views",
                "security": SESSION,
                "responses": {"200": _html("The log."), **SIGN_IN_NEEDED},
            }
        },
        **insight_paths(),
    }


SECURITY_SCHEMES = {"staffSession": {"type": "apiKey", "in": "cookie", "name": "portal_staff"}}
