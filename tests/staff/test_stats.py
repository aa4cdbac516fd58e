"""Statistics against a hand-computed fixture: days in the staff member's zone, ratings, ETA accuracy, delivery."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from starlette.testclient import TestClient

from portal.core.jobs import FieldEvent, Job, apply_event, parse_iso
from portal.staff.openapi_insight import STATS
from portal.store.base import Decision, Message
from tests.staff_support import add_staff, login

ZONE = "America/New_York"  # UTC-5 in January


def _call(client: TestClient, fn: Any, *args: Any) -> Any:
    return client.portal.call(fn, *args)  # type: ignore[union-attr]


def _store(client: TestClient) -> Any:
    return client.app.state.runtime.store  # type: ignore[attr-defined]


def _change(
    client: TestClient, job_id: str, at: str, status: str | None = None, values: dict[str, Any] | None = None
) -> None:
    """One field event at ``at`` (a job.updated, or a status change), plus portal values."""
    if status is None:
        event = FieldEvent(
            f"{job_id}-{at}", "job.updated", parse_iso(at), {"job": {"id": job_id, "reference": f"R-{job_id}"}}
        )
    else:
        event = FieldEvent(f"{job_id}-{at}", "job.status_changed", parse_iso(at), {"job_id": job_id, "status": status})

    def decide(before: Job | None) -> Decision:
        after = apply_event(before, event)
        after.values.update(values or {})
        return Decision(after)

    _call(client, _store(client).change_job, job_id, decide)


def _shown(lead: object, at: str, start: str, end: str) -> dict[str, Any]:
    entry = {"lead": lead, "at": at, "start": start, "end": end, "source": "position", "recorded_at": at}
    return {"trip": "t", "shown": [entry]}


def _rating(score: int, at: str) -> dict[str, Any]:
    return {"score": score, "comment": "", "channel": "web", "at": at}


@pytest.fixture
def figures(client: TestClient) -> TestClient:
    """Three jobs over two local days (Jan 10 and 11, 2030, New York).

    A: created Jan 10 09:00 local; shown 15:15-15:25Z 15 minutes ahead, arrives 15:23Z (inside, 3 min
       off); completed Jan 10; rated 5 on Jan 10.
    B: created 03:00Z Jan 11, which is Jan 10 22:00 local; first shown 15:50-16:10Z on a short
       trip, arrives 16:30Z Jan 11 (outside, 30 min off); completed Jan 11; rated 2 on Jan 11.
    C: created Jan 11; rated 4 on Jan 11.
    """
    _change(
        client,
        "A",
        "2030-01-10T14:00:00Z",
        values={"portal.eta_log": _shown(15, "2030-01-10T15:20:00Z", "2030-01-10T15:15:00Z", "2030-01-10T15:25:00Z")},
    )
    _change(client, "A", "2030-01-10T15:23:00Z", "in_progress")
    _change(
        client, "A", "2030-01-10T17:00:00Z", "completed", values={"portal.rating": _rating(5, "2030-01-10T18:00:00Z")}
    )
    _change(
        client,
        "B",
        "2030-01-11T03:00:00Z",
        values={
            "portal.eta_log": _shown("first", "2030-01-11T16:00:00Z", "2030-01-11T15:50:00Z", "2030-01-11T16:10:00Z")
        },
    )
    _change(client, "B", "2030-01-11T16:30:00Z", "in_progress")
    _change(
        client, "B", "2030-01-11T18:00:00Z", "completed", values={"portal.rating": _rating(2, "2030-01-11T19:00:00Z")}
    )
    _change(client, "C", "2030-01-11T15:00:00Z", values={"portal.rating": _rating(4, "2030-01-11T20:00:00Z")})
    add_staff(client, timezone=ZONE)
    login(client)
    return client


def test_figures_match_the_hand_computed_fixture(figures: TestClient) -> None:
    doc = figures.get("/staff/api/stats?from=2030-01-10&to=2030-01-11").json()
    assert (doc["jobs"], doc["completed"], doc["cancelled"], doc["reschedules"]) == (3, 2, 0, 0)
    assert doc["ratings"] == {"count": 3, "average": 3.67, "distribution": {"1": 0, "2": 1, "3": 0, "4": 1, "5": 1}}
    assert doc["eta"] == {"arrivals": 2, "within_range": 0.5, "median_error_minutes": 16.5}
    days = [(d["date"], d["jobs"], d["completed"], d["rating_average"], d["eta_within_range"]) for d in doc["by_day"]]
    assert days == [("2030-01-10", 2, 1, 5.0, 1.0), ("2030-01-11", 1, 1, 3.0, 0.0)]
    assert doc["timezone"] == ZONE and doc["from"] == "2030-01-10" and doc["to"] == "2030-01-11"
    Draft202012Validator(STATS).validate(doc)  # the shape the OpenAPI document publishes
    assert "/staff/api/stats" in figures.get("/openapi.json").json()["paths"]


def test_days_are_the_staff_members_days(figures: TestClient) -> None:
    first = figures.get("/staff/api/stats?from=2030-01-10&to=2030-01-10").json()
    assert first["jobs"] == 2  # B's 03:00Z on the 11th is the 10th in New York
    assert figures.get("/staff/api/stats?from=2030-01-12&to=2030-01-12").json()["jobs"] == 0


def test_the_default_range_is_the_last_thirty_days(figures: TestClient) -> None:
    doc = figures.get("/staff/api/stats").json()
    assert len(doc["by_day"]) == 30 and doc["jobs"] == 0


@pytest.mark.parametrize(
    "query", ["from=2030-13-01", "from=yesterday", "from=2030-01-11&to=2030-01-10", "from=2020-01-01&to=2030-01-01"]
)
def test_a_bad_range_is_refused_clearly(figures: TestClient, query: str) -> None:
    response = figures.get(f"/staff/api/stats?{query}")
    assert response.status_code == 400 and response.json()["error"] == "invalid_range"
    page = figures.get(f"/staff/stats?{query}")
    assert page.status_code == 400 and 'role="alert"' in page.text


def test_delivery_by_channel_with_top_errors(figures: TestClient) -> None:
    store = _store(figures)
    for sid, final, error in (("SM1", "delivered", None), ("SM2", "undelivered", "30003"), ("SM3", "failed", "30003")):
        now = "2030-01-10T12:00:00.000000Z"
        message = Message(0, "A", "sms", "out", "+13125550142", None, "hi", "sent", sid, None, {}, now, now)
        _call(figures, store.add_message, message)
        _call(figures, store.update_message_status, sid, final, error, now)
    doc = figures.get("/staff/api/stats?from=2030-01-10&to=2030-01-10").json()  # when the statuses arrived
    assert doc["messages"]["sms"] == {
        "sent": 3,
        "delivered": 1,
        "failed": 2,
        "top_errors": [{"code": "30003", "count": 2}],
    }
    assert doc["messages"]["email"]["sent"] == 0


def test_the_page_draws_charts_with_tables_and_offers_csv(figures: TestClient) -> None:
    page = figures.get("/staff/stats?from=2030-01-10&to=2030-01-11")
    assert page.status_code == 200
    assert page.text.count('role="img"') == 5 and page.text.count("the figures as a table") == 5
    assert "3.67" in page.text and "50.0%" in page.text
    response = figures.get("/staff/stats.csv?from=2030-01-10&to=2030-01-11")
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0][:3] == ["date", "jobs", "completed"]
    assert rows[1][:3] == ["2030-01-10", "2", "1"] and rows[3][0] == "2030-01-10..2030-01-11"
