"""Implausible but well-formed input answers 400 and changes nothing (CONTRACT §3).

Each case here once answered 500, or was accepted and then broke the job's page, state,
calendar and staff views for good. The views are checked after every refusal.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from portal.app import create_app
from tests.helpers import (
    event,
    job_updated,
    make_settings,
    now_iso,
    post_event,
    sample_job,
    signed_headers,
    status_changed,
)
from tests.staff_support import add_staff, job_id_url, login


def post_raw(client: TestClient, body: str) -> Any:
    return client.post("/webhooks/field", content=body, headers=signed_headers(body))


def views(client: TestClient, job_id: str = "WO-1") -> dict[str, Any]:
    """Every view of a job: each must answer 200; returns what a change would show in."""
    path = job_id_url(client, job_id)
    answers = {
        "page": client.get(path),
        "state": client.get(f"{path}/state"),
        "calendar": client.get(f"{path}/calendar.ics"),
        "staff": client.get(f"/staff/jobs/{job_id}"),
        "api": client.get(f"/staff/api/jobs/{job_id}"),
    }
    for name, response in answers.items():
        assert response.status_code == 200, (name, response.status_code)
    return {"state": answers["state"].json(), "job": answers["api"].json()["job"]}


@pytest.fixture(scope="module")
def staffed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One portal for the module: every case but the last changes nothing, which each checks."""
    with TestClient(create_app(make_settings(tmp_path_factory.mktemp("plausible")))) as client:
        assert post_event(client, job_updated(sample_job(), now_iso(-3600))).status_code == 202
        assert post_event(client, status_changed("WO-1", "en_route", now_iso(-60))).status_code == 202
        add_staff(client)
        login(client)
        yield client


def _ahead(hours: float) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(hours=hours)).isoformat()


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def _status(stamp: str) -> dict[str, Any]:
    return status_changed("WO-1", "completed", stamp)


def _ping(**changes: Any) -> dict[str, Any]:
    data = {"job_id": "WO-1", "lat": 41.9, "lon": -87.6, "recorded_at": now_iso(), **changes}
    return event("technician.location", data)


def _job(**changes: Any) -> dict[str, Any]:
    return job_updated({"id": "WO-1", **changes})


REFUSED: dict[str, tuple[dict[str, Any], str]] = {
    "3-digit year": (_status("0999-12-31T23:59:59Z"), "timestamp"),
    "year 34, odd offset": (_status("0034-06-10T14:06:52+23:59"), "timestamp"),
    "year 1 east of UTC": (_status("0001-01-01T00:00:00+14:00"), "timestamp"),
    "year 1 +05:00": (_status("0001-01-01T00:00:00+05:00"), "timestamp"),
    "year 9999 west of UTC": (_status("9999-12-31T23:59:59-05:00"), "timestamp"),
    "year 9999 UTC": (_status("9999-12-31T23:59:59Z"), "timestamp"),
    "a day and more ahead": (_status(_ahead(25)), "timestamp"),
    "ping from the future": (_ping(recorded_at=_ahead(25)), "data.recorded_at"),
    "eta of 9999": (event("job.eta", {"job_id": "WO-1", "eta": "9999-12-31T00:00:00Z"}), "data.eta"),
    "eta days ahead": (event("job.eta", {"job_id": "WO-1", "eta": _ahead(72)}), "data.eta"),
    "window past 2038": (
        _job(window={"start": "2038-01-19T03:14:08Z", "end": "2038-01-19T05:00:00Z"}),
        "data.job.window.start",
    ),
    "window before 1901": (
        _job(window={"start": "1901-12-13T20:45:51Z", "end": "1901-12-13T22:00:00Z"}),
        "data.job.window.start",
    ),
    "slot in year 1": (
        _job(reschedule_slots=[{"start": "0001-01-01T00:00:00+14:00", "end": "2030-01-01T00:00:00Z"}]),
        "data.job.reschedule_slots.0.start",
    ),
    "non-ASCII digits": (_status("２０２６-01-01T00:00:00Z"), "timestamp"),
    "surrogate in name": (_job(customer={"name": "Ann \ud800"}), "data.job.customer.name"),
    "surrogate in service": (_job(service="\udfff repair"), "data.job.service"),
    "surrogate in a key": (_job(**{"x\ud800": 1}), "data.job"),
    "long time zone": (_job(timezone="A" * 300), "data.job.timezone"),
    "path as time zone": (_job(timezone="../../../etc/passwd"), "data.job.timezone"),
    "time zone with NUL": (_job(timezone="America/Chicago\x00"), "data.job.timezone"),
    "unknown time zone": (_job(timezone="Mars/Olympus_Mons"), "data.job.timezone"),
    "nested 40 deep": (_job(extra=_nested(40)), "data.job.extra"),
}


@pytest.mark.parametrize("payload, loc", REFUSED.values(), ids=REFUSED.keys())
def test_implausible_input_is_refused_and_changes_nothing(staffed: TestClient, payload: Any, loc: str) -> None:
    before = views(staffed)
    response = post_raw(staffed, json.dumps(payload))  # json.dumps escapes surrogates as \ud800
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert any(d["loc"].startswith(loc) for d in detail), detail
    assert all(d["msg"] for d in detail)
    assert views(staffed) == before


NON_FINITE = {"NaN": ("NaN", "0"), "Infinity": ("0", "-Infinity"), "overflowing exponent": ("1e999", "0")}


@pytest.mark.parametrize("lat, lon", NON_FINITE.values(), ids=NON_FINITE.keys())
def test_non_finite_numbers_are_refused(staffed: TestClient, lat: str, lon: str) -> None:
    before = views(staffed)
    stamp = now_iso()
    data = f'{{"job_id":"WO-1","lat":{lat},"lon":{lon},"recorded_at":"{stamp}"}}'
    response = post_raw(staffed, f'{{"type":"technician.location","timestamp":"{stamp}","data":{data}}}')
    assert response.status_code == 400
    assert views(staffed) == before


@pytest.mark.parametrize("number", [str(2**64), str(-(2**63) - 1), "1" + "0" * 400])
def test_integers_wider_than_64_bits_are_refused(staffed: TestClient, number: str) -> None:
    before = views(staffed)
    body = f'{{"type":"job.updated","timestamp":"{now_iso()}","data":{{"job":{{"id":"WO-1","x":{number}}}}}}}'
    response = post_raw(staffed, body)
    assert response.status_code == 400
    assert "an integer outside the 64-bit range" in response.text
    assert views(staffed) == before


def test_the_widest_64_bit_integer_is_kept_exactly(staffed: TestClient) -> None:
    assert post_event(staffed, job_updated(sample_job(status="en_route"))).status_code == 202
    ping = {"job_id": "WO-1", "lat": 41.88, "lon": -87.63, "accuracy_m": 2**64 - 1, "recorded_at": now_iso()}
    assert post_event(staffed, event("technician.location", ping)).status_code == 202
    record = staffed.portal.call(staffed.app.state.runtime.store.get_job, "WO-1")  # type: ignore[union-attr]
    assert record.job.location["accuracy_m"] == 2**64 - 1  # an int still, not a float near it


@pytest.mark.parametrize("depth", [33, 5000, 100_000])
def test_deep_nesting_is_refused(staffed: TestClient, depth: int) -> None:
    job = f'{{"id":"WO-1","x":{"[" * depth + "]" * depth}}}'
    body = f'{{"type":"job.updated","timestamp":"{now_iso()}","data":{{"job":{job}}}}}'
    response = post_raw(staffed, body)
    assert response.status_code == 400
    assert "nested deeper than 32 levels" in response.text


def test_the_edges_of_the_plausible_range_are_accepted(staffed: TestClient) -> None:
    window = {"start": "2037-12-31T20:00:00Z", "end": "2037-12-31T23:59:59Z"}
    assert post_event(staffed, _job(window=window, timezone="Etc/GMT+5")).status_code == 202
    assert post_event(staffed, _ping(recorded_at=_ahead(23))).status_code == 202
    assert post_event(staffed, event("job.eta", {"job_id": "WO-1", "eta": _ahead(23.5)})).status_code == 202
    assert post_event(staffed, _status("2000-01-01T00:00:00+00:00")).status_code == 202  # old: loses, kept
    shown = views(staffed)
    assert shown["state"]["window"]["start"].startswith("2037-12-31")
    assert shown["state"]["status"] == "en_route"
