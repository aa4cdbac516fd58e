"""Running late by the clock: a silent or idle technician still makes the job late, once.

The integration tests run the real store (SQLite, and Redis where it answers) and the real
worker, started only once the scene is set, so nothing depends on timing: the windows have
already ended, so the lateness checks they arm are due the moment the worker looks.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from portal.app import create_app
from portal.core.jobs import FieldEvent, Job, apply_event, iso_utc
from portal.core.policy import Policy
from portal.core.public import public_state
from portal.core.trip import LATE, LATE_CHECK_GRACE, late_check, mark_overdue, mark_progress, overdue
from portal.notify.lateness import late_decision
from portal.notify.outbox import LATE_CHECK, late_check_item
from portal.notify.worker import Worker
from portal.runtime import Runtime
from portal.settings import NOTIFICATION_MESSAGES
from portal.store.base import OutboxRow, StoredEvent
from tests.helpers import event, job_updated, now_iso, post_event, sample_job, status_changed, wait_until
from tests.notify.support import FAST, call, messages, notify_settings, outbox, portal_of

FAR = (42.0668, -87.6574)  # 20 km from sample_job's address: about 54 minutes away
WINDOW = {"start": "2030-03-03T09:00:00-06:00", "end": "2030-03-03T11:00:00-06:00"}  # sample_job's
END = dt.datetime(2030, 3, 3, 17, 0, tzinfo=dt.UTC)  # its end in UTC
ALL = Policy(enabled=NOTIFICATION_MESSAGES)


# -- pure: when to look, and what the look marks ---------------------------------------------


def booked(status: str = "scheduled", **changes: Any) -> Job:
    at = dt.datetime(2030, 3, 1, tzinfo=dt.UTC)
    return apply_event(None, FieldEvent("w1", "job.updated", at, {"job": sample_job(status=status, **changes)}))


def changed(job: Job, minute: int, **fields: Any) -> Job:
    at = dt.datetime(2030, 3, 2, tzinfo=dt.UTC) + dt.timedelta(minutes=minute)
    return apply_event(job, FieldEvent(f"w-{minute}", "job.updated", at, {"job": {"id": "WO-1", **fields}}))


def test_a_window_arms_a_check_at_its_end_plus_the_grace() -> None:
    job = booked()
    assert late_check(None, job) == (WINDOW["end"], END + LATE_CHECK_GRACE)
    item = late_check_item(None, job)
    assert item is not None
    assert (item.kind, item.dedup_key) == (LATE_CHECK, f"WO-1:{LATE_CHECK}:{iso_utc(END)}")
    assert item.not_before == iso_utc(END + LATE_CHECK_GRACE)
    assert late_check(job, changed(job, 1, service="Boiler repair")) is None  # same promise: armed already
    moved = changed(job, 2, window={"start": "2030-03-04T09:00:00-06:00", "end": "2030-03-04T11:00:00-06:00"})
    assert late_check(job, moved) == ("2030-03-04T11:00:00-06:00", END + dt.timedelta(days=1) + LATE_CHECK_GRACE)
    assert late_check(None, booked("in_progress")) is None
    assert late_check(None, booked(window=None)) is None


def test_the_clock_marks_a_not_started_job_late_once() -> None:
    job = booked("dispatched")
    assert not overdue(job, END + LATE_CHECK_GRACE - dt.timedelta(seconds=1))
    assert mark_overdue(job, END) is job
    now = END + LATE_CHECK_GRACE
    marked = mark_overdue(job, now)
    assert marked.values[LATE] == {
        "window_end": WINDOW["end"],
        "eta": None,
        "seen_at": iso_utc(now),
        "by": "clock",
    }
    assert LATE not in job.values
    assert mark_overdue(marked, now + dt.timedelta(hours=1)) is marked
    for status in ("in_progress", "completed", "cancelled", "on_hold", "created"):
        other = booked(status)
        assert mark_overdue(other, now) is other


def test_the_check_decides_the_late_mark_an_event_and_the_messages() -> None:
    job = booked("dispatched")
    now = END + LATE_CHECK_GRACE
    assert public_state(job, now)["late"] is True  # the page says so at read time already
    assert public_state(job, END)["late"] is False
    decision = late_decision(job, WINDOW["end"], now, ALL)
    assert decision is not None
    assert decision.job.values[LATE]["window_end"] == WINDOW["end"]
    assert [(kind, data["late"]) for kind, data in decision.events] == [("job", True)]
    keys = sorted(item.dedup_key for item in decision.outbox)
    assert keys == [f"WO-1:running_late:{iso_utc(END)}:{c}" for c in ("email", "sms")]
    assert all(item.payload["vars"]["eta"] is None for item in decision.outbox)
    assert late_decision(decision.job, WINDOW["end"], now, ALL) is None  # marked already
    assert late_decision(job, "2030-03-02T11:00:00-06:00", now, ALL) is None  # the window moved since
    assert late_decision(booked("in_progress"), WINDOW["end"], now, ALL) is None
    assert late_decision(None, WINDOW["end"], now, ALL) is None


def test_a_ping_and_the_clock_share_one_mark() -> None:
    window = {"start": "2030-03-03T08:00:00-06:00", "end": "2030-03-03T09:05:00-06:00"}
    job = booked("en_route", window=window)
    at = dt.datetime(2030, 3, 3, 15, 0, tzinfo=dt.UTC)
    ping = {"job_id": "WO-1", "lat": FAR[0], "lon": FAR[1], "recorded_at": iso_utc(at)}
    pinged = mark_progress(apply_event(job, FieldEvent("p", "technician.location", at, ping)), at)
    assert pinged.values[LATE]["window_end"] == window["end"]
    assert late_decision(pinged, window["end"], at + dt.timedelta(hours=1), ALL) is None


# -- the store, the worker and the page --------------------------------------------------------


@pytest.fixture(params=["sqlite", "redis"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "redis":
        url: str = request.getfixturevalue("redis_url")
        return url
    return f"sqlite:///{tmp_path / 'portal.db'}"


@contextmanager
def idle_portal(tmp_path: Path, store_url: str) -> Iterator[TestClient]:
    """The app without its worker: rows wait until ``start_worker``."""
    settings = notify_settings(tmp_path, store_url=store_url)
    portal = Runtime(settings, run_worker=False)
    with TestClient(create_app(settings, runtime=portal)) as client:
        yield client


def start_worker(client: TestClient) -> None:
    portal = portal_of(client)
    portal.worker = Worker(
        portal.store,
        portal.settings,
        portal.links,
        portal.metrics,
        portal.public_url,
        FAST,
        late_check=portal.changes.check_late,
    )
    portal.changes.wake = portal.worker.wake
    call(client, portal.worker.start)  # stopped with the portal


def ended_window(hours_ago: float = 1.0) -> dict[str, str]:
    end = dt.datetime.now(dt.UTC) - dt.timedelta(hours=hours_ago)
    return {"start": (end - dt.timedelta(hours=2)).isoformat(), "end": end.isoformat()}


def rows(client: TestClient, what: str) -> list[OutboxRow]:
    return [r for r in outbox(client) if what in (r.kind, r.payload.get("message"))]


def settled_checks(client: TestClient, count: int = 1) -> list[OutboxRow]:
    def check() -> list[OutboxRow]:
        found = [r for r in rows(client, LATE_CHECK) if r.state != "pending"]
        return found if len(found) >= count else []

    return wait_until(check, what="the lateness check")


def job_events(client: TestClient) -> list[StoredEvent]:
    found: list[StoredEvent] | None = call(client, portal_of(client).store.events_after, "WO-1", 0)
    return found or []


def late_messages(client: TestClient) -> Callable[[], list[Any]]:
    return lambda: [m for m in messages(client) if m.meta.get("message") == "running_late"]


def both(found: Callable[[], list[Any]]) -> Callable[[], list[Any]]:
    """Wait for the SMS and the email alike: one of them is often recorded a moment first."""
    return lambda: found() if len(found()) >= 2 else []


def subscribe(client: TestClient) -> Any:
    portal = portal_of(client)

    async def go() -> Any:
        return portal.bus.subscribe("WO-1")

    return call(client, go)


def published(client: TestClient, subscription: Any) -> list[StoredEvent]:
    async def drain() -> list[StoredEvent]:
        found = []
        while not subscription.queue.empty():
            item = subscription.queue.get_nowait()
            if isinstance(item, StoredEvent):
                found.append(item)
        return found

    result: list[StoredEvent] = call(client, drain)
    return result


def test_a_silent_job_is_told_it_is_late_when_its_window_ends(tmp_path: Path, store_url: str) -> None:
    with idle_portal(tmp_path, store_url) as client:
        window = ended_window()
        post_event(client, job_updated(sample_job(status="dispatched", window=window)))
        [check] = rows(client, LATE_CHECK)
        assert check.state == "pending" and check.payload["window_end"] == window["end"]
        assert rows(client, "running_late") == []
        subscription = subscribe(client)
        booked_seq = call(client, portal_of(client).store.get_job, "WO-1").last_seq
        start_worker(client)
        [done] = settled_checks(client)
        assert done.state == "done"
        sent = wait_until(both(late_messages(client)), what="the running-late messages")
        # On Redis the booking's own events may still be on their way to the subscriber: skip them.
        received: list[StoredEvent] = []

        def from_the_check() -> list[StoredEvent]:
            received.extend(published(client, subscription))
            return [e for e in received if e.seq > booked_seq]

        live = wait_until(from_the_check, what="the live event")
        record = call(client, portal_of(client).store.get_job, "WO-1")
        path = f"/t/{portal_of(client).links.token(record.link_key)}"
        state = client.get(path + "/state").json()
        page = client.get(path).text
        late_rows = rows(client, "running_late")
        stored = job_events(client)
    assert sorted(r.kind for r in late_rows) == ["email", "sms"]
    assert sorted(m.channel for m in sent) == ["email", "sms"]
    assert record.job.values[LATE]["window_end"] == window["end"]
    assert [(e.type, e.data["late"]) for e in live] == [("job", True)]
    assert stored[-1].type == "job" and stored[-1].data["late"] is True
    assert state["late"] is True and state["eta"] is None
    assert 'id="eta-late" role="status" >' in page


@pytest.mark.parametrize("status", ["in_progress", "completed", "cancelled"])
def test_a_job_that_started_or_closed_before_the_check_hears_nothing(
    tmp_path: Path, store_url: str, status: str
) -> None:
    with idle_portal(tmp_path, store_url) as client:
        post_event(client, job_updated(sample_job(status="en_route", window=ended_window()), timestamp=now_iso(-60)))
        post_event(client, status_changed("WO-1", status, timestamp=now_iso(-30)))
        before = job_events(client)
        start_worker(client)
        [check] = settled_checks(client)
        record = call(client, portal_of(client).store.get_job, "WO-1")
        after = job_events(client)
        late_rows = rows(client, "running_late")
    assert check.state == "skipped"
    assert late_rows == []
    assert LATE not in record.job.values
    assert after == before  # nothing published either


def test_a_moved_window_rearms_the_check_and_the_old_one_does_nothing(tmp_path: Path, store_url: str) -> None:
    with idle_portal(tmp_path, store_url) as client:
        old = ended_window()
        post_event(client, job_updated(sample_job(window=old), timestamp=now_iso(-60)))
        post_event(client, job_updated({"id": "WO-1", "window": WINDOW}, timestamp=now_iso(-30)))
        start_worker(client)
        [stale] = settled_checks(client)
        checks = {r.payload["window_end"]: r for r in rows(client, LATE_CHECK)}
        record = call(client, portal_of(client).store.get_job, "WO-1")
        late_rows = rows(client, "running_late")
    assert set(checks) == {old["end"], WINDOW["end"]}
    assert stale.payload["window_end"] == old["end"] and stale.state == "skipped"
    armed = checks[WINDOW["end"]]
    assert armed.state == "pending" and armed.next_attempt_at == iso_utc(END + LATE_CHECK_GRACE)
    assert late_rows == [] and LATE not in record.job.values


@pytest.mark.parametrize("first", ["ping", "clock"])
def test_a_ping_and_the_check_together_send_one_message(tmp_path: Path, store_url: str, first: str) -> None:
    where = {"job_id": "WO-1", "lat": FAR[0], "lon": FAR[1]}
    with idle_portal(tmp_path, store_url) as client:
        post_event(client, job_updated(sample_job(status="en_route", window=ended_window(0.5)), timestamp=now_iso(-60)))
        if first == "ping":
            post_event(client, event("technician.location", {**where, "recorded_at": now_iso(-5)}))
            assert len(rows(client, "running_late")) == 2
        start_worker(client)
        [check] = settled_checks(client)
        if first == "clock":
            wait_until(late_messages(client), what="the running-late messages")
            post_event(client, event("technician.location", {**where, "recorded_at": now_iso(-1)}))
        wait_until(lambda: len(late_messages(client)()) >= 2, what="both running-late messages")
        wait_until(lambda: all(r.state != "pending" for r in rows(client, "running_late")), what="their rows to settle")
        late_rows = rows(client, "running_late")
        sent = late_messages(client)()
    assert check.state == ("skipped" if first == "ping" else "done")
    assert sorted(r.kind for r in late_rows) == ["email", "sms"]
    assert sorted(m.channel for m in sent) == ["email", "sms"]
