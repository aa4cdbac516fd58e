"""The floor programs every benchmark measures the portal against, on the same stack.

    .venv/bin/python bench/floors.py {bare,durable,page,sms} --port 8100 [--page-bytes 4500]

Each is the least a program on Starlette + uvicorn (httptools, uvloop) + sse-starlette must
do for the same request, so the ratio portal / floor says what the portal's own work costs:

- ``bare``: ``POST /hook`` answers 202 without reading anything else.
- ``durable``: ``POST /hook`` verifies the Standard Webhooks signature, ``json.loads`` the body,
  commits it through one SQLite writer thread with group commit (WAL, synchronous=FULL) and
  fans it out to the subscribers of its job before answering 202; ``GET /events/{job}`` is a
  bare sse-starlette stream of that fan-out (the bare broadcaster).
- ``page``: ``GET /page`` renders a Jinja2 page of a given size from a small context.
- ``sms``: ``POST /hook`` takes a booking (a ``job.updated``) as the durable floor does (verify,
  ``json.loads``, group commit), answers 202 and then sends the confirmation SMS through the
  real twilio SDK (its async client, as the portal uses it) to ``TWILIO_API_URL`` with the
  ``TWILIO_*`` credentials from the environment, as the portal reads them.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import queue
import sqlite3
import sys
import tempfile
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import jinja2
import uvicorn
from sse_starlette import EventSourceResponse, ServerSentEvent
from standardwebhooks import Webhook
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SECRET

MAX_BATCH = 256  # the portal's group-commit batch size, so both pay the same fsyncs
QUEUE_SIZE = 64  # the portal's per-subscriber queue


def bare_app() -> Starlette:
    async def hook(request: Request) -> Response:
        return JSONResponse({"status": "accepted"}, 202)

    return Starlette(routes=[Route("/hook", hook, methods=["POST"])])


class Writer(threading.Thread):
    """One thread owns the write connection and commits whatever has queued up at once."""

    def __init__(self, path: str) -> None:
        super().__init__(daemon=True)
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute("PRAGMA synchronous = FULL")
        self.conn.execute("CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, job TEXT, body TEXT)")
        self.jobs: queue.SimpleQueue[tuple[str, str, asyncio.Future[None], asyncio.AbstractEventLoop]] = (
            queue.SimpleQueue()
        )

    def run(self) -> None:
        while True:
            batch = [self.jobs.get()]
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self.jobs.get_nowait())
                except queue.Empty:
                    break
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.executemany("INSERT INTO events (job, body) VALUES (?, ?)", [(j, b) for j, b, _, _ in batch])
            self.conn.execute("COMMIT")
            for _, _, future, loop in batch:
                loop.call_soon_threadsafe(_done, future)


def _done(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def durable_app(db_path: str) -> Starlette:
    hook = Webhook(SECRET)
    writer = Writer(db_path)
    subscribers: dict[str, set[asyncio.Queue[str]]] = {}

    async def receive(request: Request) -> Response:
        body = await request.body()
        hook.verify(body, dict(request.headers), json_parse=False)
        payload = json.loads(body)
        data = payload["data"]
        job = data.get("job_id") or data["job"]["id"]
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        writer.jobs.put((job, body.decode(), future, loop))
        await future
        frame = json.dumps(data)
        for q in tuple(subscribers.get(job, ())):
            if not q.full():
                q.put_nowait(frame)
        return JSONResponse({"status": "accepted"}, 202)

    async def events(request: Request) -> Response:
        job = request.path_params["job"]

        async def stream() -> AsyncIterator[ServerSentEvent]:
            q: asyncio.Queue[str] = asyncio.Queue(QUEUE_SIZE)
            subscribers.setdefault(job, set()).add(q)
            try:
                yield ServerSentEvent(data="{}", event="snapshot", id="0")
                n = 0
                while True:
                    n += 1
                    yield ServerSentEvent(data=await q.get(), event="location", id=str(n))
            finally:
                subscribers[job].discard(q)

        return EventSourceResponse(stream(), ping=15, send_timeout=30)

    async def tasks(request: Request) -> Response:
        return PlainTextResponse(str(len(asyncio.all_tasks())))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        writer.start()
        yield

    routes = [Route("/hook", receive, methods=["POST"]), Route("/events/{job}", events), Route("/tasks", tasks)]
    return Starlette(routes=routes, lifespan=lifespan)


class TwilioHttp(AsyncTwilioHttpClient):  # type: ignore[misc]
    """The SDK's async client with Basic credentials as a header, exactly as the portal sends them.

    The SDK would build an ``aiohttp.BasicAuth`` per message (deprecated in aiohttp 3.14); the
    bytes on the wire are the same.
    """

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 (the SDK's own signature)
        allow_redirects: bool = False,
    ) -> Any:
        if auth is not None:
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            headers = {**(headers or {}), "Authorization": f"Basic {token}"}
        return await super().request(method, url, params, data, headers, None, timeout, allow_redirects)


BOOKED = (
    "Hi {name}, your {service} is booked for {start} to {end}. We will text you when the technician"
    " is on the way. Reply STOP to opt out."
)


def sms_app(db_path: str, port: int) -> Starlette:
    hook = Webhook(SECRET)
    writer = Writer(db_path)
    sender = os.environ["TWILIO_FROM"]
    status_callback = f"http://127.0.0.1:{port}/webhooks/twilio/status"
    clients: list[Client] = []  # built in the lifespan: the SDK's aiohttp session needs the running loop
    sending: set[asyncio.Task[None]] = set()

    async def send(to: str, text: str) -> None:
        try:
            await clients[0].messages.create_async(to=to, body=text, from_=sender, status_callback=status_callback)
        except Exception as exc:  # a failed send is reported, not retried: the benchmark counts it missing
            print(f"sms to {to} failed: {exc!r}", file=sys.stderr)

    async def receive(request: Request) -> Response:
        body = await request.body()
        hook.verify(body, dict(request.headers), json_parse=False)
        job = json.loads(body)["data"]["job"]
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        writer.jobs.put((job["id"], body.decode(), future, loop))
        await future
        window = job["window"]
        text = BOOKED.format(
            name=job["customer"]["name"].split()[0], service=job["service"], start=window["start"], end=window["end"]
        )
        task = asyncio.create_task(send(job["customer"]["phone"], text))
        sending.add(task)
        task.add_done_callback(sending.discard)
        return JSONResponse({"status": "accepted"}, 202)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        http = TwilioHttp()
        client = Client(os.environ["TWILIO_ACCOUNT_SID"], os.environ["TWILIO_AUTH_TOKEN"], http_client=http)
        client.region = None
        client.edge = None
        client.api.base_url = os.environ["TWILIO_API_URL"]
        clients.append(client)
        writer.start()
        try:
            yield
        finally:
            await http.close()

    return Starlette(routes=[Route("/hook", receive, methods=["POST"])], lifespan=lifespan)


PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title></head>
<body><h1>{{ title }}</h1><ul>{% for row in rows %}<li class="row">{{ row.name }}: {{ row.value }}</li>{% endfor %}
</ul><p>{{ footer }}</p></body></html>"""


def page_app(size: int) -> Starlette:
    env = jinja2.Environment(autoescape=True)
    template = env.from_string(PAGE)
    row = {"name": "Technician", "value": "Sam <on the way> & arriving soon"}
    one = len(template.render(title="Tracking", rows=[row], footer="x")) - len(
        template.render(title="Tracking", rows=[], footer="x")
    )
    base = len(template.render(title="Tracking", rows=[], footer="x"))
    rows = [row] * max(0, (size - base) // one)

    async def page(request: Request) -> Response:
        return HTMLResponse(template.render(title="Tracking", rows=rows, footer="Thanks"))

    return Starlette(routes=[Route("/page", page)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=["bare", "durable", "page", "sms"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--page-bytes", type=int, default=4500)
    args = parser.parse_args()
    if args.kind == "bare":
        app = bare_app()
    elif args.kind == "durable":
        app = durable_app(str(Path(tempfile.mkdtemp(prefix="floor-")) / "floor.db"))
    elif args.kind == "sms":
        app = sms_app(str(Path(tempfile.mkdtemp(prefix="floor-")) / "floor.db"), args.port)
    else:
        app = page_app(args.page_bytes)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
