"""An opt-out and the callback that reports it are written together, on every backend."""

from __future__ import annotations

import datetime as dt

import pytest

from portal.core.jobs import iso_utc
from portal.notify.callbacks import opt_out_callback
from portal.store.base import Store

pytestmark = pytest.mark.anyio
T0 = dt.datetime(2030, 3, 3, 12, 0, tzinfo=dt.UTC)
PHONE = "+13125550142"


async def test_an_opt_out_and_its_callback_are_one_write(store: Store) -> None:
    told = opt_out_callback(PHONE, "opt_out", job_id="J1", at=T0, key="sms:SM1")
    assert await store.record_opt_out(PHONE, True, "sms", iso_utc(T0), (told,)) == 1
    assert await store.is_opted_out(PHONE)
    [row] = await store.list_outbox("J1")
    assert (row.kind, row.state, row.dedup_key) == ("callback", "pending", told.dedup_key)
    assert row.payload["type"] == "customer.opted_out" and row.payload["data"] == {"phone": PHONE}
    assert await store.outbox_counts() == {"callback": 1}


async def test_a_repeated_opt_out_queues_nothing_more(store: Store) -> None:
    told = opt_out_callback(PHONE, "opt_out", job_id="J1", at=T0, key="sms:SM1")
    await store.record_opt_out(PHONE, True, "sms", iso_utc(T0), (told,))
    assert await store.record_opt_out(PHONE, True, "sms", iso_utc(T0), (told,)) == 0
    assert len(await store.list_outbox("J1")) == 1


async def test_an_opt_in_clears_the_opt_out_with_its_callback(store: Store) -> None:
    await store.record_opt_out(PHONE, True, "sms", iso_utc(T0))
    told = opt_out_callback(PHONE, "opt_in", job_id="J1", at=T0, key="sms:SM2")
    assert await store.record_opt_out(PHONE, False, "sms", iso_utc(T0), (told,)) == 1
    assert not await store.is_opted_out(PHONE)
    [row] = await store.list_outbox("J1")
    assert row.payload["type"] == "customer.opted_in"


async def test_without_a_callback_only_the_opt_out_is_recorded(store: Store) -> None:
    assert await store.record_opt_out(PHONE, True, "sms", iso_utc(T0)) == 0
    assert await store.is_opted_out(PHONE) and await store.outbox_depth() == 0
