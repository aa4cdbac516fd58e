"""Retention: the personal data of a job goes ``PORTAL_RETENTION_DAYS`` after it closed.

``portal purge`` runs it once; the hourly maintenance of every process (``portal serve``,
``portal worker``) runs it too, so nothing needs scheduling. The store deletes in batches
(``Store.purge_closed_jobs``), each a short transaction, so a first purge of years of jobs
never holds up webhooks for long.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from portal.core.jobs import iso_utc
from portal.settings import Settings
from portal.store.base import RetentionStore

log = logging.getLogger("portal.store.retention")

PURGE_BATCH = 200  # jobs per store transaction: a few milliseconds of writing on either backend


def retention_cutoff(settings: Settings, now: datetime) -> str:
    """Jobs completed or cancelled before this moment are past retention."""
    return iso_utc(now - timedelta(days=settings.retention_days))


async def purge_closed(
    store: RetentionStore,
    closed_before: str,
    *,
    batch: int = PURGE_BATCH,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Purge every job closed before ``closed_before``, batch by batch; return how many went.

    ``progress`` hears each batch's number and size.
    """
    total = batches = 0
    while purged := await store.purge_closed_jobs(closed_before, batch):
        total += purged
        batches += 1
        if progress is not None:
            progress(batches, purged)
        await asyncio.sleep(0)  # whatever else this process does runs between batches
    return total


async def purge_expired(store: RetentionStore, settings: Settings, now: datetime) -> int:
    """The periodic purge: everything past retention at ``now``, logged when there was any."""
    closed_before = retention_cutoff(settings, now)
    purged = await purge_closed(store, closed_before)
    if purged:
        log.info("deleted the personal data of %d jobs closed before %s (retention)", purged, closed_before)
    return purged
