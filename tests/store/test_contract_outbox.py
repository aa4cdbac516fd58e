"""The outbox queue and delivery records, the same on every backend."""

from __future__ import annotations

import datetime as dt

import pytest

from portal.core.jobs import FieldEvent, Job, apply_event, iso_utc
from portal.store.base import Decision, Message, OutboxItem, Settlement, Store

pytestmark = pytest.mark.anyio
T0 = dt.datetime(2030, 3, 3, 12, 0, tzinfo=dt.UTC)
KINDS = ("sms", "email")


def at(seconds: float) -> str:
    return iso_utc(T0 + dt.timedelta(seconds=seconds))


async def queue(store: Store, *items: OutboxItem, job_id: str = "J1") -> int:
    event = FieldEvent(f"w-{len(items)}-{items[0].dedup_key}", "job.updated", T0, {"job": {"id": job_id}})

    def decide(before: Job | None) -> Decision:
        return Decision(apply_event(before, event), outbox=list(items))

    return (await store.change_job(job_id, decide)).queued


def sms(key: str, not_before: str | None = at(0)) -> OutboxItem:
    return OutboxItem(key, "sms", "J1", {"to": "+13125550142", "message": key}, not_before)


def message(body: str = "hello") -> Message:
    return Message(0, "J1", "sms", "out", "+13125550142", None, body, "queued", None, None, {}, at(0), at(0))


async def test_claims_due_rows_once_until_the_lease_runs_out(store: Store) -> None:
    assert await queue(store, sms("a"), sms("b"), sms("later", at(600))) == 3
    first = await store.claim_outbox(KINDS, at(1), at(31), 10)
    assert [r.dedup_key for r in first] == ["a", "b"] and {r.attempts for r in first} == {1}
    assert await store.claim_outbox(KINDS, at(2), at(32), 10) == []
    assert await store.outbox_depth() == 3 and await store.outbox_counts() == {"sms": 3}
    assert await store.next_outbox_due(KINDS) == at(31)
    taken_over = await store.claim_outbox(KINDS, at(40), at(70), 1)
    assert [(r.dedup_key, r.attempts) for r in taken_over] == [("a", 2)]
    assert await store.claim_outbox(("email",), at(40), at(70), 10) == []


async def test_settling_finishes_or_reschedules(store: Store) -> None:
    await queue(store, sms("a"), sms("b"))
    a, b = await store.claim_outbox(KINDS, at(1), at(31), 10)
    await store.settle_outbox(Settlement(a.id, "done"), at(2))
    await store.settle_outbox(Settlement(b.id, "pending", next_attempt_at=at(10), error="timeout"), at(2))
    assert await store.outbox_depth() == 1
    assert await store.next_outbox_due(KINDS) == at(10)
    assert await store.claim_outbox(KINDS, at(5), at(35), 10) == []
    (retry,) = await store.claim_outbox(KINDS, at(10), at(40), 10)
    assert retry.dedup_key == "b" and retry.attempts == 2 and retry.last_error == "timeout"
    await store.settle_outbox(Settlement(retry.id, "dead", error="gave up"), at(11))
    rows = {r.dedup_key: r for r in await store.list_outbox("J1")}
    assert rows["a"].state == "done" and rows["b"].state == "dead" and rows["b"].last_error == "gave up"
    assert await store.outbox_depth() == 0 and await store.next_outbox_due(KINDS) is None


async def test_follow_ups_are_queued_once(store: Store) -> None:
    await queue(store, sms("a"))
    (row,) = await store.claim_outbox(KINDS, at(1), at(31), 10)
    fallback = OutboxItem("a:fallback", "email", "J1", {"to": "m@example.com"})
    await store.settle_outbox(Settlement(row.id, "failed", error="21211", follow_ups=(fallback, fallback)), at(2))
    assert await store.outbox_counts() == {"email": 1}
    assert await queue(store, fallback) == 0


async def test_message_history_of_an_outbox_row(store: Store) -> None:
    await queue(store, sms("a"))
    (row,) = await store.claim_outbox(KINDS, at(1), at(31), 10)
    message_id = await store.begin_message(row.id, message("first try"))
    assert await store.begin_message(row.id, message("second try")) == message_id
    settled = Settlement(row.id, "done", message_id=message_id, message_status="sent", provider_id="SM1")
    await store.settle_outbox(settled, at(2))
    (stored,) = await store.list_messages("J1")
    assert (stored.id, stored.body, stored.status, stored.provider_id) == (message_id, "second try", "sent", "SM1")
    delivered = await store.update_message_status("SM1", "delivered", None, at(3))
    assert delivered is not None and delivered.status == "delivered"
    late = await store.update_message_status("SM1", "sent", None, at(4))
    assert late is not None and late.status == "delivered"  # never backwards
    assert await store.update_message_status("SM-unknown", "delivered", None, at(4)) is None


async def test_opt_outs(store: Store) -> None:
    assert not await store.is_opted_out("+13125550142")
    await store.set_opt_out("+13125550142", True, "keyword", at(0))
    await store.set_opt_out("+13125550142", True, "keyword", at(1))
    assert await store.is_opted_out("+13125550142")
    await store.set_opt_out("+13125550142", False, "keyword", at(2))
    assert not await store.is_opted_out("+13125550142")


async def test_a_settlement_from_a_claim_whose_lease_ran_out_is_ignored(store: Store) -> None:
    await queue(store, sms("a"))
    (first,) = await store.claim_outbox(KINDS, at(1), at(31), 10)
    message_id = await store.begin_message(first.id, message())
    (second,) = await store.claim_outbox(KINDS, at(40), at(70), 10)  # the first worker's lease ran out
    assert (first.lease_until, second.lease_until) == (at(31), at(70))
    fallback = OutboxItem("a:fallback", "email", "J1", {"to": "m@example.com"})
    stale = Settlement(
        first.id,
        "pending",
        next_attempt_at=at(45),
        error="timeout",
        message_id=message_id,
        message_status="failed",
        follow_ups=(fallback,),
        lease_until=first.lease_until,
    )
    assert not await store.settle_outbox(stale, at(41))
    (row,) = await store.list_outbox("J1")
    assert (row.state, row.attempts, row.last_error, row.lease_until) == ("pending", 2, None, at(70))
    assert await store.next_outbox_due(KINDS) == at(70) and await store.outbox_counts() == {"sms": 1}
    assert [m.status for m in await store.list_messages("J1")] == ["queued"]
    assert await store.settle_outbox(Settlement(second.id, "done", lease_until=second.lease_until), at(42))
    late = Settlement(first.id, "pending", next_attempt_at=at(50), error="timeout", lease_until=first.lease_until)
    assert not await store.settle_outbox(late, at(43))  # settled since: still nothing to undo
    (row,) = await store.list_outbox("J1")
    assert (row.state, row.lease_until) == ("done", None)
    assert await store.claim_outbox(KINDS, at(100), at(130), 10) == []


async def test_a_lease_is_extended_only_by_the_claim_that_holds_it(store: Store) -> None:
    await queue(store, sms("a"))
    (first,) = await store.claim_outbox(KINDS, at(1), at(31), 10)
    assert first.lease_until is not None
    assert await store.extend_lease(first.id, first.lease_until, at(61))
    assert await store.claim_outbox(KINDS, at(40), at(70), 10) == []  # held past the first lease
    assert await store.next_outbox_due(KINDS) == at(61)
    assert not await store.extend_lease(first.id, first.lease_until, at(91))  # that lease is gone
    (second,) = await store.claim_outbox(KINDS, at(62), at(92), 10)  # the extended lease ran out
    assert not await store.extend_lease(first.id, at(61), at(120))  # taken over: not the first's
    assert await store.settle_outbox(Settlement(second.id, "done", lease_until=second.lease_until), at(63))
    assert not await store.extend_lease(second.id, at(92), at(150))  # settled: nothing to hold
    (row,) = await store.list_outbox("J1")
    assert (row.state, row.lease_until) == ("done", None)
