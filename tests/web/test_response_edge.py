"""What the one layer around the app adds: security headers, gzip where it pays, a clean 500."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from httpx_sse import connect_sse
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.testclient import TestClient
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from portal.app import GZIP_LEVEL, GZIP_MINIMUM_BYTES, create_app
from portal.runtime import Runtime
from portal.settings import Settings
from portal.web.edge import Edge
from portal.web.security import CSP, HEADERS, page_csp
from tests.helpers import ThreadedServer, job_updated, post_event, sample_job

SECURITY = {name.decode(): value.decode() for name, value in HEADERS[1:]}
PAGE_CSP = page_csp(styles=("'sha256-test'",))


def assert_secured(headers: Any, csp: str) -> None:  # httpx's Headers, or the test client's
    for name, value in SECURITY.items():
        assert headers.get_list(name) == [value], name
    assert headers.get_list("content-security-policy") == [csp]


def test_a_webhook_answer_carries_the_security_headers_and_is_not_compressed(client: TestClient) -> None:
    answer = post_event(client, job_updated(sample_job()))
    assert answer.status_code == 202 and "gzip" in answer.request.headers["accept-encoding"]
    assert_secured(answer.headers, answer.headers["content-security-policy"])
    assert "'self'" in answer.headers["content-security-policy"]
    assert "content-encoding" not in answer.headers and "vary" not in answer.headers


def test_a_page_is_compressed_and_carries_the_page_policy(client: TestClient) -> None:
    post_event(client, job_updated(sample_job()))
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    record = client.portal.call(runtime.store.get_job, "WO-1")  # type: ignore[union-attr]
    assert record is not None
    path = f"/t/{runtime.links.token(record.link_key)}"
    page = client.get(path, headers={"Accept-Encoding": "gzip", "accept": "text/html"})
    assert page.status_code == 200 and page.headers["content-encoding"] == "gzip"
    assert page.headers["vary"] == "Accept-Encoding"
    assert_secured(page.headers, page.headers["content-security-policy"])
    assert "'sha256-" in page.headers["content-security-policy"]  # the brand colour's style, not the default
    plain = client.get(path, headers={"Accept-Encoding": "identity", "accept": "text/html"})
    assert "content-encoding" not in plain.headers and plain.headers["vary"] == "Accept-Encoding"
    assert plain.text.startswith("<!doctype html>") and page.text.startswith("<!doctype html>")


def test_a_500_carries_the_default_policy_and_so_does_a_failure_between_start_and_body(settings: Settings) -> None:
    async def boom(request: Request) -> Response:
        raise RuntimeError("a bug")

    async def chunks() -> AsyncIterator[bytes]:
        raise RuntimeError("a bug before the first chunk")
        yield b""  # pragma: no cover

    async def broken_stream(request: Request) -> Response:
        return StreamingResponse(chunks(), media_type="application/json")

    app = create_app(settings)
    app.router.routes += [Route("/boom", boom), Route("/broken", broken_stream)]
    with TestClient(app, raise_server_exceptions=False) as client:
        for path in ("/boom", "/broken"):
            response = client.get(path, headers={"Accept-Encoding": "gzip"})
            assert response.status_code == 500 and response.text == "Internal Server Error", path
            assert_secured(response.headers, CSP)


def test_an_answer_with_its_own_policy_keeps_it(settings: Settings) -> None:
    async def own(request: Request) -> Response:
        return Response("x", headers={"content-security-policy": "default-src 'none'", "x-frame-options": "SAMEORIGIN"})

    app = create_app(settings)
    app.router.routes.append(Route("/own", own))
    with TestClient(app) as client:
        response = client.get("/own")
    assert response.headers.get_list("content-security-policy") == ["default-src 'none'"]
    assert response.headers.get_list("x-frame-options") == ["SAMEORIGIN"]
    assert response.headers["referrer-policy"] == "no-referrer"


@pytest.fixture
def server(settings: Settings) -> Iterator[ThreadedServer]:
    with ThreadedServer(create_app(settings)) as running:
        yield running


def test_an_event_stream_carries_the_security_headers_uncompressed(server: ThreadedServer) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as http:
        post_event(http, job_updated(sample_job()))
        runtime: Runtime = server.app.state.runtime
        record = server.call(runtime.store.get_job("WO-1"))
        path = f"/t/{runtime.links.token(record.link_key)}/events"
        with connect_sse(http, "GET", path, headers={"Accept-Encoding": "gzip"}) as source:
            assert source.response.headers["content-type"].startswith("text/event-stream")
            assert "content-encoding" not in source.response.headers and "vary" not in source.response.headers
            assert_secured(source.response.headers, source.response.headers["content-security-policy"])
            assert next(source.iter_sse()).event


# Every kind of answer gzip tells apart, each exactly as Starlette's GZipMiddleware sends it.
BIG = b'{"text": "' + b"abc " * GZIP_MINIMUM_BYTES + b'"}'
ANSWERS: dict[str, tuple[list[tuple[bytes, bytes]], int, list[bytes]]] = {
    "small json": ([(b"content-type", b"application/json")], 200, [b"{}"]),
    "large json": ([(b"content-type", b"application/json")], 200, [BIG]),
    "exactly the minimum": ([(b"content-type", b"text/plain")], 200, [b"x" * GZIP_MINIMUM_BYTES]),
    "streamed html": ([(b"content-type", b"text/html; charset=utf-8")], 200, [b"<p>", BIG, b""]),
    "event stream": ([(b"content-type", b"text/event-stream")], 200, [b"data: 1\n\n", BIG, b""]),
    "image": ([(b"content-type", b"image/png")], 200, [BIG]),
    "already encoded": ([(b"content-type", b"text/css"), (b"content-encoding", b"br")], 200, [BIG]),
    "a part": ([(b"content-type", b"text/css")], 206, [BIG]),
    "no content type": ([], 200, [BIG]),
    "vary set": ([(b"content-type", b"text/css"), (b"vary", b"Cookie")], 200, [BIG]),
}


def answering(headers: list[tuple[bytes, bytes]], status: int, bodies: list[bytes]) -> ASGIApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        length = [(b"content-length", str(len(bodies[0])).encode())] if len(bodies) == 1 else []
        await send({"type": "http.response.start", "status": status, "headers": [*headers, *length]})
        for n, body in enumerate(bodies):
            await send({"type": "http.response.body", "body": body, "more_body": n < len(bodies) - 1})

    return app


def secured_by_hand(app: ASGIApp) -> ASGIApp:
    """The headers added the plain way, inside Starlette's gzip: what the edge must match."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        async def add(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name for name, _ in message["headers"]}
                extra = [(b"content-security-policy", PAGE_CSP.encode()), *HEADERS[1:]]
                message["headers"] = [*message["headers"], *((k, v) for k, v in extra if k not in present)]
            await send(message)

        await app(scope, receive, add)

    return wrapped


def messages(app: ASGIApp, accept: bytes | None) -> list[Message]:
    scope = {"type": "http", "method": "GET", "path": "/", "headers": [(b"accept-encoding", accept)] if accept else []}
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))  # type: ignore[arg-type]
    return sent


@pytest.mark.parametrize("accept", [b"gzip, deflate", b"identity", None])
@pytest.mark.parametrize("answer", list(ANSWERS))
def test_the_edge_sends_what_starlettes_gzip_sent(answer: str, accept: bytes | None) -> None:
    headers, status, bodies = ANSWERS[answer]
    reference = GZipMiddleware(
        secured_by_hand(answering(headers, status, bodies)), minimum_size=GZIP_MINIMUM_BYTES, compresslevel=GZIP_LEVEL
    )
    edge = Edge(
        answering(headers, status, bodies), csp=PAGE_CSP, gzip_minimum=GZIP_MINIMUM_BYTES, gzip_level=GZIP_LEVEL
    )
    expected, got = messages(reference, accept), messages(edge, accept)
    assert got == expected
    if accept == b"gzip, deflate" and answer in ("large json", "streamed html"):
        assert dict(got[0]["headers"])[b"content-encoding"] == b"gzip"
        assert gzip.decompress(b"".join(m["body"] for m in got[1:])) == b"".join(bodies)
