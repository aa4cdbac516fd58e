"""Operations endpoints: liveness, readiness, metrics and the OpenAPI description."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from portal.store.base import StoreUnavailable
from portal.web.common import runtime_of
from portal.web.openapi import openapi_document


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    try:
        await runtime_of(request).store.ping()
    except StoreUnavailable as exc:
        return JSONResponse({"status": "unavailable", "detail": str(exc)}, 503)
    return JSONResponse({"status": "ready"})


async def metrics(request: Request) -> Response:
    body = runtime_of(request).metrics.render()
    return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")


async def openapi(request: Request) -> Response:
    return JSONResponse(openapi_document())


routes = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
    Route("/openapi.json", openapi, methods=["GET"]),
]
