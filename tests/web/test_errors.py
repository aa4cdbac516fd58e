"""Failures answered properly: a store outage is a 503 to retry everywhere, a 500 keeps the connection."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient
from twilio.request_validator import RequestValidator

from portal.app import create_app
from tests.helpers import ThreadedServer, job_updated, make_settings, post_event, sample_job
from tests.redis_support import PrivateRedis
from tests.staff_support import job_id_url

PUBLIC_URL = "https://portal.example.com"
AUTH_TOKEN = "twilio-auth-token-for-tests"


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path).start()
    yield server
    server.stop()


@pytest.mark.long(3)
def test_pages_streams_and_twilio_answer_503_while_the_store_is_down(
    tmp_path: Path, private_redis: PrivateRedis
) -> None:
    settings = make_settings(
        tmp_path,
        store_url=private_redis.url(),
        public_url=PUBLIC_URL,
        twilio_account_sid="AC" + "0" * 32,
        twilio_auth_token=AUTH_TOKEN,
        twilio_from="+15005550006",
        twilio_api_url="http://127.0.0.1:9",  # discard port: nothing is ever sent anywhere
        notifications=frozenset(),
    )
    with TestClient(create_app(settings), base_url=PUBLIC_URL) as client:
        assert post_event(client, job_updated(sample_job())).status_code == 202
        path = job_id_url(client, "WO-1").removeprefix(PUBLIC_URL)
        assert client.get(path + "/state").status_code == 200
        private_redis.stop()

        page = client.get(path, headers={"accept": "text/html", "accept-language": "es"})
        assert page.status_code == 503 and page.headers["retry-after"] == "5"
        assert "text/html" in page.headers["content-type"] and "Vuelva a intentarlo" in page.text
        for url, headers in [
            (path + "/state", {}),
            (path + "/calendar.ics", {}),
            (path + "/events", {"last-event-id": "1"}),  # a reconnecting page
        ]:
            answer = client.get(url, headers=headers)
            assert answer.status_code == 503, url
            assert answer.headers["retry-after"] == "5" and answer.json() == {"error": "store_unavailable"}
        for hook, form in [
            ("/webhooks/twilio/status", {"MessageSid": "SM1", "MessageStatus": "delivered"}),
            ("/webhooks/twilio/inbound", {"MessageSid": "SM2", "From": "+13125550142", "Body": "HELP"}),
        ]:
            signature = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC_URL + hook, form)
            answer = client.post(hook, data=form, headers={"x-twilio-signature": signature})
            assert answer.status_code == 503 and answer.headers["retry-after"], hook  # so Twilio retries


def _boom(request: Request) -> Response:
    raise RuntimeError("a bug in an endpoint")


def _exchange(sock: socket.socket, path: str) -> bytes:
    """One HTTP/1.1 request on a kept-alive socket; the whole answer (Content-Length framed)."""
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    length = next(
        int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
    )
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def test_a_500_leaves_the_kept_alive_connection_usable(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    app = create_app(make_settings(tmp_path))
    app.router.routes.append(Route("/boom", _boom))
    with ThreadedServer(app) as server, socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        first = _exchange(sock, "/boom")
        assert first.startswith(b"HTTP/1.1 500")
        second = _exchange(sock, "/healthz")  # the same connection: uvicorn used to close it here
        assert second.startswith(b"HTTP/1.1 200") and second.endswith(b'{"status":"ok"}')
    assert any("a bug in an endpoint" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)


@pytest.mark.parametrize(
    "method, path, allow",
    [
        ("GET", "/staff/jobs/WO-1/resend", "POST"),
        ("TRACE", "/staff", "HEAD, GET"),
        ("GET", "/staff/logout", "POST"),
        ("DELETE", "/t/some-token/state", "HEAD, GET"),
        ("PUT", "/webhooks/field", "POST"),
        ("OPTIONS", "/staff/login", "HEAD, GET, POST"),  # one route for the form and its post
    ],
)
def test_a_wrong_method_answers_405_with_allow(client: TestClient, method: str, path: str, allow: str) -> None:
    answer = client.request(method, path, follow_redirects=False)  # no session: still 405, not a redirect
    assert answer.status_code == 405
    assert set(answer.headers["allow"].split(", ")) == set(allow.split(", "))
