"""The OpenAPI description of the attention queue and the statistics (CONTRACT §7)."""

from __future__ import annotations

from typing import Any

from portal.core.attention import REASONS as ATTENTION_REASONS

SESSION: list[dict[str, list[str]]] = [{"staffSession": []}]
NO_SESSION_API = {"401": {"description": "No session."}}
NO_SESSION_PAGE = {"303": {"description": "No session: redirect to /staff/login."}}
REASONS = list(ATTENTION_REASONS)  # the core's list, most urgent first: one place to add a reason
NULLABLE_NUMBER = {"type": ["number", "null"]}
COUNT = {"type": "integer", "minimum": 0}
QUEUE = {
    "type": "object",
    "required": ["items", "total"],
    "properties": {
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["job_id", "reference", "reasons", "since"],
                "properties": {
                    "job_id": {"type": "string"},
                    "reference": {"type": "string"},
                    "reasons": {"type": "array", "items": {"enum": REASONS}},
                    "since": {"type": "string", "format": "date-time"},
                    "waited": {"type": "string"},
                    "labels": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
        "total": COUNT,
        "at": {"type": "string", "format": "date-time"},
    },
}
CHANNEL = {
    "type": "object",
    "required": ["sent", "delivered", "failed"],
    "properties": {
        "sent": COUNT,
        "delivered": COUNT,
        "failed": COUNT,
        "top_errors": {
            "type": "array",
            "items": {"type": "object", "properties": {"code": {"type": "string"}, "count": COUNT}},
        },
    },
}
STATS = {
    "type": "object",
    "required": ["jobs", "completed", "cancelled", "reschedules", "ratings", "eta", "messages", "by_day"],
    "properties": {
        "jobs": COUNT,
        "completed": COUNT,
        "cancelled": COUNT,
        "reschedules": COUNT,
        "ratings": {
            "type": "object",
            "required": ["count", "average", "distribution"],
            "properties": {
                "count": COUNT,
                "average": NULLABLE_NUMBER,
                "distribution": {"type": "object", "properties": {str(n): COUNT for n in range(1, 6)}},
            },
        },
        "eta": {
            "type": "object",
            "required": ["arrivals", "within_range", "median_error_minutes"],
            "properties": {"arrivals": COUNT, "within_range": NULLABLE_NUMBER, "median_error_minutes": NULLABLE_NUMBER},
        },
        "messages": {"type": "object", "properties": {"sms": CHANNEL, "email": CHANNEL}},
        "by_day": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["date", "jobs", "completed", "rating_average", "eta_within_range"],
                "properties": {
                    "date": {"type": "string", "format": "date"},
                    "jobs": COUNT,
                    "completed": COUNT,
                    "rating_average": NULLABLE_NUMBER,
                    "eta_within_range": NULLABLE_NUMBER,
                },
            },
        },
    },
}
RANGE = [
    {
        "name": name,
        "in": "query",
        "required": False,
        # Empty is the default, as a browser sends a blank date field of the page's form.
        "schema": {"anyOf": [{"type": "string", "format": "date"}, {"type": "string", "maxLength": 0}]},
        "description": text,
    }
    for name, text in (
        ("from", "First day (YYYY-MM-DD, the staff member's time zone); default 29 days before `to`."),
        ("to", "Last day, inclusive; default today."),
    )
]
BAD_RANGE = {"400": {"description": "`from`/`to` unreadable, reversed or more than 366 days apart."}}


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _html(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"text/html": {"schema": {"type": "string"}}}}


def insight_paths() -> dict[str, Any]:
    job_id = {"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}}
    form = {"type": "object", "required": ["csrf_token"], "properties": {"csrf_token": {"type": "string"}}}
    back = {"type": "string", "enum": ["job"], "description": "`job`: return to the job's page, not the queue."}
    acknowledge_form = {**form, "properties": {"csrf_token": {"type": "string"}, "back": back}}
    return {
        "/staff/attention": {
            "get": {
                "summary": "Jobs that need a person now (updates live)",
                "security": SESSION,
                "responses": {"200": _html("The queue."), **NO_SESSION_PAGE},
            }
        },
        "/staff/attention/events": {
            "get": {
                "summary": "The queue as server-sent `queue` events, whenever it changes",
                "security": SESSION,
                "responses": {"200": {"description": "text/event-stream"}, **NO_SESSION_PAGE},
            }
        },
        "/staff/api/attention": {
            "get": {
                "summary": "The attention queue, most urgent first",
                "security": SESSION,
                "responses": {"200": _json("The queue.", QUEUE), **NO_SESSION_API},
            }
        },
        "/staff/jobs/{job_id}/acknowledge": {
            "post": {
                "summary": "Clear the job's current reasons (audited); a new occurrence brings it back",
                "security": SESSION,
                "parameters": [job_id],
                "requestBody": {
                    "required": True,
                    "content": {"application/x-www-form-urlencoded": {"schema": acknowledge_form}},
                },
                "responses": {
                    "303": {"description": "Back to the queue, or to the job's page with `back=job`."},
                    "400": {"description": "A form that cannot be read (more than a handful of fields)."},
                    "403": {"description": "Missing or wrong csrf_token."},
                    "404": _html("No such job."),
                },
            }
        },
        "/staff/stats": {
            "get": {
                "summary": "Statistics with charts",
                "security": SESSION,
                "parameters": RANGE,
                "responses": {"200": _html("The figures."), **BAD_RANGE, **NO_SESSION_PAGE},
            }
        },
        "/staff/stats.csv": {
            "get": {
                "summary": "The same figures as CSV",
                "security": SESSION,
                "parameters": RANGE,
                "responses": {"200": {"description": "text/csv"}, **BAD_RANGE, **NO_SESSION_PAGE},
            }
        },
        "/staff/api/stats": {
            "get": {
                "summary": "Statistics over days in the staff member's time zone",
                "security": SESSION,
                "parameters": RANGE,
                "responses": {"200": _json("The figures.", STATS), **BAD_RANGE, **NO_SESSION_API},
            }
        },
    }
