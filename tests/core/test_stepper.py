"""The five steps of a visit from its status and timeline."""

from __future__ import annotations

from portal.core.stepper import stepper


def states(status: str, timeline: list[dict[str, str]] | None = None) -> list[str]:
    return [s["state"] for s in stepper(status, timeline or [])]


def test_each_status_marks_its_step_current_and_the_earlier_ones_done() -> None:
    assert states("scheduled") == ["current", "upcoming", "upcoming", "upcoming", "upcoming"]
    assert states("en_route") == ["done", "done", "current", "upcoming", "upcoming"]
    assert states("completed") == ["done", "done", "done", "done", "current"]


def test_a_held_visit_stays_at_the_step_it_reached_and_a_cancelled_one_has_none() -> None:
    timeline = [
        {"status": "scheduled", "at": "t1"},
        {"status": "dispatched", "at": "t2"},
        {"status": "on_hold", "at": "t3"},
    ]
    assert states("on_hold", timeline) == ["done", "current", "upcoming", "upcoming", "upcoming"]
    assert stepper("cancelled", timeline) == []


def test_steps_carry_when_they_were_reached_and_later_steps_none() -> None:
    timeline = [
        {"status": "scheduled", "at": "t1"},
        {"status": "en_route", "at": "t2"},
        {"status": "scheduled", "at": "t3"},
    ]
    steps = stepper("scheduled", timeline)
    assert [s["at"] for s in steps] == ["t3", None, None, None, None]
