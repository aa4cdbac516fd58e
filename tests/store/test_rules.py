"""The rules both backends take from ``portal/store/rules.py``, checked directly."""

from __future__ import annotations

from portal.core.jobs import Job
from portal.core.replies import CONVERSATION_TTL
from portal.store.records import OutboxRow
from portal.store.rules import (
    CONVERSATION_KEEP,
    claim_order,
    search_fields,
    status_advances,
    webhook_ids_cutoff,
)


def test_search_fields_keep_the_reference_as_text_and_lowercase_what_is_searched_in_part() -> None:
    job = Job("J1", {"reference": 10442, "customer.email": "Dana@Example.COM", "customer.name": "Dana Q"})
    assert search_fields(job) == {"reference": "10442", "phone": None, "email": "dana@example.com", "name": "dana q"}
    empty = Job("J2", {"reference": None, "customer.email": "", "customer.phone_e164": "+13125550100"})
    assert search_fields(empty) == {"reference": None, "phone": "+13125550100", "email": None, "name": None}


def test_a_delivery_status_only_moves_forward() -> None:
    assert status_advances("queued", "sent") and status_advances("sent", "delivered")
    assert not status_advances("delivered", "sent")
    assert not status_advances("failed", "delivered")  # both final: the first report stands
    assert not status_advances("sent", "no-such-status")


def test_claimed_rows_go_oldest_first() -> None:
    def row(row_id: int, created_at: str) -> OutboxRow:
        return OutboxRow(row_id, f"k{row_id}", "sms", None, {}, "pending", 1, "", None, created_at, created_at)

    rows = [row(3, "2030-01-01T00:00:02"), row(2, "2030-01-01T00:00:01"), row(1, "2030-01-01T00:00:02")]
    assert [r.id for r in claim_order(rows)] == [2, 1, 3]


def test_retention_periods() -> None:
    assert CONVERSATION_KEEP > CONVERSATION_TTL
    assert webhook_ids_cutoff("2030-01-05T00:00:00.000000Z") == "2030-01-01T00:00:00.000000Z"
