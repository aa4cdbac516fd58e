"""How the tracking page words what it shows: one request at a time, no "around" that repeats the range.

The page is rendered from a public state computed at a fixed moment, so minute boundaries never
decide the outcome.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from portal.core import actions
from portal.core.jobs import Job, iso_utc
from portal.core.public import public_state
from portal.i18n import Translations
from portal.settings import Settings
from portal.web.templating import make_templates

NOW = dt.datetime(2030, 3, 3, 20, 54, 10, tzinfo=dt.UTC)  # 2:54 PM in Chicago
WINDOW = {"start": "2030-03-03T14:00:00-06:00", "end": "2030-03-03T16:00:00-06:00"}
SLOT = {"start": "2030-03-04T09:00:00-06:00", "end": "2030-03-04T11:00:00-06:00"}


def job(status: str = "scheduled", **values: Any) -> Job:
    base = {"status": status, "timezone": "America/Chicago", "window": WINDOW, "reschedule_slots": [SLOT]}
    return Job(id="WO-1", values={**base, **values})


def render(subject: Job, locale: str = "en") -> str:
    loc = Translations().localizer(locale)
    state = public_state(subject, NOW)
    context = {
        "i18n": loc,
        "company_name": loc.company_name,
        "state": state,
        "labels": loc.status_labels(),
        "events_url": "/t/x/events",
        "map_tiles": None,
        "map_attribution": "",
        "stale_after": 180,
        "token": "x",
        "actions": {
            "csrf_token": "t",
            "can_cancel": actions.can_cancel(subject),
            "cancel_request": subject.values.get(actions.CANCEL),
            "can_note": False,
            "notes": [],
            "can_rate": False,
            "review_url": None,
            "confirmation": None,
            "max_text": actions.MAX_TEXT,
        },
    }
    return make_templates(Settings()).env.get_template("pages/tracking.html").render(context)


def visible(page: str, element_id: str) -> bool:
    start = page.index(f'id="{element_id}"')
    return " hidden" not in page[start : page.index(">", start)]


def en_route(eta_in: dt.timedelta) -> Job:
    eta = {"at": iso_utc(NOW + eta_in), "reported_at": iso_utc(NOW)}
    return job("en_route", eta=eta)


@pytest.mark.parametrize(("locale", "expected"), [("en", "Expected "), ("es", "Llegada prevista ")])
def test_an_eta_whose_around_is_the_start_of_the_range_reads_the_range_alone(locale: str, expected: str) -> None:
    page = render(en_route(dt.timedelta(seconds=20)), locale)  # 2:54:30: range 2:54 - 2:57
    assert visible(page, "eta-range-only") and not visible(page, "eta-around")
    shown = page[page.index('id="eta-range-only"') :]
    assert expected in shown[: shown.index("</p>")]


def test_an_eta_inside_its_range_says_around_too() -> None:
    page = render(en_route(dt.timedelta(minutes=30)))
    assert visible(page, "eta-around") and not visible(page, "eta-range-only")
    assert "(around" in page


def test_a_cancellation_supersedes_a_pending_change_of_time() -> None:
    moved, _ = actions.request_reschedule(job(), SLOT["start"], "web", NOW)
    assert visible(render(moved), "reschedule-pending")
    cancelled, _ = actions.request_cancel(moved, "", "web", NOW)
    page = render(cancelled)
    assert visible(page, "cancel-pending") and not visible(page, "reschedule-pending")
    state = public_state(cancelled, NOW)
    assert state["reschedule"] is None and state["can_reschedule"] is False


def test_no_change_of_time_once_a_cancellation_is_asked_for() -> None:
    cancelled, _ = actions.request_cancel(job(), "", "web", NOW)
    with pytest.raises(actions.Refused):
        actions.request_reschedule(cancelled, SLOT["start"], "web", NOW)


def test_one_minute_away_is_singular_and_under_a_minute_is_arriving_now() -> None:
    one = render(en_route(dt.timedelta(seconds=60)))
    assert visible(one, "eta-live") and not visible(one, "eta-arriving")
    assert "is <strong" in one and "</strong> minute away" in one
    soon = render(en_route(dt.timedelta(seconds=20)), "es")
    assert visible(soon, "eta-arriving") and not visible(soon, "eta-live")
    assert "está llegando" in soon
