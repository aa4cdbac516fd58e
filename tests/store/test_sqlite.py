"""What is particular to the SQLite store: group commit, migrations, WAL."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from portal.core.jobs import Job
from portal.store.base import Decision, StoreUnavailable
from portal.store.sqlite.migrations import MIGRATIONS
from portal.store.sqlite.store import SQLiteStore

pytestmark = pytest.mark.anyio


def make(job_id: str) -> Decision:
    return Decision(Job(id=job_id, values={"status": "scheduled"}), [("job", {})])


async def test_one_failing_change_does_not_spoil_its_batch(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    await store.open()
    try:

        def explode(before: Job | None) -> Decision:
            raise ValueError("bad change")

        changes = [store.change_job(f"J{n}", lambda before, n=n: make(f"J{n}")) for n in range(50)]
        changes.insert(25, store.change_job("BAD", explode))
        results = await asyncio.gather(*changes, return_exceptions=True)
        assert sum(isinstance(r, ValueError) for r in results) == 1
        # The batch is answered in one wake-up of the loop, each change with its own result.
        assert [r.job_id for r in results if not isinstance(r, Exception)] == [f"J{n}" for n in range(50)]
        found = [await store.get_job(f"J{n}") for n in range(50)]
        assert all(record is not None for record in found)
        assert await store.get_job("BAD") is None
    finally:
        await store.close()


async def test_migrations_apply_once_and_reopen_cleanly(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    for _ in range(2):
        store = SQLiteStore(path)
        await store.open()
        await store.close()
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT version FROM schema_version").fetchone()[0] == len(MIGRATIONS)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


async def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = SQLiteStore(path)
    await store.open()
    await store.close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE schema_version SET version = 999")
    conn.commit()
    conn.close()
    with pytest.raises(RuntimeError, match="newer than this portal"):
        await SQLiteStore(path).open()


async def test_a_closed_store_is_unavailable(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    await store.open()
    await store.close()
    with pytest.raises(StoreUnavailable):
        await store.change_job("J", lambda before: make("J"))
    with pytest.raises(StoreUnavailable):
        await store.ping()
