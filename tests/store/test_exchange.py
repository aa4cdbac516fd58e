"""Each backend exports and imports the one record format of ``exchange.py``, in process.

``test_transfer.py`` runs ``portal migrate-store`` end to end; this checks the format itself:
every record has the fields ``exchange.FIELDS`` names and only plain JSON values, and a
record that goes into the other backend comes out of it the same.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from portal.core.jobs import Job, iso_utc, parse_iso
from portal.store.base import EVENT_LOG_CAP, AuditEntry, Decision, Message, OutboxItem, Rejection, Settlement, Store
from portal.store.exchange import FIELDS, KINDS, Record
from portal.store.redis.store import RedisStore
from portal.store.sqlite.store import SQLiteStore

pytestmark = pytest.mark.anyio
NOW = dt.datetime.now(dt.UTC)
CAPPED = EVENT_LOG_CAP + 2


def at(seconds: int) -> str:
    return iso_utc(NOW + dt.timedelta(seconds=seconds))


def booked(before: Job | None) -> Decision:
    job = Job("WO-7", {"reference": 10442, "customer.name": "Dana Q", "customer.phone_e164": "+13125550199"})
    sms = OutboxItem("WO-7:booked:sms", "sms", "WO-7", {"message": "booking_confirmed"}, at(-5))
    return Decision(job, [("job", {"n": 1}), ("status", {"n": 2})], [sms])


async def fill(store: Store) -> None:
    """One record, at least, of every kind."""
    await store.change_job("WO-7", booked, webhook_id="w-7")
    await store.rotate_link_key("WO-7")
    (row,) = await store.claim_outbox(("sms",), at(0), at(30), 10)
    message = Message(0, "WO-7", "sms", "out", "+13125550199", None, "Booked", "queued", None, None, {}, at(0), at(0))
    message_id = await store.begin_message(row.id, message)
    settled = Settlement(row.id, "done", message_id=message_id, message_status="sent", provider_id="SM7")
    await store.settle_outbox(settled, at(1))
    await store.record_rejection(Rejection(at(2), 401, "bad_signature", None, None, None))
    await store.set_opt_out("+13125550198", True, "keyword", at(3))
    await store.set_conversation("+13125550199", {"asked": "rating", "job_id": "WO-7"}, at(-60))
    await store.save_staff_account("dana", "hash", "America/Chicago")
    await store.add_audit(AuditEntry(at(4), "dana", "view_job", "WO-7", "127.0.0.1", "page"))
    # A job whose event log reached its cap: the events it keeps are copied all the same.
    await store.change_job("WO-8", lambda job: Decision(Job("WO-8"), [("job", {"n": n}) for n in range(CAPPED)]))


async def export(store: Store) -> dict[str, list[Record]]:
    return {kind: [record async for record in store.export_records(kind)] for kind in KINDS}


async def copy(source: dict[str, list[Record]], target: Store) -> None:
    assert await target.is_empty()
    for kind in KINDS:
        for record in source[kind]:
            await target.import_record(kind, record)


# Redis keeps a conversation's write time only as its key's expiry, in whole seconds, read
# back as the time it implies: a copy through Redis moves it by those seconds, no more.
CONVERSATION_DRIFT = dt.timedelta(seconds=5)


def comparable(records: dict[str, list[Record]]) -> dict[str, list[Record]]:
    return {**records, "conversations": [{**r, "updated_at": None} for r in records["conversations"]]}


def drift(copied: dict[str, list[Record]], original: dict[str, list[Record]]) -> dt.timedelta:
    (before,), (after,) = original["conversations"], copied["conversations"]
    return abs(parse_iso(after["updated_at"]) - parse_iso(before["updated_at"]))


async def opened(store: Store) -> Store:
    await store.open()
    return store


async def test_records_have_the_named_fields_and_survive_both_backends(tmp_path: Path, redis_url: str) -> None:
    first = await opened(SQLiteStore(tmp_path / "first.db"))
    redis = await opened(RedisStore(redis_url))
    back = await opened(SQLiteStore(tmp_path / "back.db"))
    try:
        await fill(first)
        exported = await export(first)
        for kind, records in exported.items():
            assert records, f"no {kind} record to check"
            assert [set(r) for r in records] == [set(FIELDS[kind])] * len(records), kind
            assert await first.count_records(kind) == len(records)
        assert json.loads(json.dumps(exported)) == exported  # plain JSON values only
        capped = next(job for job in exported["jobs"] if job["id"] == "WO-8")
        assert [e["seq"] for e in capped["events"]] == list(range(CAPPED - EVENT_LOG_CAP + 1, CAPPED + 1))
        await copy(exported, redis)
        through_redis = await export(redis)
        assert comparable(through_redis) == comparable(exported)
        assert drift(through_redis, exported) < CONVERSATION_DRIFT
        await copy(through_redis, back)
        home = await export(back)
        assert comparable(home) == comparable(exported) and drift(home, exported) < CONVERSATION_DRIFT
        assert not await redis.is_empty() and not await back.is_empty()
    finally:
        for store in (first, redis, back):
            await store.close()
