"""Server-sent event responses that always end properly, even when the server stops under them."""

from __future__ import annotations

from sse_starlette import EventSourceResponse
from starlette.types import Message, Receive, Scope, Send


class EndingEventSourceResponse(EventSourceResponse):
    """An ``EventSourceResponse`` that sends the closing empty body if the stream was cut short.

    On shutdown sse-starlette cancels each open stream and returns without ending its response,
    so uvicorn logs "ASGI callable returned without completing response" once per open page.
    Ending the response here closes the stream as the client expects (it reconnects later).
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = ended = False

        async def watched(message: Message) -> None:
            nonlocal started, ended
            if message["type"] == "http.response.start":
                started = True
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                ended = True
            await send(message)

        await super().__call__(scope, receive, watched)
        if started and not ended:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
