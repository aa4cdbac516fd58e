"""Operations endpoints: liveness, readiness, metrics and the OpenAPI description."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from portal.web.common import runtime_of
from portal.web.openapi import openapi_document

FAVICON = "/static/favicon.svg"


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """The last background probe (``portal/readiness.py``), never a store call of its own."""
    probe = runtime_of(request).readiness.last
    age = round(probe.age(), 1)
    if not probe.ready:
        return JSONResponse({"status": "unavailable", "detail": probe.detail, "age_seconds": age}, 503)
    return JSONResponse({"status": "ready", "age_seconds": age})


async def metrics(request: Request) -> Response:
    body = runtime_of(request).metrics.render()
    return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")


async def openapi(request: Request) -> Response:
    return JSONResponse(openapi_document())


async def favicon(request: Request) -> Response:
    """Browsers ask for /favicon.ico before reading a page's icon link (and for JSON and files)."""
    return RedirectResponse(FAVICON, status_code=301)


routes = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
    Route("/openapi.json", openapi, methods=["GET"]),
]
