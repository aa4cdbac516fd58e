"""``POST /webhooks/field``: the field system's signed status webhooks (CONTRACT §3)."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from portal.core.jobs import iso_utc
from portal.core.public import utc_now
from portal.intake import MAX_BODY_BYTES, Rejected, excerpt
from portal.runtime import Portal
from portal.store.base import Rejection, StoreUnavailable
from portal.web.common import client_key, portal_of

log = logging.getLogger("portal.intake")


async def field_webhook(request: Request) -> Response:
    portal = portal_of(request)
    if not portal.verifier.configured:
        portal.metrics.webhooks.labels("unconfigured").inc()
        return JSONResponse({"error": "not_configured", "detail": "PORTAL_WEBHOOK_SECRET is not set"}, 503)
    body = b""
    try:
        body = await _read_body(request)
        webhook_id = portal.verifier.verify(body, request.headers)
        event = portal.parser.parse(body, webhook_id)
        result = await portal.accept_field_event(event)
    except Rejected as rejected:
        await _record(portal, request, rejected, body)
        return JSONResponse(rejected.body(), rejected.status)
    except StoreUnavailable as exc:
        log.warning("webhook not stored, answering 503: %s", exc)
        portal.metrics.webhooks.labels("unavailable").inc()
        return JSONResponse({"error": "store_unavailable"}, 503, headers={"Retry-After": "5"})
    outcome = "duplicate" if result.duplicate else "accepted"
    portal.metrics.webhooks.labels(outcome).inc()
    return JSONResponse({"status": outcome}, 200 if result.duplicate else 202)


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise Rejected(413, f"body is larger than {MAX_BODY_BYTES} bytes")
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/json":
        raise Rejected(415, "content-type must be application/json")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise Rejected(413, f"body is larger than {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def _record(portal: Portal, request: Request, rejected: Rejected, body: bytes) -> None:
    """List the rejection for staff; unsigned bodies are not kept, only the reason.

    Anyone can send unsigned requests, so they are listed sparingly (see ``_list_unsigned``)
    with the sender's address, and their ``webhook-id`` is shown as unverified.
    """
    portal.metrics.webhooks.labels(f"rejected_{rejected.status}").inc()
    signed = rejected.status == 400
    client = client_key(request)
    if not signed and not await _list_unsigned(portal, client):
        return
    detail = "; ".join(f"{d['loc'] or '(body)'}: {d['msg']}" for d in rejected.detail) or None
    if not signed:
        detail = f"from {client}; further unsigned requests from there this minute are only counted"
    rejection = Rejection(
        received_at=iso_utc(utc_now()),
        status_code=rejected.status,
        reason=rejected.reason,
        webhook_id=request.headers.get("webhook-id", "")[:256] or None,
        detail=detail,
        excerpt=excerpt(body) if signed else None,
    )
    try:
        await portal.store.record_rejection(rejection)
    except StoreUnavailable:
        log.warning("could not record a rejected webhook (%s)", rejected.reason)


async def _list_unsigned(portal: Portal, client: str) -> bool:
    """Whether this unsigned rejection gets a row: the first per address per minute, 30 a minute in all."""
    if await portal.unsigned_listed.reserve(client) is None:
        return False
    return await portal.unsigned_listed_total.reserve("all") is not None


routes = [Route("/webhooks/field", field_webhook, methods=["POST"])]
