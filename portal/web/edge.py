"""The one wrapper between the server and Starlette: security headers, gzip, a kept connection.

Every request and every event-stream frame passes the layers around the app before the
server writes it, so they are one pure-ASGI layer that wraps ``send`` once, instead of one
``async def`` each (docs/benchmarks.md). What it does, each as the separate layers did:

- ``HEADERS`` (with the pages' policy) on every response that does not set its own;
- gzip as Starlette's ``GZipMiddleware`` does it (its responders do the work), decided at the
  response's start: an event stream, an encoded body or a part goes straight through, and a
  complete answer under the minimum size is sent as it is without a responder;
- a failure after the 500 was sent ends the exchange without closing the connection
  (Starlette's ``ServerErrorMiddleware`` re-raises, and uvicorn would close it, failing the
  client's next request on it); a response cut off halfway still closes it.
"""

from __future__ import annotations

import logging

from starlette.middleware.gzip import GZipMiddleware, GZipResponder, IdentityResponder
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from portal.web.security import CSP, security_headers

log = logging.getLogger("portal.web")


def server_error() -> PlainTextResponse:
    """The answer to an unhandled error: Starlette's own, with the default policy (not the pages')."""
    return PlainTextResponse("Internal Server Error", 500, headers={"content-security-policy": CSP})


class Edge:
    """Security headers, gzip and a kept connection after a 500, around ``app`` (see the module)."""

    def __init__(self, app: ASGIApp, *, csp: str, gzip_minimum: int, gzip_level: int) -> None:
        self.app = app
        self.headers = security_headers(csp)
        self.names = frozenset(name for name, _ in self.headers)
        self.minimum = gzip_minimum
        self.level = gzip_level
        self.excluded = frozenset(GZipMiddleware(app).exclude_content_types)

    def secured(self, headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
        """``headers`` and the security headers it does not set itself (a new list)."""
        names = self.names
        if any(name in names for name, _ in headers):
            present = {name for name, _ in headers}
            return [*headers, *((k, v) for k, v in self.headers if k not in present)]
        return [*headers, *self.headers]

    def passes(self, start: Message) -> bool:
        """A response gzip never touches: already encoded, a part, or an excluded type."""
        if start["status"] == 206:
            return True
        media_type = ""
        for name, value in start["headers"]:
            if name.lower() == b"content-encoding":
                return True
            if not media_type and name.lower() == b"content-type":
                media_type = value.decode("latin-1").partition(";")[0].strip().lower()
        if media_type.startswith("application/grpc+"):
            return True
        return media_type in self.excluded or media_type.partition("/")[0] + "/*" in self.excluded

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        accepts_gzip = False
        for name, value in scope["headers"]:
            if name == b"accept-encoding":  # the first one, as Starlette's Headers.get reads it
                accepts_gzip = b"gzip" in value
                break
        held: Message | None = None  # the start, until the first body says whether to compress
        direct = False
        responder: IdentityResponder | None = None
        complete = False

        async def edge_send(message: Message) -> None:
            nonlocal held, direct, responder, complete
            kind = message["type"]
            if responder is not None:
                await responder.send_with_compression(message)
            elif kind == "http.response.start":
                message["headers"] = self.secured(list(message.get("headers", ())))
                if self.passes(message):
                    direct = True
                    await send(message)
                else:
                    held = message
            elif direct or held is None:
                await send(message)
            elif (
                kind == "http.response.body"
                and not message.get("more_body", False)
                and len(message.get("body", b"")) < self.minimum
            ):
                start, held, direct = held, None, True
                await send(start)
                await send(message)
            else:
                if accepts_gzip:
                    responder = GZipResponder(
                        self.app, self.minimum, compresslevel=self.level, exclude_content_types=()
                    )
                else:
                    responder = IdentityResponder(self.app, self.minimum, exclude_content_types=())
                responder.send = send
                start, held = held, None
                await responder.send_with_compression(start)
                await responder.send_with_compression(message)
            if kind == "http.response.body" and not message.get("more_body", False):
                complete = True

        try:
            await self.app(scope, receive, edge_send)
        except Exception:
            if held is not None:  # failed between its start and its body: nothing was sent yet
                log.exception("error in %s %s (answered 500)", scope.get("method"), scope.get("path"))

                async def secured_send(message: Message) -> None:
                    if message["type"] == "http.response.start":
                        message["headers"] = self.secured(list(message["headers"]))
                    await send(message)

                await server_error()(scope, receive, secured_send)
                return
            if not complete:
                raise
            log.exception("error in %s %s (answered 500)", scope.get("method"), scope.get("path"))
