"""Helpers every endpoint module shares."""

from __future__ import annotations

from starlette.requests import Request

from portal.runtime import Portal


def portal_of(request: Request) -> Portal:
    portal: Portal = request.app.state.portal
    return portal


def client_key(request: Request) -> str:
    """The client address: behind a proxy in ``PORTAL_TRUSTED_PROXIES``, the one it forwarded."""
    return request.client.host if request.client else "unknown"
