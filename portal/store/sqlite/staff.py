"""The staff console's part of the SQLite store: accounts, sessions, the audit log, search.

``SQLiteStore`` inherits these methods; every query runs through its ``read``/``write``
plumbing, so no SQLite call happens on the event loop.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

from portal.clock import now_iso, utc_now
from portal.core.jobs import Job, iso_utc
from portal.store.records import AuditEntry, JobRecord, JobSearch, LinkKeyInfo, StaffAccount
from portal.store.rules import STAFF_SESSION_KEEP

T = TypeVar("T")

ACCOUNT_COLUMNS = "username, password_hash, timezone, created_at, updated_at"
AUDIT_COLUMNS = "at, username, action, job_id, client, detail, id"
LIKE_ESCAPE = "\\"

# One statement per page. Exact id and phone use their indexes; the substring terms scan
# the small covering indexes of id, reference, email and name (never the job documents).
SEARCH_SQL = """
SELECT doc, link_key, last_seq, created_at, updated_at FROM jobs
WHERE rowid IN (
    SELECT rowid FROM jobs WHERE id = :exact
    UNION SELECT rowid FROM jobs WHERE reference = :exact
    UNION SELECT rowid FROM jobs WHERE phone = :phone
    UNION SELECT rowid FROM jobs WHERE :digits IS NOT NULL AND phone LIKE :digits ESCAPE '\\'
    UNION SELECT rowid FROM jobs WHERE :pattern IS NOT NULL AND id LIKE :pattern ESCAPE '\\'
    UNION SELECT rowid FROM jobs WHERE :pattern IS NOT NULL AND reference LIKE :pattern ESCAPE '\\'
    UNION SELECT rowid FROM jobs WHERE :pattern IS NOT NULL AND email LIKE :pattern ESCAPE '\\'
    UNION SELECT rowid FROM jobs WHERE :pattern IS NOT NULL AND name LIKE :pattern ESCAPE '\\'
)
ORDER BY updated_at DESC, id DESC
LIMIT :limit OFFSET :offset
"""


def like_pattern(text: str) -> str:
    """``%text%`` with LIKE's wildcards in ``text`` taken literally."""
    for char in (LIKE_ESCAPE, "%", "_"):
        text = text.replace(char, LIKE_ESCAPE + char)
    return f"%{text}%"


class SQLiteStaffQueries:
    """Mixed into ``SQLiteStore``; relies on its ``read`` and ``write``."""

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        raise NotImplementedError

    async def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        raise NotImplementedError

    async def save_staff_account(self, username: str, password_hash: str, timezone: str = "UTC") -> bool:
        return await self.write(lambda c: _save_account(c, username, password_hash, timezone))

    async def get_staff_account(self, username: str) -> StaffAccount | None:
        row = await self.read(
            lambda c: c.execute(
                f"SELECT {ACCOUNT_COLUMNS} FROM staff_accounts WHERE username = ?", (username,)
            ).fetchone()
        )
        return StaffAccount(*row) if row else None

    async def open_staff_session(self, session_hash: str, username: str) -> None:
        await self.write(lambda c: _open_session(c, session_hash, username))

    async def staff_session_account(self, session_hash: str) -> StaffAccount | None:
        columns = ", ".join(f"a.{name.strip()}" for name in ACCOUNT_COLUMNS.split(","))
        row = await self.read(
            lambda c: c.execute(
                f"SELECT {columns} FROM staff_sessions s JOIN staff_accounts a ON a.username = s.username"
                " WHERE s.id = ? AND s.revoked_at IS NULL",
                (session_hash,),
            ).fetchone()
        )
        return StaffAccount(*row) if row else None

    async def close_staff_session(self, session_hash: str) -> None:
        await self.write(
            lambda c: c.execute(
                "UPDATE staff_sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                (now_iso(), session_hash),
            )
        )

    async def add_audit(self, entry: AuditEntry) -> None:
        await self.write(
            lambda c: c.execute(
                "INSERT INTO staff_audit (at, username, action, job_id, client, detail) VALUES (?, ?, ?, ?, ?, ?)",
                (entry.at, entry.username, entry.action, entry.job_id, entry.client, entry.detail),
            )
        )

    async def list_audit(
        self, *, limit: int, offset: int = 0, job_id: str | None = None, username: str | None = None
    ) -> list[AuditEntry]:
        where, params = [], []
        if job_id is not None:
            where.append("job_id = ?")
            params.append(job_id)
        if username is not None:
            where.append("username = ?")
            params.append(username)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        sql = f"SELECT {AUDIT_COLUMNS} FROM staff_audit {clause} ORDER BY id DESC LIMIT ? OFFSET ?"
        rows = await self.read(lambda c: c.execute(sql, (*params, limit, offset)).fetchall())
        return [AuditEntry(*row) for row in rows]

    async def search_jobs(self, search: JobSearch, *, limit: int, offset: int = 0) -> list[JobRecord]:
        params: dict[str, Any] = {
            "exact": search.exact,
            "phone": search.phone,
            "digits": like_pattern(search.digits) if search.digits else None,
            "pattern": like_pattern(search.pattern) if search.pattern else None,
            "limit": limit,
            "offset": offset,
        }
        rows = await self.read(lambda c: c.execute(SEARCH_SQL, params).fetchall())
        return [JobRecord(Job.from_dict(json.loads(r[0])), r[1], r[2], r[3], r[4]) for r in rows]

    async def link_history(self, job_id: str) -> list[LinkKeyInfo]:
        rows = await self.read(
            lambda c: c.execute(
                "SELECT created_at, revoked_at FROM link_keys WHERE job_id = ? ORDER BY created_at", (job_id,)
            ).fetchall()
        )
        return [LinkKeyInfo(*row) for row in rows]


def _save_account(conn: sqlite3.Connection, username: str, password_hash: str, timezone: str) -> bool:
    now = now_iso()
    existed = conn.execute("SELECT 1 FROM staff_accounts WHERE username = ?", (username,)).fetchone() is not None
    conn.execute(
        f"INSERT INTO staff_accounts ({ACCOUNT_COLUMNS}) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT (username) DO UPDATE SET password_hash = excluded.password_hash,"
        " timezone = excluded.timezone, updated_at = excluded.updated_at",
        (username, password_hash, timezone, now, now),
    )
    # A reset password signs the account out everywhere: whoever knew the old one loses access.
    conn.execute("UPDATE staff_sessions SET revoked_at = ? WHERE username = ? AND revoked_at IS NULL", (now, username))
    return not existed


def _open_session(conn: sqlite3.Connection, session_hash: str, username: str) -> None:
    now = utc_now()
    cutoff = iso_utc(now - STAFF_SESSION_KEEP)  # old rows go when someone signs in
    conn.execute("DELETE FROM staff_sessions WHERE created_at < ?", (cutoff,))
    conn.execute(
        "INSERT INTO staff_sessions (id, username, created_at) VALUES (?, ?, ?)", (session_hash, username, iso_utc(now))
    )
