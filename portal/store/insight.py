"""The store role behind the staff's overview: the attention queue and the statistics counters.

Both are kept up to date by the writes that change them (``core/attention.py`` says which
reasons a write raises or clears, ``core/tallies.py`` which counters it moves), inside the
same transaction, so reading them never scans jobs. Every backend implements this role
beside the ``Store`` protocol.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Protocol, cast

from portal.core import calibration
from portal.core.attention import Item
from portal.core.plausible import FUTURE_SLACK
from portal.core.tallies import bucket_of
from portal.store.base import AuditEntry

# Items one page of the queue shows; the total says how many more wait.
ATTENTION_PAGE = 200
# Calibrated ranges learn from this much of the past: long enough for a small team's 50
# arrivals, short enough that a new road engine or a new season of traffic is soon learnt.
CALIBRATION_DAYS = 90


class InsightStore(Protocol):
    async def attention(self, now: str, limit: int = ATTENTION_PAGE) -> tuple[list[Item], int]:
        """Jobs with reasons due by ``now``, most urgent first (at most ``limit``), and how many in all."""

    async def job_attention(self, job_id: str, now: str) -> Item | None:
        """One job's reasons due by ``now`` (its job page shows them), or None when it needs nothing.

        One job's few rows, by its id: the job page never reads the whole queue.
        """

    async def next_attention_due(self, now: str) -> str | None:
        """When the next reason raised for later (an unanswered request) falls due, if any."""

    async def acknowledge(self, job_id: str, now: str, audit: AuditEntry) -> list[str]:
        """Clear the job's reasons due by ``now`` and record ``audit``, in one step; the reasons cleared."""

    async def tallies(self, edges: list[int]) -> list[tuple[int, str, float]]:
        """Counter totals per day: (day index, counter, total) for each day ``edges[i]`` to ``edges[i + 1]``.

        ``edges`` are quarter hours (``core/tallies.py``): each day's first, then one past the last
        day's end. The sums are made where the counters are (SQL, a Lua script), so a report moves
        a few hundred numbers, not every quarter hour's counters.
        """


async def recent_calibration(store: Any, now: datetime, days: int = CALIBRATION_DAYS) -> calibration.Calibration:
    """The calibrated-range table from the arrivals of the last ``days`` (``core/calibration.py``).

    Arrivals count at their event time, which a field system may stamp ahead of our clock (as
    far as ``core/plausible.py`` accepts): those count too. One read of the statistics counters,
    summed where they are kept (SQL, a Lua script): no job is read, however many arrivals there were.
    """
    edges = [bucket_of(now - timedelta(days=days)), bucket_of(now + FUTURE_SLACK) + 1]
    totals: dict[str, float] = {}
    for _, name, amount in await cast(InsightStore, store).tallies(edges):
        totals[name] = totals.get(name, 0.0) + amount
    return calibration.from_tallies(totals)
