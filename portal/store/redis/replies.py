"""Two-way SMS on Redis: a sender's jobs by phone, and the conversation kept per phone.

Jobs by phone come from the exact phone index the staff search keeps (``idx-phone``),
ranked by the ``jobs-updated`` sorted set. A conversation is one JSON string per phone
whose key expires with the grammar's memory, so nothing needs sweeping.
"""

from __future__ import annotations

import json
from typing import Any

from portal.store.records import JobRecord
from portal.store.redis.keys import RedisParts, guarded, text
from portal.store.rules import CONVERSATION_KEEP

CONVERSATION_SECONDS = int(CONVERSATION_KEEP.total_seconds())  # the key's expiry


class RedisReplyQueries(RedisParts):
    """Mixed into ``RedisStore``."""

    async def _record(self, job_id: str) -> JobRecord | None:
        raise NotImplementedError

    async def _newest_first(self, job_ids: list[str]) -> list[str]:
        raise NotImplementedError

    @guarded
    async def jobs_by_phone(self, phone: str, limit: int) -> list[JobRecord]:
        members = await self.redis.smembers(self.keys("idx-phone", phone))
        ranked = await self._newest_first([str(text(m)) for m in members])
        records = [await self._record(job_id) for job_id in ranked[:limit]]
        return [r for r in records if r is not None]

    @guarded
    async def get_conversation(self, phone: str) -> dict[str, Any] | None:
        raw = text(await self.redis.get(self.keys("conversation", phone)))
        if raw is None:
            return None
        state: dict[str, Any] = json.loads(raw)
        return state

    @guarded
    async def set_conversation(self, phone: str, state: dict[str, Any] | None, now: str) -> None:
        key = self.keys("conversation", phone)
        if state is None:
            await self.redis.delete(key)
            return
        await self.redis.set(key, json.dumps(state), ex=CONVERSATION_SECONDS)
