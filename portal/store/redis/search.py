"""Staff search on Redis: exact indexes for reference and phone, n-gram sets for substrings.

SQLite answers ``LIKE '%text%'`` by scanning small indexes; Redis has no such scan, so every
job's id, reference, email and name are cut into overlapping pairs of characters, and each
pair keeps the set of jobs that contain it (phone digits likewise, in their own sets). A
query intersects the sets of its pairs, which narrows the candidates to jobs containing
every pair, then each candidate is checked for the real substring, newest first, until a
page is full.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from redis.asyncio.client import Pipeline

from portal.store.records import JobRecord, JobSearch
from portal.store.redis.keys import Keys, RedisParts, strings, text
from portal.store.rules import PATTERN_FIELDS, SEARCH_FIELDS

GRAM = 2  # the shortest substring staff may search for (MIN_PARTIAL_LENGTH in the console)
VERIFY_BATCH = 200  # candidates checked per round trip while filling a page


def grams(value: str) -> set[str]:
    return {value[i : i + GRAM] for i in range(len(value) - GRAM + 1)}


def text_grams(job_id: str, values: dict[str, str | None]) -> set[str]:
    """The pairs of the fields a pattern is looked for in (``rules.PATTERN_FIELDS``)."""
    found: set[str] = set()
    for value in _pattern_haystack(job_id, values):
        found |= grams(value.lower())
    return found


def _pattern_haystack(job_id: str, values: Mapping[str, str | None]) -> list[str]:
    named = {**values, "id": job_id}
    return [value for value in (named.get(name) for name in PATTERN_FIELDS) if value]


def digit_grams(values: dict[str, str | None]) -> set[str]:
    phone = values.get("phone")
    return grams(phone) if phone else set()


def queue_index(
    pipe: Pipeline, keys: Keys, job_id: str, old: dict[str, str | None] | None, new: dict[str, str | None]
) -> None:
    """Queue the index changes of one job (inside its MULTI), touching only what changed."""
    before = old or {}
    for name, index in (("reference", "idx-ref"), ("phone", "idx-phone")):
        if before.get(name) == new.get(name):
            continue
        if before.get(name):
            pipe.srem(keys(index, str(before[name])), job_id)
        if new.get(name):
            pipe.sadd(keys(index, str(new[name])), job_id)
    for index, old_grams, new_grams in (
        ("idx-gram", text_grams(job_id, before) if old is not None else set(), text_grams(job_id, new)),
        ("idx-digit", digit_grams(before), digit_grams(new)),
    ):
        for gram in old_grams - new_grams:
            pipe.srem(keys(index, gram), job_id)
        for gram in new_grams - old_grams:
            pipe.sadd(keys(index, gram), job_id)


def queue_unindex(pipe: Pipeline, keys: Keys, job_id: str, values: dict[str, str | None]) -> None:
    """Queue the removal of a job from every search index (inside its MULTI)."""
    for name, index in (("reference", "idx-ref"), ("phone", "idx-phone")):
        if values.get(name):
            pipe.srem(keys(index, str(values[name])), job_id)
    for index, found in (("idx-gram", text_grams(job_id, values)), ("idx-digit", digit_grams(values))):
        for gram in found:
            pipe.srem(keys(index, gram), job_id)


def _matches(job_id: str, values: dict[str, str], search: JobSearch) -> bool:
    if search.pattern:
        pattern = search.pattern
        if any(pattern in value.lower() for value in _pattern_haystack(job_id, values)):
            return True
    return bool(search.digits and search.digits in values.get("phone", ""))


class RedisSearchQueries(RedisParts):
    """Mixed into ``RedisStore``."""

    async def _record(self, job_id: str) -> JobRecord | None:
        raise NotImplementedError

    async def search_jobs(self, search: JobSearch, *, limit: int, offset: int = 0) -> list[JobRecord]:
        keys, redis = self.keys, self.redis
        sure: set[str] = set()
        async with redis.pipeline(transaction=False) as pipe:
            pipe.exists(keys.job(search.exact))
            pipe.smembers(keys("idx-ref", search.exact))
            pipe.smembers(keys("idx-phone", search.phone or ""))
            for index, part in (("idx-gram", search.pattern), ("idx-digit", search.digits)):
                if part and len(part) >= GRAM:
                    pipe.sinter([keys(index, gram) for gram in sorted(grams(part))])
                elif part:  # too short for the index (the console never asks): check every job
                    pipe.zrange(keys("jobs-updated"), 0, -1)
            replies = await pipe.execute()
        if replies[0]:
            sure.add(search.exact)
        sure.update(str(text(m)) for m in replies[1])
        if search.phone:
            sure.update(str(text(m)) for m in replies[2])
        maybe = {str(text(m)) for reply in replies[3:] for m in reply} - sure
        ranked = await self._newest_first([*sure, *maybe])
        wanted = offset + limit
        found: list[str] = []
        for start in range(0, len(ranked), VERIFY_BATCH):
            batch = ranked[start : start + VERIFY_BATCH]
            found.extend(await self._confirm(batch, sure, search))
            if len(found) >= wanted:
                break
        records = [await self._record(job_id) for job_id in found[offset:wanted]]
        return [r for r in records if r is not None]

    async def _newest_first(self, job_ids: Sequence[str]) -> list[str]:
        if not job_ids:
            return []
        scores = await self.redis.zmscore(self.keys("jobs-updated"), list(job_ids))
        scored = [(score, job_id) for job_id, score in zip(job_ids, scores, strict=True) if score is not None]
        scored.sort(reverse=True)
        return [job_id for _, job_id in scored]

    async def _confirm(self, batch: list[str], sure: set[str], search: JobSearch) -> list[str]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for job_id in batch:
                pipe.hmget(self.keys.job(job_id), list(SEARCH_FIELDS))
            replies = await pipe.execute()
        out = []
        for job_id, reply in zip(batch, replies, strict=True):
            values = strings({name: value for name, value in zip(SEARCH_FIELDS, reply, strict=True) if value})
            if job_id in sure or _matches(job_id, values, search):
                out.append(job_id)
        return out
