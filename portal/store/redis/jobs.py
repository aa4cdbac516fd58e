"""A job's keys on Redis: its hash, the indexes derived from it, its event log.

Written by a change to the job (``store.py``) and by ``portal migrate-store`` alike
(``transfer.py``), so an imported job is indexed exactly as one the portal wrote itself.
Every function queues commands inside the caller's MULTI.
"""

from __future__ import annotations

from collections.abc import Mapping

from redis.asyncio.client import Pipeline

from portal.core.jobs import Job
from portal.store.records import StoredEvent
from portal.store.redis.keys import EVENT_LOG_TTL_SECONDS, Keys, event_entry, fields, micros, wire
from portal.store.redis.purge import queue_closed
from portal.store.redis.search import queue_index
from portal.store.rules import EVENT_LOG_CAP, INDEXED_FIELDS, indexed_values, search_fields


def queue_job(
    pipe: Pipeline,
    keys: Keys,
    job_id: str,
    job: Job,
    doc: str,
    stamps: Mapping[str, str],
    old: Mapping[str, str] | None,
) -> None:
    """Queue the job's hash (``stamps``: ``updated_at`` and whatever else is new) and its indexes.

    ``old`` is the hash as it was, None for a new job: only the index entries that changed
    are touched, and derived fields that are no longer set are deleted. When none of
    ``INDEXED_FIELDS`` moved (a position report), only the document and the stamps are written.
    """
    indexed = fields(**indexed_values(job))
    key = keys.job(job_id)
    if old is not None and all(old.get(name) == indexed.get(name) for name in INDEXED_FIELDS):
        pipe.hset(key, mapping=wire({"doc": doc, **stamps}))
        pipe.zadd(keys("jobs-updated"), {job_id: micros(stamps["updated_at"])})
        return
    pipe.hset(key, mapping=wire({"doc": doc, **indexed, **stamps}))
    before = old or {}
    gone = [name for name in INDEXED_FIELDS if name not in indexed and name in before]
    if gone:
        pipe.hdel(key, *gone)
    values = search_fields(job)
    old_values = {name: before.get(name) for name in values} if old is not None else None
    queue_index(pipe, keys, job_id, old_values, values)
    pipe.zadd(keys("jobs-updated"), {job_id: micros(stamps["updated_at"])})
    queue_closed(pipe, keys, job_id, job.closed_at)


def queue_events(pipe: Pipeline, keys: Keys, job_id: str, events: list[StoredEvent]) -> None:
    """Append events to the job's log, capped, and keep the log alive for a while longer."""
    stream = keys.events(job_id)
    for event in events:
        entry = event_entry(event.type, event.data, event.at)
        pipe.xadd(stream, entry, id=f"{event.seq}-0", maxlen=EVENT_LOG_CAP, approximate=False)
    if events:
        pipe.expire(stream, EVENT_LOG_TTL_SECONDS)
