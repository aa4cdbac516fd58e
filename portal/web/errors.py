"""Exception handlers shared by every endpoint."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import Response

log = logging.getLogger("portal.web")

CLIENT_CLOSED_REQUEST = 499  # nginx's name for it; the client is gone and never sees the answer


async def client_disconnected(request: Request, exc: Exception) -> Response:
    """A client that hung up while sending its body: routine on mobile networks, one quiet line."""
    client = request.client.host if request.client else "unknown"
    log.info("client %s disconnected before its request to %s was read", client, request.url.path)
    return Response(status_code=CLIENT_CLOSED_REQUEST)
