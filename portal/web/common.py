"""Helpers every endpoint module shares."""

from __future__ import annotations

from starlette.requests import Request

from portal.runtime import Runtime


def runtime_of(request: Request) -> Runtime:
    """The running portal's parts; endpoints take the one service they call from here."""
    runtime: Runtime = request.app.state.runtime
    return runtime


def client_key(request: Request) -> str:
    """The client address: behind a proxy in ``PORTAL_TRUSTED_PROXIES``, the one it forwarded."""
    return request.client.host if request.client else "unknown"
