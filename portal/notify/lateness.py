"""Running late by the clock: what a due ``late_check`` row does to its job. Pure.

A ping or an ETA can show lateness as it happens (``core/progress.py``, ``mark_progress``); a
technician who goes silent, or never sets off, sends nothing that could. So every promised
window arms a ``late_check`` outbox row (``portal/notify/outbox.py``, ``late_check_item``) due at the
window's end plus ``LATE_CHECK_GRACE``. When the worker reaches it, ``late_decision`` decides:

- the job is gone, its window moved (another row watches the new end), or it is already
  started, done, cancelled or on hold: nothing changes;
- it is already marked late for this window (a ping got there first): nothing changes, and
  no second message;
- otherwise the job is marked late (``mark_overdue``), open pages get a ``job`` event that
  says so, and the ``running_late`` notices are queued with the ping path's dedup keys.
"""

from __future__ import annotations

from datetime import datetime

from portal.core.eta import DEFAULT_CONFIG, EtaConfig
from portal.core.jobs import Job, parse_iso
from portal.core.policy import Policy, notices
from portal.core.public import live_events, public_state
from portal.core.slots import NO_POLICY, SlotPolicy
from portal.core.trip import mark_overdue
from portal.notify.outbox import from_notice
from portal.store.base import Decision


class NothingLate(Exception):
    """Raised from a ``decide`` to leave the job untouched: the check found nothing to mark."""


def _same_end(job: Job, window_end: str) -> bool:
    window = job.values.get("window")
    if not isinstance(window, dict) or not window.get("end"):
        return False
    return parse_iso(str(window["end"])) == parse_iso(window_end)


def late_decision(
    before: Job | None,
    window_end: str,
    now: datetime,
    policy: Policy,
    eta_config: EtaConfig = DEFAULT_CONFIG,
    slot_policy: SlotPolicy = NO_POLICY,
) -> Decision | None:
    """The change a lateness check for ``window_end`` makes at ``now``, or None for none."""
    if before is None or not _same_end(before, window_end):
        return None
    after = mark_overdue(before, now, eta_config)
    if after is before:
        return None
    outbox = [from_notice(n) for n in notices(before, after, now, policy)]
    events = live_events(before, after, now, eta_config, slot_policy)
    if not any(kind == "job" for kind, _ in events):
        # The clock, not the job, moved: the page must still hear that the state now says late.
        events.append(("job", public_state(after, now, eta_config, slot_policy)))
    return Decision(job=after, events=events, outbox=outbox)
