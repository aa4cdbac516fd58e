"""The OpenAPI paths of the two-way parts: SMS replies, tracking-page forms, the calendar file."""

from __future__ import annotations

from typing import Any

from portal.customer.actions import PAGE_ACTIONS

TOKEN = {"name": "token", "in": "path", "required": True, "schema": {"type": "string"}}
FORM_FIELDS: dict[str, dict[str, Any]] = {
    "reschedule": {"slot": {"type": "string", "description": "A slot's start, exactly as in the state's slots."}},
    "cancel": {"reason": {"type": "string", "maxLength": 1000}},
    "note": {"text": {"type": "string", "minLength": 1, "maxLength": 1000}},
    "rating": {"score": {"type": "integer", "minimum": 1, "maximum": 5}, "comment": {"type": "string"}},
}
PAGE = {"text/html": {"schema": {"type": "string"}}}
ERROR = {"application/json": {"schema": {"type": "object", "required": ["error"]}}}
RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "string"}}}
UNAVAILABLE = {
    "description": "The store is unavailable; retry after Retry-After seconds.",
    "headers": RETRY_AFTER,
    "content": {**PAGE, **ERROR},
}
FORM_ANSWERS = {
    "303": {"description": "Done: back to the page (?done=<action>), which confirms it."},
    "400": {"description": "A field cannot be read (e.g. a score outside 1-5).", "content": PAGE},
    "403": {"description": "Missing or wrong csrf_token; nothing changed.", "content": PAGE},
    "404": {"description": "Forged or tampered link, or no such form.", "content": PAGE},
    "409": {
        "description": "Not possible now (e.g. cancelling once en route, rating twice after a day).",
        "content": PAGE,
    },
    "410": {"description": "Revoked or expired link.", "content": PAGE},
    "413": {"description": "Form body over 16 KiB."},
    "429": {"description": "Too many bad links from this client.", "content": PAGE},
    "503": UNAVAILABLE,
}
TWILIO_SIGNATURE = {"name": "X-Twilio-Signature", "in": "header", "required": True, "schema": {"type": "string"}}
TWILIO_REFUSED = {
    "400": {"description": "A field Twilio always sends is missing; nothing changed.", "content": ERROR},
    "403": {"description": "Missing or wrong signature; nothing changed."},
    "413": {"description": "Form body over 64 KiB."},
    "503": {"description": "The store is unavailable: Twilio retries.", "headers": RETRY_AFTER, "content": ERROR},
}


def _form(kind: str) -> dict[str, Any]:
    properties: dict[str, Any] = {"csrf_token": {"type": "string"}, **FORM_FIELDS[kind]}
    schema = {"type": "object", "required": ["csrf_token"], "properties": properties}
    return {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": schema}}}


def _twilio_form(*required: str, optional: tuple[str, ...]) -> dict[str, Any]:
    """A Twilio form: the fields it always sends (never empty, except an MMS's ``Body``), and others."""
    properties: dict[str, Any] = {
        name: {"type": "string", "minLength": 0 if name == "Body" else 1} for name in required
    }
    properties |= {name: {"type": "string"} for name in optional}
    schema = {"type": "object", "required": list(required), "properties": properties}
    return {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": schema}}}


def two_way_paths() -> dict[str, Any]:
    paths: dict[str, Any] = {
        "/webhooks/twilio/inbound": {
            "post": {
                "summary": "Inbound SMS from Twilio (X-Twilio-Signature against PORTAL_PUBLIC_URL + path)",
                "parameters": [TWILIO_SIGNATURE],
                "requestBody": _twilio_form("MessageSid", "From", "Body", optional=("To",)),
                "responses": {
                    "200": {
                        "description": "TwiML: <Response><Message>...</Message></Response>, or <Response/>.",
                        "content": {"application/xml": {"schema": {"type": "string"}}},
                    },
                    **TWILIO_REFUSED,
                },
            }
        },
        "/webhooks/twilio/status": {
            "post": {
                "summary": "Twilio message status callback (same signature check)",
                "parameters": [TWILIO_SIGNATURE],
                "requestBody": _twilio_form("MessageSid", "MessageStatus", optional=("To", "From", "ErrorCode")),
                "responses": {
                    "204": {"description": "Recorded (or an unknown MessageSid, ignored)."},
                    **TWILIO_REFUSED,
                },
            }
        },
        "/t/{token}/calendar.ics": {
            "get": {
                "summary": "The appointment as an iCalendar event",
                "parameters": [TOKEN],
                "responses": {
                    "200": {
                        "description": "An .ics file.",
                        "content": {"text/calendar": {"schema": {"type": "string"}}},
                    },
                    "404": {"description": "Forged link, or no appointment window yet.", "content": PAGE},
                    "410": {"description": "Revoked or expired link.", "content": PAGE},
                    "429": {"description": "Too many bad links from this client.", "content": PAGE},
                    "503": UNAVAILABLE,
                },
            }
        },
    }
    for kind in PAGE_ACTIONS:
        paths[f"/t/{{token}}/{kind}"] = {
            "post": {
                "summary": f"Tracking-page form: {kind}",
                "parameters": [TOKEN],
                "requestBody": _form(kind),
                "responses": FORM_ANSWERS,
            }
        }
    return paths
