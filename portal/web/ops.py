"""Operations endpoints: liveness, readiness, metrics and the OpenAPI description."""

from __future__ import annotations

import hmac

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from portal.web.common import runtime_of
from portal.web.openapi import openapi_document

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="metrics"'}


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """The last background probe (``portal/store/readiness.py``), never a store call of its own."""
    probe = runtime_of(request).readiness.last
    age = round(probe.age(), 1)
    if not probe.ready:
        return JSONResponse({"status": "unavailable", "detail": probe.detail, "age_seconds": age}, 503)
    return JSONResponse({"status": "ready", "age_seconds": age})


async def metrics(request: Request) -> Response:
    runtime = runtime_of(request)
    if not bearer_matches(runtime.settings.metrics_token, request.headers.get("authorization")):
        return Response("metrics need Authorization: Bearer <PORTAL_METRICS_TOKEN>\n", 401, headers=CHALLENGE)
    body = runtime.metrics.render()
    return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")


def bearer_matches(token: str | None, header: str | None) -> bool:
    """True when no token is configured, or the header carries it (compared in constant time)."""
    if token is None:
        return True
    scheme, _, given = (header or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


async def openapi(request: Request) -> Response:
    return JSONResponse(openapi_document())


routes = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
    Route("/openapi.json", openapi, methods=["GET"]),
]
