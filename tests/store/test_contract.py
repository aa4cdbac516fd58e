"""What every store must do, whatever it is built on."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest

from portal.core.jobs import FieldEvent, Job, apply_event, iso_utc
from portal.store.base import EVENT_LOG_CAP, Decision, Message, OutboxItem, Rejection, Store

pytestmark = pytest.mark.anyio
NOW = dt.datetime(2030, 3, 3, 12, 0, tzinfo=dt.UTC)


def updated(job_id: str, seconds: int = 0, **fields: Any) -> FieldEvent:
    return FieldEvent(
        f"w-{job_id}-{seconds}", "job.updated", NOW + dt.timedelta(seconds=seconds), {"job": {"id": job_id, **fields}}
    )


def decide_with(event: FieldEvent, events: int = 1, outbox: list[OutboxItem] | None = None) -> Any:
    def decide(before: Job | None) -> Decision:
        after = apply_event(before, event)
        return Decision(after, [("job", {"n": n}) for n in range(events)], outbox or [])

    return decide


async def test_change_creates_a_job_with_a_link_key(store: Store) -> None:
    result = await store.change_job("J1", decide_with(updated("J1", status="scheduled")), webhook_id="w1")
    assert not result.duplicate
    record = await store.get_job("J1")
    assert record is not None
    assert record.job.status == "scheduled"
    assert len(record.link_key) >= 12
    assert record.last_seq == 1
    assert [e.seq for e in result.events] == [1]


async def test_a_known_webhook_id_changes_nothing(store: Store) -> None:
    await store.change_job("J1", decide_with(updated("J1", status="scheduled")), webhook_id="w1")
    again = await store.change_job("J1", decide_with(updated("J1", 5, status="completed")), webhook_id="w1")
    assert again.duplicate and again.events == []
    record = await store.get_job("J1")
    assert record is not None and record.job.status == "scheduled"


async def test_event_sequence_continues_per_job(store: Store) -> None:
    await store.change_job("J1", decide_with(updated("J1"), events=2))
    second = await store.change_job("J1", decide_with(updated("J1", 1), events=3))
    assert [e.seq for e in second.events] == [3, 4, 5]
    other = await store.change_job("J2", decide_with(updated("J2")))
    assert [e.seq for e in other.events] == [1]
    assert [e.seq for e in await store.events_after("J1", 2) or []] == [3, 4, 5]
    assert await store.events_after("J1", 5) == []


ODD_TEXT = 'Zoë "O\'Brien" \\ <b>&amp;</b> \x00\x07\t\n 👷🏽\u200b 中文 \U0010fffd'


async def test_odd_text_and_numbers_come_back_exactly_as_stored(store: Store) -> None:
    """Control characters, quotes, backslashes, emoji and large or fractional numbers, in the job
    and in its events: Redis writes them through a script that reads the commands as JSON."""
    fields = {"status": "scheduled", "service": ODD_TEXT, "notes": {"n": 2**53 + 1, "x": 0.1 + 0.2, "neg": -1e-7}}
    data = {"text": ODD_TEXT, "big": 2**63 - 1, "small": -(2**63), "pi": 3.141592653589793}

    def decide(before: Job | None) -> Decision:
        return Decision(apply_event(before, updated("J1", **fields)), [("job", data)], [])

    result = await store.change_job("J1", decide, webhook_id=ODD_TEXT)
    record = await store.get_job("J1")
    assert record is not None
    assert record.job.values["service"] == ODD_TEXT
    assert record.job.values["notes"] == fields["notes"]
    assert [e.data for e in await store.events_after("J1", 0) or []] == [data] == [e.data for e in result.events]
    again = await store.change_job("J1", decide, webhook_id=ODD_TEXT)
    assert again.duplicate


async def test_a_failing_decision_writes_nothing(store: Store) -> None:
    def explode(before: Job | None) -> Decision:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await store.change_job("J1", explode, webhook_id="w-explode")
    assert await store.get_job("J1") is None
    # The webhook id was not consumed either: a retry of the same webhook is processed.
    result = await store.change_job("J1", decide_with(updated("J1")), webhook_id="w-explode")
    assert not result.duplicate


async def test_the_event_log_is_capped_and_says_so(store: Store) -> None:
    await store.change_job("J1", decide_with(updated("J1"), events=EVENT_LOG_CAP + 10))
    assert await store.events_after("J1", 0) is None  # the start is gone: caller takes a snapshot
    recent = await store.events_after("J1", 20)
    assert recent is not None and recent[0].seq == 21 and recent[-1].seq == EVENT_LOG_CAP + 10


async def test_links_resolve_and_rotate(store: Store) -> None:
    await store.change_job("J1", decide_with(updated("J1")))
    record = await store.get_job("J1")
    assert record is not None
    found = await store.resolve_link(record.link_key)
    assert found.record is not None and found.record.job.id == "J1"
    new_key = await store.rotate_link_key("J1")
    assert new_key and new_key != record.link_key
    old = await store.resolve_link(record.link_key)
    assert old.record is None and old.revoked
    assert (await store.resolve_link(new_key)).record is not None
    unknown = await store.resolve_link("never-issued")
    assert unknown.record is None and not unknown.revoked
    assert await store.rotate_link_key("missing-job") is None


async def test_rejections_are_listed_newest_first(store: Store) -> None:
    for n in range(3):
        await store.record_rejection(Rejection(iso_utc(NOW), 400, f"reason {n}", f"w{n}", None, "{}"))
    listed = await store.list_rejections(limit=2)
    assert [r.reason for r in listed] == ["reason 2", "reason 1"]


async def test_messages_are_kept_in_order(store: Store) -> None:
    await store.change_job("J1", decide_with(updated("J1")))
    stamp = iso_utc(NOW)
    for body in ("first", "second"):
        message = Message(0, "J1", "sms", "out", "+13125550142", None, body, "queued", None, None, {}, stamp, stamp)
        assert await store.add_message(message) > 0
    assert [m.body for m in await store.list_messages("J1")] == ["first", "second"]
    assert await store.list_messages("J2") == []


async def test_outbox_rows_with_the_same_dedup_key_are_written_once(store: Store) -> None:
    item = OutboxItem("J1:scheduled:sms", "sms", "J1", {"template": "scheduled"})
    await store.change_job("J1", decide_with(updated("J1"), outbox=[item]))
    await store.change_job("J1", decide_with(updated("J1", 1), outbox=[item]))
    # Read back through whatever the backend offers for the outbox, if anything yet.
    depth = getattr(store, "outbox_depth", None)
    if depth is not None:
        assert await depth() == 1


async def test_maintenance_forgets_old_webhook_ids(store: Store) -> None:
    await store.change_job("J1", decide_with(updated("J1")), webhook_id="old")
    later = iso_utc(dt.datetime.now(dt.UTC) + dt.timedelta(hours=200))
    await store.maintain(later)
    again = await store.change_job("J1", decide_with(updated("J1", 1)), webhook_id="old")
    assert not again.duplicate


async def test_ping(store: Store) -> None:
    await store.ping()


async def test_a_delivery_id_is_claimed_once(store: Store) -> None:
    claims = await asyncio.gather(*(store.claim_delivery_id("twilio-sms:SM1") for _ in range(5)))
    assert sorted(claims) == [False, False, False, False, True]
    assert await store.claim_delivery_id("twilio-sms:SM2")
