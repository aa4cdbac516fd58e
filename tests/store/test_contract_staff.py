"""The staff console's store methods, the same on every backend: search, accounts, audit, links."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest

from portal.core.jobs import FieldEvent, Job, apply_event, iso_utc
from portal.store.base import AuditEntry, Decision, JobSearch, Store

pytestmark = pytest.mark.anyio
NOW = dt.datetime(2030, 3, 3, 12, 0, tzinfo=dt.UTC)


def _customer(name: str, phone: str, email: str) -> dict[str, Any]:
    return {"name": name, "phone": phone, "email": email}


async def add_job(store: Store, job_id: str, seconds: int = 0, **fields: Any) -> None:
    event = FieldEvent(
        f"w-{job_id}-{seconds}", "job.updated", NOW.replace(second=seconds), {"job": {"id": job_id, **fields}}
    )

    def decide(before: Job | None) -> Decision:
        return Decision(apply_event(before, event))

    await store.change_job(job_id, decide)


async def ids(store: Store, search: JobSearch, limit: int = 10, offset: int = 0) -> list[str]:
    return [r.job.id for r in await store.search_jobs(search, limit=limit, offset=offset)]


@pytest.fixture
async def jobs(store: Store) -> Store:
    await add_job(
        store, "WO-10442", reference="ACME-77", customer=_customer("Maria Lopez", "(312) 555-0142", "maria@example.com")
    )
    await add_job(
        store, "WO-20001", reference="ACME-78", customer=_customer("John Smith", "773 555 0199", "JS@Example.org")
    )
    await add_job(
        store, "WO-30003", reference="BETA-1", customer=_customer("Mariam O'Neil", "+1 646 555 0110", "mo@x.net")
    )
    return store


async def test_search_by_exact_id_reference_and_phone(jobs: Store) -> None:
    assert await ids(jobs, JobSearch("WO-20001")) == ["WO-20001"]
    assert await ids(jobs, JobSearch("BETA-1")) == ["WO-30003"]
    assert await ids(jobs, JobSearch("x", phone="+13125550142")) == ["WO-10442"]
    assert await ids(jobs, JobSearch("nothing", pattern="nothing")) == []


async def test_search_by_substring_newest_first(jobs: Store) -> None:
    assert await ids(jobs, JobSearch("Mari", pattern="mari")) == ["WO-30003", "WO-10442"]
    assert await ids(jobs, JobSearch("example.org", pattern="example.org")) == ["WO-20001"]
    assert await ids(jobs, JobSearch("acme", pattern="acme")) == ["WO-20001", "WO-10442"]
    assert await ids(jobs, JobSearch("wo-1", pattern="wo-1")) == ["WO-10442"]
    assert await ids(jobs, JobSearch("0199", digits="0199")) == ["WO-20001"]
    assert await ids(jobs, JobSearch("%", pattern="%")) == []


async def test_search_pages(jobs: Store) -> None:
    everyone = JobSearch("wo", pattern="wo")
    assert await ids(jobs, everyone) == ["WO-30003", "WO-20001", "WO-10442"]
    assert await ids(jobs, everyone, limit=2, offset=1) == ["WO-20001", "WO-10442"]


async def test_search_follows_changes(jobs: Store) -> None:
    await add_job(jobs, "WO-10442", 5, customer={"name": "Ann Other", "phone": "+1 415 555 0100"})
    assert await ids(jobs, JobSearch("maria lopez", pattern="maria lopez")) == []
    assert await ids(jobs, JobSearch("ann o", pattern="ann o")) == ["WO-10442"]
    assert await ids(jobs, JobSearch("x", phone="+13125550142")) == []
    assert await ids(jobs, JobSearch("x", phone="+14155550100")) == ["WO-10442"]


async def test_a_reference_that_is_not_text_is_searched_as_typed(store: Store) -> None:
    # A reference that reached the job as a JSON number is kept as text (rules.search_fields),
    # so staff find it by what they type, exactly or in part, and a later change keeps it found.
    await add_job(store, "WO-1", reference=10442)
    assert await ids(store, JobSearch("10442")) == ["WO-1"]
    assert await ids(store, JobSearch("044", pattern="044")) == ["WO-1"]
    await add_job(store, "WO-1", 1, reference=10443)
    assert await ids(store, JobSearch("10442")) == []
    assert await ids(store, JobSearch("10443")) == ["WO-1"]


async def test_accounts_and_sessions(store: Store) -> None:
    assert await store.save_staff_account("dana", "hash-1", "America/Chicago")
    account = await store.get_staff_account("dana")
    assert account is not None and account.password_hash == "hash-1" and account.timezone == "America/Chicago"
    await store.open_staff_session("s1", "dana")
    found = await store.staff_session_account("s1")
    assert found is not None and found.username == "dana"
    await store.close_staff_session("s1")
    assert await store.staff_session_account("s1") is None
    await store.open_staff_session("s2", "dana")
    assert not await store.save_staff_account("dana", "hash-2")  # a reset ends every session
    assert await store.staff_session_account("s2") is None
    again = await store.get_staff_account("dana")
    assert again is not None and again.password_hash == "hash-2" and again.created_at == account.created_at
    assert await store.get_staff_account("nobody") is None


async def test_audit_newest_first_and_filtered(store: Store) -> None:
    stamp = iso_utc(NOW)
    for n, (user, job) in enumerate([("dana", "J1"), ("sam", "J1"), ("dana", None), ("dana", "J2")]):
        await store.add_audit(AuditEntry(stamp, user, f"action-{n}", job, "127.0.0.1", None))
    every = await store.list_audit(limit=10)
    assert [e.action for e in every] == ["action-3", "action-2", "action-1", "action-0"]
    assert len({e.id for e in every}) == 4
    assert [e.action for e in await store.list_audit(limit=2, offset=1)] == ["action-2", "action-1"]
    assert [e.action for e in await store.list_audit(limit=10, job_id="J1")] == ["action-1", "action-0"]
    assert [e.action for e in await store.list_audit(limit=10, username="dana")] == ["action-3", "action-2", "action-0"]
    both = await store.list_audit(limit=10, job_id="J1", username="dana")
    assert [dataclasses.replace(e, id=0) for e in both] == [AuditEntry(stamp, "dana", "action-0", "J1", "127.0.0.1")]


async def test_link_history_keeps_revoked_keys(store: Store) -> None:
    await add_job(store, "J1")
    await store.rotate_link_key("J1")
    history = await store.link_history("J1")
    assert len(history) == 2
    assert history[0].revoked_at is not None and history[1].revoked_at is None
    assert await store.link_history("missing") == []
