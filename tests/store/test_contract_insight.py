"""The attention queue and the statistics counters, kept by writes, the same on every backend."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import pytest

from portal.core.jobs import FieldEvent, Job, apply_event, iso_utc
from portal.core.tallies import bucket_of
from portal.store.base import AuditEntry, Decision, Message, OutboxItem, Settlement
from portal.store.insight import recent_calibration

pytestmark = pytest.mark.anyio
T0 = dt.datetime(2030, 3, 3, 12, 0, tzinfo=dt.UTC)
LATER = "2999-01-01T00:00:00.000000Z"  # after anything the real clock stamps during the test
SERIAL = itertools.count()
PHONE = {"name": "Ann", "phone": "+13125550142"}


def at(minutes: float) -> str:
    return iso_utc(T0 + dt.timedelta(minutes=minutes))


async def change(store: Any, job_id: str, edit: Any = None, outbox: list[OutboxItem] | None = None, **job: Any) -> Any:
    """One change: a ``job.updated`` with ``job`` fields, then ``edit`` on the job's values."""
    serial = next(SERIAL)  # each change is newer than the last, so its fields win
    occurred = T0 + dt.timedelta(seconds=serial)
    event = FieldEvent(f"w-{serial}", "job.updated", occurred, {"job": {"id": job_id, **job}})

    def decide(before: Job | None) -> Decision:
        after = apply_event(before, event) if job else (before or Job(job_id)).copy()
        if edit is not None:
            edit(after.values)
        return Decision(after, outbox=list(outbox or []))

    return await store.change_job(job_id, decide)


async def reasons(store: Any, now: str = LATER) -> dict[str, tuple[str, ...]]:
    items, total = await store.attention(now)
    assert total == len(items)
    return {item.job_id: item.reasons for item in items}


def audit(job_id: str) -> AuditEntry:
    return AuditEntry(at=at(0), username="sam", action="acknowledge", job_id=job_id)


async def test_late_enters_and_leaves_with_the_visit(store: Any) -> None:
    window = {"start": at(-120), "end": at(-60)}
    mark = {"window_end": window["end"], "eta": None, "seen_at": at(-55)}
    result = await change(
        store, "J", lambda v: v.update({"portal.late": mark}), status="en_route", window=window, customer=PHONE
    )
    assert result.attention
    assert await reasons(store) == {"J": ("late",)}
    (item,), _ = await store.attention(LATER)
    assert item.since == at(-55) and item.reference == "J"
    await change(store, "J", status="in_progress")
    assert await reasons(store) == {}


async def test_contact_invalid_until_an_address_arrives(store: Any) -> None:
    await change(store, "J", customer={"name": "Ann", "phone": "not a number", "email": "a@b.example, c@d.example"})
    assert await reasons(store) == {"J": ("contact_invalid",)}
    await change(store, "J", customer={"email": "ann@example.com"})
    assert await reasons(store) == {}


@pytest.mark.parametrize(
    ("key", "reason"), [("portal.reschedule", "reschedule_pending"), ("portal.cancel", "cancel_pending")]
)
async def test_a_request_needs_attention_an_hour_later_until_answered(store: Any, key: str, reason: str) -> None:
    await change(store, "J", lambda v: v.update({key: {"requested_at": at(0)}}), customer=PHONE)
    assert await reasons(store, at(59)) == {}
    assert await store.next_attention_due(at(59)) == at(60)
    assert await reasons(store, at(60)) == {"J": (reason,)}

    def answered(values: dict[str, Any]) -> None:
        del values[key]

    await change(store, "J", answered)
    assert await reasons(store) == {} and await store.next_attention_due(at(0)) is None


async def test_a_low_rating_and_a_customer_message_stay_until_acknowledged(store: Any) -> None:
    rating = {"score": 2, "comment": "late", "channel": "web", "at": at(5)}
    await change(store, "J", lambda v: v.update({"portal.rating": rating}), customer=PHONE, status="completed")
    text = OutboxItem("m1", "callback", "J", {"type": "customer.message", "data": {"job_id": "J", "text": "?"}})
    await change(store, "J", outbox=[text])
    assert await reasons(store) == {"J": ("customer_message", "low_rating")}
    assert sorted(await store.acknowledge("J", LATER, audit("J"))) == ["customer_message", "low_rating"]
    assert await reasons(store) == {}
    (entry, *_) = await store.list_audit(limit=5, job_id="J")
    assert entry.action == "acknowledge" and entry.detail == "customer_message, low_rating"
    # The same state again is no new occurrence; another message is.
    await change(store, "J", lambda v: v.update({"note": 1}))
    assert await reasons(store) == {}
    again = OutboxItem("m2", "callback", "J", {"type": "customer.message", "data": {"job_id": "J", "text": "??"}})
    await change(store, "J", outbox=[again])
    assert await reasons(store) == {"J": ("customer_message",)}


async def test_acknowledge_leaves_reasons_not_yet_due(store: Any) -> None:
    await change(store, "J", lambda v: v.update({"portal.cancel": {"requested_at": at(0)}}), customer={"name": "x"})
    assert await store.acknowledge("J", at(10), audit("J")) == ["contact_invalid"]
    assert await reasons(store, at(61)) == {"J": ("cancel_pending",)}


async def test_one_jobs_reasons_due_now_for_its_page(store: Any) -> None:
    await change(store, "J", lambda v: v.update({"portal.cancel": {"requested_at": at(0)}}), customer={"name": "x"})
    await change(store, "K", customer={"name": "no contact either"})
    assert len((await store.attention(LATER))[0]) == 2
    found = await store.job_attention("J", at(10))
    assert found is not None and found.reasons == ("contact_invalid",) and found.job_id == "J"
    later = await store.job_attention("J", at(61))
    assert later is not None and later.reasons == ("cancel_pending", "contact_invalid")
    assert later.details["cancel_pending"] == at(60) and later.since == found.since
    await store.acknowledge("J", at(61), audit("J"))
    assert await store.job_attention("J", at(61)) is None and await store.job_attention("nobody", LATER) is None
    assert await store.job_attention("K", LATER) is not None


async def test_a_failed_message_raises_message_failed_by_settlement_or_report(store: Any) -> None:
    item = OutboxItem("s1", "sms", "J", {"to": PHONE["phone"]}, at(0))
    await change(store, "J", outbox=[item], customer=PHONE)
    (row,) = await store.claim_outbox(("sms",), at(1), at(2), 5)
    msg = Message(0, "J", "sms", "out", PHONE["phone"], None, "hi", "queued", None, None, {}, at(1), at(1))
    message_id = await store.begin_message(row.id, msg)
    await store.settle_outbox(
        Settlement(row.id, "done", message_id=message_id, message_status="sent", provider_id="SM1"), at(1)
    )
    assert await reasons(store) == {}
    await store.update_message_status("SM1", "undelivered", "30003", at(2))
    assert await reasons(store) == {"J": ("message_failed",)}
    await store.acknowledge("J", LATER, audit("J"))
    failed = OutboxItem("s1:failed", "callback", "J", {"type": "message.failed", "data": {"job_id": "J"}})
    await change(store, "J", outbox=[failed])
    assert await reasons(store) == {"J": ("message_failed",)}


async def test_most_urgent_first_then_longest_waiting(store: Any) -> None:
    await change(store, "A", customer={"name": "no contact"})
    await change(store, "B", customer={"name": "no contact either"})
    window = {"start": at(-120), "end": at(-60)}
    mark = {"window_end": window["end"], "eta": None, "seen_at": at(-55)}
    await change(
        store, "C", lambda v: v.update({"portal.late": mark}), status="scheduled", window=window, customer=PHONE
    )
    items, total = await store.attention(LATER, limit=2)
    assert [i.job_id for i in items] == ["C", "A"] and total == 3


async def test_counters_follow_jobs_ratings_arrivals_and_messages(store: Any) -> None:
    shown = {"trip": "x", "shown": [{"lead": 15, "at": at(20), "start": at(15), "end": at(25), "source": "position"}]}
    await change(store, "J", lambda v: v.update({"portal.eta_log": shown}), customer=PHONE, status="en_route")
    event = FieldEvent(
        "arrive", "job.status_changed", T0 + dt.timedelta(minutes=23), {"job_id": "J", "status": "in_progress"}
    )
    await store.change_job("J", lambda before: Decision(apply_event(before, event)))
    rating = {"score": 4, "comment": "", "channel": "web", "at": at(90)}
    await change(store, "J", lambda v: v.update({"portal.rating": rating}))
    edges = [bucket_of(at(-60)), bucket_of(at(30)), bucket_of(at(120))]
    rows = await store.tallies(edges)
    assert {(day, name) for day, name, _ in rows} >= {(0, "jobs"), (0, "arrivals"), (1, "ratings")}
    totals: dict[str, float] = {}
    for _, name, amount in rows:
        totals[name] = totals.get(name, 0) + amount
    assert totals == {
        "jobs": 1,
        "arrivals": 1,
        "eta_within": 1,
        "eta_error.30": 1,
        "ratings": 1,
        "rating_sum": 4,
        "rating.4": 1,
    }
    # A rating changed within the day moves from one score to the other.
    better = {**rating, "score": 5}
    await change(store, "J", lambda v: v.update({"portal.rating": better}))
    after = {name: 0.0 for _, name, _ in rows}
    for _, name, amount in await store.tallies(edges):
        after[name] = after.get(name, 0) + amount
    assert after["ratings"] == 1 and after["rating_sum"] == 5 and after["rating.4"] == 0 and after["rating.5"] == 1


async def test_purge_takes_the_job_out_of_the_queue(store: Any) -> None:
    await change(store, "J", customer={"name": "no contact"}, status="completed")
    rating = {"score": 1, "comment": "", "channel": "web", "at": at(0)}
    await change(store, "J", lambda v: v.update({"portal.rating": rating}))
    assert await reasons(store) == {"J": ("low_rating",)}
    assert await store.purge_closed_jobs(LATER, 10) == 1
    assert await reasons(store) == {}


async def test_arrivals_build_the_calibrated_range_table(store: Any) -> None:
    # 25 drives: each shown "route, 15 minutes out" at minute 0, arriving 1-3 minutes late.
    for n in range(25):
        job_id = f"C{n}"
        entry = {"at": at(15), "start": at(12), "end": at(18), "source": "route", "recorded_at": at(0)}
        shown = {"trip": "x", "shown": [{"lead": "first", **entry}, {"lead": 15, **entry}]}
        await change(store, job_id, lambda v, s=shown: v.update({"portal.eta_log": s}), status="en_route")
        late = T0 + dt.timedelta(minutes=16 + 2 * n / 24)
        event = FieldEvent(f"arrive-{n}", "job.status_changed", late, {"job_id": job_id, "status": "in_progress"})
        await store.change_job(job_id, lambda before, e=event: Decision(apply_event(before, e)))
    table = await recent_calibration(store, T0 + dt.timedelta(days=1))
    assert table.arrivals == 25 and set(table.cells) == {("route", 15)}
    low, _, high = table.cells[("route", 15)]
    assert low == pytest.approx(0.0667 + 0.1 * 0.1333, abs=0.011)  # 1.2 of 15 minutes late
    assert high == pytest.approx(0.0667 + 0.9 * 0.1333, abs=0.011)  # 2.8 of 15 minutes late
    assert (await recent_calibration(store, T0 + dt.timedelta(days=200))).arrivals == 0  # too long ago
