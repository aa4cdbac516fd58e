"""The SMS reply grammar, case by case."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from portal.core.replies import JobContext, understand

NOW = dt.datetime(2030, 3, 3, 12, 0, tzinfo=dt.UTC)
SLOTS = [
    {"start": "2030-03-04T09:00:00-06:00", "end": "2030-03-04T11:00:00-06:00"},
    {"start": "2030-03-04T13:00:00-06:00", "end": "2030-03-04T15:00:00-06:00"},
    {"start": "2030-03-05T09:00:00-06:00", "end": "2030-03-05T11:00:00-06:00"},
    {"start": "2030-03-06T09:00:00-06:00", "end": "2030-03-06T11:00:00-06:00"},
]
OPEN = JobContext("J1", "10442", "scheduled", SLOTS, summary="Boiler, Mon 9-11")
OTHER = JobContext("J2", "10500", "dispatched", SLOTS[:1], summary="Sink, Tue 1-3")
DONE = JobContext("J0", "10001", "completed", completed_at=NOW - dt.timedelta(hours=2))


def read(text: str, jobs: list[JobContext] | None = None, state: dict[str, Any] | None = None) -> Any:
    return understand(text, [OPEN] if jobs is None else jobs, state, NOW)


@pytest.mark.parametrize(
    "text", ["STOP", "stop", " Stop ", "STOPALL", "unsubscribe", "CANCEL", "cancel", "End", "QUIT", "stop."]
)
def test_opt_out_keywords_opt_out_without_a_reply(text: str) -> None:
    outcome = read(text)
    assert outcome.answer is None
    assert [a.kind for a in outcome.actions] == ["opt_out"]


def test_cancel_never_cancels_an_appointment() -> None:
    outcome = read("CANCEL")
    assert all(a.kind == "opt_out" for a in outcome.actions)


@pytest.mark.parametrize("text", ["START", "unstop", "Yes"])
def test_opt_in_keywords(text: str) -> None:
    outcome = read(text)
    assert outcome.answer is None and [a.kind for a in outcome.actions] == ["opt_in"]


@pytest.mark.parametrize("text", ["HELP", "help", "Info", " INFO ", "ayuda"])
def test_help(text: str) -> None:
    assert read(text).answer == "help"


@pytest.mark.parametrize(
    "text", ["R", "r", "RESCHEDULE", " reschedule ", "R 👍", "Reschedule!", "r.", "Reprogramar", "cambiar"]
)
def test_reschedule_lists_up_to_three_slots(text: str) -> None:
    outcome = read(text)
    assert outcome.answer == "slots"
    assert outcome.answer_data["slots"] == SLOTS[:3]
    assert outcome.state["awaiting"] == "slot"


def test_a_number_after_the_list_requests_that_slot() -> None:
    state = read("R").state
    outcome = read(" 2 ", state=state)
    assert outcome.answer == "reschedule_requested"
    (action,) = outcome.actions
    assert (action.kind, action.job_id, action.data["slot"]) == ("reschedule", "J1", SLOTS[1])
    assert outcome.state is None


def test_a_number_for_a_visit_closed_since_the_list_moves_nothing() -> None:
    state = read("R").state
    finished = JobContext("J1", "10442", "completed", completed_at=NOW)
    for jobs in ([finished], [DONE], []):
        outcome = read("1", jobs=jobs, state=state)
        assert (outcome.answer, outcome.actions, outcome.state) == ("no_open_job", [], None)


def test_a_number_not_offered_is_asked_again() -> None:
    state = read("R").state
    outcome = read("7", state=state)
    assert outcome.answer == "slot_unknown" and not outcome.actions
    assert outcome.state == state


def test_an_old_question_is_forgotten() -> None:
    state = read("R").state
    assert state is not None
    stale = {**state, "at": (NOW - dt.timedelta(days=2)).isoformat()}
    outcome = read("2", state=stale)
    assert outcome.answer == "thanks"
    assert outcome.actions[0].kind == "message"


def test_several_open_jobs_are_told_apart_by_asking() -> None:
    outcome = read("R", jobs=[OPEN, OTHER])
    assert outcome.answer == "which_job"
    assert [c["reference"] for c in outcome.answer_data["choices"]] == ["10442", "10500"]
    picked = read("2", jobs=[OPEN, OTHER], state=outcome.state)
    assert picked.answer == "slots"
    assert picked.state["job_id"] == "J2"
    requested = read("1", jobs=[OPEN, OTHER], state=picked.state)
    assert requested.actions[0].job_id == "J2"


def test_no_slots_to_offer() -> None:
    bare = JobContext("J9", "900", "scheduled")
    assert read("R", jobs=[bare]).answer == "no_slots"


def test_reschedule_while_a_request_waits_says_so_and_offers_nothing() -> None:
    waiting = JobContext("J1", "10442", "scheduled", [], pending_slot=SLOTS[1])
    outcome = read("R", jobs=[waiting])
    assert outcome.answer == "reschedule_pending" and outcome.state is None
    assert outcome.answer_data == {"reference": "10442", "slot": SLOTS[1]}
    assert outcome.actions == []


def test_a_rating_that_may_still_change_is_replaced_by_a_texted_one() -> None:
    rated_today = JobContext("J0", "10001", "completed", completed_at=NOW - dt.timedelta(hours=2))
    outcome = read("5", jobs=[rated_today])
    assert outcome.answer == "rating_thanks" and outcome.actions[0].data["score"] == 5
    final = JobContext("J0", "10001", "completed", completed_at=NOW - dt.timedelta(hours=2), rated=True)
    assert read("5", jobs=[final]).answer == "thanks"


def test_no_open_job() -> None:
    assert read("R", jobs=[DONE]).answer == "no_open_job"
    assert read("R", jobs=[]).answer == "no_open_job"


@pytest.mark.parametrize(
    ("text", "score", "comment"),
    [
        ("5", 5, ""),
        (" 4 ", 4, ""),
        ("5 great job, thanks!", 5, "great job, thanks!"),
        ("3 stars", 3, ""),
        ("2/5 late and messy", 2, "late and messy"),
        ("1 - never again", 1, "never again"),
    ],
)
def test_a_digit_after_a_rating_request_is_the_rating(text: str, score: int, comment: str) -> None:
    outcome = read(text, jobs=[DONE])
    assert outcome.answer == "rating_thanks"
    (action,) = outcome.actions
    assert (action.kind, action.job_id, action.data["score"], action.data["comment"]) == (
        "rating",
        "J0",
        score,
        comment,
    )


@pytest.mark.parametrize("text", ["6", "0", "55"])
def test_digits_outside_one_to_five_are_not_ratings(text: str) -> None:
    assert read(text, jobs=[DONE]).actions[0].kind == "message"


def test_a_digit_without_a_rating_request_is_just_a_message() -> None:
    assert read("5").actions[0].kind == "message"
    rated = JobContext("J0", "1", "completed", completed_at=NOW, rated=True)
    assert read("5", jobs=[rated]).actions[0].kind == "message"
    old = JobContext("J0", "1", "completed", completed_at=NOW - dt.timedelta(days=30))
    assert read("5", jobs=[old]).actions[0].kind == "message"


@pytest.mark.parametrize("text", ["The gate code is 1234", "🐶 in the yard", "Can you come earlier?", "stop by at 5"])
def test_anything_else_is_passed_on_and_acknowledged(text: str) -> None:
    outcome = read(text)
    assert outcome.answer == "thanks"
    (action,) = outcome.actions
    assert (action.kind, action.job_id, action.data["text"]) == ("message", "J1", text)


# -- properties over any text (Hypothesis) ---------------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from portal.core.replies import OPT_OUT, keyword  # noqa: E402

KINDS = {"reschedule", "rating", "message", "opt_out", "opt_in"}
CONTEXTS = st.sampled_from([[OPEN], [OPEN, OTHER], [DONE], [DONE, OPEN], []])
STATES = st.sampled_from(
    [
        None,
        {"awaiting": "slot", "job_id": "J1", "slots": SLOTS[:3], "at": NOW.isoformat()},
        {"awaiting": "job", "then": "reschedule", "choices": ["J1", "J2"], "at": NOW.isoformat()},
        {"awaiting": "slot", "job_id": "J1", "slots": SLOTS[:3], "at": (NOW - dt.timedelta(days=2)).isoformat()},
    ]
)


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=200), jobs=CONTEXTS, state=STATES)
def test_any_text_is_read_as_one_known_outcome(text: str, jobs: list[JobContext], state: Any) -> None:
    outcome = understand(text, jobs, state, NOW)
    assert outcome.understood and all(action.kind in KINDS for action in outcome.actions)
    for action in outcome.actions:
        assert action.job_id is None or action.job_id in {job.job_id for job in jobs}
        if action.kind == "rating":
            assert action.data["score"] in range(1, 6)
        if action.kind == "message":
            assert action.data["text"] == text.strip()  # kept as sent, for staff to read


@settings(max_examples=200, deadline=None)
@given(
    word=st.sampled_from(sorted(OPT_OUT)),
    before=st.text(alphabet=" \t\n.!?,", max_size=3),
    after=st.text(alphabet=" \t\n.!?,", max_size=3),
    case=st.sampled_from([str.lower, str.upper, str.title]),
)
def test_an_opt_out_word_stops_whatever_its_case_and_punctuation(word: str, before: str, after: str, case: Any) -> None:
    text = before + case(word) + after
    assert keyword(text) == word
    for jobs in ([OPEN], [DONE], []):
        assert [action.kind for action in understand(text, jobs, None, NOW).actions] == ["opt_out"]
