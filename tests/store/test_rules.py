"""The rules both backends take from ``portal/store/rules.py``, checked directly."""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.core.jobs import Job
from portal.core.plausible import INT64_MIN, UINT64_MAX
from portal.core.replies import CONVERSATION_TTL
from portal.store.records import OutboxRow
from portal.store.rules import (
    CONVERSATION_KEEP,
    INDEXED_FIELDS,
    claim_order,
    compact_json,
    indexed_values,
    read_json,
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


def test_indexed_values_are_what_a_backend_keeps_beside_the_document() -> None:
    job = Job(
        "J1", {"status": "completed", "customer.name": "Dana Q"}, {"status": ("2030-03-03T12:00:00.000000Z", "w")}
    )
    values = indexed_values(job)
    assert tuple(values) == INDEXED_FIELDS
    assert values == {"status": "completed", "closed_at": "2030-03-03T12:00:00.000000Z", **search_fields(job)}


DOCUMENTS = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(INT64_MIN, UINT64_MAX)  # the intake refuses wider ones: orjson would read them as floats
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=25,
)


@given(DOCUMENTS)
def test_a_stored_document_reads_back_as_it_was_written_and_as_the_standard_library_reads_it(value: Any) -> None:
    text = compact_json(value)
    assert read_json(text) == value == json.loads(text)
    assert read_json(json.dumps(value, separators=(",", ":"))) == value  # written before orjson


def test_what_orjson_refuses_takes_the_standard_encoder_and_what_is_not_json_is_still_refused() -> None:
    assert compact_json({"n": 10**30, 1: "key"}) == '{"n":1000000000000000000000000000000,"1":"key"}'
    assert compact_json({"t": "Zoë ☃"}) == '{"t":"Zoë ☃"}'
    with pytest.raises(TypeError):
        compact_json({"at": dt.datetime(2030, 3, 3, tzinfo=dt.UTC)})
    assert read_json('{"a":"\\ud800"}') == {"a": "\ud800"}  # a lone surrogate, escaped by the old encoder
    assert math.isnan(read_json('{"x":NaN}')["x"])
