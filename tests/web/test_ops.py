"""Operations endpoints."""

from __future__ import annotations

from starlette.testclient import TestClient

from portal.app import create_app
from portal.settings import Settings


def test_healthz(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}


def test_readyz_follows_the_store(settings: Settings) -> None:
    app = create_app(settings)
    with TestClient(app) as client:
        assert client.get("/readyz").status_code == 200
        client.portal.call(app.state.runtime.store.close)  # type: ignore[attr-defined]
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["status"] == "unavailable"


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
