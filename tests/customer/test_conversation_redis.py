"""Two-way SMS with ``PORTAL_STORE`` on Redis: the conversation state lives in Redis between replies."""

from __future__ import annotations

from pathlib import Path

from portal.store.redis.store import RedisStore
from tests.customer.conversation_support import PHONE, PUBLIC, REVIEW_URL, SLOTS, callbacks, job_values, reply_of, sms
from tests.fakes.twilio_server import AUTH_TOKEN
from tests.helpers import job_updated, make_settings, post_event, sample_job
from tests.notify.support import call, portal_of, running


def test_reschedule_by_sms_end_to_end_on_redis(tmp_path: Path, redis_url: str) -> None:
    settings = make_settings(
        tmp_path,
        store_url=redis_url,
        public_url=PUBLIC,
        twilio_auth_token=AUTH_TOKEN,
        twilio_from="+15005550006",
        notifications=frozenset(),
        review_url=REVIEW_URL,
    )
    with running(settings) as client:
        store = portal_of(client).store
        assert isinstance(store, RedisStore)
        assert post_event(client, job_updated(sample_job(reschedule_slots=SLOTS))).status_code == 202
        offer = reply_of(sms(client, "R"))
        assert offer is not None and "2) Mon Mar 4, 1:00-3:00 PM" in offer
        asked = call(client, store.get_conversation, PHONE)
        # What was offered is kept in Redis for the next reply.
        assert asked is not None and asked["job_id"] == "WO-1" and len(asked["slots"]) == 3
        answer = reply_of(sms(client, "2"))
        assert answer is not None and "confirmed" in answer
        pending = job_values(client)["portal.reschedule"]
        assert pending["slot"] == SLOTS[1] and pending["channel"] == "sms"
        [request] = callbacks(client)
        assert request["type"] == "reschedule.requested"
        assert request["data"] == {"job_id": "WO-1", "slot": SLOTS[1], "channel": "sms"}
        assert call(client, store.get_conversation, PHONE) is None  # the offer was answered
