"""Twilio's webhooks (CONTRACT §5): delivery reports for the SMS we sent, and SMS replies."""

from __future__ import annotations

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from twilio.twiml.messaging_response import MessagingResponse

from portal.customer.conversation import ForgedRequest
from portal.customer.delivery_reports import public_request_url
from portal.web.common import runtime_of

MAX_FORM_BYTES = 64 * 1024  # a status callback is well under 1 KiB
MAX_FORM_FIELDS = 100


async def _form(request: Request) -> FormData:
    """The posted form; the route's ``max_body_size`` answers 413 to a larger body, streamed or not."""
    return await request.form(max_files=0, max_fields=MAX_FORM_FIELDS)


def _signed_url(request: Request) -> str:
    """The URL Twilio signed: the public one, not the one this process sees behind a proxy."""
    return public_request_url(runtime_of(request).public_url, request.url.path, request.url.query)


def twiml(reply: str | None) -> str:
    """``<Response><Message>...`` (escaped by the SDK), or an empty ``<Response/>``."""
    response = MessagingResponse()
    if reply:
        response.message(reply)
    return str(response)


def _lacking(form: FormData, *names: str) -> Response | None:
    """400 for a post without a field Twilio always sends (an empty ``Body`` is an MMS without text)."""
    missing = [name for name in names if name not in form or (name != "Body" and not str(form[name]).strip())]
    if not missing:
        return None
    return JSONResponse({"error": "missing_fields", "detail": f"missing: {', '.join(missing)}"}, 400)


async def status(request: Request) -> Response:
    form = await _form(request)
    status_field = "SmsStatus" if "SmsStatus" in form and "MessageStatus" not in form else "MessageStatus"
    if (lacking := _lacking(form, "MessageSid", status_field)) is not None:
        return lacking
    signature = request.headers.get("x-twilio-signature")
    reports = runtime_of(request).delivery_reports
    accepted = await reports.record_twilio_status(_signed_url(request), form, signature)
    return Response(status_code=204 if accepted else 403)


async def inbound(request: Request) -> Response:
    form = await _form(request)
    if (lacking := _lacking(form, "MessageSid", "From", "Body")) is not None:
        return lacking
    signature = request.headers.get("x-twilio-signature")
    conversation = runtime_of(request).conversation
    try:
        reply = await conversation.receive_twilio_sms(_signed_url(request), form, signature)
    except ForgedRequest:
        return Response(status_code=403)
    return Response(twiml(reply), media_type="application/xml")


routes = [
    Route("/webhooks/twilio/status", status, methods=["POST"], max_body_size=MAX_FORM_BYTES),
    Route("/webhooks/twilio/inbound", inbound, methods=["POST"], max_body_size=MAX_FORM_BYTES),
]
