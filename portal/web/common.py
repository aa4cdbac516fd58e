"""Helpers every endpoint module shares."""

from __future__ import annotations

from starlette.requests import Request

from portal.runtime import Portal


def portal_of(request: Request) -> Portal:
    portal: Portal = request.app.state.portal
    return portal


def client_key(request: Request) -> str:
    """The client address; behind a proxy run uvicorn with --proxy-headers to get the real one."""
    return request.client.host if request.client else "unknown"
