"""A Twilio-compatible Messages API on a loopback port, for the real SDK to talk to.

It answers ``POST /2010-04-01/Accounts/{sid}/Messages.json`` like Twilio does (201 with a
message resource, or an error body ``{"code", "message", "more_info", "status"}``), records
every request, and follows a script: the next answers can be errors or be delayed. A script
per recipient (``script_each``) gives every number the same run of answers, whatever order the
sender's retries arrive in. A ``Reply`` delayed past the sender's timeout is a timeout.
"""

from __future__ import annotations

import asyncio
import base64
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.helpers import ThreadedServer

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "fake-auth-token-0123456789abcdef"
POLL_SECONDS = 0.02
ERROR_TEXT = {
    20429: "Too Many Requests",
    21211: "The 'To' number is not a valid phone number.",
    21610: "Attempt to send to unsubscribed recipient",
    21614: "'To' number is not a valid mobile number",
}


@dataclass(frozen=True)
class Reply:
    """One scripted answer: ``status`` 201 is success; ``delay`` seconds before answering."""

    status: int = 201
    code: int | None = None
    delay: float = 0.0


@dataclass
class Received:
    form: dict[str, str]
    reply: Reply
    sid: str | None
    at: float = field(default_factory=time.monotonic)
    answered: bool = False

    @property
    def to(self) -> str:
        return self.form.get("To", "")

    @property
    def body(self) -> str:
        return self.form.get("Body", "")


class FakeTwilio:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.default = Reply()
        self._script: deque[Reply] = deque()
        self._each: tuple[Reply, ...] = ()
        self._lock = threading.Lock()
        self._closing = False
        route = Route("/2010-04-01/Accounts/{sid}/Messages.json", self._create, methods=["POST"])
        self._server = ThreadedServer(Starlette(routes=[route]))
        self.url = self._server.url

    def __enter__(self) -> FakeTwilio:
        self._server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closing = True
        self._server.__exit__(*exc)

    def script(self, *replies: Reply) -> None:
        """Answer the next requests with ``replies``, in order, then with ``default``."""
        with self._lock:
            self._script.extend(replies)

    def script_each(self, *replies: Reply) -> None:
        """Answer each number's first requests with ``replies``, in order, then as usual."""
        with self._lock:
            self._each = replies

    def messages(self) -> list[Received]:
        with self._lock:
            return list(self.received)

    def _authorized(self, request: Request, sid: str) -> bool:
        expected = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
        return sid == ACCOUNT_SID and request.headers.get("authorization") == f"Basic {expected}"

    async def _create(self, request: Request) -> Response:
        sid = request.path_params["sid"]
        if not self._authorized(request, sid):
            return _error(401, 20003)
        form = {k: str(v) for k, v in (await request.form()).items()}
        with self._lock:
            earlier = sum(1 for r in self.received if r.to == form.get("To"))
            if earlier < len(self._each):
                reply = self._each[earlier]
            else:
                reply = self._script.popleft() if self._script else self.default
            message_sid = f"SM{uuid.uuid4().hex}" if reply.status < 300 else None
            received = Received(form, reply, message_sid)
            self.received.append(received)
        await self._wait(reply.delay)
        received.answered = True
        if reply.status >= 300:
            return _error(reply.status, reply.code)
        return JSONResponse(_resource(message_sid or "", form), 201)

    async def _wait(self, seconds: float) -> None:
        # Polls a plain flag: the server's loop runs in another thread, so no asyncio.Event.
        end = time.monotonic() + seconds
        while time.monotonic() < end and not self._closing:  # noqa: ASYNC110
            await asyncio.sleep(POLL_SECONDS)


def _error(status: int, code: int | None) -> JSONResponse:
    message = ERROR_TEXT.get(code or 0, "Internal Server Error" if status >= 500 else "Bad Request")
    body = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return JSONResponse(body, status)


def _resource(sid: str, form: dict[str, str]) -> dict[str, Any]:
    return {
        "sid": sid,
        "account_sid": ACCOUNT_SID,
        "to": form.get("To"),
        "from": form.get("From"),
        "messaging_service_sid": form.get("MessagingServiceSid"),
        "body": form.get("Body"),
        "status": "queued",
        "num_segments": "1",
        "direction": "outbound-api",
        "api_version": "2010-04-01",
        "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}.json",
    }
