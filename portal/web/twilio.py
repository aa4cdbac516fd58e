"""Twilio's webhooks (CONTRACT §5): delivery reports for the SMS we sent, and SMS replies."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal.conversation import ForgedRequest, receive_twilio_sms
from portal.delivery import public_request_url, record_twilio_status
from portal.web.common import portal_of

MAX_FORM_BYTES = 64 * 1024  # a status callback is well under 1 KiB
MAX_FORM_FIELDS = 100


async def status(request: Request) -> Response:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_FORM_BYTES:
        return Response(status_code=413)
    portal = portal_of(request)
    form = await request.form(max_files=0, max_fields=MAX_FORM_FIELDS)
    url = public_request_url(portal.public_url, request.url.path, request.url.query)
    accepted = await record_twilio_status(portal, url, form, request.headers.get("x-twilio-signature"))
    return Response(status_code=204 if accepted else 403)


async def inbound(request: Request) -> Response:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_FORM_BYTES:
        return Response(status_code=413)
    portal = portal_of(request)
    form = await request.form(max_files=0, max_fields=MAX_FORM_FIELDS)
    url = public_request_url(portal.public_url, request.url.path, request.url.query)
    try:
        answer = await receive_twilio_sms(portal, url, form, request.headers.get("x-twilio-signature"))
    except ForgedRequest:
        return Response(status_code=403)
    return Response(answer, media_type="application/xml")


routes = [
    Route("/webhooks/twilio/status", status, methods=["POST"], max_body_size=MAX_FORM_BYTES),
    Route("/webhooks/twilio/inbound", inbound, methods=["POST"], max_body_size=MAX_FORM_BYTES),
]
