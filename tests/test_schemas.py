"""The published contract in webhooks/: every example is valid against its schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from portal.intake import EVENT_TYPES
from tests.helpers import schema_validator as validator

ROOT = Path(__file__).resolve().parents[1] / "webhooks"


@pytest.mark.parametrize("kind", EVENT_TYPES)
def test_every_inbound_type_has_a_valid_example(kind: str) -> None:
    example = json.loads((ROOT / "examples" / "inbound" / f"{kind}.json").read_text())
    errors = list(validator("inbound", kind).iter_errors(example))
    assert errors == []
    assert example["type"] == kind


OUTBOUND = sorted(p.stem for p in (ROOT / "schemas" / "outbound").glob("*.json"))
CALLBACK_TYPES = [
    "reschedule.requested", "cancel.requested", "rating.submitted", "customer.note", "customer.message",
    "customer.opted_out", "customer.opted_in", "message.failed",
]  # fmt: skip


def test_every_callback_type_of_the_contract_has_a_schema() -> None:
    assert sorted(CALLBACK_TYPES) == OUTBOUND


@pytest.mark.parametrize("kind", OUTBOUND)
def test_every_outbound_type_has_a_valid_example(kind: str) -> None:
    example = json.loads((ROOT / "examples" / "outbound" / f"{kind}.json").read_text())
    assert list(validator("outbound", kind).iter_errors(example)) == []
    assert example["type"] == kind


def test_every_example_has_a_schema() -> None:
    for direction in ("inbound", "outbound"):
        examples = ROOT / "examples" / direction
        if not examples.exists():
            continue
        for path in examples.glob("*.json"):
            assert (ROOT / "schemas" / direction / path.name).exists(), path


@pytest.mark.parametrize("kind", EVENT_TYPES)
def test_schemas_reject_a_wrong_type(kind: str) -> None:
    example = json.loads((ROOT / "examples" / "inbound" / f"{kind}.json").read_text())
    example["type"] = "something.else"
    assert list(validator("inbound", kind).iter_errors(example))
