"""Retention from the outside: the setting, ``portal purge``, and the worker's periodic purge."""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from portal.clock import utc_now
from portal.core.jobs import FieldEvent, Job, apply_event
from portal.settings import ConfigError, from_env
from portal.store.base import Decision
from portal.store.sqlite.store import SQLiteStore
from tests.helpers import wait_until
from tests.processes import portal_env

PORTAL = shutil.which("portal", path=str(Path(sys.executable).parent)) or "portal"
# Closed this many days ago: past the default retention (90 days), or well inside it.
AGES = {"OLD": 400, "RECENT": 5, "OPEN": 400}


def test_retention_defaults_to_90_days_and_may_not_undercut_the_link_ttl(tmp_path: Path) -> None:
    store = {"PORTAL_STORE": f"sqlite:///{tmp_path / 'p.db'}"}
    assert from_env(store).retention_days == 90
    assert from_env({**store, "PORTAL_RETENTION_DAYS": "14"}).retention_days == 14
    for raw in ("13", "0", "soon"):
        with pytest.raises(ConfigError) as error:
            from_env({**store, "PORTAL_RETENTION_DAYS": raw})
        assert "PORTAL_RETENTION_DAYS" in str(error.value) and "\n" not in str(error.value)
    with pytest.raises(ConfigError, match=r"PORTAL_RETENTION_DAYS .* PORTAL_LINK_TTL_DAYS"):
        from_env({**store, "PORTAL_LINK_TTL_DAYS": "120"})


async def seed(path: Path) -> None:
    store = SQLiteStore(path)
    await store.open()
    try:
        for job_id, days in AGES.items():
            status = "scheduled" if job_id == "OPEN" else "completed"
            at = utc_now() - dt.timedelta(days=days)
            event = FieldEvent(f"w-{job_id}", "job.updated", at, {"job": {"id": job_id, "status": status}})

            def decide(before: Job | None, event: FieldEvent = event) -> Decision:
                return Decision(apply_event(before, event), [("status", {})])

            await store.change_job(job_id, decide)
    finally:
        await store.close()


def job_ids(path: Path) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        return {row[0] for row in conn.execute("SELECT id FROM jobs")}
    finally:
        conn.close()


def test_portal_purge_deletes_jobs_past_retention_and_says_what_it_did(tmp_path: Path) -> None:
    db = tmp_path / "portal.db"
    asyncio.run(seed(db))
    env = portal_env(tmp_path)
    result = subprocess.run([PORTAL, "purge"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert str(db) in result.stdout and "PORTAL_RETENTION_DAYS=90" in result.stdout
    assert "batch 1: 1 jobs" in result.stdout
    assert result.stdout.rstrip().endswith("portal purge: 1 jobs purged")
    assert job_ids(db) == {"RECENT", "OPEN"}
    again = subprocess.run([PORTAL, "purge"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and again.stdout.rstrip().endswith("portal purge: 0 jobs purged")
    shorter = portal_env(tmp_path, PORTAL_RETENTION_DAYS="3", PORTAL_LINK_TTL_DAYS="3")
    last = subprocess.run([PORTAL, "purge"], cwd=tmp_path, env=shorter, capture_output=True, text=True, timeout=60)
    assert last.returncode == 0 and job_ids(db) == {"OPEN"}


def test_portal_purge_refuses_a_retention_shorter_than_the_link_ttl(tmp_path: Path) -> None:
    env = portal_env(tmp_path, PORTAL_RETENTION_DAYS="7")
    result = subprocess.run([PORTAL, "purge"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if "PORTAL_RETENTION_DAYS" in line]
    assert len(lines) == 1 and "configuration error" in lines[0]
    assert not (tmp_path / "portal.db").exists()


def test_portal_worker_purges_by_itself(tmp_path: Path) -> None:
    db = tmp_path / "portal.db"
    asyncio.run(seed(db))
    with (tmp_path / "worker.log").open("wb") as log:
        worker = subprocess.Popen([PORTAL, "worker"], cwd=tmp_path, env=portal_env(tmp_path), stdout=log, stderr=log)
        try:
            # The log line is written after the delete commits: wait for it, not for the row alone.
            logged = "deleted the personal data of 1 jobs"
            wait_until(lambda: logged in (tmp_path / "worker.log").read_text(), timeout=30, what="the worker's purge")
        finally:
            worker.send_signal(signal.SIGTERM)
            code = worker.wait(15)
    assert code == 0
    assert job_ids(db) == {"RECENT", "OPEN"}
    assert "deleted the personal data of 1 jobs" in (tmp_path / "worker.log").read_text()
