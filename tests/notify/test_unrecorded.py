"""A delivery whose outcome the store cannot take yet is recorded later, never sent twice."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from portal.app import create_app
from portal.runtime import Runtime
from portal.store.base import Settlement, StoreUnavailable
from portal.store.sqlite.store import SQLiteStore
from tests.fakes.twilio_server import FakeTwilio
from tests.helpers import job_updated, post_event, sample_job, wait_until
from tests.notify.support import FAST, notify_settings, outbox

SMS_ONLY = {"name": "Maria Lopez", "phone": "(312) 555-0142", "locale": "en", "channels": ["sms"]}
LEASE_SECONDS = 3  # the shortest allowed; the outage below outlasts half of it


class FailingSettle(SQLiteStore):
    """A real SQLite store whose first ``failures`` records of an outcome fail as in an outage."""

    def __init__(self, path: Path, failures: int) -> None:
        super().__init__(path)
        self.failures = failures
        self.extended: list[tuple[int, str, str]] = []

    async def settle_outbox(self, settlement: Settlement, now: str) -> bool:
        if self.failures > 0:
            self.failures -= 1
            raise StoreUnavailable("simulated outage: the write did not happen")
        return await super().settle_outbox(settlement, now)

    async def extend_lease(self, outbox_id: int, lease_until: str, new_lease_until: str) -> bool:
        self.extended.append((outbox_id, lease_until, new_lease_until))
        return await super().extend_lease(outbox_id, lease_until, new_lease_until)


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    with FakeTwilio() as fake:
        yield fake


@pytest.mark.long(5)
def test_an_outcome_recorded_late_keeps_the_lease_and_sends_once(tmp_path: Path, twilio: FakeTwilio) -> None:
    settings = notify_settings(tmp_path, twilio.url, worker_lease_seconds=LEASE_SECONDS)
    # 0.2 + 0.4 + 0.8 + 1.6 s of retries: past half the lease, so it is extended once at least.
    assert settings.sqlite_path is not None
    store = FailingSettle(settings.sqlite_path, failures=5)
    runtime = Runtime(settings, store=store, worker_config=FAST)
    with TestClient(create_app(settings, runtime=runtime)) as client:
        assert post_event(client, job_updated(sample_job(customer=SMS_ONLY))).status_code == 202
        booking = wait_until(
            lambda: [
                r for r in outbox(client) if r.payload.get("message") == "booking_confirmed" and r.state == "done"
            ],
            timeout=30,
            what="the booking's outcome to be recorded",
        )
    assert [r.attempts for r in booking] == [1]  # claimed once: never taken again meanwhile
    assert len(twilio.messages()) == 1
    assert store.failures == 0 and store.extended, "the lease was not extended during the outage"
    assert all(new > old for _, old, new in store.extended)
