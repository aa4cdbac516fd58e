"""The tracking page and its JSON state: what they show, what they never show, and how."""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from typing import Any

import pytest
from starlette.testclient import TestClient

from portal.runtime import Runtime
from tests.helpers import event, job_updated, post_event, sample_job, status_changed

PUBLIC_KEYS = {
    "reference", "service", "status", "status_label", "window", "timezone", "technician", "eta",
    "location", "timeline", "can_reschedule", "slots", "reschedule", "rating", "invoice_url", "late",
    "destination", "trail", "route", "progress",
}  # fmt: skip
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def portal_of(client: TestClient) -> Runtime:
    portal: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    return portal


def path_of(client: TestClient, job_id: str = "WO-1") -> str:
    url: str = client.portal.call(portal_of(client).link_url, job_id)  # type: ignore[attr-defined]
    return url.removeprefix("http://testserver")


def ping(job_id: str, lat: float, lon: float, **extra: Any) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC).isoformat()
    return event("technician.location", {"job_id": job_id, "lat": lat, "lon": lon, "recorded_at": now, **extra})


def test_state_has_exactly_the_public_keys(client: TestClient) -> None:
    post_event(client, job_updated(sample_job()))
    state = client.get(path_of(client) + "/state").json()
    assert set(state) == PUBLIC_KEYS
    assert state["technician"] == {"name": "Dana", "photo_url": "https://cdn.example.com/t/7.jpg", "vehicle": None}
    assert state["window"] == {"start": "2030-03-03T09:00:00-06:00", "end": "2030-03-03T11:00:00-06:00"}
    assert state["timezone"] == "America/Chicago"
    assert state["status_label"] == "Scheduled"
    assert state["can_reschedule"] is True


def test_the_page_reads_at_a_glance(client: TestClient) -> None:
    post_event(client, job_updated(sample_job()))
    page = client.get(path_of(client))
    assert page.status_code == 200
    text = page.text
    assert "<h1" in text and "Scheduled" in text
    assert "Sunday, March 3, 9:00 AM – 11:00 AM" in text
    assert "Dana" in text and "Whitfield" not in text
    assert "Your service team" in text
    assert re.search(r'src="/static/js/tracking\.[0-9a-f]{10}\.js"', text)


def test_page_headers_are_strict(client: TestClient) -> None:
    post_event(client, job_updated(sample_job()))
    page = client.get(path_of(client))
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "noindex" in page.headers["x-robots-tag"]
    assert "<script>" not in page.text  # no inline script at all


def test_phone_and_email_never_leave_through_the_link(client: TestClient) -> None:
    post_event(client, job_updated(sample_job()))
    post_event(client, status_changed("WO-1", "en_route"))
    path = path_of(client)
    for body in (client.get(path).text, client.get(path + "/state").text):
        for secret in ("555-0142", "5550142", "maria@example.com", "Lopez", "Fulton"):
            assert secret not in body


def test_another_jobs_data_never_shows(client: TestClient) -> None:
    post_event(client, job_updated(sample_job("WO-1")))
    post_event(client, job_updated(sample_job("WO-2", service="Secret other service", reference="OTHER-REF")))
    for body in (client.get(path_of(client, "WO-1")).text, client.get(path_of(client, "WO-1") + "/state").text):
        assert "Secret other service" not in body and "OTHER-REF" not in body


def test_location_only_while_en_route(client: TestClient) -> None:
    post_event(client, job_updated(sample_job()))
    post_event(client, ping("WO-1", 41.9, -87.6))
    path = path_of(client)
    assert client.get(path + "/state").json()["location"] is None
    post_event(client, status_changed("WO-1", "en_route"))
    en_route = client.get(path + "/state").json()
    assert en_route["location"]["lat"] == 41.9
    assert en_route["eta"]["minutes"] >= 0
    # On the way, the page opens the tile server's connection and fetches the map library early.
    assert '<link rel="preconnect" href="https://tile.openstreetmap.org">' in client.get(path).text
    post_event(client, status_changed("WO-1", "in_progress"))
    on_site = client.get(path + "/state").json()
    assert on_site["location"] is None and on_site["eta"] is None
    assert "41.9" not in client.get(path).text and "preconnect" not in client.get(path).text


def test_the_field_systems_eta_is_preferred(client: TestClient) -> None:
    post_event(client, job_updated(sample_job(status="en_route")))
    post_event(client, ping("WO-1", 41.9, -87.6))
    eta = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=42)).isoformat()
    post_event(client, event("job.eta", {"job_id": "WO-1", "eta": eta}))
    state = client.get(path_of(client) + "/state").json()
    assert state["eta"]["minutes"] in (41, 42)


@pytest.mark.parametrize(
    "field",
    ["service", "reference", "technician", "notes"],
)
def test_hostile_text_is_escaped_on_the_page(client: TestClient, field: str) -> None:
    value: Any = {"name": HOSTILE} if field == "technician" else HOSTILE[:64] if field == "reference" else HOSTILE
    post_event(client, job_updated(sample_job(**{field: value})))
    page = client.get(path_of(client)).text
    assert "<script>alert" not in page
    assert "<img src=x" not in page
    state = client.get(path_of(client) + "/state")
    assert state.headers["content-type"].startswith("application/json")


def test_hostile_status_reason_is_escaped_in_json_and_never_html(client: TestClient) -> None:
    post_event(client, job_updated(sample_job()))
    reason = HOSTILE
    post_event(client, event("job.status_changed", {"job_id": "WO-1", "status": "on_hold", "reason": reason}))
    page = client.get(path_of(client)).text
    assert "<script>alert" not in page
    assert json.loads(client.get(path_of(client) + "/state").text)["status"] == "on_hold"


def test_the_page_works_without_a_window_or_technician(client: TestClient) -> None:
    post_event(client, event("job.status_changed", {"job_id": "BARE", "status": "created"}))
    page = client.get(path_of(client, "BARE"))
    assert page.status_code == 200
    assert "Request received" in page.text


def test_invoice_link_is_shown_when_present(client: TestClient) -> None:
    post_event(client, job_updated(sample_job(status="completed", invoice_url="https://pay.example.com/i/1")))
    assert 'href="https://pay.example.com/i/1"' in client.get(path_of(client)).text


def test_bidi_override_characters_never_reach_a_reader(client: TestClient) -> None:
    from tests.staff_support import add_staff, login

    spoofed = "Dana\u202e gnp.exe\u2066"  # would display as "Dana exe.png"
    technician = {"id": "T-7", "name": spoofed}
    customer = {"name": "Maria \u202eLopez", "phone": "(312) 555-0142"}
    post_event(client, job_updated(sample_job(technician=technician, customer=customer, service="Boiler\u202d fix")))
    path = path_of(client)
    state = client.get(path + "/state").json()
    assert state["technician"]["name"] == "Dana" and state["service"] == "Boiler fix"
    add_staff(client)
    login(client)
    pages = [client.get(path).text, client.get("/staff/jobs/WO-1").text, client.get("/staff/?q=maria").text]
    for text in pages:
        assert not any(c in text for c in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
    assert "Maria Lopez" in pages[1]


def test_on_the_way_the_page_names_the_tile_under_the_technician(client: TestClient) -> None:
    post_event(client, job_updated(sample_job(status="en_route")))
    post_event(client, ping("WO-1", 41.9, -87.6))
    page = client.get(path_of(client)).text
    # The Web Mercator tile at zoom 15, worked out the other way round: ln(tan + sec).
    lat, tiles = math.radians(41.9), 2**15
    x = int((-87.6 + 180) / 360 * tiles)
    y = int((1 - math.log(math.tan(lat) + 1 / math.cos(lat)) / math.pi) / 2 * tiles)
    tile = f"https://tile.openstreetmap.org/15/{x}/{y}.png"
    assert f'<img class="map-first" src="{tile}" alt=""' in page
    post_event(client, status_changed("WO-1", "in_progress"))
    assert "map-first" not in client.get(path_of(client)).text
