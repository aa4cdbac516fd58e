"""The demo phone: what each demo customer received, and replying as them.

Demo customers have made-up numbers, so their messages are recorded rather than sent (the
demo configures no SMS or email provider); this shows those records the way a phone would.
A reply goes through ``Conversation.handle_inbound_sms``, the very function Twilio's
inbound webhook calls, so the demo answers exactly as production would.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from portal.channels.record import SIMULATED as SIMULATED
from portal.core.public import local_iso, zone
from portal.customer.conversation import Conversation
from portal.demo.scenario import JOB_IDS
from portal.links import LinkSigner
from portal.store.base import Message, Store

SID_PREFIX = "SMdemo"  # a Twilio-shaped message id that cannot collide with a real one ("SM" + 32 hex)


@dataclass(frozen=True)
class Phone:
    job_id: str
    name: str
    number: str | None
    locale: str | None
    status: str
    link: str
    messages: list[Message]
    tz: ZoneInfo
    opted_out: bool = False  # texted STOP and not START since: nothing is texted to it

    def local(self, stamp: str) -> str:
        """A stored UTC time in the customer's own zone, as the phone would show it."""
        return local_iso(stamp, self.tz)


async def phones(store: Store, links: LinkSigner, public_url: str) -> list[Phone]:
    """One phone per demo job that exists, with its SMS and emails, oldest first."""
    found: list[Phone] = []
    for job_id in JOB_IDS:
        record = await store.get_job(job_id)
        if record is None:
            continue
        job = record.job
        messages = sorted(await store.list_messages(job_id), key=lambda m: (m.created_at, m.id))
        number = job.values.get("customer.phone_e164")
        found.append(
            Phone(
                job_id=job_id,
                name=str(job.customer.get("name") or job_id),
                number=number,
                locale=job.customer.get("locale"),
                status=job.status,
                link=links.url(public_url, record.link_key),
                messages=messages,
                tz=zone(job),
                opted_out=bool(number) and await store.is_opted_out(str(number)),
            )
        )
    return found


def version(found: list[Phone]) -> str:
    """Changes whenever a message is added or changes status: the page's script reloads then."""
    digest = hashlib.sha256()
    for phone in found:
        digest.update(f"{phone.status}:{phone.opted_out}".encode())
        for m in phone.messages:
            digest.update(f"{m.id}:{m.status}:{m.updated_at};".encode())
    return digest.hexdigest()[:16]


class ReplyRefused(Exception):
    """The reply cannot be taken: not a demo job, no phone number, or nothing to say."""


async def reply(conversation: Conversation, job_id: str, body: str) -> None:
    """Reply as the customer of ``job_id``, through the real inbound SMS handling."""
    if job_id not in JOB_IDS or not body.strip():
        raise ReplyRefused(job_id)
    record = await conversation.store.get_job(job_id)
    number = record.job.values.get("customer.phone_e164") if record else None
    if not number:
        raise ReplyRefused(job_id)
    message_sid = SID_PREFIX + uuid.uuid4().hex[: 34 - len(SID_PREFIX)]
    await conversation.handle_inbound_sms(str(number), body.strip(), message_sid)
