"""A Twilio-compatible Messages API on a loopback port that notes when each message arrived.

It runs on the load generator's own event loop, so an arrival is timed on the same clock
as the webhook that caused it, and it is a bare HTTP/1.1 server (keep-alive, ``Content-Length``
bodies) so that answering costs the load generator far less than the server under test
spends sending. Like Twilio, it checks the account's Basic credentials and answers ``201``
with a message resource; it mirrors ``tests/fakes/twilio_server.py`` without its scripts.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from dataclasses import dataclass
from urllib.parse import parse_qsl

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "bench-auth-token-0123456789abcdef"
SENDER = "+15005550006"
MESSAGES_PATH = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"


@dataclass
class Arrival:
    at: float  # time.perf_counter() once the request was read in full
    form: dict[str, str]


class TwilioAPI:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.arrivals: list[Arrival] = []
        self.rejected = 0  # requests with the wrong path, method or credentials
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.StreamWriter] = set()
        self._authorization = b"Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode())

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://{self.host}:{port}"

    def env(self) -> dict[str, str]:
        """The settings that point a portal (or the floor) at this API."""
        return {
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "TWILIO_FROM": SENDER,
            "TWILIO_API_URL": self.url,
        }

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, 0, backlog=1024)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in tuple(self._clients):
                writer.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._clients.add(writer)
        try:
            while request_line := await reader.readline():
                method, target, _ = request_line.decode("latin-1").split(" ", 2)
                headers: dict[bytes, bytes] = {}
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.partition(b":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get(b"content-length", b"0")))
                at = time.perf_counter()
                if method != "POST" or target.split("?")[0] != MESSAGES_PATH:
                    self.rejected += 1
                    writer.write(_answer(404, _error(20404, "The requested resource was not found", 404)))
                elif headers.get(b"authorization") != self._authorization:
                    self.rejected += 1
                    writer.write(_answer(401, _error(20003, "Authenticate", 401)))
                else:
                    form = dict(parse_qsl(body.decode()))
                    self.arrivals.append(Arrival(at, form))
                    writer.write(_answer(201, _resource(form)))
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._clients.discard(writer)
            writer.close()


def _answer(status: int, payload: dict[str, object]) -> bytes:
    body = json.dumps(payload).encode()
    reason = {201: "Created", 401: "Unauthorized", 404: "Not Found"}[status]
    head = f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


def _error(code: int, message: str, status: int) -> dict[str, object]:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def _resource(form: dict[str, str]) -> dict[str, object]:
    sid = f"SM{uuid.uuid4().hex}"
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
