"""The console's service: find a job, show it, resend or revoke its link, audit.

``Console`` holds the store it reads and the job changes a resend makes. Endpoints call
exactly one of its methods; every look at a job and every action is written to the
audit log with the staff member and client address.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from portal.clock import Clock, utc_now
from portal.core.contacts import single_address
from portal.core.jobs import Job, iso_utc, normalize_phone, parse_iso
from portal.core.policy import message_vars
from portal.notify.changes import JobChanges
from portal.staff.job_view import job_document
from portal.store.base import AuditEntry, Decision, JobRecord, JobSearch, OutboxItem, Rejection, Store

PAGE_SIZE = 20  # results per search page: a screenful, and one cheap query
AUDIT_PAGE_SIZE = 100
MAX_QUERY_LENGTH = 200  # longer than any id, phone, email or name a caller reads out
MIN_PARTIAL_LENGTH = 2  # one character would match nearly every job
MIN_PHONE_DIGITS = 4  # "the last four digits" is what callers often give
MAX_PAGE = 500  # deep pages are never useful and OFFSET cost grows with depth
PHONE_CHARS = re.compile(r"^[\d\s().+\-]+$")
LINK_MESSAGE = "link"  # the message template that carries the current tracking link
CHANNEL_CONTACT = {"sms": "customer.phone_e164", "email": "customer.email"}


class JobNotFound(Exception):
    pass


class NoContact(Exception):
    """The job has neither a usable phone number nor an email to send the link to."""


class LinkExpired(Exception):
    """The job closed more than PORTAL_LINK_TTL_DAYS ago: a resent link would answer 410."""


@dataclass(frozen=True)
class SearchPage:
    query: str
    page: int
    results: list[JobRecord]
    has_more: bool


def prepare_search(raw: str, region: str) -> JobSearch | None:
    """What a query can match: id or reference as typed, a phone in any format, or a substring."""
    query = raw.strip()[:MAX_QUERY_LENGTH]
    if not query:
        return None
    lowered = query.lower()
    digits = re.sub(r"\D", "", query) if PHONE_CHARS.fullmatch(query) else ""
    return JobSearch(
        exact=query,
        pattern=lowered if len(lowered) >= MIN_PARTIAL_LENGTH else None,
        phone=normalize_phone(query, region),
        digits=digits if len(digits) >= MIN_PHONE_DIGITS else None,
    )


def page_number(raw: str | None) -> int:
    try:
        return min(max(1, int(raw or "1")), MAX_PAGE)
    except ValueError:
        return 1


def link_expired(job: Job, ttl_days: int) -> bool:
    closed = job.closed_at
    return closed is not None and utc_now() > parse_iso(closed) + timedelta(days=ttl_days)


def _channels(job: Job) -> list[str]:
    chosen = job.customer.get("channels")
    wanted = list(CHANNEL_CONTACT) if chosen is None else chosen  # an empty list means "contact me by none"
    return [c for c in CHANNEL_CONTACT if c in wanted and _contact(job, c)]


def _contact(job: Job, channel: str) -> str | None:
    """The usable address of a channel: a parsed phone, or exactly one email address."""
    raw = job.values.get(CHANNEL_CONTACT[channel])
    return single_address(raw) if channel == "email" else raw


def _link_item(job: Job, channel: str, staff: str, request: str) -> OutboxItem:
    """An outbox row in the worker's shape; ``link`` is the template (templates/messages/*/link)."""
    return OutboxItem(
        dedup_key=f"staff-resend:{job.id}:{channel}:{request}",
        kind=channel,
        job_id=job.id,
        payload={
            "message": LINK_MESSAGE,
            "channel": channel,
            "to": _contact(job, channel),
            "locale": job.customer.get("locale"),
            "vars": message_vars(job),
            "reason": "staff_resend",
            "requested_by": staff,
        },
    )


class Console:
    def __init__(
        self, store: Store, changes: JobChanges, *, region: str, ttl_days: int, clock: Clock = utc_now
    ) -> None:
        self.store = store
        self.changes = changes
        self.region = region  # PORTAL_DEFAULT_REGION: how a phone number typed without + is read
        self.ttl_days = ttl_days  # PORTAL_LINK_TTL_DAYS
        self.clock = clock

    async def search(self, raw: str, page: int) -> SearchPage:
        prepared = prepare_search(raw, self.region)
        if prepared is None:
            return SearchPage(raw.strip(), 1, [], False)
        found = await self.store.search_jobs(prepared, limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE)
        return SearchPage(prepared.exact, page, found[:PAGE_SIZE], len(found) > PAGE_SIZE)

    async def open_job(self, job_id: str, staff: str, client: str, via: str) -> dict[str, Any]:
        """The job document (CONTRACT §7); the look is audited as ``view_job`` (page or api)."""
        record = await self.store.get_job(job_id)
        if record is None:
            raise JobNotFound(job_id)
        messages = await self.store.list_messages(job_id)
        history = await self.store.link_history(job_id)
        outbox = await self.store.list_outbox(job_id)
        await self.audit(staff, "view_job", client, job_id=job_id, detail=via)
        phone = record.job.values.get("customer.phone_e164")
        opted_out = bool(phone) and await self.store.is_opted_out(str(phone))
        return job_document(
            record, messages, history, outbox, now=self.clock(), ttl_days=self.ttl_days, sms_opted_out=opted_out
        )

    async def resend_link(self, job_id: str, staff: str, client: str) -> list[str]:
        """Queue the link by each of the customer's channels with a contact; the worker sends them."""
        queued: list[str] = []
        request = secrets.token_hex(8)  # each press is its own delivery, never deduplicated away
        ttl_days = self.ttl_days

        def decide(before: Job | None) -> Decision:
            if before is None:
                raise JobNotFound(job_id)
            if link_expired(before, ttl_days):
                raise LinkExpired(job_id)
            items = [_link_item(before, channel, staff, request) for channel in _channels(before)]
            if not items:
                raise NoContact(job_id)
            queued[:] = [item.kind for item in items]
            return Decision(job=before, outbox=items)

        await self.changes.change(job_id, decide)
        await self.audit(staff, "resend", client, job_id=job_id, detail=", ".join(queued))
        return queued

    async def revoke_link(self, job_id: str, staff: str, client: str) -> None:
        """Every earlier link of the job answers 410 from now on; ``portal link`` prints the new one."""
        if await self.store.rotate_link_key(job_id) is None:
            raise JobNotFound(job_id)
        await self.changes.bus.link_changed(job_id)  # open pages of the old link stop receiving within a moment
        await self.audit(staff, "revoke", client, job_id=job_id)

    async def audit(
        self, staff: str, action: str, client: str, *, job_id: str | None = None, detail: str | None = None
    ) -> None:
        entry = AuditEntry(
            at=iso_utc(self.clock()), username=staff, action=action, job_id=job_id, client=client, detail=detail
        )
        await self.store.add_audit(entry)

    async def rejections(self, limit: int) -> list[Rejection]:
        """The most recent webhooks the portal refused, newest first."""
        return await self.store.list_rejections(limit)

    async def audit_page(self, page: int, job_id: str | None, username: str | None) -> tuple[list[AuditEntry], bool]:
        found = await self.store.list_audit(
            limit=AUDIT_PAGE_SIZE + 1, offset=(page - 1) * AUDIT_PAGE_SIZE, job_id=job_id, username=username
        )
        return found[:AUDIT_PAGE_SIZE], len(found) > AUDIT_PAGE_SIZE
