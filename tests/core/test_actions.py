"""What a customer may do to a job (``core/actions.py``): the rules as tables, pure, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from portal.core import actions
from portal.core.actions import Refused
from portal.core.jobs import Job, iso_utc

NOW = datetime(2030, 3, 1, 12, 0, tzinfo=UTC)
SLOT = {"start": "2030-03-04T09:00:00-06:00", "end": "2030-03-04T11:00:00-06:00"}
WINDOW = {"start": "2030-03-03T09:00:00-06:00", "end": "2030-03-03T11:00:00-06:00"}
STATUSES = ("created", "scheduled", "dispatched", "en_route", "in_progress", "completed", "cancelled", "on_hold")


def job(status: str, **values: Any) -> Job:
    base = {"status": status, "timezone": "America/Chicago", "window": WINDOW, "reschedule_slots": [SLOT]}
    return Job(id="WO-1", values={**base, **values})


# status -> (reschedule, cancel, note): what the customer may ask for in each status.
ALLOWED = {
    "created": (True, True, True),
    "scheduled": (True, True, True),
    "dispatched": (True, True, True),
    "on_hold": (True, True, True),
    "en_route": (False, False, True),
    "in_progress": (False, False, True),
    "completed": (False, False, False),
    "cancelled": (False, False, False),
}


def outcome(action: Any) -> str:
    try:
        action()
    except Refused as refused:
        return refused.key
    return "ok"


@pytest.mark.parametrize("status", STATUSES)
def test_what_each_status_allows(status: str) -> None:
    reschedule, cancel, note = ALLOWED[status]
    record = job(status)
    assert outcome(lambda: actions.request_reschedule(record, SLOT["start"], "web", NOW)) == (
        "ok" if reschedule else "refused.cannot_move"
    )
    assert outcome(lambda: actions.request_cancel(record, "moving house", "web", NOW)) == (
        "ok" if cancel else "refused.cannot_cancel"
    )
    assert outcome(lambda: actions.add_note(record, "gate code 1234", "web", NOW)) == (
        "ok" if note else "refused.notes_closed"
    )
    assert actions.can_cancel(record) is cancel
    assert actions.can_note(record) is note


@pytest.mark.parametrize(
    ("slot_start", "values", "refusal"),
    [
        (SLOT["start"], {}, "ok"),
        ("2030-03-04T15:00:00-06:00", {}, "refused.slot_gone"),  # not one of the offered starts
        ("2030-03-04T15:00:00Z", {}, "refused.slot_gone"),  # the same instant written otherwise is not "as given"
        (SLOT["start"], {"reschedule_slots": []}, "refused.cannot_move"),  # nothing offered, no policy
        (SLOT["start"], {actions.RESCHEDULE: {"slot": SLOT}}, "refused.cannot_move"),  # one request at a time
    ],
)
def test_a_reschedule_names_an_offered_slot_once(slot_start: str, values: dict[str, Any], refusal: str) -> None:
    assert outcome(lambda: actions.request_reschedule(job("scheduled", **values), slot_start, "sms", NOW)) == refusal


def test_a_reschedule_request_is_kept_beside_the_window_and_sent_on() -> None:
    before = job("scheduled")
    after, callback = actions.request_reschedule(before, SLOT["start"], "sms", NOW)
    assert callback == {"job_id": "WO-1", "slot": SLOT, "channel": "sms"}
    assert after.values["window"] == WINDOW  # the field system decides
    assert after.values[actions.RESCHEDULE] == {
        "slot": SLOT,
        "channel": "sms",
        "requested_at": iso_utc(NOW),
        "window_before": WINDOW,
    }
    assert actions.RESCHEDULE not in before.values  # the job given is never changed


def test_a_second_cancel_request_is_refused() -> None:
    after, callback = actions.request_cancel(job("scheduled"), "moving house", "web", NOW)
    assert callback == {"job_id": "WO-1", "reason": "moving house", "channel": "web"}
    assert outcome(lambda: actions.request_cancel(after, "again", "web", NOW)) == "refused.cannot_cancel"


def test_notes_keep_the_latest_few() -> None:
    record = job("scheduled")
    for n in range(actions.MAX_NOTES + 3):
        record, _ = actions.add_note(record, f"note {n}", "web", NOW)
    kept = [note["text"] for note in record.values[actions.NOTES]]
    assert kept == [f"note {n}" for n in range(3, actions.MAX_NOTES + 3)]


RATED_AT = "2030-03-01T12:00:00Z"


@pytest.mark.parametrize(
    ("status", "rating", "now", "score", "expected"),
    [
        ("completed", None, NOW, 5, "ok"),
        ("completed", None, NOW, 1, "ok"),
        ("in_progress", None, NOW, 5, "refused.not_completed"),
        ("cancelled", None, NOW, 5, "refused.not_completed"),
        ("completed", {"score": 2, "at": RATED_AT}, NOW + timedelta(hours=23), 4, "ok"),  # changed within a day
        ("completed", {"score": 2, "at": RATED_AT}, NOW + timedelta(days=1), 4, "ok"),  # the last moment
        ("completed", {"score": 2, "at": RATED_AT}, NOW + timedelta(days=1, seconds=1), 4, "refused.already_rated"),
    ],
)
def test_rating_rules(status: str, rating: dict[str, Any] | None, now: datetime, score: int, expected: str) -> None:
    values = {} if rating is None else {actions.RATING: rating}
    record = job(status, **values)
    assert outcome(lambda: actions.rate(record, score, "great", "web", now)) == expected
    assert actions.can_rate(record, now) is (expected == "ok")


@pytest.mark.parametrize("score", [0, 6, -1])
def test_a_score_outside_one_to_five_is_invalid_input(score: int) -> None:
    with pytest.raises(ValueError, match="1 to 5"):
        actions.rate(job("completed"), score, "", "web", NOW)


@pytest.mark.parametrize(
    ("raw", "required", "expected"),
    [
        ("  gate code 1234  ", True, "gate code 1234"),
        (None, False, ""),
        ("", False, ""),
        ("x" * actions.MAX_TEXT, True, "x" * actions.MAX_TEXT),
        ("", True, ValueError),
        ("   ", True, ValueError),
        ("x" * (actions.MAX_TEXT + 1), False, ValueError),
    ],
)
def test_clean_text(raw: object, required: bool, expected: object) -> None:
    if expected is ValueError:
        with pytest.raises(ValueError):
            actions.clean_text(raw, required=required)
    else:
        assert actions.clean_text(raw, required=required) == expected


MOVED = {"start": "2030-03-05T09:00:00-06:00", "end": "2030-03-05T11:00:00-06:00"}
SAME_INSTANTS = {"start": "2030-03-04T15:00:00Z", "end": "2030-03-04T17:00:00Z"}  # SLOT, written in UTC
PENDING = {"slot": SLOT, "channel": "web", "requested_at": RATED_AT, "window_before": WINDOW}
CANCEL_ASKED = {"reason": "moving", "channel": "web", "requested_at": RATED_AT}


@pytest.mark.parametrize(
    ("status", "window", "pending", "cancel", "left"),
    [
        # A reschedule ends when the window changes (to the slot or anything else) or the job closes.
        ("scheduled", WINDOW, PENDING, None, {actions.RESCHEDULE}),
        ("scheduled", SLOT, PENDING, None, set()),
        ("scheduled", SAME_INSTANTS, PENDING, None, set()),
        ("scheduled", MOVED, PENDING, None, set()),
        ("cancelled", WINDOW, PENDING, None, set()),
        # A cancel request ends when the job is cancelled or completed, and only then.
        ("scheduled", WINDOW, None, CANCEL_ASKED, {actions.CANCEL}),
        ("on_hold", MOVED, None, CANCEL_ASKED, {actions.CANCEL}),
        ("cancelled", WINDOW, None, CANCEL_ASKED, set()),
        ("completed", WINDOW, None, CANCEL_ASKED, set()),
        ("scheduled", MOVED, PENDING, CANCEL_ASKED, {actions.CANCEL}),
        ("completed", WINDOW, PENDING, CANCEL_ASKED, set()),
    ],
)
def test_settle_requests(
    status: str, window: dict[str, str], pending: dict[str, Any] | None, cancel: dict[str, Any] | None, left: set[str]
) -> None:
    values: dict[str, Any] = {"window": window}
    if pending is not None:
        values[actions.RESCHEDULE] = pending
    if cancel is not None:
        values[actions.CANCEL] = cancel
    before = job(status, **values)
    settled = actions.settle_requests(before)
    assert {actions.RESCHEDULE, actions.CANCEL} & set(settled.values) == left
    assert settled.values["window"] == window
    if left == {k for k in (actions.RESCHEDULE, actions.CANCEL) if k in values}:
        assert settled is before  # nothing answered: the very same job back
