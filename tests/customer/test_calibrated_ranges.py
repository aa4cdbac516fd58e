"""Calibrated ETA ranges end to end: arrivals recorded by the portal become the range the page shows.

Drives are reported with the field system's own ETA (source ``field``), 15 minutes out, and
arrive 2 minutes late. Once the runtime has rebuilt its table from those arrivals, a new
drive's page shows the measured range (the ETA to 2 minutes late) instead of the rule of
thumb (3 minutes either side), the ETA log keeps that same range, and an arrival judged by it
counts as outside although the rule of thumb would have held it.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from portal.app import create_app
from portal.core.eta_log import ETA_LOG
from portal.core.jobs import parse_iso
from portal.core.tallies import bucket_of
from portal.runtime import Runtime
from tests.helpers import event, job_updated, make_settings, post_event, sample_job, status_changed

DRIVES = 20  # calibration.MIN_SAMPLES_PER_CELL: the fewest samples a (source, lead) cell is measured from


def iso(moment: dt.datetime) -> str:
    return moment.isoformat()


def start_now() -> dt.datetime:
    """When a test's drives set off: read at the test's start, not at import, because the lead
    time (ETA minus now) picks the calibration cell and a parallel run may start a test minutes
    after importing its module. Whole minutes, as ranges are."""
    return dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)


def drive(client: TestClient, job_id: str, eta_at: dt.datetime, arrived: dt.datetime | None) -> None:
    """A job set on its way (15 minutes before ``eta_at``) with the field system's ETA, and
    (optionally) its arrival."""
    start = eta_at - dt.timedelta(minutes=15)
    post_event(client, job_updated(sample_job(job_id, status="en_route"), timestamp=iso(start)))
    eta = event("job.eta", {"job_id": job_id, "eta": iso(eta_at)}, timestamp=iso(start + dt.timedelta(seconds=1)))
    assert post_event(client, eta).status_code == 202
    if arrived is not None:
        assert post_event(client, status_changed(job_id, "in_progress", timestamp=iso(arrived))).status_code == 202


def shown_range(client: TestClient, runtime: Runtime, job_id: str) -> tuple[dt.datetime, dt.datetime]:
    record = client.portal.call(runtime.store.get_job, job_id)  # type: ignore[union-attr]
    state = client.get(f"/t/{runtime.links.token(record.link_key)}/state").json()
    return parse_iso(state["eta"]["range"]["start"]), parse_iso(state["eta"]["range"]["end"])


def totals(client: TestClient, runtime: Runtime, start: dt.datetime) -> dict[str, float]:
    """The statistics counters of today and tomorrow (what /staff/api/stats sums)."""
    edges = [bucket_of(start - dt.timedelta(days=1)), bucket_of(start + dt.timedelta(days=1))]
    found: dict[str, float] = {}
    for _, name, amount in client.portal.call(runtime.store.tallies, edges):  # type: ignore[union-attr]
        found[name] = found.get(name, 0) + amount
    return found


@pytest.fixture(params=["sqlite", "redis"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "redis":
        return str(request.getfixturevalue("redis_url"))
    return f"sqlite:///{tmp_path / 'portal.db'}"


def run(tmp_path: Path, store_url: str, min_arrivals: int) -> Any:
    settings = make_settings(tmp_path, store_url=store_url, eta_calibration_min_arrivals=min_arrivals)
    return TestClient(create_app(settings))


def test_enough_arrivals_turn_the_range_into_the_measured_one(tmp_path: Path, store_url: str) -> None:
    eta_at = start_now() + dt.timedelta(minutes=15)
    with run(tmp_path, store_url, DRIVES) as client:
        runtime: Runtime = client.app.state.runtime
        for n in range(DRIVES):
            drive(client, f"P{n}", eta_at, eta_at + dt.timedelta(minutes=2))
        drive(client, "BEFORE", eta_at, None)
        start, end = shown_range(client, runtime, "BEFORE")
        assert start <= eta_at - dt.timedelta(minutes=2) and end >= eta_at + dt.timedelta(minutes=2)  # 20% rule

        table = client.portal.call(runtime.calibrate)  # type: ignore[union-attr]
        assert table.arrivals == DRIVES and set(table.cells) == {("field", 15)}
        drive(client, "AFTER", eta_at, None)
        start, end = shown_range(client, runtime, "AFTER")
        assert start == eta_at and eta_at + dt.timedelta(minutes=2) <= end <= eta_at + dt.timedelta(minutes=3)

        # The log keeps the range the page showed, and the arrival is judged by it.
        record = client.portal.call(runtime.store.get_job, "AFTER")  # type: ignore[union-attr]
        kept = {entry["lead"]: entry for entry in record.job.values[ETA_LOG]["shown"]}[15]
        assert (parse_iso(kept["start"]), parse_iso(kept["end"])) == (start, end)
        early = eta_at - dt.timedelta(minutes=2)  # inside the rule of thumb, outside what was shown
        assert post_event(client, status_changed("AFTER", "in_progress", timestamp=iso(early))).status_code == 202
        figures = totals(client, runtime, eta_at)
        assert figures["arrivals"] == DRIVES + 1 and figures["eta_within"] == DRIVES


def test_too_few_arrivals_keep_the_rule_of_thumb(tmp_path: Path, store_url: str) -> None:
    eta_at = start_now() + dt.timedelta(minutes=15)
    with run(tmp_path, store_url, 50) as client:
        runtime: Runtime = client.app.state.runtime
        for n in range(DRIVES):
            drive(client, f"P{n}", eta_at, eta_at + dt.timedelta(minutes=2))
        client.portal.call(runtime.calibrate)  # type: ignore[union-attr]
        drive(client, "AFTER", eta_at, None)
        start, end = shown_range(client, runtime, "AFTER")
        assert start <= eta_at - dt.timedelta(minutes=2) and end >= eta_at + dt.timedelta(minutes=2)
