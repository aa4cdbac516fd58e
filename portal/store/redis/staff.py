"""The staff console's part of the Redis store: accounts, sessions and the audit log.

Sessions are keys that expire by themselves (the SQLite store deletes old rows instead);
each account keeps the set of its sessions so that a password reset can end them all.
Audit entries are numbered by a counter and indexed newest-first per job and per user.
"""

from __future__ import annotations

import json

from redis.asyncio.client import Pipeline

from portal.clock import now_iso
from portal.store.records import AuditEntry, StaffAccount
from portal.store.redis.keys import Keys, RedisParts, begin, guarded, need, strings, text
from portal.store.rules import STAFF_SESSION_KEEP

SESSION_TTL_SECONDS = int(STAFF_SESSION_KEEP.total_seconds())  # a session key's expiry


class RedisStaffQueries(RedisParts):
    """Mixed into ``RedisStore``."""

    @guarded
    async def save_staff_account(self, username: str, password_hash: str, timezone: str = "UTC") -> bool:
        async def body(pipe: Pipeline) -> bool:
            account, sessions = self.keys("staff", username), self.keys("staff-sessions", username)
            await pipe.watch(account, sessions)
            existed = bool(await pipe.exists(account))
            open_sessions = [need(s) for s in await pipe.smembers(sessions)]
            now = now_iso()
            begin(pipe)
            pipe.hset(account, mapping={"password_hash": password_hash, "timezone": timezone, "updated_at": now})
            pipe.hsetnx(account, "created_at", now)
            # A reset password signs the account out everywhere: whoever knew the old one loses access.
            pipe.delete(sessions, *[self.keys("session", s) for s in open_sessions])
            return not existed

        return await self.transact(body)

    @guarded
    async def get_staff_account(self, username: str) -> StaffAccount | None:
        return await self._account(username)

    async def _account(self, username: str) -> StaffAccount | None:
        raw = strings(await self.redis.hgetall(self.keys("staff", username)))
        if not raw:
            return None
        return StaffAccount(username, raw["password_hash"], raw["timezone"], raw["created_at"], raw["updated_at"])

    @guarded
    async def open_staff_session(self, session_hash: str, username: str) -> None:
        sessions = self.keys("staff-sessions", username)
        async with self.pipeline() as pipe:
            pipe.set(self.keys("session", session_hash), username, ex=SESSION_TTL_SECONDS)
            pipe.sadd(sessions, session_hash)
            pipe.expire(sessions, SESSION_TTL_SECONDS)
            await pipe.execute()

    @guarded
    async def staff_session_account(self, session_hash: str) -> StaffAccount | None:
        username = text(await self.redis.get(self.keys("session", session_hash)))
        return await self._account(username) if username is not None else None

    @guarded
    async def close_staff_session(self, session_hash: str) -> None:
        key = self.keys("session", session_hash)
        username = text(await self.redis.get(key))
        async with self.pipeline() as pipe:
            pipe.delete(key)
            if username is not None:
                pipe.srem(self.keys("staff-sessions", username), session_hash)
            await pipe.execute()

    @guarded
    async def add_audit(self, entry: AuditEntry) -> None:
        entry_id = int(await self.redis.incr(self.keys("audit-next")))
        async with self.pipeline() as pipe:
            queue_audit(pipe, self.keys, entry_id, entry)
            await pipe.execute()

    @guarded
    async def list_audit(
        self, *, limit: int, offset: int = 0, job_id: str | None = None, username: str | None = None
    ) -> list[AuditEntry]:
        if job_id is not None:
            index = self.keys("audit-job", job_id)
        elif username is not None:
            index = self.keys("audit-user", username)
        else:
            index = self.keys("audit-all")
        if job_id is not None and username is not None:
            # One job's entries are few: filter them by user here rather than keep a third index.
            entries = [e for e in await self._audit_range(index, 0, -1) if e.username == username]
            return entries[offset : offset + limit]
        if limit <= 0:
            return []
        return await self._audit_range(index, offset, offset + limit - 1)

    async def _audit_range(self, index: str, start: int, stop: int) -> list[AuditEntry]:
        ids = [need(i) for i in await self.redis.zrevrange(index, start, stop)]
        if not ids:
            return []
        rows = await self.redis.hmget(self.keys("audit"), ids)
        return [audit_entry(int(i), need(row)) for i, row in zip(ids, rows, strict=True) if row]


def queue_audit(pipe: Pipeline, keys: Keys, entry_id: int, entry: AuditEntry) -> None:
    """Queue an audit entry under ``entry_id`` with its newest-first indexes (all, per user, per job)."""
    row = [entry.at, entry.username, entry.action, entry.job_id, entry.client, entry.detail]
    pipe.hset(keys("audit"), str(entry_id), json.dumps(row))
    pipe.zadd(keys("audit-all"), {str(entry_id): entry_id})
    pipe.zadd(keys("audit-user", entry.username), {str(entry_id): entry_id})
    if entry.job_id is not None:
        pipe.zadd(keys("audit-job", entry.job_id), {str(entry_id): entry_id})


def audit_entry(entry_id: int, raw: str) -> AuditEntry:
    at, username, action, job_id, client, detail = json.loads(raw)
    return AuditEntry(at, username, action, job_id, client, detail, id=entry_id)
