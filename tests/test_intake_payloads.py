"""Payload handling: size, media type, validation details, dedup, ordering, 503."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from portal.app import create_app
from portal.runtime import Runtime
from portal.settings import Settings
from portal.store.sqlite.store import SQLiteStore
from tests.helpers import event, job_updated, post_event, sample_job, signed_headers, status_changed


def portal_of(client: TestClient) -> Runtime:
    portal: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    return portal


def call(client: TestClient, fn: Any, *args: Any) -> Any:
    return client.portal.call(fn, *args)  # type: ignore[attr-defined]


def state(client: TestClient, job_id: str) -> dict[str, Any]:
    url = call(client, portal_of(client).link_url, job_id)
    response = client.get(url.removeprefix("http://testserver") + "/state")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def test_accepted_then_duplicate(client: TestClient) -> None:
    body = json.dumps(job_updated(sample_job()))
    headers = signed_headers(body, msg_id="msg_same")
    first = client.post("/webhooks/field", content=body, headers=headers)
    assert (first.status_code, first.json()) == (202, {"status": "accepted"})
    again = client.post("/webhooks/field", content=body, headers=signed_headers(body, msg_id="msg_same"))
    assert (again.status_code, again.json()) == (200, {"status": "duplicate"})


def test_a_duplicate_id_with_other_content_changes_nothing(client: TestClient) -> None:
    post_event(client, job_updated(sample_job()), msg_id="msg_1")
    response = post_event(client, status_changed("WO-1", "cancelled"), msg_id="msg_1")
    assert response.json() == {"status": "duplicate"}
    assert state(client, "WO-1")["status"] == "scheduled"


def test_oversized_bodies_are_refused_with_413(client: TestClient) -> None:
    job = sample_job(notes="x" * 300_000)
    assert post_event(client, job_updated(job)).status_code == 413


def test_oversized_chunked_bodies_are_refused_with_413(client: TestClient) -> None:
    body = json.dumps(job_updated(sample_job(notes="x" * 300_000)))
    headers = signed_headers(body)

    def chunks() -> Any:
        for start in range(0, len(body), 8192):
            yield body[start : start + 8192].encode()

    response = client.post("/webhooks/field", content=chunks(), headers=headers)
    assert response.status_code == 413


@pytest.mark.parametrize("media", ["text/plain", "application/x-www-form-urlencoded", ""])
def test_other_media_types_are_refused_with_415(client: TestClient, media: str) -> None:
    body = json.dumps(job_updated(sample_job()))
    headers = signed_headers(body)
    headers["content-type"] = media
    assert client.post("/webhooks/field", content=body, headers=headers).status_code == 415


def test_json_with_charset_is_fine(client: TestClient) -> None:
    body = json.dumps(job_updated(sample_job()))
    headers = signed_headers(body)
    headers["content-type"] = "application/json; charset=utf-8"
    assert client.post("/webhooks/field", content=body, headers=headers).status_code == 202


CASES: list[tuple[dict[str, Any], str]] = [
    (job_updated(sample_job(window={"start": "tomorrow", "end": "2025-03-03T11:00:00Z"})), "data.job.window.start"),
    (job_updated(sample_job(window={"start": "2025-03-03T11:00:00"})), "data.job.window.end"),
    (
        job_updated(sample_job(window={"start": "2025-03-03T11:00:00Z", "end": "2025-03-03T10:00:00Z"})),
        "data.job.window.end",
    ),
    (job_updated(sample_job(status="teleported")), "data.job.status"),
    (job_updated(sample_job(timezone="Mars/Olympus_Mons")), "data.job.timezone"),
    (job_updated(sample_job(invoice_url="javascript:alert(1)")), "data.job.invoice_url"),
    (
        job_updated(sample_job(technician={"name": "Dana", "photo_url": "data:image/png;base64,xx"})),
        "data.job.technician.photo_url",
    ),
    (job_updated(sample_job(reschedule_slots=[{"start": "2025-03-04T09:00:00Z"}])), "data.job.reschedule_slots.0.end"),
    (job_updated({"reference": "no id"}), "data.job.id"),
    (event("job.status_changed", {"job_id": "WO-1"}), "data.status"),
    (
        event("technician.location", {"job_id": "WO-1", "lat": 91, "lon": 0, "recorded_at": "2025-03-03T09:00:00Z"}),
        "data.lat",
    ),
    (event("job.eta", {"job_id": "WO-1", "eta": 5}), "data.eta"),
    ({"type": "job.updated", "data": {"job": {"id": "x"}}}, "timestamp"),
    (event("job.updated", {"job": {"id": "a b/c"}}), "data.job.id"),
]


@pytest.mark.parametrize(("payload", "loc"), CASES)
def test_invalid_payloads_name_the_field(client: TestClient, payload: dict[str, Any], loc: str) -> None:
    response = post_event(client, payload)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid_payload"
    assert loc in [d["loc"] for d in body["detail"]]
    assert all(d["msg"] for d in body["detail"])


def test_unknown_types_are_400_and_listed(client: TestClient) -> None:
    response = post_event(client, event("job.exploded", {"job_id": "WO-1"}))
    assert response.status_code == 400
    assert response.json()["detail"][0]["loc"] == "type"
    rejected = call(client, portal_of(client).store.list_rejections)
    assert rejected[0].reason == "unknown event type"
    assert "job.exploded" in rejected[0].excerpt


@pytest.mark.parametrize("body", ["not json", "[1, 2]", '"text"', "{"])
def test_bodies_that_are_not_json_objects_are_400(client: TestClient, body: str) -> None:
    response = client.post("/webhooks/field", content=body, headers=signed_headers(body))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_payload"


def test_an_invalid_payload_changes_nothing(client: TestClient) -> None:
    post_event(client, job_updated(sample_job()))
    bad = job_updated(sample_job(status="completed", window={"start": "x", "end": "y"}))
    assert post_event(client, bad).status_code == 400
    assert state(client, "WO-1")["status"] == "scheduled"


def test_an_unparseable_phone_does_not_reject_the_job(client: TestClient) -> None:
    job = sample_job(customer={"name": "Ann", "phone": "call me maybe", "email": "ann@example.com"})
    assert post_event(client, job_updated(job)).status_code == 202
    record = call(client, portal_of(client).store.get_job, "WO-1")
    assert record.job.values["customer.phone_e164"] is None
    assert record.job.customer["email"] == "ann@example.com"


def test_late_older_events_do_not_regress_the_job(client: TestClient) -> None:
    post_event(client, job_updated(sample_job(), timestamp="2025-03-01T10:00:00Z"))
    post_event(client, status_changed("WO-1", "en_route", "2025-03-03T08:00:00Z"))
    late = job_updated(sample_job(status="scheduled", service="Old name"), timestamp="2025-03-02T10:00:00Z")
    assert post_event(client, late).status_code == 202
    current = state(client, "WO-1")
    assert current["status"] == "en_route"
    assert current["service"] == "Old name"  # newer than the first update, and nothing newer set it


def test_a_locked_database_answers_503_so_the_sender_retries(tmp_path: Path, settings: Settings) -> None:
    portal = Runtime(settings, store=SQLiteStore(settings.sqlite_path or tmp_path, busy_timeout_ms=50))
    with TestClient(create_app(settings, runtime=portal)) as client:
        blocker = sqlite3.connect(settings.sqlite_path or "", isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        try:
            response = post_event(client, job_updated(sample_job()))
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert response.status_code == 503
        assert post_event(client, job_updated(sample_job())).status_code == 202


def test_the_examples_in_webhooks_are_accepted(client: TestClient) -> None:
    examples = Path(__file__).resolve().parents[1] / "webhooks" / "examples" / "inbound"
    order = ["job.updated", "job.status_changed", "technician.location", "job.eta"]
    for name in order:
        payload = json.loads((examples / f"{name}.json").read_text())
        assert post_event(client, payload).status_code == 202, name


def test_metrics_count_webhooks_by_outcome(client: TestClient) -> None:
    post_event(client, job_updated(sample_job()), msg_id="m1")
    post_event(client, job_updated(sample_job()), msg_id="m1")
    post_event(client, event("nope", {}))
    text = client.get("/metrics").text
    assert 'portal_webhooks_total{outcome="accepted"} 1.0' in text
    assert 'portal_webhooks_total{outcome="duplicate"} 1.0' in text
    assert 'portal_webhooks_total{outcome="rejected_400"} 1.0' in text


def test_settings_fixture_is_sane(settings: Settings) -> None:
    assert replace(settings).webhook_secrets


def progress(photo_url: str | None = None, **extra: Any) -> dict[str, Any]:
    data = {"job_id": "WO-1", "id": "s1", "title": "Old heater drained", "recorded_at": "2026-03-03T15:20:00Z"}
    return event("job.progress", {**data, **({"photo_url": photo_url} if photo_url else {}), **extra})


@pytest.mark.parametrize(
    "photo_url",
    ["http://photos.example.com/1.jpg", "javascript:alert(1)", "https://user@evil.example/1.jpg", "//x.example/1"],
)
def test_progress_photos_must_be_https_else_400_and_nothing_changes(client: TestClient, photo_url: str) -> None:
    post_event(client, job_updated(sample_job()))
    response = post_event(client, progress(photo_url))
    assert response.status_code == 400
    assert response.json()["detail"][0]["loc"] == "data.photo_url"
    assert state(client, "WO-1")["progress"] == []


def test_a_progress_step_is_stored_and_its_id_updates_it(client: TestClient) -> None:
    post_event(client, job_updated(sample_job()))
    assert post_event(client, progress("https://photos.example.com/1.jpg", percent=40)).status_code == 202
    assert post_event(client, progress(None, title="Heater drained and removed", percent=50)).status_code == 202
    steps = state(client, "WO-1")["progress"]
    assert [(s["id"], s["title"], s["percent"]) for s in steps] == [("s1", "Heater drained and removed", 50)]
    assert post_event(client, progress(percent=101)).status_code == 400
    assert post_event(client, progress(percent=None)).status_code == 400  # optional: left out when unknown, never null
