"""``POST /webhooks/field``: the field system's signed status webhooks (CONTRACT §3)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from portal.intake import MAX_BODY_BYTES, Rejected
from portal.web.common import client_key, runtime_of


async def field_webhook(request: Request) -> Response:
    intake = runtime_of(request).intake
    answer = await intake.receive(request.headers, lambda: _read_body(request), client_key(request))
    headers = {"Retry-After": str(answer.retry_after)} if answer.retry_after is not None else None
    return JSONResponse(answer.body, answer.status, headers=headers)


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


routes = [Route("/webhooks/field", field_webhook, methods=["POST"])]
