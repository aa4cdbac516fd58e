"""The queue's order, computed from due rows alone (pure): the most urgent reason, then the longest wait."""

from __future__ import annotations

from portal.core.attention import item_of, queue_order, ranked


def test_most_urgent_reason_first_then_longest_waiting_then_job_id() -> None:
    rows = [
        ("B", "low_rating", 100),
        ("A", "low_rating", 100),
        ("C", "contact_invalid", 300),
        ("B", "late", 400),  # B's most urgent reason is late, even though it came last
        ("D", "someday_reason", 1),  # a reason from a newer version: not shown
        ("E", "contact_invalid", 200),
    ]
    order = ranked(rows)
    assert [job_id for job_id, _ in order] == ["B", "E", "C", "A"]
    assert order[0] == ("B", {"low_rating": 100, "late": 400})


def test_text_and_microsecond_sinces_rank_alike() -> None:
    text = [("A", "low_rating", "2030-03-03T12:00:00.000000Z"), ("B", "low_rating", "2030-03-03T11:00:00.000000Z")]
    micros = [("A", "low_rating", 1_900_000_000_000_000), ("B", "low_rating", 1_899_999_996_400_000)]
    assert [j for j, _ in ranked(text)] == [j for j, _ in ranked(micros)] == ["B", "A"]
    (first, second) = queue_order(text)
    assert first == item_of("B", {"low_rating": "2030-03-03T11:00:00.000000Z"})
    assert second.reasons == ("low_rating",) and second.since == "2030-03-03T12:00:00.000000Z"
    item = item_of("J", {"low_rating": "2030-03-03T12:00:00.000000Z", "late": "2030-03-03T12:30:00.000000Z"})
    assert item.reasons == ("late", "low_rating") and item.since == "2030-03-03T12:00:00.000000Z"
