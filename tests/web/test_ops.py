"""Operations endpoints."""

from __future__ import annotations

import asyncio

import pytest
from starlette.testclient import TestClient

from portal.app import create_app
from portal.settings import Settings


def test_healthz(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}


def test_readyz_follows_the_store(settings: Settings) -> None:
    app = create_app(settings)
    portal = app.state.runtime
    with TestClient(app) as client:
        assert client.get("/readyz").status_code == 200
        client.portal.call(portal.store.close)  # type: ignore[union-attr]
        client.portal.call(portal.readiness.probe)  # type: ignore[union-attr]  # what the background task does
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["status"] == "unavailable"


@pytest.mark.long(2)
def test_readyz_answers_from_the_last_probe_without_asking_the_store(settings: Settings) -> None:
    app = create_app(settings)
    portal = app.state.runtime
    portal.readiness.interval = 3600  # the background task stays out of the way: the test probes
    with TestClient(app) as client:
        calls: list[str] = []

        async def slow_ping() -> None:
            calls.append("ping")
            await asyncio.Event().wait()  # a store that never answers

        portal.store.ping = slow_ping
        for _ in range(5):
            assert client.get("/readyz").json()["status"] == "ready"
        assert calls == []  # not one store call: the background task alone probes
        client.portal.call(portal.readiness.probe)  # type: ignore[union-attr]  # times out, so not ready
        assert client.get("/readyz").status_code == 503 and calls == ["ping"]


def test_metrics_are_prometheus_text(client: TestClient) -> None:
    response = client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    for name in ("portal_webhooks_total", "portal_sse_streams_open", "portal_events_published_total"):
        assert f"# TYPE {name.removesuffix('_total')}" in response.text


def test_openapi_describes_every_route(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    for path in ("/webhooks/field", "/t/{token}", "/t/{token}/state", "/t/{token}/events", "/healthz", "/readyz"):
        assert path in document["paths"], path
    assert "job.updated" in document["components"]["schemas"]
    for path in ("/webhooks/twilio/inbound", "/t/{token}/calendar.ics", "/t/{token}/rating", "/t/{token}/note"):
        assert path in document["paths"], path


def test_openapi_is_self_contained(client: TestClient) -> None:
    """Every reference resolves inside the document: readers cannot fetch ../common.json."""
    document = client.get("/openapi.json").json()
    refs: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            refs.extend(str(v) for k, v in node.items() if k == "$ref")
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document)
    assert refs and all(ref.startswith("#/components/schemas/") for ref in refs)
    for ref in refs:
        assert ref.removeprefix("#/components/schemas/") in document["components"]["schemas"], ref
    envelope = document["components"]["schemas"]["job.eta"]
    assert envelope["allOf"][0]["required"] == ["type", "timestamp", "data"]  # common.json, inlined
