"""The app's outer layers: client addresses behind proxies, headers on every answer, quiet
disconnects, the metrics token, and the limits uvicorn runs with."""

from __future__ import annotations

import gc
import json
import logging
import socket
from dataclasses import replace

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from portal.app import GC_YOUNG_THRESHOLD, MAX_HEADER_BYTES, create_app, uvicorn_options
from portal.runtime import BAD_LINK_LIMIT
from portal.settings import ConfigError, Settings, from_env
from portal.settings.parsers import proxies
from tests.helpers import ThreadedServer, job_updated, sample_job, signed_headers

PROXY = ("10.0.0.7", 40000)  # a proxy on another host, inside the trusted range below
BAD_TOKEN = "/t/AAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAA/state"


def bad_tokens(client: TestClient, count: int, forwarded_for: str) -> list[int]:
    return [client.get(BAD_TOKEN, headers={"x-forwarded-for": forwarded_for}).status_code for _ in range(count)]


def test_behind_a_trusted_proxy_each_client_has_its_own_throttle(settings: Settings) -> None:
    app = create_app(replace(settings, trusted_proxies=("10.0.0.0/8",)))
    with TestClient(app, client=PROXY) as client:
        assert set(bad_tokens(client, BAD_LINK_LIMIT, "198.51.100.1")) == {404}
        assert bad_tokens(client, 1, "198.51.100.1") == [429]  # the attacker is throttled ...
        assert bad_tokens(client, 1, "203.0.113.9") == [404]  # ... and another customer is not
        # The right-most address that is not a trusted proxy is the client: a value the
        # client itself put first is not believed over what the proxy saw.
        assert bad_tokens(client, 1, "203.0.113.9, 198.51.100.1, 10.0.0.3") == [429]


def test_forwarded_headers_from_an_untrusted_peer_are_ignored(settings: Settings) -> None:
    app = create_app(replace(settings, trusted_proxies=("10.0.0.0/8",)))
    with TestClient(app, client=("192.0.2.50", 40000)) as client:
        codes = [
            client.get(BAD_TOKEN, headers={"x-forwarded-for": f"198.51.100.{n}"}).status_code
            for n in range(BAD_LINK_LIMIT + 1)
        ]
    assert codes[-1] == 429  # a new forged address each time does not escape the throttle


def test_trusted_proxies_setting(tmp_path: object) -> None:
    assert proxies("PORTAL_TRUSTED_PROXIES", " 10.0.0.1 , 192.168.0.0/16,::1 ") == ("10.0.0.1", "192.168.0.0/16", "::1")
    assert proxies("PORTAL_TRUSTED_PROXIES", "") == ()
    with pytest.raises(ConfigError, match="PORTAL_TRUSTED_PROXIES"):
        proxies("PORTAL_TRUSTED_PROXIES", "proxy.example.com")
    env = {"PORTAL_SECRET_KEY": "k" * 20, "PORTAL_STORE": "redis://127.0.0.1:6379/0"}
    assert from_env(env).trusted_proxies == ("127.0.0.1", "::1")


def test_error_answers_carry_the_security_headers(settings: Settings) -> None:
    async def boom(request: Request) -> Response:
        raise RuntimeError("a bug")

    app = create_app(settings)
    app.router.routes.append(Route("/boom", boom))
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/boom")
    assert response.status_code == 500
    assert response.headers["x-frame-options"] == "DENY"
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert response.headers["referrer-policy"] == "no-referrer"


def test_a_client_that_hangs_up_mid_body_is_one_quiet_line(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    with TestClient(create_app(settings)) as client:
        portal_app = client.app

        async def receive() -> dict[str, object]:
            return {"type": "http.disconnect"}

        sent: list[dict[str, object]] = []

        async def send(message: dict[str, object]) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/webhooks/twilio/inbound",
            "raw_path": b"/webhooks/twilio/inbound",
            "query_string": b"",
            "root_path": "",
            "headers": [(b"content-type", b"application/x-www-form-urlencoded"), (b"content-length", b"500")],
            "client": ("127.0.0.1", 5000),
            "server": ("testserver", 80),
            "state": {},
            "app": portal_app,
        }
        caplog.set_level(logging.INFO)
        client.portal.call(portal_app, scope, receive, send)  # type: ignore[union-attr, call-arg, arg-type]
    records = [r for r in caplog.records if "disconnected" in r.getMessage()]
    assert len(records) == 1 and records[0].levelno == logging.INFO and records[0].exc_info is None
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_metrics_need_the_token_when_one_is_set(settings: Settings) -> None:
    token = "metrics-token-0123456789"
    with TestClient(create_app(replace(settings, metrics_token=token))) as client:
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers={"authorization": "Bearer wrong-token-000000"}).status_code == 401
        allowed = client.get("/metrics", headers={"authorization": f"Bearer {token}"})
        assert allowed.status_code == 200 and "portal_webhooks" in allowed.text
        assert client.get("/healthz").status_code == 200  # health checks need no token


def test_uvicorn_refuses_an_oversized_request_head(settings: Settings) -> None:
    options = uvicorn_options()
    assert options["proxy_headers"] is False  # the app decides whom to believe
    with ThreadedServer(create_app(settings), **options) as server, httpx.Client(base_url=server.url) as http:
        assert http.get("/healthz", headers={"x-pad": "a" * 1000}).status_code == 200
        try:
            status = http.get("/healthz", headers={"x-pad": "a" * (MAX_HEADER_BYTES * 4)}).status_code
        except httpx.TransportError:
            status = None  # closed before the answer was read: refused all the same
        assert status in (431, None)
        # A large body is not a large head: a webhook near its 256 KiB limit is read and judged.
        big = json.dumps(job_updated(sample_job(notes="n" * 200_000)))
        response = http.post("/webhooks/field", content=big, headers=signed_headers(big))
        assert response.status_code == 400 and response.json()["detail"][0]["loc"] == "data.job.notes"


def test_uvicorn_closes_idle_keep_alive_connections(settings: Settings) -> None:
    options = {**uvicorn_options(), "timeout_keep_alive": 1}
    with ThreadedServer(create_app(settings), **options) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            received = b""
            while True:  # the answer, then the end of the connection once it has idled
                chunk = sock.recv(65536)
                if not chunk:
                    break
                received += chunk
        assert received.startswith(b"HTTP/1.1 200")


def test_a_serving_app_collects_young_objects_less_often_and_restores_the_collector(settings: Settings) -> None:
    before = gc.get_threshold()
    assert before[0] != GC_YOUNG_THRESHOLD
    with TestClient(create_app(settings)):
        assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, *before[1:])
    assert gc.get_threshold() == before
