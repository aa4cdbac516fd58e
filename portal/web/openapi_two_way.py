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
FORM_ANSWERS = {
    "303": {"description": "Done: back to the page (?done=<action>), which confirms it."},
    "400": {"description": "A field cannot be read (e.g. a score outside 1-5)."},
    "403": {"description": "Missing or wrong csrf_token; nothing changed."},
    "404": {"description": "Forged or tampered link."},
    "409": {"description": "Not possible now (e.g. cancelling once en route, rating twice after a day)."},
    "410": {"description": "Revoked or expired link."},
}


def _form(kind: str) -> dict[str, Any]:
    properties: dict[str, Any] = {"csrf_token": {"type": "string"}, **FORM_FIELDS[kind]}
    schema = {"type": "object", "required": ["csrf_token"], "properties": properties}
    return {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": schema}}}


def two_way_paths() -> dict[str, Any]:
    paths: dict[str, Any] = {
        "/webhooks/twilio/inbound": {
            "post": {
                "summary": "Inbound SMS from Twilio (X-Twilio-Signature against PORTAL_PUBLIC_URL + path)",
                "parameters": [{"name": "X-Twilio-Signature", "in": "header", "required": True, "schema": {}}],
                "responses": {
                    "200": {
                        "description": "TwiML: <Response><Message>...</Message></Response>, or <Response/>.",
                        "content": {"application/xml": {"schema": {"type": "string"}}},
                    },
                    "403": {"description": "Missing or wrong signature; nothing changed."},
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
                    "404": {"description": "Forged link, or no appointment window yet."},
                    "410": {"description": "Revoked or expired link."},
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
