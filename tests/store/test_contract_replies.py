"""Two-way SMS storage, on every backend: a number's jobs, and the conversation kept per number."""

from __future__ import annotations

import datetime as dt

import pytest

from portal.core.jobs import FieldEvent, Job, apply_event, iso_utc
from portal.store.base import Decision, Store

pytestmark = pytest.mark.anyio
NOW = dt.datetime(2030, 3, 3, 12, 0, tzinfo=dt.UTC)
PHONE = "+13125550142"


async def put(store: Store, job_id: str, phone: str, seconds: int = 0) -> None:
    data = {"job": {"id": job_id, "customer": {"phone": phone}}}
    event = FieldEvent(f"w-{job_id}-{seconds}", "job.updated", NOW + dt.timedelta(seconds=seconds), data)

    def decide(before: Job | None) -> Decision:
        return Decision(apply_event(before, event))

    await store.change_job(job_id, decide)


async def test_jobs_by_phone_are_the_numbers_jobs_most_recent_first(store: Store) -> None:
    await put(store, "J1", "(312) 555-0142")
    await put(store, "J2", "+1 312 555 0142")
    await put(store, "J3", "+13125550199")
    await put(store, "J1", "312-555-0142", seconds=5)  # changed last
    found = await store.jobs_by_phone(PHONE, 10)
    assert [r.job.id for r in found] == ["J1", "J2"]
    assert [r.job.id for r in await store.jobs_by_phone(PHONE, 1)] == ["J1"]
    assert await store.jobs_by_phone("+13125550100", 10) == []


async def test_a_changed_number_moves_the_job(store: Store) -> None:
    await put(store, "J1", PHONE)
    await put(store, "J1", "+13125550199", seconds=5)
    assert await store.jobs_by_phone(PHONE, 10) == []
    assert [r.job.id for r in await store.jobs_by_phone("+13125550199", 10)] == ["J1"]


async def test_conversation_state_is_kept_replaced_and_forgotten(store: Store) -> None:
    now = iso_utc(NOW)
    assert await store.get_conversation(PHONE) is None
    state = {"awaiting": "slot", "at": NOW.isoformat(), "job_id": "J1", "slots": [{"start": "a", "end": "b"}]}
    await store.set_conversation(PHONE, state, now)
    assert await store.get_conversation(PHONE) == state
    await store.set_conversation(PHONE, {**state, "awaiting": "job"}, now)
    assert (await store.get_conversation(PHONE) or {})["awaiting"] == "job"
    assert await store.get_conversation("+13125550199") is None
    await store.set_conversation(PHONE, None, now)
    assert await store.get_conversation(PHONE) is None
